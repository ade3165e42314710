"""Exceptions for bad input. Each message names the file (and line or row), the field, the rule and the value."""
from __future__ import annotations


class ObliviateError(ValueError):
    """Base of every user-facing error; the CLI prints its message as one line and exits with status 2."""


class ConfigError(ObliviateError):
    """A configuration key or value that breaks a rule."""


class DataError(ObliviateError):
    """A data file or split that breaks a rule."""

    def __init__(self, message: str, *, file=None, line=None, field=None, rule=None, value=None):
        where = str(file) if file is not None else ""
        if line is not None:
            where += f":{line}"
        parts = [p for p in (where, f"field {field!r}" if field else "") if p]
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if value is not None:
            shown = repr(value)
            text += f" (got {shown[:120] + '…' if len(shown) > 120 else shown})"
        super().__init__(text)
        self.file, self.line, self.field, self.rule, self.value = file, line, field, rule, value


class ModelError(ObliviateError):
    """A model, tokenizer or adapter that cannot be used as asked."""


class DivergenceError(ObliviateError):
    """Training diverged: the loss became non-finite (or, LLM track, the retain NLL passed its ceiling). Both tracks'
    loops raise it before the bad update; the message names the step and the value (LLM: and the last good
    checkpoint, which is kept)."""

"""The method registry: `@register("npo")` beside each definition; `get("npo")` and `build("npo", overrides)` to use.

A method is a frozen dataclass of hyper-parameters with class attributes `summary` (one line) and `paper`, a
`needs()` saying what the engine must compute, and a pure `loss(forget, retain) -> (total, {term: value})`.
Optional declared hooks the engine looks for (never the name): `bind(model, seed)`, `trainable(name)`,
`alternative_answer(record, index)`, `finalize(model, initial)`.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from obliviate.config import ConfigError, replace_checked, to_dict

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a method under `name`; rejects bad names, duplicates and incomplete classes."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"method name {name!r}: must match {_NAME.pattern} (lower case, digits, underscores)")

    def add(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r}: already registered by {_REGISTRY[name].__qualname__}")
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
            raise TypeError(f"method {name!r}: {cls.__qualname__} must be a frozen dataclass")
        for attr in ("summary", "paper", "loss", "needs"):
            if not hasattr(cls, attr):
                raise TypeError(f"method {name!r}: {cls.__qualname__} has no {attr!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def available() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> type:
    """The method class registered as `name`; the error lists the available ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"method {name!r}: unknown; available: {', '.join(available())}") from None


def build(name: str, overrides: dict[str, Any] | None = None):
    """An instance of method `name` with hyper-parameter overrides (keys without the `method.` prefix)."""
    return replace_checked(get(name)(), dict(overrides or {}), prefix="method.")


def describe(name: str) -> dict[str, Any]:
    """Name, one-line summary, paper and defaults of a method (what `obliviate methods` prints)."""
    cls = get(name)
    return {"name": name, "summary": cls.summary, "paper": cls.paper, "defaults": to_dict(cls())}

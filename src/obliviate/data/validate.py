"""Rules every record and split must follow, shared by the loaders and `obliviate data check` (data/check.py).

QA records need a non-empty `question` and `answer`; text records a non-empty `text`. Optional fields are checked
by type (`perturbed_answer`: a non-empty list of non-empty strings; `person`: an integer). Forget and retain must
not share an item (same question and answer, or same text, after collapsing whitespace; case-sensitive) unless
overlap is allowed. Every failure raises `DataError` with the file, line or row, field, rule and value.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable

from obliviate.errors import DataError

QA_REQUIRED = ("question", "answer")
TEXT_REQUIRED = ("text",)
OPTIONAL_STRINGS = ("paraphrased_question", "paraphrased_answer", "split")
ALL_FIELDS = frozenset(QA_REQUIRED + TEXT_REQUIRED + OPTIONAL_STRINGS + ("perturbed_answer", "person", "id"))
KINDS = ("qa", "text", "auto")


def resolve_kind(first: dict, kind: str, path, where, columns=None) -> str:
    """"qa" or "text": as asked, or (kind="auto") from the fields of the first record."""
    if kind not in KINDS:
        raise DataError(f"kind must be one of {KINDS} (rule: known kind)", file=path, field="kind",
                        rule="known kind", value=kind)
    if kind != "auto":
        return kind
    if "question" in first:
        return "qa"
    if "text" in first:
        return "text"
    raise DataError(f"no 'question' (QA) or 'text' column among {sorted(first)}; map yours with "
                    "columns={'question': 'prompt', 'answer': 'response'} or --map prompt=question "
                    "(rule: required column)", file=path, line=where, field="question",
                    rule="required column", value=columns)


def clean_records(located: Iterable[tuple[object, dict]], kind: str, path, columns=None) -> list[dict]:
    """Check each (where, record) against the rules of `kind` and return the records with types normalised."""
    required = QA_REQUIRED if kind == "qa" else TEXT_REQUIRED
    return [_clean(rec, required, path, where, columns or {}) for where, rec in located]


def _clean(rec: dict, required: tuple[str, ...], path, where, columns: dict) -> dict:
    out = dict(rec)
    for name in required:
        if name not in rec:
            hint = f" (mapped from your column {columns[name]!r})" if name in columns else ""
            _fail(path, where, name, "required", f"required field is missing{hint}", sorted(rec))
        _string(rec[name], path, where, name)
    for name in OPTIONAL_STRINGS:
        if name in rec:
            _string(rec[name], path, where, name)
    if "perturbed_answer" in rec:
        out["perturbed_answer"] = _string_list(rec["perturbed_answer"], path, where, "perturbed_answer")
    if "person" in rec:
        out["person"] = _integer(rec["person"], path, where, "person")
    if "id" in rec:
        if not isinstance(rec["id"], str | int) or isinstance(rec["id"], bool):
            _fail(path, where, "id", "string", "must be a string or an integer", rec["id"])
        out["id"] = str(rec["id"])
    return out


def _fail(path, where, field: str, rule: str, message: str, value=None):
    raise DataError(f"{message} (rule: {rule})", file=path, line=where, field=field, rule=rule, value=value)


def _string(value, path, where, field: str) -> None:
    if not isinstance(value, str):
        _fail(path, where, field, "string", f"must be a string, not {type(value).__name__}", value)
    if not value.strip():
        _fail(path, where, field, "non-empty", "must be a non-empty string", value)


def _string_list(value, path, where, field: str) -> list[str]:
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:  # CSV cells hold lists as JSON text
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    rule, message = "non-empty list of non-empty strings", "must be a non-empty list of non-empty strings"
    if not isinstance(value, list | tuple) or not value:
        _fail(path, where, field, rule, message, value)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            _fail(path, where, field, rule, f"{message}; element {i} is {item!r}", value)
    return list(value)


def _integer(value, path, where, field: str) -> int:
    if isinstance(value, bool):
        _fail(path, where, field, "integer", "must be an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    _fail(path, where, field, "integer", "must be an integer", value)


# --------------------------------------------------------------------------- forget / retain overlap

def normalise(s: str) -> str:
    """Whitespace collapsed to single spaces and stripped; case is kept."""
    return " ".join(s.split())


def item_key(rec: dict) -> tuple[str, ...]:
    if "question" in rec:
        return normalise(rec["question"]), normalise(rec["answer"])
    return (normalise(rec["text"]),)


def check_overlap(forget: list[dict], retain: list[dict], forget_name, retain_name, allow: bool = False) -> int:
    """Number of forget items also in retain; raises DataError naming the first one unless `allow`."""
    first_in_retain: dict[tuple[str, ...], int] = {}
    for j, rec in enumerate(retain):
        first_in_retain.setdefault(item_key(rec), j)
    shared = [(i, first_in_retain[k]) for i, rec in enumerate(forget) if (k := item_key(rec)) in first_in_retain]
    if shared and not allow:
        i, j = shared[0]
        key = item_key(forget[i])
        raise DataError(f"forget and retain share {len(shared)} item(s); the first is item {i + 1} of "
                        f"{forget_name} and item {j + 1} of {retain_name} (rule: forget and retain disjoint "
                        "after whitespace normalisation; pass --allow-overlap or allow_overlap=True to accept)",
                        file=forget_name, field="question" if len(key) == 2 else "text",
                        rule="disjoint", value=key[0])
    return len(shared)

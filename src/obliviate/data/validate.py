"""Rules every record and split must follow, shared by the loaders and `obliviate data check PATH...`.

QA records need a non-empty `question` and `answer`; text records a non-empty `text`. Optional fields are checked
by type (`perturbed_answer`: a non-empty list of non-empty strings; `person`: an integer). Forget and retain must
not share an item (same question and answer, or same text, after collapsing whitespace; case-sensitive) unless
overlap is allowed. Every failure raises `DataError` with the file, line or row, field, rule and value.

`obliviate data check` also warns (it does not fail) about fields longer than the model's context, which training
and evaluation would truncate. Without a tokenizer the length is estimated as UTF-8 bytes / 4, about what English
BPE tokenizers average: digits and non-Latin scripts take more tokens (at most one a byte for byte-level BPE), so
give the tokenizer for exact counts.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from obliviate.catalog import CONTEXT_TOKENS
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


# --------------------------------------------------------------------------- `obliviate data check`

def summarize(records: list[dict]) -> dict:
    persons = {r["person"] for r in records if r.get("person") is not None}
    with_pert = sum(1 for r in records if r.get("perturbed_answer"))
    return {"kind": "qa" if "question" in records[0] else "text", "items": len(records),
            "persons": len(persons) if persons else None,
            "with_perturbed": with_pert, "without_perturbed": len(records) - with_pert}


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and the record files inside given folders (manifest.json excluded), sorted."""
    from obliviate.data.records import FORMATS

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in FORMATS and f.name != "manifest.json")
            if not found:
                raise DataError("folder holds no record files (rule: non-empty)", file=p, rule="non-empty")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise DataError("file not found (rule: exists)", file=p, rule="exists")
    return out


def forget_retain_pairs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """Pair forgetNN with retain(100-NN) (TOFU naming) and forgetX with retainX, e.g. forget.csv with retain.csv."""
    by_stem = {p.stem: p for p in paths}
    pairs = []
    for stem, path in by_stem.items():
        m = re.fullmatch(r"forget(.*)", stem)
        if not m or stem.endswith("_perturbed"):
            continue
        tag = m.group(1)
        partner = f"retain{100 - int(tag):02d}" if tag.isdigit() else f"retain{tag}"
        if partner in by_stem:
            pairs.append((path, by_stem[partner]))
    return pairs


BYTES_PER_TOKEN = 4
LONG_FIELDS = ("question", "answer", "text", "paraphrased_question", "paraphrased_answer")
MAX_WARNINGS = 5  # per file; the rest are counted


def estimate_tokens(text: str) -> int:
    """Tokens of `text` without a tokenizer: UTF-8 bytes / BYTES_PER_TOKEN, rounded up (see the module docstring)."""
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def _texts(rec: dict) -> Iterable[tuple[str, str]]:
    yield from ((name, rec[name]) for name in LONG_FIELDS if isinstance(rec.get(name), str))
    yield from ((f"perturbed_answer[{i}]", a) for i, a in enumerate(rec.get("perturbed_answer") or []))


def long_fields(path, located: list[tuple[object, dict]], count: Callable[[str], int], limit: int) -> list[str]:
    """One warning per field longer than `limit` tokens (the first MAX_WARNINGS, then how many more)."""
    hits = [(where, name, n) for where, rec in located for name, text in _texts(rec) if (n := count(text)) > limit]
    about = "about " if count is estimate_tokens else ""
    out = [f"warning: {path}:{where}: field {name!r}: {about}{n} tokens, longer than the model's context of {limit} "
           "(training and evaluation truncate it)" for where, name, n in hits[:MAX_WARNINGS]]
    if len(hits) > MAX_WARNINGS:
        out.append(f"warning: {path}: {len(hits) - MAX_WARNINGS} more fields longer than {limit} tokens")
    return out


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def check_files(paths: Iterable[str | os.PathLike], kind: str = "auto", columns: dict | None = None,
                allow_overlap: bool = False, echo: Callable[[str], None] = print, max_tokens: int = CONTEXT_TOKENS,
                count_tokens: Callable[[str], int] = estimate_tokens,
                warn: Callable[[str], None] = _stderr) -> dict[Path, dict]:
    """Validate each file and each forget/retain pair; echo one line of counts per file and `warn` about fields
    longer than `max_tokens`. Raises on the first failure."""
    from obliviate.data.records import read_located

    files = expand_paths(paths)
    loaded, summaries = {}, {}
    for f in files:
        located = read_located(f, kind=kind, columns=columns)
        loaded[f] = [rec for _, rec in located]
        s = summaries[f] = summarize(loaded[f])
        persons = s["persons"] if s["persons"] is not None else "no"
        echo(f"{f}: {s['items']} {s['kind']} items, {persons} persons, {s['with_perturbed']} with perturbed "
             f"answers, {s['without_perturbed']} without")
        for line in long_fields(f, located, count_tokens, max_tokens):
            warn(line)
    for forget, retain in forget_retain_pairs(files):
        n = check_overlap(loaded[forget], loaded[retain], forget, retain, allow=allow_overlap)
        echo(f"{forget.name} / {retain.name}: {n} shared items" + (" (allowed)" if n else ""))
    echo(f"ok: {len(files)} file(s) valid")
    return summaries

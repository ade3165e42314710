"""`obliviate data check PATH...`: validate record files (or folders of them), each forget/retain pair, and warn
about long fields. The rules themselves are in validate.py; reading the files in records.py.

It warns (it does not fail) about fields longer than the model's context, which training and evaluation would
truncate. Without a tokenizer the length is estimated as UTF-8 bytes / 4, about what English BPE tokenizers
average: digits and non-Latin scripts take more tokens (at most one a byte for byte-level BPE), so give the
tokenizer for exact counts.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from obliviate.catalog import CONTEXT_TOKENS
from obliviate.data.records import FORMATS, read_located
from obliviate.data.validate import check_overlap
from obliviate.errors import DataError


def summarize(records: list[dict]) -> dict:
    persons = {r["person"] for r in records if r.get("person") is not None}
    with_pert = sum(1 for r in records if r.get("perturbed_answer"))
    return {"kind": "qa" if "question" in records[0] else "text", "items": len(records),
            "persons": len(persons) if persons else None,
            "with_perturbed": with_pert, "without_perturbed": len(records) - with_pert}


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and the record files inside given folders (manifest.json excluded), sorted."""
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

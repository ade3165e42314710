"""`obliviate data ...`: build the fictitious-persons corpus, and check data files.

    obliviate data persons --out data/persons --persons 200 --facts 10 --holdout 20 --seed 0
    obliviate data check data/persons/forget10.json data/persons/retain90.json [--allow-overlap]
    obliviate data check mine.csv --map prompt=question --map response=answer
    obliviate data check data/mine --tokenizer models/target     # exact token counts against its context
"""
from __future__ import annotations

import argparse
from pathlib import Path

from obliviate.catalog import CONTEXT_TOKENS
from obliviate.errors import ConfigError

# Counts shown first in the one-line summary of `data persons`, when the manifest has them.
_SUMMARY_KEYS = ("full", "forget10", "retain90", "holdout", "neighbours10", "bios")


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="build the persons corpus; check data files")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("persons", help="write a seeded corpus of fictitious persons in TOFU's layout")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--persons", type=int, default=200, help="persons in full (default 200)")
    p.add_argument("--facts", type=int, default=10, help="attributes (QA items) per person (default 10)")
    p.add_argument("--holdout", type=int, default=20, help="extra persons never in full (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_persons)

    c = sub.add_parser("check", help="validate data files (or folders of them) and print counts")
    c.add_argument("paths", nargs="+", metavar="PATH")
    c.add_argument("--allow-overlap", action="store_true", help="accept items shared by forget and retain")
    c.add_argument("--kind", choices=("qa", "text", "auto"), default="auto")
    c.add_argument("--map", action="append", default=[], metavar="YOURS=OURS",
                   help="read your column YOURS as our field OURS, e.g. --map prompt=question (repeatable)")
    c.add_argument("--max-tokens", type=int, metavar="N",
                   help="warn about fields longer than N tokens (default: the tokenizer's context when it states "
                        f"one, else the presets' {CONTEXT_TOKENS})")
    c.add_argument("--tokenizer", "--model", dest="tokenizer", metavar="NAME_OR_PATH",
                   help="count tokens with this tokenizer (a model folder or hub name; default: estimate as "
                        "UTF-8 bytes / 4, without loading one)")
    c.set_defaults(func=_check)


def parse_map(items: list[str]) -> dict[str, str] | None:
    """["prompt=question"] -> {"question": "prompt"} (our field: your column), as read_records takes it."""
    columns = {}
    for item in items:
        yours, sep, ours = item.partition("=")
        if not sep or not yours or not ours:
            raise ConfigError(f"--map {item!r}: expected YOURS=OURS, e.g. --map prompt=question")
        columns[ours] = yours
    return columns or None


def _persons(args: argparse.Namespace) -> int:
    from obliviate.data import persons  # lazy: Faker is only needed here

    manifest = persons.generate(args.out, persons=args.persons, facts=args.facts, holdout=args.holdout,
                                seed=args.seed)
    counts = {k.removesuffix(".json"): v for k, v in manifest.get("counts", {}).items() if isinstance(v, int)}
    order = [k for k in _SUMMARY_KEYS if k in counts] or list(counts)
    shown = ", ".join(f"{k} {counts[k]}" for k in order)
    print(f"wrote {args.out}: {args.persons} persons + {args.holdout} holdout, seed {args.seed}; items: {shown}; "
          f"manifest {Path(args.out) / 'manifest.json'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from obliviate.data.check import check_files, estimate_tokens

    if args.max_tokens is not None and args.max_tokens < 1:
        raise ConfigError(f"--max-tokens: must be >= 1, got {args.max_tokens}")
    count, context = _token_counter(args.tokenizer) if args.tokenizer else (estimate_tokens, None)
    check_files(args.paths, kind=args.kind, columns=parse_map(args.map), allow_overlap=args.allow_overlap,
                max_tokens=args.max_tokens or context or CONTEXT_TOKENS, count_tokens=count)
    return 0


def _token_counter(name: str):
    """(text -> exact token count, the tokenizer's stated context or None); loads transformers."""
    from transformers import AutoTokenizer

    from obliviate.models.loading import resolve_source

    path = Path(name).expanduser()
    tokenizer = AutoTokenizer.from_pretrained(str(path) if path.is_dir() else resolve_source(name))
    context = tokenizer.model_max_length if tokenizer.model_max_length < 10**7 else None  # unset: 1e30
    return (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), context

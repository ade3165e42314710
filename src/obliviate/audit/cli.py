"""`obliviate audit` (attack a model and its oracle alike, write audit.json) and `obliviate data leaks`.

    obliviate audit --model runs/npo/model --oracle models/oracle --data DIR --forget forget10 --out runs/npo/audit \\
        [--attacks relearn,quantize,incontext,probes,parametric,utf,blind_mia,leaks] [--set relearn_lr=5e-4]
    obliviate audit --model models/target --guard runs/eco/guard ...     # the model behind an ECO guard
    obliviate audit --model runs/o3/model ...                             # an O3 folder: its gated model
    obliviate data leaks DIR [--forget forget10] [--out leaks.json]

A guarded or O3 model is attacked as `wrapped.py` says: weight-level attacks (relearn, quantize, parametric,
blind_mia) on the raw weights, behaviour-level ones through the wrapper; audit.json says which model each saw.

`data leaks` is added to the existing `data` command (this module registers after `obliviate.data.cli`); nothing
heavy is imported until a command runs.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("audit", help="is the forgetting real? attack the model and the oracle alike",
                              description="Run attacks (relearning, quantization, in-context, probes, parametric, "
                                          "token forcing, blind MIA, leaks) on the model and on the oracle with "
                                          "identical inputs; write DIR/audit.json with a verdict per attack.")
    p.add_argument("--model", required=True, help="model folder or hub name (any HF causal LM)")
    p.add_argument("--oracle", default=None,
                   help="oracle model folder (trained without the forget set); without it every check compares "
                        "the forget persons with the holdout persons ('vs holdout')")
    p.add_argument("--data", required=True, help="corpus folder, tofu:PATH_OR_HUB, or a folder/file of records")
    p.add_argument("--forget", default="forget10", help="forget split name or file (default forget10)")
    p.add_argument("--retain", default=None, help="retain split name or file (default: the complement)")
    p.add_argument("--attacks", default="all",
                   help="comma-separated attacks (default all): relearn, quantize, incontext, probes, parametric, "
                        "utf, blind_mia, leaks. Named attacks the data cannot support are errors; with 'all' they "
                        "are n/a with the reason")
    p.add_argument("--out", required=True, help="output folder; audit.json is written there atomically")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="audit settings, e.g. relearn_lr=5e-4, relearn_epochs=1,2,4, quantize_bits=4")
    p.add_argument("--guard", default=None, metavar="DIR",
                   help="audit the model behind this ECO guard (`obliviate guard fit`): weight-level attacks see "
                        "the raw weights, behaviour-level ones the guarded model")
    p.add_argument("--name", default=None, help="label of the audited model (default: its folder's run name)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code (off by default)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)
    _register_leaks(subparsers)


def _register_leaks(subparsers) -> None:
    """`data leaks` under the existing `data` command; `data-leaks` at the top level if there is none."""
    data = subparsers.choices.get("data")
    actions = [a for a in getattr(data, "_actions", []) if isinstance(a, argparse._SubParsersAction)]
    sub = actions[0] if actions else subparsers
    p = sub.add_parser("leaks" if actions else "data-leaks",
                       help="find near-duplicates of forget items in the retain, holdout and evaluation sets")
    p.add_argument("data", metavar="DATA", help="corpus folder, tofu:PATH_OR_HUB, or a folder/file of records")
    p.add_argument("--forget", default="forget10", help="forget split name or file (default forget10)")
    p.add_argument("--retain", default=None, help="retain split name or file (default: the complement)")
    p.add_argument("--cosine", type=float, default=None, help="MiniLM cosine threshold (default 0.9)")
    p.add_argument("--ngram", type=float, default=None, help="word 4-gram overlap threshold (default 0.6)")
    p.add_argument("--out", default=None, help="write the pairs as JSON here (atomically)")
    p.set_defaults(func=run_leaks)


def _name(model: str) -> str:
    from pathlib import Path

    path = Path(model)
    return path.parent.name if path.name == "model" and path.parent.name else path.name


def run(args) -> int:
    from pathlib import Path

    from obliviate._atomic import atomic_write_json
    from obliviate.config import parse_sets
    from obliviate.data import load_splits
    from obliviate.models import load
    from obliviate.models.spread import join

    from .runner import audit, parse_attacks

    parse_attacks(args.attacks)  # an unknown attack name fails before anything loads
    overrides = parse_sets(args.set)
    # torchrun / accelerate launch: every process loads both models; scoring and generation are shared out
    # (models/spread.py), relearning runs on the first process; the first process writes audit.json.
    rank, _, device = join()
    splits = load_splits(args.data, forget=args.forget, retain=args.retain)
    model, tokenizer, label = _load(args, device)
    oracle = load(args.oracle, trust_remote_code=args.trust_remote_code, device=device) if args.oracle else None
    result = audit(model, tokenizer, splits, oracle=oracle, attacks=args.attacks, seed=args.seed,
                   config=overrides, name=args.name or label, progress=not args.quiet and rank == 0)
    result["model"], result["oracle"] = args.model, args.oracle
    if args.guard:
        result["guard"] = args.guard
    if rank != 0:
        return 0
    out = Path(args.out) / "audit.json"
    atomic_write_json(out, result)
    print(summary(result))
    print(f"wrote {out}")
    return 0


def _load(args, device=None):
    """(model, tokenizer, default name): an O3 folder gated by its detectors, a model behind --guard, or the model."""
    from pathlib import Path

    from obliviate.models import load

    trust = args.trust_remote_code
    if (Path(args.model) / "o3" / "o3.json").is_file():
        if args.guard:
            from obliviate.errors import ConfigError

            raise ConfigError(f"--guard: {args.model} is an O3 folder (its adapters are its unlearning); rule: a "
                              f"guard wraps a plain model (got --guard {args.guard!r})")
        from obliviate.continual import load_o3

        return (*load_o3(args.model, trust_remote_code=trust, device=device), "o3")
    model, tokenizer = load(args.model, trust_remote_code=trust, device=device)
    if args.guard:
        from obliviate.guard.evaluate import guard_model

        return guard_model(model, tokenizer, args.guard), tokenizer, "eco"
    return model, tokenizer, _name(args.model)


def summary(result: dict) -> str:
    """One line per attack: verdict, seconds and the reason, cut to one terminal line."""
    lines = [f"audit of {result.get('name')} vs {result.get('against')} ({result.get('seconds', 0):.0f} s):"]
    for name, a in result.get("attacks", {}).items():
        reason = str(a.get("reason", ""))
        seen = f"[{a['model_seen']}] " if a.get("model_seen") else ""
        lines.append(f"  {name:<11} {a.get('verdict', '?'):<9} {a.get('seconds', 0):6.1f} s  {seen}"
                     f"{reason[:90] + ('…' if len(reason) > 90 else '')}")
    return "\n".join(lines)


def run_leaks(args) -> int:
    from obliviate._atomic import atomic_write_json
    from obliviate.data import load_splits

    from .base import AuditConfig
    from .leaks import find_leaks

    cfg = AuditConfig()
    splits = load_splits(args.data, forget=args.forget, retain=args.retain)
    found = find_leaks(splits, args.cosine if args.cosine is not None else cfg.leaks_cosine,
                       args.ngram if args.ngram is not None else cfg.leaks_ngram)
    if args.out:
        atomic_write_json(args.out, found)
    n = len(found["pairs"])
    print(f"{n} near-duplicate pair(s) between {found['compared']['forget']} forget items and "
          f"{found['compared']['others']} others" + (f": {json.dumps(found['counts'])}" if n else ""))
    for p in found["pairs"][:20]:
        print(f"  {p['forget_id']} ~ {p['other_set']}:{p['other_id']} (cosine {p['cosine']:.2f}, "
              f"4-gram overlap {p['ngram_overlap']:.2f})", file=sys.stdout)
    return 0

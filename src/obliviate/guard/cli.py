"""`obliviate guard fit`: fit an ECO prompt guard (classifier, threshold, σ) for a model and a forget request.

    obliviate guard fit --data runs/demo/corpus --forget forget10 --model models/target --oracle models/oracle \
                        --out runs/eco/guard [--fpr 0.05] [--mode noise|zero] [--sigma S] [--target P]
    obliviate eval --model models/target --guard runs/eco/guard --oracle models/oracle --data ... --out r.json

Nothing heavy is imported until the command runs.
"""
from __future__ import annotations

import dataclasses
import json


def register(sub) -> None:
    p = sub.add_parser("guard", help="inference-time unlearning: the ECO prompt guard (weights unchanged)",
                       description=__doc__.splitlines()[0])
    gsub = p.add_subparsers(dest="guard_command", metavar="GUARD_COMMAND", required=True)
    f = gsub.add_parser("fit", help="fit the prompt classifier, its threshold and the corruption strength σ")
    f.add_argument("--data", required=True, help="corpus folder, tofu:PATH_OR_HUB, or a folder/file of records")
    f.add_argument("--forget", default="forget10", help="forget split name or file (default forget10)")
    f.add_argument("--retain", default=None, help="retain split name or file (default: the complement)")
    f.add_argument("--model", required=True, help="the model to guard (its tokenizer is recorded)")
    f.add_argument("--oracle", default=None, help="oracle model folder: σ is searched to reach its forget/prob")
    f.add_argument("--target", type=float, default=None, help="or a target forget/prob for the σ search")
    f.add_argument("--sigma", type=float, default=None, help="a fixed σ (no search)")
    f.add_argument("--mode", default="noise", choices=("noise", "zero"), help="corruption (default noise)")
    f.add_argument("--fpr", type=float, default=0.05, help="false-positive rate of the threshold (default 0.05)")
    f.add_argument("--steps", type=int, default=8, help="σ search steps (default 8)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", required=True, help="guard folder (guard.json)")
    f.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code (off by default)")
    f.set_defaults(func=_fit)


def _fit(args) -> int:
    from obliviate.data import load_splits
    from obliviate.models import load

    from .fit import fit_guard

    splits = load_splits(args.data, forget=args.forget, retain=args.retain)
    model, tokenizer = load(args.model, trust_remote_code=args.trust_remote_code)
    oracle = load(args.oracle, trust_remote_code=args.trust_remote_code)[0] if args.oracle else None
    guard = fit_guard(model, tokenizer, splits, oracle=oracle, target=args.target, fpr=args.fpr, mode=args.mode,
                      sigma=args.sigma, seed=args.seed, steps=args.steps)
    guard = dataclasses.replace(guard, fit={**(guard.fit or {}), "data": args.data, "forget": args.forget,
                                            "model": args.model, "oracle": args.oracle})
    path = guard.save(args.out)
    print(json.dumps({"guard": str(path), "sigma": guard.sigma, "threshold": guard.classifier.threshold,
                      "held_out": guard.fit.get("held_out")}))
    return 0

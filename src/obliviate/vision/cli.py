"""`obliviate vision ...`: the classifier track's commands. `obliviate vision demo --quick` runs in under a minute.

    obliviate vision demo    [--out DIR] [--quick] [--data digits|fashion-mnist|csv] [--path P] [--label COL]
    obliviate vision train   --data D [--forget SPEC] --out MODEL                (target; with --forget: the oracle)
    obliviate vision unlearn --data D --model MODEL --forget SPEC --method M [--set method.KEY=V] --out MODEL
    obliviate vision eval    --data D --model MODEL [--oracle MODEL] --forget SPEC --out results.json
    obliviate vision methods                                                     (= obliviate methods --track vision)

SPEC: random:FRACTION[:SEED] | class:K. Flags mean what they mean in the LLM commands (`obliviate unlearn|eval`);
commands.py does the work, so that parsing imports no torch.
"""
from __future__ import annotations

import argparse

from obliviate.errors import ConfigError

FORGET_HELP = "the forget set: random:FRACTION[:SEED] (seeded draw, seed 0 by default) or class:K"


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", choices=["digits", "fashion-mnist", "csv"],
                   help="dataset (default digits: scikit-learn's, offline)")
    p.add_argument("--path", help="Fashion-MNIST IDX folder, or the CSV file")
    p.add_argument("--label", help="CSV: the label column")
    p.add_argument("--train-limit", type=int, help="Fashion-MNIST: stratified subsample of the training set")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")


def register(subparsers) -> None:
    p = subparsers.add_parser("vision", help="classifier unlearning (digits, Fashion-MNIST, CSV)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="vision_command", metavar="VISION_COMMAND", required=True)
    d = sub.add_parser("demo", help="every classifier method against the retrained oracle; results.json + report")
    d.add_argument("--out", default="runs/vision-demo", help="output folder (replaced atomically)")
    d.add_argument("--quick", action="store_true", help="one seed, 15 training epochs (under a minute on digits)")
    _data_args(d)
    d.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (ignored with --quick)")
    d.add_argument("--methods", help="comma-separated subset of the methods (default: all)")
    d.add_argument("--fraction", type=float, default=0.1, help="random forgetting: fraction of training samples")
    d.add_argument("--forget-class", type=int, default=0, help="class-wise forgetting: the class")
    d.set_defaults(func=_demo)

    t = sub.add_parser("train", help="train the target (all training data) or, with --forget, the oracle")
    _data_args(t)
    t.add_argument("--forget", help=f"leave this forget set out (the oracle); {FORGET_HELP}")
    t.add_argument("--out", required=True, help="model folder: config.json, model.safetensors, run.json")
    t.add_argument("--seed", type=int, default=0, help="initial weights and batch order (default 0)")
    t.add_argument("--epochs", type=int, help="shortcut for --set epochs=N (default 30)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override a field of the recipe (the `retrain` method), e.g. --set lr=0.05")
    t.set_defaults(func=_train)

    u = sub.add_parser("unlearn", help="remove a forget set from a classifier with one method")
    _data_args(u)
    u.add_argument("--model", required=True, help="model folder (obliviate vision train)")
    u.add_argument("--forget", required=True, help=FORGET_HELP)
    u.add_argument("--method", default="salun", help="method name (see `obliviate methods --track vision`)")
    u.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="method hyper-parameter: method.lr=0.01, method.epochs=5, method.ratio=0.3, ...")
    u.add_argument("--seed", type=int, default=0, help="batch order and the method's random draws (default 0)")
    u.add_argument("--out", required=True, help="model folder of the result: config.json, model.safetensors, "
                                                "run.json (cost, config, log)")
    u.set_defaults(func=_unlearn)

    e = sub.add_parser("eval", help="UA, RA, TA, MIA_efficacy and avg_gap against the oracle -> results.json")
    _data_args(e)
    e.add_argument("--model", required=True, help="model folder to score (unlearned, target or oracle)")
    e.add_argument("--oracle", default=None, help="oracle model folder (obliviate vision train --forget SPEC)")
    e.add_argument("--forget", required=True, help=FORGET_HELP)
    e.add_argument("--out", required=True, help="results.json to write (atomically)")
    e.add_argument("--name", default=None, help="label in reports (default: the method, or target / oracle)")
    e.add_argument("--seed", type=int, default=0, help="the MIA's balanced subsample (default 0)")
    e.set_defaults(func=_eval)

    m = sub.add_parser("methods", help="list the classifier methods (= obliviate methods --track vision)")
    m.set_defaults(func=_methods)


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)  # the CLI's choice; library code never sets it


def _train(args: argparse.Namespace) -> int:
    from .commands import train_command

    _threads(args.threads)
    return train_command(args)


def _unlearn(args: argparse.Namespace) -> int:
    from .commands import unlearn_command

    _threads(args.threads)
    return unlearn_command(args)


def _eval(args: argparse.Namespace) -> int:
    from .commands import eval_command

    _threads(args.threads)
    return eval_command(args)


def _demo(args: argparse.Namespace) -> int:
    from obliviate.methods import available

    from .data import load
    from .demo import demo

    if args.seeds < 1:
        raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
    methods = tuple(s.strip() for s in args.methods.split(",") if s.strip()) if args.methods else None
    unknown = sorted(set(methods or ()) - set(available("vision")))
    if unknown:
        raise ConfigError(f"--methods: unknown {unknown}; valid: {', '.join(available('vision'))}")
    _threads(args.threads)
    kw = {"train_limit": args.train_limit} if args.data == "fashion-mnist" and args.train_limit else {}
    data = load(args.data, args.path, args.label, **kw)
    written = demo(data, args.out, quick=args.quick, seeds=args.seeds, methods=methods, fraction=args.fraction,
                   forget_class=args.forget_class)
    print(f"wrote {len(written['results'])} results.json under {args.out}"
          + ("" if written["report_builder"] else " (obliviate.report not available: no HTML report)"))
    return 0


def _methods(args: argparse.Namespace) -> int:
    from obliviate.catalog import listing, table  # static: listing the methods imports no torch

    print(table(listing("vision")))  # = obliviate methods --track vision
    return 0

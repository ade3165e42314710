"""`obliviate vision ...`: the classifier track's commands. `obliviate vision demo --quick` runs in under a minute.

    obliviate vision demo [--out DIR] [--quick] [--data digits|fashion-mnist|csv] [--path P] [--label COL] [--seeds N]
    obliviate vision methods
"""
from __future__ import annotations

import argparse

from obliviate.errors import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser("vision", help="classifier unlearning (digits, Fashion-MNIST, CSV)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="vision_command", metavar="VISION_COMMAND", required=True)
    d = sub.add_parser("demo", help="every classifier method against the retrained oracle; results.json + report")
    d.add_argument("--out", default="runs/vision-demo", help="output folder (replaced atomically)")
    d.add_argument("--quick", action="store_true", help="one seed, 15 training epochs (under a minute on digits)")
    d.add_argument("--data", default="digits", choices=["digits", "fashion-mnist", "csv"])
    d.add_argument("--path", help="Fashion-MNIST IDX folder, or the CSV file")
    d.add_argument("--label", help="CSV: the label column")
    d.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (ignored with --quick)")
    d.add_argument("--methods", help="comma-separated subset of the methods (default: all)")
    d.add_argument("--fraction", type=float, default=0.1, help="random forgetting: fraction of training samples")
    d.add_argument("--forget-class", type=int, default=0, help="class-wise forgetting: the class")
    d.add_argument("--train-limit", type=int, help="Fashion-MNIST: stratified subsample of the training set")
    d.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    d.set_defaults(func=_demo)
    m = sub.add_parser("methods", help="list the classifier methods (= obliviate methods --track vision)")
    m.set_defaults(func=_methods)


def _demo(args: argparse.Namespace) -> int:
    import torch

    from obliviate.methods import available

    from .data import load
    from .demo import demo

    if args.seeds < 1:
        raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
    methods = tuple(s.strip() for s in args.methods.split(",") if s.strip()) if args.methods else None
    unknown = sorted(set(methods or ()) - set(available("vision")))
    if unknown:
        raise ConfigError(f"--methods: unknown {unknown}; valid: {', '.join(available('vision'))}")
    torch.set_num_threads(args.threads)
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

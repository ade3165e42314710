"""`obliviate train`: train a preset model on one split of a corpus folder (target: full; oracle: retain90)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("train", help="train a target or oracle model from scratch on a corpus split")
    p.add_argument("--data", required=True, help="corpus folder (obliviate data persons, or TOFU layout)")
    p.add_argument("--split", default="full", help="split to train on: full (target) or retain90 (oracle)")
    p.add_argument("--preset", default="small", help="model preset: tiny, small or moe (a tiny Mixtral MoE)")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    p.add_argument("--seed", type=int, help="shortcut for --set seed=N")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override a recipe field, e.g. --set lr=1e-3 (see TrainRecipe)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="torch CPU threads (default: torch's)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    import torch

    from ..config import parse_sets
    from .corpus import train_on_corpus
    from .train import memorisation_warning

    if args.threads:
        torch.set_num_threads(args.threads)  # process-wide: only a command sets it, never the library
    overrides = {k.removeprefix("train."): v for k, v in parse_sets(args.set).items()}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.seed is not None:
        overrides["seed"] = args.seed
    log = train_on_corpus(args.data, args.split, args.out, args.preset, overrides, progress=not args.quiet)
    print(f"trained {args.preset} ({log['parameters']:,} parameters) on {args.split}: {log['qa_items']} QA + "
          f"{log['texts']} texts, {len(log['epochs'])} epochs, {log['wall_time_s']:.1f} s, final loss "
          f"{_fmt(log['final_loss'])}, greedy exact-answer accuracy {_fmt(log['accuracy'])} -> {args.out}")
    warning = memorisation_warning(log, "model")
    if warning:
        print(warning, file=sys.stderr)
    return 0


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"

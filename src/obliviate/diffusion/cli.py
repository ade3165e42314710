"""`obliviate diffusion ...`: the diffusion track's commands.

    obliviate diffusion demo [--quick] [--data digits|fashion-mnist] [--concept NAME] [--out DIR] [--cache DIR]
                             [--methods uce,esd] [--seed N] [--jobs N] [--threads N]
    obliviate diffusion methods                                   (= obliviate methods --track diffusion)

Parsing imports neither torch nor diffusers; the demo module loads when the command runs.
"""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("diffusion", help="concept erasure in a tiny text-to-image diffusion model",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="diffusion_command", metavar="DIFFUSION_COMMAND", required=True)
    d = sub.add_parser("demo", help="train target and oracle, erase the concept with every method, judge, attack, "
                                    "report")
    d.add_argument("--quick", action="store_true", help="tiny models and few steps: a smoke test of every stage")
    d.add_argument("--data", default="digits", choices=["digits", "fashion-mnist"],
                   help="images (default digits: scikit-learn's, offline)")
    d.add_argument("--concept", default=None, help="class name to erase (default: the first class)")
    d.add_argument("--out", default="runs/diffusion", help="output folder (replaced atomically)")
    d.add_argument("--cache", default=None, help="trained-model cache (default $OBLIVIATE_CACHE or ~/.cache/obliviate)")
    d.add_argument("--methods", default=None, help="comma-separated subset of the methods (default: all)")
    d.add_argument("--seed", type=int, default=0, help="models, sampling and attack seed (default 0)")
    d.add_argument("--jobs", type=int, default=None,
                   help="worker processes, one torch thread each (default 2; 1 with --quick); same numbers either way")
    d.add_argument("--threads", type=int, default=1, help="torch CPU threads of this process (the machine is shared)")
    d.set_defaults(func=_demo)
    m = sub.add_parser("methods", help="list the diffusion methods (= obliviate methods --track diffusion)")
    m.set_defaults(func=_methods)


def _cache(arg: str | None):
    from pathlib import Path

    from obliviate.demo.settings import default_cache_root

    return Path(arg) if arg else default_cache_root()


def _demo(args) -> int:
    import torch

    from .demo import run_demo

    torch.set_num_threads(args.threads)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip()) if args.methods else None
    run_demo(args.data, args.concept, args.quick, args.out, _cache(args.cache), methods, args.seed, jobs=args.jobs)
    return 0


def _methods(args) -> int:
    from obliviate import catalog

    print(catalog.table(catalog.listing("diffusion")))
    return 0

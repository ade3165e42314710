"""`obliviate demo` arguments; the work happens in `pipeline.py` (imported when the command runs)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="corpus, target and oracle, every method, report: the whole story offline",
                       description="Generate the persons corpus, train target and oracle (cached), unlearn the "
                                   "forget set with every method, evaluate each against the oracle, write "
                                   "OUT/<method>/results.json and OUT/report.html, print a summary table.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quick", action="store_true",
                   help="tiny preset, 20 persons, a few steps per method: about a minute on 2 cores")
    p.add_argument("--persons", type=int, default=None, help="persons in the corpus (default 150; quick 20)")
    p.add_argument("--facts", type=int, default=None, help="facts (QA items) per person (default 4; quick 6)")
    p.add_argument("--preset", choices=("small", "tiny"), default=None, help="model preset (default small; quick "
                   "tiny)")
    p.add_argument("--methods", default=None, metavar="A,B,...", help="methods to run (default: every one)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes, one torch thread each (default 2; "
                   "quick 1: its jobs are too small to repay starting workers)")
    p.add_argument("--cache", default=None, help="trained-model cache (default $OBLIVIATE_CACHE or "
                   "~/.cache/obliviate)")
    p.add_argument("--seed", type=int, default=0, help="corpus and training seed (default 0)")
    p.add_argument("--job-timeout", type=float, default=None, metavar="SECONDS",
                   help="report a worker job still running after this long as hung, naming its stage (default: "
                        "no limit)")
    p.add_argument("--stop", choices=("holdout", "none"), default=None,
                   help="holdout: end each method once its forget set looks like the holdout (default none)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .pipeline import run_demo

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    outcome = run_demo(args.out, args.quick, persons=args.persons, facts=args.facts, preset=args.preset,
                       methods=methods, jobs=args.jobs, cache=args.cache, seed=args.seed,
                       job_timeout=args.job_timeout, stop=args.stop)
    return 1 if outcome["errors"] else 0

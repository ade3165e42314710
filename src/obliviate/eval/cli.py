"""`obliviate eval`: evaluate a model against the oracle and write results.json (docs/results.md).

    obliviate eval --model runs/npo/model --oracle models/oracle --data DIR --forget forget10 --out results.json
    obliviate eval ... --oracle-results oracle/results.json          # saved per-item oracle values instead
    obliviate eval ... --suite tofu|muse|mia|all                      # default: all that the data supports
    obliviate eval ... --protocol scalability --sizes 1,2,3,4 --method npo       # MUSE C5
    obliviate eval ... --protocol sustainability --requests 4 --method npo       # MUSE C6
    obliviate eval ... --protocol sustainability --requests 4 --step-oracles train   # an oracle per step
    torchrun --nproc_per_node 8 -m obliviate.cli eval ...     # items shared out over 8 processes (GPUs or CPU)
"""
from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model against the oracle (TOFU, MUSE C1-C6, membership inference)")
    p.add_argument("--model", required=True, help="model folder or hub name (any HF causal LM)")
    p.add_argument("--oracle", default=None, help="oracle model folder (trained without the forget set)")
    p.add_argument("--oracle-results", default=None, metavar="PATH",
                   help="a saved results.json whose per-item oracle values are used instead of --oracle")
    p.add_argument("--target-results", default=None, metavar="PATH",
                   help="the target's results.json (before unlearning): enables MUSE C4 (utility kept >= 95%%)")
    p.add_argument("--data", required=True, help="corpus folder, tofu:PATH_OR_HUB, or a folder/file of records")
    p.add_argument("--forget", default="forget10", help="forget split name or file (default forget10)")
    p.add_argument("--retain", default=None, help="retain split name or file (default: the complement)")
    p.add_argument("--out", required=True, help="results.json to write (atomically)")
    p.add_argument("--suite", default="all", choices=("all", "tofu", "muse", "mia"))
    p.add_argument("--name", default=None, help="label in reports (default: the model folder's run name)")
    p.add_argument("--protocol", default=None, choices=("scalability", "sustainability"))
    p.add_argument("--sizes", default="1,2,3,4", help="scalability: forget-set sizes in folds (default 1,2,3,4)")
    p.add_argument("--requests", type=int, default=4, help="sustainability: sequential requests (default 4)")
    p.add_argument("--method", default="npo", help="protocols: the unlearning method")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[], help="protocols: method overrides")
    p.add_argument("--step-oracles", default=None, metavar="DIRS|train",
                   help="protocols: judge step k against an oracle trained without requests 1..k: a comma list of "
                        "oracle folders (one per step), or `train` (the target's recipe, cached)")
    p.add_argument("--batch-size", type=int, default=32, help="generation batch size (default 32)")
    p.add_argument("--guard", default=None, metavar="DIR",
                   help="evaluate the model behind this ECO guard (`obliviate guard fit`; weights unchanged)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code (off by default)")
    p.set_defaults(func=run)


def _name(args) -> str:
    if args.name:
        return args.name
    if getattr(args, "guard", None):
        return "eco"  # a guarded target is no longer the target
    path = Path(args.model)
    return path.parent.name if path.name == "model" and path.parent.name else path.name


def run(args) -> int:
    from obliviate.errors import ConfigError
    from obliviate.results import read_results

    if args.oracle and args.oracle_results:
        raise ConfigError("pass either --oracle or --oracle-results, not both")
    if args.step_oracles is not None and not args.protocol:
        raise ConfigError(f"--step-oracles: per-step oracles judge the steps of a protocol; rule: give --protocol "
                          f"scalability|sustainability with it (got --step-oracles {args.step_oracles!r} alone)")
    # Saved results are checked before torch and the models load: a broken file fails at once, naming itself.
    saved = read_results(args.oracle_results) if args.oracle_results else None
    if args.target_results:
        read_results(args.target_results)
    return _evaluate(args, saved)


def _evaluate(args, saved: dict | None) -> int:
    from obliviate.config import parse_sets
    from obliviate.data import load_splits
    from obliviate.errors import ConfigError
    from obliviate.models import load
    from obliviate.models.spread import join
    from obliviate.results import write_results

    from .cost import build_cost
    from .suite import evaluate

    # torchrun / accelerate launch: every process loads both models, scores its share of the batches and receives
    # every per-item value (models/spread.py); the first process writes results.json.
    rank, _, device = join()
    splits = load_splits(args.data, forget=args.forget, retain=args.retain)
    if (Path(args.model) / "o3" / "o3.json").is_file():  # an O3 stream's model: evaluate it gated
        from obliviate.continual import load_o3

        model, tokenizer = load_o3(args.model, trust_remote_code=args.trust_remote_code, device=device)
    else:
        model, tokenizer = load(args.model, trust_remote_code=args.trust_remote_code, device=device)
    oracle = load(args.oracle, trust_remote_code=args.trust_remote_code, device=device) if args.oracle else None
    if args.guard:
        if args.protocol:
            raise ConfigError("--guard evaluates one guard; the protocols refit a guard per request "
                              "(obliviate.continual)")
        from obliviate.guard.evaluate import guard_model

        model = guard_model(model, tokenizer, args.guard)
    config = {"model": args.model, "oracle": args.oracle, "oracle_results": args.oracle_results,
              "data": args.data, "forget": args.forget, "retain": args.retain}
    kwargs = {"suite": args.suite, "batch_size": args.batch_size, "config": config}
    if args.protocol:
        if not args.oracle and args.step_oracles is None:
            raise ConfigError("--protocol needs --oracle MODEL_DIR (every step is evaluated against it) or "
                              "--step-oracles DIRS|train (step k against an oracle without requests 1..k)")
        extra = ({"sizes": [int(k) for k in args.sizes.split(",") if k.strip()]} if args.protocol == "scalability"
                 else {"requests": args.requests})
        config |= {"protocol": args.protocol, "method": args.method, "overrides": parse_sets(args.set),
                   "step_oracles": args.step_oracles, **extra}
        results = _protocol(args, model, tokenizer, splits, oracle, extra)
        results["config"] = {**results["config"], **config}
    else:
        results = evaluate(model, tokenizer, splits, oracle=oracle, oracle_results=args.oracle_results,
                           target_results=args.target_results, name=_name(args),
                           cost=build_cost(args.model, args.oracle, saved), curve=_curve(args.model),
                           training=_training(args, saved), **kwargs)
        if args.guard:
            from obliviate.guard.evaluate import guard_results

            results = guard_results(results, model, splits, results.get("cost"))
        if hasattr(model, "detectors"):
            from obliviate.continual.evaluate import o3_results

            results = o3_results(results, model, splits)
    if rank == 0:
        write_results(args.out, results)
        _summary(results, args.out)
    return 0


def _protocol(args, model, tokenizer, splits, oracle, extra: dict) -> dict:
    """MUSE C5/C6 through the spine: a run spec of this command's flags; each step's files go to OUT.steps/."""
    from obliviate.config import parse_sets
    from obliviate.errors import ConfigError
    from obliviate.protocols import scalability, sustainability
    from obliviate.run import Stages
    from obliviate.spec import load_spec

    out = Path(args.out)
    sets = parse_sets(args.set)
    o3 = {k[3:]: sets.pop(k) for k in [k for k in sets if k.startswith("o3.")]}  # O3's own keys (continual/)
    # eco: a guard refitted per request (the spine's guard step); o3: adapters trained with npo by default
    how = {"guard": {}} if args.method == "eco" else {"method": o3.pop("method", "npo") if args.method == "o3"
                                                                else args.method}
    spec = load_spec({"model": args.model, "data": args.data, "forget": args.forget, "retain": args.retain,
                      **how, "out": str(out.with_name(out.stem + ".steps")), "save_model": False,
                      "eval": {"oracle": args.oracle, "suite": args.suite, "batch_size": args.batch_size,
                               "curve_points": 0, "step_oracles": args.step_oracles}}, sets)
    stages = Stages(splits=splits, model=model, tokenizer=tokenizer, oracle=oracle)
    if args.method == "o3":
        if args.protocol != "sustainability":
            raise ConfigError("--method o3 runs the sustainability protocol (a stream of requests)")
        from obliviate.continual.sustain import sustainability_o3

        return sustainability_o3(spec, stages=stages, orth_weight=float(o3.pop("orth_weight", 0.1)), **extra)
    fn = scalability if args.protocol == "scalability" else sustainability
    return fn(spec, stages=stages, **extra)


def _training(args, saved: dict | None) -> dict | None:
    """Memorisation of the evaluated model (when it has its own train.json) and of the oracle (its train.json,
    or the `training` section of its saved results)."""
    from obliviate.models.corpus import read_train_log
    from obliviate.models.train import training_summary

    found = {"model": training_summary(read_train_log(args.model)) if Path(args.model).is_dir() else None,
             "oracle": training_summary(read_train_log(args.oracle)) if args.oracle and Path(args.oracle).is_dir()
             else ((saved or {}).get("training") or {}).get("oracle")}
    found = {k: v for k, v in found.items() if v}
    return found or None


def _curve(model_dir: str) -> list:
    path = Path(model_dir).parent / "run.json"
    return json.loads(path.read_text()).get("curve", []) if path.is_file() else []


def _summary(results: dict, out: str) -> None:
    shown = ("forget_quality", "model_utility", "privleak", "verbmem", "knowmem_f", "knowmem_r")
    parts = [f"{k} {results['metrics'][k]['value']:.4g}" for k in shown
             if k in results["metrics"] and results["metrics"][k]["value"] is not None]
    print(f"{results.get('name', 'model')}: {', '.join(parts) or 'no headline metrics'} -> {out}")

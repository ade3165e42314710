"""`obliviate run SPEC.yaml [--set key=value]`: one unlearning run as the spec says (unlearn → evaluate →
results.json, optionally the report). Registration imports nothing heavy; the spine loads when the command runs."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("run", help="unlearn, evaluate against the oracle and write results.json, as a run spec says",
                       description="Run the spec (YAML): load the splits and the model, unlearn with the method, "
                                   "evaluate against the oracle, write OUT/run.json and OUT/results.json (and "
                                   "OUT/report.html with report: true). Example specs: configs/*.yaml.")
    p.add_argument("spec", help="run spec file (YAML)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override a spec key, e.g. --set train.epochs=3 --set method.beta=0.2 --set out=runs/x")
    p.set_defaults(func=run)


def run(args) -> int:
    from obliviate.models.spread import world
    from obliviate.run import run as run_spec

    results = run_spec(args.spec, sets=args.set)
    if world()[0] != 0:  # under torchrun / accelerate launch the first process wrote and reports
        return 0
    shown = ("forget_quality", "model_utility", "privleak", "knowmem_f", "knowmem_r")
    parts = [f"{k} {results['metrics'][k]['value']:.4g}" for k in shown
             if results["metrics"].get(k, {}).get("value") is not None]
    ratio = results["cost"].get("cost_ratio")
    print(f"{results['name']}: {', '.join(parts) or 'no headline metrics'}; cost ratio "
          f"{'-' if ratio is None else f'{ratio:.3g}'} -> {results['config']['spec']['out']}/results.json")
    for warning in results.get("warnings") or []:
        print(f"warning: {warning}")
    return 0

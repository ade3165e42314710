"""`stop: holdout` and its variants (finish phase, retain-NLL guard) on the demo: where each stopped run lands.

Run: `OMP_NUM_THREADS=1 .venv/bin/python bench/stop_finish.py --cache CACHE [--out runs/stop-finish] [--methods npo]
[--variants none,holdout,anneal4,anneal8,repair4,repair8,guard0.5] [--quick]`. Builds the demo's corpus, takes
target and oracle from the demo's cache (trains them into it when missing, in this process, one thread), evaluates
both, then runs each (method, variant) in turn in this process as the demo's own run spec of that method with the
variant's `stop:` section (`none`: no stop; `holdout`: the rule alone, every 8; `annealK` / `repairK`: finish: anneal
/ repair with finish_steps K; `guardT`: retain_tolerance T; `repairK+guardT`: both). One JSON line per run, then a
table; everything goes to OUT/stop-finish.json.

cost = the run's wall time (steps, checks and finish steps; not the curve hook) / the oracle's training wall time,
as the demo reports it; cpu cost = the same with the thread CPU time of the steps and checks (robust to other jobs on
shared cores; the oracle's training ran on one otherwise idle core, so its wall time stands for its CPU time).
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from _machine import cpu_model  # bench/ is on sys.path when a bench runs

from obliviate.demo.pipeline import Demo
from obliviate.demo.settings import DemoConfig
from obliviate.demo.workers import run_method
from obliviate.rules import BAND_UTILITY_KEEP, in_band


def stop_section(variant: str, every: int) -> dict | None:
    """The `stop:` section of a variant name (module docstring)."""
    if variant == "none":
        return None
    section = {"rule": "holdout", "every": every}
    for part in variant.split("+"):
        if m := re.fullmatch(r"(anneal|repair)(\d+)", part):
            section |= {"finish": m[1], "finish_steps": int(m[2])}
        elif m := re.fullmatch(r"guard([\d.]+)", part):
            section["retain_tolerance"] = float(m[1])
        elif part != "holdout":
            raise SystemExit(f"--variants: unknown variant {part!r}")
    return section


def measure(result: dict, out: Path, oracle_s: float, target_mu: float) -> dict:
    """The row of one run: where it stopped, what it cost, where it landed."""
    results = json.loads((out / "results.json").read_text())
    log = json.loads((out / "run.json").read_text())
    stop = results.get("stop") or {}
    cpu = sum(e["cpu_seconds"] for e in log["log"]) + sum(c.get("cpu_seconds", 0) for c in stop.get("checks", []))
    fq, mu = (results["metrics"][k]["value"] for k in ("forget_quality", "model_utility"))
    return {"steps": results["cost"]["steps"], "fired_at": stop.get("fired_at"),
            "checks": [(c["step"], c["auc"], c["lo"], c.get("retain_nll")) for c in stop.get("checks", [])],
            "retain_nll_0": stop.get("retain_nll_0"), "cost_ratio": results["cost"]["cost_ratio"],
            "cpu_cost_ratio": cpu / oracle_s, "forget_quality": fq, "model_utility": mu,
            "privleak": results["metrics"].get("privleak", {}).get("value"), "band": in_band(fq, mu, target_mu),
            "seconds": result["seconds"],
            "train_retain_nll": [(e["step"], round(e["retain_nll"], 4)) for e in log["log"] if "retain_nll" in e]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/stop-finish")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--methods", default="npo")
    ap.add_argument("--variants", default="none,holdout,anneal4,anneal8,repair4,repair8,guard0.5")
    ap.add_argument("--every", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="the quick demo's tiny models (a smoke test)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    cfg = DemoConfig.for_mode(args.quick, out=Path(args.out), jobs=1, cache=Path(args.cache) if args.cache else None)
    demo = Demo(cfg, log=print)  # no pool: every stage runs in this process
    corpus = demo.corpus()
    models = demo.models(corpus)
    refs = demo.reference_results(corpus, models)
    target_mu = refs["target"]["metrics"]["model_utility"]["value"]
    oracle_s = models["logs"]["oracle"]["wall_time_s"]
    print(f"[stop] target utility {target_mu:.3f} (band: >= {BAND_UTILITY_KEEP * target_mu:.3f}); oracle trained "
          f"in {oracle_s:.1f} s", flush=True)
    rows = []
    for method in args.methods.split(","):
        for variant in args.variants.split(","):
            spec = demo.method_spec(method, corpus, models)
            section = stop_section(variant, args.every)
            if section is None:
                spec.pop("stop", None)
            else:
                spec["stop"] = section
            out = Path(args.out) / f"{method}-{variant}"
            spec["out"] = str(out)
            res = run_method({"method": method, "spec": spec})
            row = {"method": method, "variant": variant, "stop": section}
            row |= {"error": res["error"]} if res.get("error") else measure(res, out, oracle_s, target_mu)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'method':10s} {'variant':16s} {'stopped':>7s} {'steps':>5s} {'cost':>6s} {'cpu':>6s} {'fq':>8s} "
          f"{'utility':>7s} band")
    for r in rows:
        if "error" in r:
            print(f"{r['method']:10s} {r['variant']:16s} FAILED: {r['error']}")
            continue
        print(f"{r['method']:10s} {r['variant']:16s} {r['fired_at'] or '-'!s:>7s} {r['steps']:5d} "
              f"{100 * r['cost_ratio']:5.1f}% {100 * r['cpu_cost_ratio']:5.1f}% {r['forget_quality']:8.3g} "
              f"{r['model_utility']:7.3f} {'yes' if r['band'] else 'no'}")
    summary = {"bench": "stop_finish", "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "target_utility": target_mu, "oracle_train_s": oracle_s, "every": args.every, "rows": rows}
    (Path(args.out) / "stop-finish.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

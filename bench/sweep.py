"""Sweep: find each LLM method's defaults on the persons corpus, judged by distance to the oracle.

Run: `.venv/bin/python bench/sweep.py [--out runs/sweep] [--jobs 2] [--methods npo,ga] [--lrs 3e-4,1e-3,3e-3]
[--epochs 3,8]`. Trains (or reuses from the demo's cache) the demo's target and oracle, evaluates both, then runs
every (method, lr, epochs) cell as a run spec through `obliviate.run` (the demo's method spec with the cell's lr
and epochs: unlearn + full evaluation against the oracle). A cell *reaches the oracle's band* when forget_quality >= 0.05 and model_utility >= 0.9 x the target's.
The best cell per method is the one in the band with the highest forget_quality (ties: fewer steps); a method
with no cell in the band is reported as failing, with its closest cell (highest forget_quality among cells that
keep utility; when no cell keeps utility, the one that keeps the most). Metrics are never changed to make a
method pass.
Prints one line per cell and a table of the winners; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import as_completed
from pathlib import Path

from obliviate.config import parse_sets
from obliviate.demo.pipeline import Demo
from obliviate.demo.settings import DemoConfig, select_methods
from obliviate.demo.workers import init_worker, run_method, start_pool
from obliviate.rules import BAND_FORGET_QUALITY as FQ_BAND
from obliviate.rules import BAND_UTILITY_KEEP as UTILITY_KEEP


def cells(methods, lrs, epochs) -> list[tuple[str, float, int]]:
    return [(m, lr, ep) for m in methods for lr in lrs for ep in epochs]


def job_for(cell, demo: Demo, corpus: Path, models: dict) -> dict:
    """The demo's run spec of the cell's method, with the cell's lr and epochs and its own output folder."""
    method, lr, ep = cell
    spec = demo.method_spec(method, corpus, models)
    spec["train"] = {**spec.get("train", {}), "lr": lr, "epochs": ep}
    spec["out"] = str(demo.out / "cells" / f"{method}-lr{lr:g}-ep{ep}")
    return {"method": method, "spec": spec, "lr": lr, "epochs": ep}


def gpu_models(demo: Demo, corpus: Path, device: str) -> dict:
    """Target and oracle trained in this process on `device`, in the layout `Demo.models` returns."""
    from obliviate.data.splits import complement
    from obliviate.models.corpus import read_train_log, train_on_corpus

    paths = {}
    for role, split in (("target", "full"), ("oracle", complement(demo.cfg.forget))):
        paths[role] = str(demo.out / "models" / role)
        log = train_on_corpus(corpus, split, paths[role], demo.cfg.preset, demo.cfg.train_recipe_overrides(),
                              progress=False, device=device)
        print(f"[sweep] {role}: {log['wall_time_s']:.1f} s on {device}, exact answers {log['accuracy']}")
    return {"paths": paths, "status": {r: "trained" for r in paths},
            "logs": {r: read_train_log(p) for r, p in paths.items()}}


def judge(rows: list[dict], target_mu: float) -> dict:
    """The winning row per method (see the module docstring), with `band` telling whether it passes."""
    best = {}
    for m in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == m and r.get("forget_quality") is not None]
        keep = [r for r in mine if (r.get("model_utility") or 0) >= UTILITY_KEEP * target_mu]
        band = [r for r in keep if r["forget_quality"] >= FQ_BAND]
        if band or keep:
            win = max(band or keep, key=lambda r: (r["forget_quality"], -r["steps"]))
        elif mine:
            win = max(mine, key=lambda r: r.get("model_utility") or 0.0)
        else:
            continue
        best[m] = win | {"band": bool(band)}
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/sweep")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--methods", default="")
    ap.add_argument("--lrs", default="3e-4,1e-3,3e-3")
    ap.add_argument("--epochs", default="3,8")
    ap.add_argument("--persons", type=int, default=None)
    ap.add_argument("--facts", type=int, default=None)
    ap.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                    help="training-recipe override for target and oracle, e.g. epochs=50")
    ap.add_argument("--train-device", default="", help="cuda: train target and oracle here on the GPU (fast; "
                    "weights then differ slightly from the CPU-trained demo models)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = DemoConfig.for_mode(False, out=Path(args.out), jobs=args.jobs, persons=args.persons, facts=args.facts,
                              train_overrides=parse_sets(args.recipe))
    demo = Demo(cfg, log=print)
    methods = select_methods(tuple(m for m in args.methods.split(",") if m))
    lrs = [float(x) for x in args.lrs.split(",")]
    epochs = [int(x) for x in args.epochs.split(",")]
    demo.pool, _ = start_pool(args.jobs)  # persistent workers, importing while the corpus and models are made
    init_worker(0)
    corpus = demo.corpus()
    models = gpu_models(demo, corpus, args.train_device) if args.train_device else demo.models(corpus)
    refs = demo.reference_results(corpus, models)
    target_mu = refs["target"]["metrics"]["model_utility"]["value"]
    target_fq = refs["target"]["metrics"]["forget_quality"]["value"]
    jobs = [job_for(c, demo, corpus, models) for c in cells(methods, lrs, epochs)]
    futures = {demo.pool.submit(run_method, j): j for j in jobs}
    rows = []
    for f in as_completed(futures):
        job, res = futures[f], f.result()
        row = {"method": job["method"], "lr": job["lr"], "epochs": job["epochs"]}
        if res.get("error"):
            row["error"] = res["error"]
        else:
            row |= res["summary"] | {"steps": res["cost"]["steps"], "cost_ratio": res["cost"]["cost_ratio"],
                                     "seconds": res["seconds"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    demo.pool.shutdown()
    best = judge(rows, target_mu)
    print(f"\ntarget: forget_quality {target_fq:.3g}, model_utility {target_mu:.3f}; band: forget_quality >= "
          f"{FQ_BAND}, model_utility >= {UTILITY_KEEP * target_mu:.3f}")
    print(f"{'method':12s} {'lr':>8s} {'epochs':>6s} {'forget_q':>9s} {'utility':>8s} {'privleak':>9s} band")
    for m, r in best.items():
        print(f"{m:12s} {r['lr']:8.0e} {r['epochs']:6d} {r['forget_quality']:9.3g} {r['model_utility']:8.3f} "
              f"{r.get('privleak', float('nan')):9.1f} {'yes' if r['band'] else 'NO'}")
    summary = {"bench": "sweep", "target": {"forget_quality": target_fq, "model_utility": target_mu},
               "best": best, "cells": rows, "wall_time_s": time.perf_counter() - t0,
               "persons": cfg.persons, "facts": cfg.facts, "preset": cfg.preset}
    (Path(args.out) / "sweep.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "cells"}))


if __name__ == "__main__":
    main()

"""Benchmark: where to forget, on the demo's target: method × mask (none, wagle, saliency, magnitude at 0.5) and
prune_first (unstructured magnitude 50 %, 2:4) × method, with forget quality, utility, privleak and cost.

Run: `OMP_NUM_THREADS=1 .venv/bin/python bench/masks.py [--out runs/bench-masks] [--jobs 2] [--quick]
[--methods npo,grad_diff] [--masks none,wagle:0.5,saliency:0.5,magnitude:0.5] [--prunes magnitude:0.5,2:4]
[--prune-methods npo] [--train max_steps=40,lr=1e-3]`

The corpus, target and oracle are the demo's (same settings and cache: `obliviate demo` trains them once); each
cell is the demo's shipped run spec of that method plus `mask:` / `prune:`, run through `obliviate.run`. A cell
whose OUT/<cell>/results.json exists is read, not rerun, so the script can be resumed. For each prune form the pruned
target is also evaluated before unlearning (utility recovery = utility after unlearning − utility of the pruned
target). Prints one row per cell; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

METRICS = ("forget_quality", "model_utility", "privleak")


def run_cell(job: dict) -> dict:
    """One (method, mask, prune) run, or (with method None) the pruned target evaluated before unlearning."""
    import torch

    torch.set_num_threads(1)
    out = Path(job["spec"]["out"])
    t0 = time.perf_counter()
    try:
        if not (out / "results.json").is_file():
            if job["method"] is None:
                _pruned_target(job)
            else:
                from obliviate.run import run

                run(job["spec"])
        results = json.loads((out / "results.json").read_text())
    except Exception as e:  # one failure must not lose the table
        return {**_key(job), "error": f"{type(e).__name__}: {e}"}
    return {**_key(job), "seconds": round(time.perf_counter() - t0, 1),
            **{m: (results["metrics"].get(m) or {}).get("value") for m in METRICS},
            "unlearn_wall_s": (results.get("cost") or {}).get("wall_time_s"),
            "mask_wall_s": (results.get("cost") or {}).get("mask_wall_time_s"),
            "cost_ratio": (results.get("cost") or {}).get("cost_ratio")}


def _pruned_target(job: dict) -> None:
    from obliviate.data import load_splits
    from obliviate.eval.suite import evaluate
    from obliviate.masks.prune import prune
    from obliviate.models import load
    from obliviate.results import read_results, write_results

    spec = job["spec"]
    model, tok = load(spec["model"])
    prune(model, spec["prune"])
    results = evaluate(model, tok, load_splits(spec["data"], forget=spec["forget"]),
                       oracle_results=read_results(spec["eval"]["oracle_results"]), config={"prune": spec["prune"]},
                       name=f"pruned {spec['prune']}", seed=spec["seed"])
    write_results(Path(spec["out"]) / "results.json", results)


def _key(job: dict) -> dict:
    return {"method": job["method"] or "(target)", "mask": job["spec"].get("mask") or "none",
            "prune": job["spec"].get("prune") or "none"}


def prepare_demo(args):
    """The demo's corpus, cached target/oracle and their results.json (computed once into OUT)."""
    from obliviate.demo.pipeline import Demo
    from obliviate.demo.settings import DemoConfig

    demo = Demo(DemoConfig.for_mode(args.quick, out=args.out, methods=("npo",)))
    corpus = demo.corpus()
    models = demo.models(corpus)
    if not all((Path(args.out) / r / "results.json").is_file() for r in ("oracle", "target")):
        demo.reference_results(corpus, models)
    return demo, corpus, models


def jobs(args, demo, corpus, models) -> list[dict]:
    cells = [(m, None if k == "none" else k, None) for m in args.methods.split(",") if m
             for k in args.masks.split(",") if k]
    cells += [(None, None, p) for p in args.prunes.split(",") if p]
    cells += [(m, None, p) for m in args.prune_methods.split(",") if m for p in args.prunes.split(",") if p]
    out = []
    for method, mask, prune in cells:
        spec = demo.method_spec(method or "npo", corpus, models)
        name = f"{method or 'target'}-{(mask or 'nomask').replace(':', '')}-{(prune or 'dense').replace(':', '_')}"
        spec.update(name=name, out=str(Path(args.out) / "cells" / name), mask=mask, prune=prune)
        spec["eval"] = {**spec["eval"], "curve_points": 0}
        spec["train"] = {**spec.get("train", {}), **args.train}
        out.append({"method": method, "spec": spec})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench-masks")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="the quick demo's corpus and tiny preset")
    ap.add_argument("--methods", default="npo,grad_diff,ga,simnpo,rmu,idk_dpo,undial,task_vector")
    ap.add_argument("--masks", default="none,wagle:0.5,saliency:0.5,magnitude:0.5")
    ap.add_argument("--prunes", default="magnitude:0.5,2:4")
    ap.add_argument("--prune-methods", default="npo")
    ap.add_argument("--train", default="", help="train.* keys over every method's shipped ones, e.g. max_steps=40")
    args = ap.parse_args()
    import yaml

    args.train = {k: yaml.safe_load(v) for k, _, v in (kv.partition("=") for kv in args.train.split(",") if kv)}
    demo, corpus, models = prepare_demo(args)
    todo = jobs(args, demo, corpus, models)
    rows = []
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for f in as_completed([pool.submit(run_cell, j) for j in todo]):
            rows.append(f.result())
            print("[cell] " + json.dumps(rows[-1]), flush=True)
    rows.sort(key=lambda r: (r["method"], r["prune"], r["mask"]))
    print(f"\n{'method':12s} {'prune':14s} {'mask':14s} {'fq':>9s} {'utility':>8s} {'privleak':>9s} {'unlearn s':>9s}")
    for r in rows:
        if "error" in r:
            print(f"{r['method']:12s} {r['prune']:14s} {r['mask']:14s} FAILED: {r['error']}")
            continue
        fq, mu, pl = (r.get(m) for m in METRICS)
        print(f"{r['method']:12s} {r['prune']:14s} {r['mask']:14s} {_f(fq, '.3g'):>9s} {_f(mu, '.3f'):>8s} "
              f"{_f(pl, '.1f'):>9s} {_f(r.get('unlearn_wall_s'), '.1f'):>9s}")
    print(json.dumps({"bench": "masks", "quick": args.quick, "train": args.train, "rows": rows}))


def _f(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


if __name__ == "__main__":
    main()

"""Benchmark: audit every demo method (and the target) against the oracle: the method × attack verdict table.

Run: `OMP_NUM_THREADS=1 .venv/bin/python bench/audit_methods.py --corpus runs/demo/corpus --target CACHE/small-full-*
--oracle CACHE/small-retain90-* [--out runs/audit-methods] [--jobs 2] [--methods npo,ga]`

Each method runs as the demo runs it (its shipped spec fragment, through `obliviate.run`) with an `audit:` section,
so the unlearned model is attacked, and the oracle alike, right after its evaluation; the target is audited with
`obliviate.audit` directly. Prints one row of verdicts per model and the seconds each audit took; the last line is
JSON.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ATTACKS = ("relearn", "quantize", "incontext", "probes", "parametric", "utf", "blind_mia", "leaks")


def audit_method(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from obliviate.demo.settings import method_fragment
    from obliviate.run import run

    t0 = time.perf_counter()
    spec = {**method_fragment(job["method"]), "name": job["method"], "model": job["target"], "data": job["corpus"],
            "engine": {"progress": False}, "eval": {"oracle": job["oracle"], "curve_points": 0},
            "audit": {"seed": 0}, "out": str(Path(job["out"]) / job["method"]), "save_model": False}
    results = run(spec)
    return {"name": job["method"], "audit": results["audits"], "seconds": time.perf_counter() - t0,
            "forget_quality": results["metrics"]["forget_quality"]["value"],
            "model_utility": results["metrics"]["model_utility"]["value"]}


def audit_target(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from obliviate.audit import audit
    from obliviate.data import load_splits
    from obliviate.models import load

    t0 = time.perf_counter()
    model, tok = load(job["target"])
    found = audit(model, tok, load_splits(job["corpus"], "forget10"), oracle=job["oracle"], seed=0, name="target")
    return {"name": "target", "audit": found, "seconds": time.perf_counter() - t0}


def run_job(job: dict) -> dict:
    try:
        return audit_target(job) if job["method"] == "target" else audit_method(job)
    except Exception as e:  # one failure must not lose the table
        return {"name": job["method"], "error": f"{type(e).__name__}: {e}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--out", default="runs/audit-methods")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--methods", default="target,ga,grad_diff,idk_dpo,npo,rmu,simnpo,task_vector,undial")
    args = ap.parse_args()
    jobs = [{"method": m, "target": args.target, "oracle": args.oracle, "corpus": args.corpus, "out": args.out}
            for m in args.methods.split(",") if m]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(run_job, jobs))
    print(f"{'model':12s} " + " ".join(f"{a:>10s}" for a in ATTACKS) + "   seconds")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:12s} FAILED: {r['error']}")
            continue
        verdicts = [(r["audit"]["attacks"].get(a) or {}).get("verdict", "-") for a in ATTACKS]
        print(f"{r['name']:12s} " + " ".join(f"{v:>10s}" for v in verdicts) + f"   {r['seconds']:.0f}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "audit-methods.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps({"bench": "audit_methods", "rows": [
        {"name": r["name"], "error": r.get("error"), "seconds": r.get("seconds"),
         "forget_quality": r.get("forget_quality"), "model_utility": r.get("model_utility"),
         "verdicts": {a: ((r.get("audit") or {}).get("attacks", {}).get(a) or {}).get("verdict") for a in ATTACKS}}
        for r in rows]}))


if __name__ == "__main__":
    main()

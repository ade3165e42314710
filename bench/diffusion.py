"""Diffusion track benchmark: runs `obliviate diffusion demo` and prints, per model (target, methods, oracle), the
concept rate, other-class recognition, Fréchet distances (judge features, not Inception), attack success and time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/diffusion.py [--quick] [--data digits|fashion-mnist] [--concept 3]
                                                          [--methods uce,rece] [--cache DIR] [--out DIR]

The last line is one JSON object with every figure, the judge's test accuracy and the wall times.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from _machine import cpu_model  # noqa: E402  (bench/ is on sys.path when a bench runs)

from obliviate.diffusion.demo import run_demo

KEYS = ("concept_rate", "other_recognition", "frechet_concept", "frechet_other", "attack_success", "attack_asr",
        "replication")




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--concept", default="3")
    ap.add_argument("--cache", default=None, help="model cache (default: a fresh temporary folder, i.e. cold)")
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods (default: all)")
    ap.add_argument("--out", default=None, help="keep the demo's results and report here (default: discarded)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu0 = time.perf_counter(), time.process_time()
        methods = tuple(args.methods.split(",")) if args.methods else None
        out = run_demo(args.data, args.concept, args.quick, Path(args.out or Path(tmp) / "out"),
                       Path(args.cache or Path(tmp) / "c"), methods)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        rows = {}
        for path in out["results"]:
            res = json.loads(Path(path).read_text())
            rows[res["name"]] = {k: [res["metrics"][k][f] for f in ("value", "ci_low", "ci_high")] for k in KEYS
                                 if k in res["metrics"]}
            rows[res["name"]]["time_s"] = res["cost"].get("wall_time_s")
        judge = res["config"]["judge"]["test_accuracy"]
    print(f"judge test accuracy {judge:.3f}; wall {wall:.0f}s; cpu {cpu:.0f}s ({cpu_model()}); "
          f"timings {out['timings']}")
    print(f"{'model':8s} " + " ".join(f"{k:>18s}" for k in KEYS) + "   time_s")
    for name, row in rows.items():
        print(f"{name:8s} " + " ".join(f"{row[k][0]:>8.3f} [{row[k][1]:.2f},{row[k][2]:.2f}]" for k in KEYS
                                       if k in row)
              + f"   {row['time_s']:.1f}")
    print(json.dumps({"quick": args.quick, "data": args.data, "concept": args.concept, "judge_test_accuracy": judge,
                      "wall_s": wall, "cpu_s": cpu, "cpu_model": cpu_model(),
                      "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}))


if __name__ == "__main__":
    main()

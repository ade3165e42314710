"""Cost of a full audit (all eight attacks, relearning included) of one model and its oracle on the demo's
corpus and `small` models: seconds per attack, total wall and CPU time, and each verdict.

Needs trained models, e.g. (minutes each):
    obliviate data persons --out /tmp/demo/corpus --persons 150 --facts 4 --holdout 15 --seed 0
    obliviate train --data /tmp/demo/corpus --split full --preset small --out /tmp/demo/target
    obliviate train --data /tmp/demo/corpus --split retain90 --preset small --out /tmp/demo/oracle
Run: OMP_NUM_THREADS=1 .venv/bin/python bench/audit_cost.py --data /tmp/demo/corpus --model /tmp/demo/target \\
         --oracle /tmp/demo/oracle [--attacks all] [--out audit.json]
The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from obliviate._atomic import atomic_write_json
from obliviate.audit import audit
from obliviate.data import load_splits
from obliviate.models import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--oracle", default=None)
    ap.add_argument("--forget", default="forget10")
    ap.add_argument("--attacks", default="all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="also write the audit.json here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    splits = load_splits(args.data, args.forget)
    model, tok = load(args.model)
    result = audit(model, tok, splits, oracle=args.oracle, attacks=args.attacks, progress=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for name, a in result["attacks"].items():
        print(f"{name:<11} {a['verdict']:<9} {a['seconds']:7.1f} s  {a['reason'][:110]}")
    print(f"total: {wall:.1f} s wall, {cpu:.1f} s CPU (loading included), audit {result['seconds']:.1f} s")
    if args.out:
        atomic_write_json(args.out, result | {"model": args.model})
    print(json.dumps({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "audit_s": result["seconds"],
                      "seconds": {k: v["seconds"] for k, v in result["attacks"].items()},
                      "verdicts": result["verdicts"]}))


if __name__ == "__main__":
    main()

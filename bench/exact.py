"""SISA benchmark: ensemble accuracy against S (shards) and R (slices), and deletion cost against full retraining.

    OMP_NUM_THREADS=1 .venv/bin/python bench/exact.py [--seeds 3] [--shards 1,2,5,10,20] [--slices 1,4,10]
                                                      [--deletions 1,10,100] [--data digits|fashion-mnist] [--only cost]

Accuracy: for each (S, R) and seed, train a SISA ensemble (vision `retrain` recipe, 30 passes over each shard in
total) and score the test split with mean probability and majority vote; S=1, R=1 is one model on all data.
Deletion cost (S=5, R=4 by default): for K random items (a fresh draw per seed), `delete` retrains the affected
shards; it is timed against training the whole ensemble from scratch on the survivors (what deletion replaces)
and against one model on all survivors. Everything runs in this process on one thread (executor "serial"), so
times compare work, not parallelism; costs are CPU seconds of this process (wall time, also in the JSON, swings
with other load on a shared machine) and training samples processed. Prints markdown tables, then one line of JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from obliviate.exact import sisa


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _ms(vals: list[float]) -> list[float]:
    return [float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0]


def accuracy_grid(spec, data, shards, slices, seeds, epochs, tmp: Path) -> dict:
    out = {}
    for s in shards:
        for r in slices:
            if len(data.y_train) < s * r:
                continue
            accs = {"mean": [], "vote": [], "constituent": [], "train_s": []}
            for seed in seeds:
                cfg = sisa.SisaConfig(shards=s, slices=r, epochs=epochs, seed=seed)
                m = sisa.train(spec, cfg, tmp / "acc", executor="serial", data=data, say=lambda _: None)
                a = sisa.Ensemble.load(tmp / "acc").accuracy(data.x_test, data.y_test)
                accs["mean"].append(a["mean"])
                accs["vote"].append(a["vote"])
                accs["constituent"].append(float(np.mean(a["constituents"])))
                accs["train_s"].append(m["train_cost"]["wall_time_s"])
            out[f"{s}x{r}"] = {"shards": s, "slices": r, **{k: _ms(v) for k, v in accs.items()}}
            row = out[f"{s}x{r}"]
            print(f"  S={s:3d} R={r:3d}  mean {row['mean'][0]:6.2f}±{row['mean'][1]:.2f}  vote "
                  f"{row['vote'][0]:6.2f}±{row['vote'][1]:.2f}  constituent {row['constituent'][0]:6.2f}  "
                  f"train {row['train_s'][0]:.1f}s", file=sys.stderr)
    return out


def deletion_cost(spec, data, cfg: sisa.SisaConfig, ks, seeds, tmp: Path) -> dict:
    from torch.utils.data import Subset

    from obliviate.vision.loop import fit
    from obliviate.vision.models import build_model

    out = {}
    base = tmp / "base"
    sisa.train(spec, cfg, base, executor="serial", data=data, say=lambda _: None)
    n = len(data.y_train)
    for k in ks:
        rows = {key: [] for key in ("delete_s", "full_sisa_s", "single_s", "delete_cpu_s", "full_sisa_cpu_s",
                                    "single_cpu_s", "shards", "steps", "samples_frac")}
        for seed in seeds:
            ids = np.random.default_rng(1000 + seed).choice(n, size=k, replace=False).tolist()
            work = tmp / "work"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(base, work)
            cpu = time.process_time()
            rep = sisa.delete(work, ids, executor="serial", data=data, say=lambda _: None)
            rows["delete_cpu_s"].append(time.process_time() - cpu)
            start, cpu = time.perf_counter(), time.process_time()
            sisa.train(spec, cfg, tmp / "full", deleted=ids, executor="serial", data=data, say=lambda _: None)
            full = time.perf_counter() - start
            rows["full_sisa_cpu_s"].append(time.process_time() - cpu)
            keep = sorted(set(range(n)) - set(ids))
            cpu = time.process_time()
            _, log = fit(build_model(data.input_shape, data.num_classes, seed), Subset(data.train(), keep), seed,
                         epochs=cfg.epochs)
            rows["single_cpu_s"].append(time.process_time() - cpu)
            c = rep["cost"]
            rows["delete_s"].append(c["wall_time_s"])
            rows["full_sisa_s"].append(full)
            rows["single_s"].append(log["wall_time_s"])
            rows["shards"].append(len(rep["retrained"]))
            rows["steps"].append(c["steps_retrained"])
            rows["samples_frac"].append(c["samples_fraction"])
        row = {key: _ms(v) for key, v in rows.items()}
        row["speedup_vs_full_sisa"] = _ms([f / d for f, d in zip(rows["full_sisa_cpu_s"], rows["delete_cpu_s"],
                                                                 strict=True)])
        row["expected_shard_fraction"] = 1 - (1 - 1 / cfg.shards) ** k
        out[str(k)] = row
        print(f"  K={k:4d}  delete {row['delete_cpu_s'][0]:.2f}s  full SISA {row['full_sisa_cpu_s'][0]:.2f}s  one "
              f"model {row['single_cpu_s'][0]:.2f}s (CPU)  shards {row['shards'][0]:.1f}/{cfg.shards}", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits", choices=["digits", "fashion-mnist"])
    ap.add_argument("--train-limit", type=int, default=5000, help="Fashion-MNIST: stratified training subsample")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--shards", default="1,2,5,10,20")
    ap.add_argument("--slices", default="1,4,10")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--deletions", default="1,10,100")
    ap.add_argument("--cost-shards", type=int, default=5)
    ap.add_argument("--cost-slices", type=int, default=4)
    ap.add_argument("--only", choices=["accuracy", "cost"], help="run one of the two parts")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = sisa.DataSpec(args.data, train_limit=args.train_limit if args.data == "fashion-mnist" else None)
    data = spec.load()
    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: the first optimizer imports torch._dynamo (seconds)
        sisa.train(spec, sisa.SisaConfig(shards=1, slices=1, epochs=1), Path(tmp) / "w", executor="serial",
                   data=data, say=lambda _: None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        grid = accuracy_grid(spec, data, _ints(args.shards), _ints(args.slices), seeds, args.epochs, Path(tmp)) \
            if args.only != "cost" else {}
        cfg = sisa.SisaConfig(shards=args.cost_shards, slices=args.cost_slices, epochs=args.epochs)
        cost = deletion_cost(spec, data, cfg, _ints(args.deletions), seeds, Path(tmp)) \
            if args.only != "accuracy" else {}
    print(f"\n## SISA accuracy on {data.name} (train {len(data.y_train)}, test {len(data.y_test)}; "
          f"{args.seeds} seeds, test accuracy %)\n")
    print("| S | R | mean probability | majority vote | one constituent | train (s) |")
    print("|---|---|---|---|---|---|")
    for row in grid.values():
        print(f"| {row['shards']} | {row['slices']} | {row['mean'][0]:.2f} ± {row['mean'][1]:.2f} | "
              f"{row['vote'][0]:.2f} ± {row['vote'][1]:.2f} | {row['constituent'][0]:.2f} | {row['train_s'][0]:.1f} |")
    print(f"\n## Deletion cost, S={cfg.shards}, R={cfg.slices} (CPU seconds of this process, one thread)\n")
    print("| deletions | shards retrained | slice steps | samples vs full | delete | full SISA retrain | speed-up | "
          "one model retrain |")
    print("|---|---|---|---|---|---|---|---|")
    for k, row in cost.items():
        print(f"| {k} | {row['shards'][0]:.1f} / {cfg.shards} | {row['steps'][0]:.1f} / {cfg.shards * cfg.slices} | "
              f"{row['samples_frac'][0]:.1%} | {row['delete_cpu_s'][0]:.2f} | {row['full_sisa_cpu_s'][0]:.2f} | "
              f"{row['speedup_vs_full_sisa'][0]:.2f}x | {row['single_cpu_s'][0]:.2f} |")
    print(json.dumps({"bench": "exact", "data": data.name, "seeds": seeds, "epochs": args.epochs,
                      "accuracy": grid, "deletion_cost": cost, "total_s": time.perf_counter() - start}))


if __name__ == "__main__":
    main()

"""S3T benchmark: deletions a shard absorbs before a retrain, and utility after k deletions, against SISA-style
retraining of the shard.

    OMP_NUM_THREADS=1 .venv/bin/python bench/s3t.py [--persons 40] [--facts 4] [--deletions 12] [--preset small]

1. Simulator (no training): uniform deletions a shard absorbs before none of its B sequences keeps a clean first
   slice, for B = 1..R (R = 4, 20 items a slice, 500 trials). SISA retrains on every deletion that hits the shard.
2. Training (persons corpus, half the persons public): an S3T ensemble (S=2, R=4, B=4, LoRA r=8 on every
   projection), then k uniform deletions one at a time. After each: mean answer probability (length-normalised,
   the shard mixture) on the kept deletable items and on the deleted ones; samples S3T retrained; samples SISA-style
   deletion would retrain (the affected shard's model from its first slice: one sequence's work). At the end, the
   same ensemble trained from scratch without the k items (what SISA-style retraining yields).
Prints tables, then one line of JSON with every figure. CPU seconds are of this process (one thread).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from obliviate.exact import s3t
from obliviate.exact.layout import epochs_per_step
from obliviate.exact.sisa import read_positions


def shard_sequence_samples(layout, shard: int, cfg: s3t.S3TConfig, gone: set[int]) -> int:
    """Samples one sequence of `shard` processes (SISA's schedule over cumulative slices)."""
    e = epochs_per_step(cfg.epochs, cfg.slices)
    return sum(e[r] * len(layout.survivors(shard, r, gone)) for r in range(cfg.slices))


def utility(folder: Path, items: list[dict], gone: set[int]) -> tuple[float, float | None]:
    ens = s3t.Ensemble.load(folder)
    kept = ens.answer_probability([r for i, r in enumerate(items) if i not in gone])
    lost = ens.answer_probability([r for i, r in enumerate(items) if i in gone]) if gone else []
    return float(np.mean(kept)), (float(np.mean(lost)) if lost else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=40)
    ap.add_argument("--facts", type=int, default=4)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--deletions", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--base-epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out: dict = {"bench": "s3t"}

    sim = {b: s3t.simulate(1, 4, b, items_per_slice=20, trials=500, seed=args.seed) for b in range(1, 5)}
    out["absorbed"] = sim
    print("\n## Deletions a shard absorbs before a retrain (R=4 slices of 20 items, simulator, 500 trials)\n")
    print("| sequences B | S3T: deletions absorbed | SISA |\n|---|---|---|")
    for b, v in sim.items():
        print(f"| {b} | {v:.2f} | 0 |")

    from obliviate.data.persons import generate

    cfg = s3t.S3TConfig(preset=args.preset, shards=2, slices=4, sequences=4, epochs=args.epochs, lr=args.lr,
                        base_epochs=args.base_epochs, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "persons", persons=args.persons, facts=args.facts, holdout=2, seed=args.seed)
        cpu = time.process_time()
        m = s3t.train(tmp / "persons", cfg, tmp / "ens", executor="serial", say=lambda s: print(s, file=sys.stderr))
        out["train"] = {"cpu_s": time.process_time() - cpu, "samples": m["train_cost"]["samples"],
                        "base": m["base_cost"], "items": m["data"]["train"]}
        items = s3t.split_corpus(tmp / "persons", cfg.public_fraction)["items"]
        layout, _ = read_positions(tmp / "ens")
        order = np.random.default_rng(args.seed + 7).permutation(len(items))[: args.deletions].tolist()
        gone: set[int] = set()
        rows = [{"k": 0, "kept": utility(tmp / "ens", items, gone)[0], "deleted": None, "s3t_samples": 0,
                 "sisa_samples": 0, "active_prefixes": [cfg.slices] * cfg.shards, "retrained": False}]
        for k, item in enumerate(order, start=1):
            shard = int(layout.positions()[item][0])
            sisa_cost = shard_sequence_samples(layout, shard, cfg, gone | {item})
            cpu = time.process_time()
            rep = s3t.delete(tmp / "ens", [item], executor="serial", say=lambda _: None)
            gone.add(item)
            kept, lost = utility(tmp / "ens", items, gone)
            mm = s3t.read_manifest(tmp / "ens")
            rows.append({"k": k, "kept": kept, "deleted": lost, "s3t_samples": rep["cost"]["samples"],
                         "sisa_samples": sisa_cost, "delete_cpu_s": time.process_time() - cpu,
                         "active_prefixes": [mm["shards"][str(s)]["active"]["prefix"] for s in range(cfg.shards)],
                         "retrained": bool(rep["cost"]["retrained_shards"])})
            print(f"  k={k:2d} kept {kept:.4f} deleted {lost:.4f} prefixes {rows[-1]['active_prefixes']} "
                  f"retrained {rows[-1]['retrained']}", file=sys.stderr)
        s3t.train(tmp / "persons", cfg, tmp / "scratch", deleted=sorted(gone), base_from=tmp / "ens",
                  executor="serial", say=lambda _: None)
        out["retrained_from_scratch"] = dict(zip(("kept", "deleted"), utility(tmp / "scratch", items, gone),
                                                 strict=True))
        base_only = s3t.Ensemble.load(tmp / "ens")
        for model in base_only.models:  # every adapter off: the public base alone
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_B" in n:
                        p.zero_()
        out["base_only_kept"] = float(np.mean(base_only.answer_probability(items)))
    out["steps"] = rows
    print(f"\n## Utility after k deletions ({args.preset}, {len(items)} deletable QA items of "
          f"{args.persons - len(m['data']['public_persons'])} persons; S=2, R=4, B=4)\n")
    print("| k | answer prob. kept | answer prob. deleted | active groups per shard | S3T samples retrained | "
          "SISA-style samples |\n|---|---|---|---|---|---|")
    for r in rows:
        dele = "" if r["deleted"] is None else f"{r['deleted']:.4f}"
        print(f"| {r['k']} | {r['kept']:.4f} | {dele} | {r['active_prefixes']} | {r['s3t_samples']} | "
              f"{r['sisa_samples']} |")
    print(f"\nretrained from scratch without the {args.deletions} items: kept {out['retrained_from_scratch']['kept']:.4f}"
          f", deleted {out['retrained_from_scratch']['deleted']:.4f}; public base alone on all deletable items: "
          f"{out['base_only_kept']:.4f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Classifier unlearning benchmark: UA, RA, TA, MIA_efficacy, avg_gap and time per method, mean ± std over seeds.

    .venv/bin/python bench/vision.py [--seeds 3] [--fashion-train 5000 --fashion-test 1000] [--no-fashion]

Digits always; Fashion-MNIST too when its IDX files exist (/usr/share/datasets/fashion-mnist, or --fashion-path),
on a stratified subsample by default (the full 60k set is slow on 2 shared cores). Prints one table per
(dataset, scenario) and, last, one line of JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from obliviate.config import parse_sets
from obliviate.vision import experiment
from obliviate.vision.data import FASHION_MNIST_DIR, load_digits, load_fashion_mnist

COLUMNS = ("UA", "RA", "TA", "MIA_efficacy", "avg_gap")


def summarise(runs: list[dict], names: list[str]) -> dict[str, dict]:
    """name → {metric: [mean, std]} over seeds, plus time_s (unlearning wall time) and the oracle's values."""
    out = {}
    for name in names:
        row = {}
        for col in (*COLUMNS, "TA_forgotten_class"):
            vals = [r[name]["metrics"][col] for r in runs if col in r[name]["metrics"]]  # NaN: a failed seed
            if vals:
                row[col] = [float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0]
        times = [r[name]["cost"]["wall_time_s"] for r in runs if r[name]["cost"]]
        row["time_s"] = [float(np.mean(times)), float(np.std(times, ddof=1)) if len(times) > 1 else 0.0]
        out[name] = row
    return out


def print_table(title: str, table: dict[str, dict]) -> None:
    extra = ["TA_forgotten_class"] if any("TA_forgotten_class" in r for r in table.values()) else []
    cols = [*COLUMNS, *extra, "time_s"]
    print(f"\n## {title}\n")
    print("| method | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, row in table.items():
        cells = [f"{row[c][0]:.2f} ± {row[c][1]:.2f}" if c in row else "" for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")


def bench(data, exp: experiment.Experiment) -> dict:
    start = time.perf_counter()
    runs = experiment.run(data, exp, say=lambda s: print(s, file=sys.stderr))
    names = ["oracle", "target", *exp.methods]
    result = {}
    for scenario, per_seed in runs.items():
        table = summarise(per_seed, names)
        sizes = per_seed[0]["_sizes"]
        print_table(f"{data.name}, {scenario} forgetting (forget {sizes['forget']}, retain {sizes['retain']}, "
                    f"test {sizes['test']}; {len(exp.seeds)} seeds, mean ± std)", table)
        result[scenario] = table
    result["total_s"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-fashion", action="store_true")
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--fashion-path", default=str(FASHION_MNIST_DIR))
    p.add_argument("--fashion-train", type=int, default=5000, help="0 = the full 60k training set")
    p.add_argument("--fashion-test", type=int, default=1000, help="0 = the full 10k test set")
    p.add_argument("--fashion-epochs", type=int, default=20)
    p.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="override a method's default, e.g. --set ga.lr=1e-3 (repeatable)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    seeds = tuple(range(a.seeds))
    pairs = parse_sets(a.set)
    bad = [k for k in pairs if "." not in k]
    if bad:
        p.error(f"--set {bad[0]}: expected METHOD.KEY=VALUE")
    sets = tuple((k.split(".", 1)[0], k.split(".", 1)[1], v) for k, v in pairs.items())
    out: dict = {"seeds": list(seeds), "device": a.device, "threads": a.threads, "overrides": a.set}
    if not a.no_digits:
        out["digits"] = bench(load_digits(), experiment.Experiment(seeds=seeds, device=a.device, overrides=sets))
    fashion_dir = __import__("pathlib").Path(a.fashion_path)
    if not a.no_fashion and fashion_dir.exists():
        data = load_fashion_mnist(fashion_dir, a.fashion_train or None, a.fashion_test or None)
        exp = experiment.Experiment(seeds=seeds, train_epochs=a.fashion_epochs, device=a.device,
                                    overrides=sets)
        out["fashion-mnist"] = bench(data, exp)
        out["fashion-mnist"]["subsample"] = {"train": len(data.y_train), "test": len(data.y_test),
                                             "train_epochs": a.fashion_epochs}
    elif not a.no_fashion:
        print(f"\n(Fashion-MNIST skipped: {fashion_dir} not found)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

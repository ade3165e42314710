"""Benchmark: targeted LAT vs no LAT under the relearning attack (audit/relearn.py), on a dense target.

Run (the `tiny` preset on a 40-person corpus: ~3.5 min per training on one loaded core):
    obliviate data persons --out runs/p40 --persons 40 --facts 6 --holdout 8
    obliviate train --data runs/p40 --preset tiny --split full --out runs/tiny-full --threads 1
    obliviate train --data runs/p40 --preset tiny --split retain90 --out runs/tiny-retain90 --threads 1
    OMP_NUM_THREADS=1 python bench/lat.py --corpus runs/p40 --target runs/tiny-full --oracle runs/tiny-retain90

Each variant runs through `obliviate.run` (forget10, TOFU-style suite against the oracle, then the `relearn` audit
on the model and the oracle alike): forget quality, model utility, and the relearning curve: mean P(value |
question) on the held-out forget persons after 0, 1, 2, 4, 8 epochs of fine-tuning on the other forget persons
(the oracle's value after 8 epochs beside it). Robust unlearning keeps the curve near the oracle's. Prints one row
per variant; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

VARIANTS = {
    "npo": ("npo", None),
    "npo+lat": ("npo", "lat:-1,0.5"),
    "grad_diff": ("grad_diff", None),
    "grad_diff+lat": ("grad_diff", "lat:-1,0.5"),
    "npo+lat eps0.1": ("npo", "lat:-1,0.1"),
    "grad_diff+lat eps0.1": ("grad_diff", "lat:-1,0.1"),
}


def run_variant(name: str, args) -> dict:
    from obliviate.run import run

    method, adversary = VARIANTS[name]
    spec = {"model": args.target, "data": args.corpus, "name": name,
            "train": {"epochs": args.epochs}, "engine": {"progress": False},
            **(_shipped(args.shipped, method) if args.shipped else {"method": method}),
            "eval": {"oracle": args.oracle, "suite": "tofu", "curve_points": 0},
            "audit": {"attacks": ["relearn"], "seed": args.seed}, "seed": args.seed,
            "out": str(Path(args.out) / name.replace(" ", "_")), "save_model": False,
            **({"adversary": adversary} if adversary else {})}
    t0 = time.perf_counter()
    results = run(spec)
    m = results["metrics"]
    relearn = results["audits"]["attacks"]["relearn"]
    curve = relearn["details"]["curve"]
    return {"name": name, "forget_quality": m["forget_quality"]["value"], "model_utility": m["model_utility"]["value"],
            "forget_prob": m["forget/prob"]["value"], "unlearn_s": results["cost"]["wall_time_s"],
            "held_out_curve": curve["model"]["held_out"], "oracle_held_out": curve["oracle"]["held_out"],
            "verdict": relearn["verdict"], "seconds": round(time.perf_counter() - t0, 1)}


def _shipped(folder: str, method: str) -> dict:
    """The method's shipped recipe (obliviate/configs/FOLDER/METHOD.yaml: method and train sections)."""
    from importlib.resources import files

    import yaml

    return yaml.safe_load((files("obliviate") / "configs" / folder / f"{method}.yaml").read_text())


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--out", default="runs/bench-lat")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--shipped", default=None, help="use the shipped recipes of configs/SHIPPED (persons: the demo's)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0, help="the run's and the relearn audit's seed")
    args = ap.parse_args()
    rows = [run_variant(name, args) for name in args.variants.split(",")]
    print(f"{'variant':20s} {'FQ':>8s} {'utility':>8s} {'P(fgt)':>8s} {'unlearn s':>9s}  held-out P after relearn "
          "epochs 0/1/2/4/8 (oracle @8)  verdict")
    for r in rows:
        c = r["held_out_curve"]
        pts = "/".join(f"{c[e]:.3f}" for e in sorted(c, key=int))
        print(f"{r['name']:20s} {r['forget_quality']:8.3g} {r['model_utility']:8.3f} {r['forget_prob']:8.3f} "
              f"{r['unlearn_s']:9.1f}  {pts} ({r['oracle_held_out'][max(r['oracle_held_out'], key=int)]:.3f})"
              f"  {r['verdict']}")
    print(json.dumps({"bench": "lat", "epochs": args.epochs, "seed": args.seed, "rows": rows}))


if __name__ == "__main__":
    main()

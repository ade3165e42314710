"""The rest of the classifier seed papers, measured: one table per scenario, mean ± std over seeds.

    PYTHONPATH=src .venv/bin/python bench/vision_seed.py [--seeds 3] [--scenarios regression,corrective,...]

Scenarios: `regression` (diabetes, Tarun et al.), `corrective` (digits, backdoor and label swap, Goel et al.),
`challenge` (digits, the NeurIPS 2023 N-oracle score beside avg_gap), `worst` (digits, random vs worst-case forget
sets, Fan et al.), `laf` (digits, label-agnostic and concept unlearning). CPU, 1 thread. Last line: JSON of every
figure.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

from obliviate.vision import seed_experiments as se
from obliviate.vision.data import load_digits

SCENARIOS = ("regression", "corrective", "challenge", "worst", "laf")
EPOCHS = 15  # digits original/oracle epochs (the demo's 30 halved: 2 shared cores, 7 jobs on them)


def summarise(per_seed: list[dict]) -> dict[str, dict[str, list[float]]]:
    """row → metric → [mean, std (ddof 1)] over the seeds that have the row (NaN-free)."""
    rows: dict[str, dict[str, list[float]]] = {}
    for run in per_seed:
        for row, metrics in run.items():
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    rows.setdefault(row, {}).setdefault(k, []).append(float(v))
    return {row: {k: [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0] for k, v in m.items()}
            for row, m in rows.items()}


def print_table(title: str, table: dict, cols: list[str]) -> None:
    print(f"\n## {title}\n")
    print("| row | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for row, m in table.items():
        print(f"| {row} | " + " | ".join(f"{m[c][0]:.2f} ± {m[c][1]:.2f}" if c in m else "" for c in cols) + " |")


def run(name: str, seeds: list[int], say) -> dict:
    digits = load_digits()
    if name == "regression":
        per = [se.regression_scenario(s, ["retrain", "ft", "ga", "amnesiac", "blindspot"], say=say) for s in seeds]
        cols = ["MAE_forget", "MAE_retain", "MAE_test", "MIA_member", "reg_gap", "time_s"]
        return {"diabetes, random 10% (MAE in target-std units)": (summarise(per), cols)}
    if name == "corrective":
        out = {}
        for kind in ("backdoor", "label_swap"):
            per = [se.corrective_scenario(digits, s, ["ft", "ga", "scrub", "ssd"], kind=kind, train_epochs=EPOCHS,
                                          say=say) for s in seeds]
            out[f"digits, {kind}: 100 poisoned items, method@identified fraction"] = (
                summarise(per), ["clean_accuracy", "attack_success", "time_s"])
        return out
    if name == "challenge":
        per = [se.challenge_scenario(digits, s, ["retrain", "ft", "ga", "rl", "scrub", "ssd"], n_oracles=4, runs=4,
                                     train_epochs=EPOCHS, say=say) for s in seeds]
        return {"digits, random 10%: N-oracle score (N = 4 oracles, M = 4 runs)": (
            summarise(per), ["forget_quality", "challenge_score", "mean_epsilon", "avg_gap"])}
    if name == "worst":
        per = [se.worst_case_scenario(digits, s, ["retrain", "ft", "ga", "rl", "ssd"], train_epochs=EPOCHS,
                                      say=say) for s in seeds]
        return {"digits, random vs worst-case 10% forget sets": (summarise(per), ["UA", "RA", "TA", "MIA_efficacy",
                                                                                 "avg_gap"])}
    if name == "laf":
        per = [se.laf_scenario(digits, s, train_epochs=EPOCHS, say=say) for s in seeds]
        return {"digits, label-agnostic (random 10%) and concept (class 0) unlearning": (
            summarise(per), ["UA", "RA", "TA", "MIA_efficacy", "avg_gap", "TA_forgotten_class"])}
    raise SystemExit(f"--scenarios: unknown {name!r}; choose from {', '.join(SCENARIOS)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1 (to split a run)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    result: dict = {"seeds": seeds}
    for name in a.scenarios.split(","):
        start = time.perf_counter()
        for title, (table, cols) in run(name, seeds, lambda s: print(s, file=sys.stderr, flush=True)).items():
            print_table(f"{title} ({len(seeds)} seeds, mean ± std)", table, cols)
            result[title] = table
        result[f"{name}_total_s"] = time.perf_counter() - start
        print(f"\n({name}: {result[f'{name}_total_s']:.0f} s)", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

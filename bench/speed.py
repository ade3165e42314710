"""Step time of the unlearning loop per method on the standard workload; prints a table, then one JSON line.

Workload: Llama (hidden 256, 4 layers, 4 heads, ~4–5M parameters, the `small` preset), fp32, CPU, batches of
8 forget + 8 retain QA items of ~45 tokens, 50 optimizer steps per method. Methods are run in interleaved rounds
(each round a few steps of every method) so that a machine shared with other jobs slows them alike; medians.
Run: OMP_NUM_THREADS=1 .venv/bin/python bench/speed.py [--steps 50] [--rounds 5]
Check: cached npo must cost no more per step than grad_diff + 5% (exit status 1 otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys

import torch

from obliviate.engine import unlearn
from obliviate.models import build_model, encode_qa, n_params, train_tokenizer

WORDS = ("river stone garden violin harbour lantern meadow copper orchard falcon summit quarry compass "
         "willow ember tide canvas marble thistle beacon hollow saffron glacier prairie cobalt juniper").split()
RUNS = {  # label: (method, overrides)
    "ga": ("ga", {}),
    "grad_diff": ("grad_diff", {}),
    "npo_cached": ("npo", {"engine.ref_cache": True}),
    "npo_uncached": ("npo", {"engine.ref_cache": False}),
    "simnpo": ("simnpo", {}),
    "rmu": ("rmu", {}),
}


def workload(n: int, seed: int = 0) -> list[dict]:
    """QA records of ~45 tokens each (question ~15 words, answer ~20 words)."""
    rng = random.Random(seed)
    return [{"question": f"What did person {i} write about the " + " ".join(rng.choices(WORDS, k=7)) + "?",
             "answer": f"Person {i} wrote that the " + " ".join(rng.choices(WORDS, k=10)) + ".", "id": f"b{i}"}
            for i in range(n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    forget, retain = workload(64, 0), workload(256, 1)
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in forget + retain], vocab_size=2048)
    mean_len = statistics.mean(len(encode_qa(tok, r["question"], r["answer"])) for r in forget)
    base = build_model("small", tok, seed=0).state_dict()
    per_round = max(1, args.steps // args.rounds)
    seconds: dict[str, list[float]] = {k: [] for k in RUNS}
    tokens: dict[str, list[int]] = {k: [] for k in RUNS}
    for _ in range(args.rounds):
        for label, (method, extra) in RUNS.items():
            model = build_model("small", tok, seed=0)
            model.load_state_dict(base)
            _, log = unlearn(model, tok, forget, retain, method, {
                "train.max_steps": per_round, "train.batch_size": 8, "train.lr": 1e-4, "engine.progress": False,
                **extra})
            seconds[label] += [e["seconds"] for e in log["log"]]
            tokens[label] += [e["tokens"] for e in log["log"]]
    result = {"workload": {"parameters": n_params(model), "mean_tokens_per_item": round(mean_len, 1),
                           "batch": "8 forget + 8 retain", "steps_per_method": per_round * args.rounds,
                           "threads": torch.get_num_threads(), "dtype": "float32"}, "methods": {}}
    print(f"{'method':<14}{'median s/step':>15}{'tokens/s':>12}")
    for label in RUNS:
        med = statistics.median(seconds[label])
        tps = statistics.median(tokens[label]) / med
        result["methods"][label] = {"median_s_per_step": round(med, 4), "tokens_per_s": round(tps, 1)}
        print(f"{label:<14}{med:>15.4f}{tps:>12.0f}")
    ratio = result["methods"]["npo_cached"]["median_s_per_step"] / result["methods"]["grad_diff"]["median_s_per_step"]
    result["npo_cached_over_grad_diff"] = round(ratio, 4)
    result["check_npo_cached_le_grad_diff_plus_5pct"] = ratio <= 1.05
    print(json.dumps(result))
    return 0 if ratio <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Step time and hardware efficiency of the unlearning loop per method; prints a table, then one JSON line.

Workload: Llama `small` preset (hidden 256, 4 layers, 4 heads, ~3.6M parameters with this workload's tokenizer),
fp32, CPU, one thread, batches of 8 forget + 8 retain QA items of ~49 tokens, 50 optimizer steps per method.
Methods run in interleaved rounds (each round a few steps of every method, and one measurement of the matmul peak)
so that other jobs on a shared machine slow them alike. Times are CPU seconds of the training thread
(`cpu_seconds` of the loop's log; `time.thread_time` for the peak), medians over steps: wall time on a shared
2-core machine measures the neighbours more than the code.

FLOP count of one step (model FLOPs: what the model's arithmetic needs, not what an implementation happens to do):
  N = parameters that take part in matmuls (every linear layer, and the tied embedding as the LM head; the
      embedding lookup and the norms are not matmuls: their few parameters are left out),
  L layers, d hidden size, T the padded length, per sequence:
  - a pass with gradients (forget, retain):   6·N per token + attention 12·L·T²·d   (forward 2·N + 4·L·T²·d for
    QKᵀ and AV, backward twice the forward),
  - a pass without gradients (the reference's log-probs or hidden states, a guard's retain NLL):
    2·N per token + 4·L·T²·d.
  The attention terms count the full T×T score matrix (SDPA computes it; causal masking does not skip it).
  For `rmu` only three down-projections train and the backward stops at its layer: its figure is nominal (an
  upper bound of the work done), and is not a target.
Matmul peak: every GEMM of one step's linear layers on this step's token count M = 16·T (forward X·Wᵀ, and the
backward's dY·W and dYᵀ·X), each timed alone (best of repeats), FLOP-weighted: the rate a step would reach if it did
nothing but its matmuls, at their stand-alone speed. `fraction_of_peak` = achieved / that peak. The best single
shape's rate is printed too (`matmul_best_shape_gflops`), a stricter yardstick.
`grad_diff_unfused` runs forget and retain as two forwards (`engine.fuse=never`): the same run's A/B of fusion.
Run: OMP_NUM_THREADS=1 .venv/bin/python bench/speed.py [--steps 50] [--rounds 5]
Checks (exit status 1 when one fails): cached npo costs no more per step than grad_diff + 5%; uncached npo no more
than grad_diff + 20%.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

import torch
from _machine import cpu_model  # noqa: E402  (bench/ is on sys.path when a bench runs)

from obliviate.engine import unlearn
from obliviate.models import build_model, encode_qa, n_params, train_tokenizer

WORDS = ("river stone garden violin harbour lantern meadow copper orchard falcon summit quarry compass "
         "willow ember tide canvas marble thistle beacon hollow saffron glacier prairie cobalt juniper").split()
# label: (method, overrides, sides run with gradients, sides run without gradients)
RUNS = {
    "ga": ("ga", {}, ("forget",), ()),
    "grad_diff": ("grad_diff", {}, ("forget", "retain"), ()),
    "grad_diff_unfused": ("grad_diff", {"engine.fuse": "never"}, ("forget", "retain"), ()),  # the A/B of fusion
    "npo_cached": ("npo", {"engine.ref_cache": True}, ("forget", "retain"), ()),
    "npo_uncached": ("npo", {"engine.ref_cache": False}, ("forget", "retain"), ("forget",)),
    "simnpo": ("simnpo", {}, ("forget", "retain"), ()),
    "rmu": ("rmu", {}, ("forget", "retain"), ("retain",)),
}
BATCH = 8
NOMINAL = ("rmu",)  # runs whose FLOP count is an upper bound (module docstring)


def workload(n: int, seed: int = 0) -> list[dict]:
    """QA records of ~49 tokens each (question ~15 words, answer ~20 words)."""
    rng = random.Random(seed)
    return [{"question": f"What did person {i} write about the " + " ".join(rng.choices(WORDS, k=7)) + "?",
             "answer": f"Person {i} wrote that the " + " ".join(rng.choices(WORDS, k=10)) + ".", "id": f"b{i}"}
            for i in range(n)]


def matmul_params(model) -> int:
    """N of the FLOP count: weights of the linear layers, plus the (tied) LM head once."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def step_flops(n: int, cfg, width: int, grad_sides, fwd_sides) -> float:
    """Model FLOPs of one step (module docstring), BATCH sequences of `width` tokens per side."""
    attn = cfg.num_hidden_layers * width * width * cfg.hidden_size
    per_seq_grad = 6 * n * width + 12 * attn
    per_seq_fwd = 2 * n * width + 4 * attn
    return BATCH * (len(grad_sides) * per_seq_grad + len(fwd_sides) * per_seq_fwd)


def gemm_shapes(model, m: int) -> list[tuple[int, int, int]]:
    """(rows, inner, cols) of every GEMM of one training step's linear layers on m tokens."""
    shapes = []
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            out_f, in_f = mod.weight.shape
            shapes += [(m, in_f, out_f), (m, out_f, in_f), (out_f, m, in_f)]  # X·Wᵀ, dY·W, dYᵀ·X
    return shapes


def matmul_peak(shapes, repeats: int = 5) -> tuple[float, float]:
    """(FLOP-weighted GFLOP/s over `shapes`, best single shape's GFLOP/s), thread CPU time, best of `repeats`."""
    best: dict[tuple, float] = {}
    for shape in set(shapes):
        r, k, c = shape
        a, b = torch.randn(r, k), torch.randn(k, c)
        a @ b
        times = []
        for _ in range(repeats):
            t = time.thread_time()
            for _ in range(4):
                a @ b
            times.append((time.thread_time() - t) / 4)
        best[shape] = max(min(times), 1e-9)
    flops = {s: 2.0 * s[0] * s[1] * s[2] for s in best}
    total = sum(flops[s] for s in shapes) / sum(best[s] for s in shapes)
    return total / 1e9, max(flops[s] / best[s] for s in best) / 1e9




def measure(args, tok, forget, retain):
    """Per-step CPU seconds of every run, and the matmul peak measured once per round."""
    base = build_model("small", tok, seed=0)
    state = base.state_dict()
    per_round = max(1, args.steps // args.rounds)
    seconds: dict[str, list[float]] = {k: [] for k in RUNS}
    peaks, bests = [], []
    width = len(encode_qa(tok, forget[0]["question"], forget[0]["answer"]))
    shapes = gemm_shapes(base, 2 * BATCH * width)
    for _ in range(args.rounds):
        peak, best = matmul_peak(shapes)
        peaks.append(peak)
        bests.append(best)
        for label, (method, extra, _, _) in RUNS.items():
            model = build_model("small", tok, seed=0)
            model.load_state_dict(state)
            _, log = unlearn(model, tok, forget, retain, method, {
                "train.max_steps": per_round, "train.batch_size": BATCH, "train.lr": 1e-4, "engine.progress": False,
                **extra})
            seconds[label] += [e["cpu_seconds"] for e in log["log"]]
    return base, width, seconds, max(peaks), max(bests)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    forget, retain = workload(64, 0), workload(256, 1)
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in forget + retain], vocab_size=2048)
    lengths = [len(encode_qa(tok, r["question"], r["answer"])) for r in forget + retain]
    model, width, seconds, peak, best = measure(args, tok, forget, retain)
    n = matmul_params(model)
    result = {"workload": {"parameters": n_params(model), "matmul_parameters": n, "tokens_per_item": [
        min(lengths), max(lengths)], "batch": f"{BATCH} forget + {BATCH} retain", "steps_per_method":
        len(seconds["grad_diff"]), "threads": torch.get_num_threads(), "dtype": "float32", "timer": "thread CPU"},
        "cpu_model": cpu_model(), "matmul_peak_gflops": round(peak, 2), "matmul_best_shape_gflops": round(best, 2),
        "methods": {}}
    print(f"CPU {result['cpu_model']}; matmul peak on the step's shapes {peak:.1f} GFLOP/s (best shape {best:.1f})")
    print(f"{'method':<18}{'s/step':>11}{'GFLOP/step':>12}{'GFLOP/s':>10}{'of peak':>9}{'of best':>9}")
    for label, (_, _, grad_sides, fwd_sides) in RUNS.items():
        med = statistics.median(seconds[label])
        flops = step_flops(n, model.config, width, grad_sides, fwd_sides)
        rate = flops / med / 1e9
        nominal = label in NOMINAL
        result["methods"][label] = {"median_s_per_step": round(med, 4), "gflop_per_step": round(flops / 1e9, 3),
                                    "gflops": round(rate, 2), "fraction_of_peak": round(rate / peak, 3),
                                    "fraction_of_best_shape": round(rate / best, 3), "nominal_flops": nominal}
        print(f"{label + ('*' if nominal else ''):<18}{med:>11.4f}{flops / 1e9:>12.2f}{rate:>10.1f}"
              f"{rate / peak:>9.1%}{rate / best:>9.1%}")
    print("* nominal FLOP count (only part of the model trains; the backward stops early): not a target")
    gd = result["methods"]["grad_diff"]["median_s_per_step"]
    cached = result["methods"]["npo_cached"]["median_s_per_step"] / gd
    uncached = result["methods"]["npo_uncached"]["median_s_per_step"] / gd
    result["npo_cached_over_grad_diff"] = round(cached, 4)
    result["npo_uncached_over_grad_diff"] = round(uncached, 4)
    result["check_npo_cached_le_grad_diff_plus_5pct"] = cached <= 1.05
    result["check_npo_uncached_le_grad_diff_plus_20pct"] = uncached <= 1.20
    print(json.dumps(result))
    return 0 if cached <= 1.05 and uncached <= 1.20 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: train the `small` preset on the default demo corpus and report the cost of memorising it.

Run: `OMP_NUM_THREADS=2 .venv/bin/python bench/train_presets.py [--persons 150] [--epochs N] [--preset small]`
Prints seconds per epoch (median), epochs until greedy exact-answer accuracy on the training QA reaches 95%
(checked every epoch on a 200-item sample), final accuracy and peak memory; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from obliviate.config import parse_sets
from obliviate.data.persons import generate
from obliviate.models import build_model, n_params, train, train_tokenizer
from obliviate.models.corpus import corpus_texts, recipe, split_records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=150)
    ap.add_argument("--facts", type=int, default=10)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to count epochs fast (timings then differ)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override, e.g. lr=5e-3")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "corpus"
        generate(data, persons=args.persons, facts=args.facts)
        overrides = {"eval_every": 1, **parse_sets(args.set)}
        if args.epochs:
            overrides["epochs"] = args.epochs
        cfg = recipe(args.preset, overrides)
        qa, texts = split_records(data, "full", cfg.bios)
        tok = train_tokenizer(corpus_texts(data), cfg.vocab_size)
        model = build_model(args.preset, tok, cfg.seed).to(args.device)
        t0 = time.perf_counter()
        log = train(model, tok, qa, texts, cfg, progress=False)
        wall = time.perf_counter() - t0
    # Epoch times exclude the accuracy checks' generation: consecutive 'seconds' stamps include it, so we
    # subtract the check time measured as the residual over a no-check epoch-time estimate (median of diffs).
    stamps = [e["seconds"] for e in log["epochs"]]
    per_epoch = [b - a for a, b in zip([0.0] + stamps[:-1], stamps, strict=True)]
    reach = next((e["epoch"] for e in log["epochs"] if (e.get("accuracy") or 0) >= 0.95), None)
    for e in log["epochs"]:
        print(f"epoch {e['epoch']:3d}  loss {e['loss']:.4f}  acc {e.get('accuracy', float('nan')):.3f}  "
              f"t {e['seconds']:.1f}s")
    out = {
        "bench": "train_presets", "preset": args.preset, "parameters": n_params(model), "persons": args.persons,
        "qa_items": log["qa_items"], "texts": log["texts"], "epochs": len(log["epochs"]),
        "median_seconds_per_epoch_incl_check": statistics.median(per_epoch),
        "epochs_to_95pct_exact": reach, "final_accuracy": log["accuracy"], "final_loss": log["final_loss"],
        "wall_time_s": wall, "recipe": log["config"], "threads": torch.get_num_threads(),
        "device": args.device, "peak_memory_mb": log["peak_memory_mb"], "tokens": log["tokens"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

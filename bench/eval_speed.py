"""Speed of the evaluation suite on the default demo corpus (150 persons, 4 facts, 15 holdout, forget10) with
the `small` preset: seconds per suite, items per second, and the share of time spent in greedy generation.

By default the target and oracle are freshly initialised (untrained) `small` models: timing needs no trained
weights, but an untrained model never emits EOS, so every generation runs to its full budget (200 tokens total
for TOFU answers, 128 for verbmem) — an upper bound on generation time. Pass --model/--oracle for trained ones.
Run: OMP_NUM_THREADS=1 .venv/bin/python bench/eval_speed.py [--suites mia,tofu,muse,all] [--device cpu]
The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from obliviate.data import load_splits
from obliviate.data.persons import generate
from obliviate.eval.suite import evaluate
from obliviate.models import build_model, load, n_params, train_tokenizer
from obliviate.models.corpus import corpus_texts


def models(args, corpus: Path):
    if args.model:
        model, tok = load(args.model, device=args.device)
        oracle, _ = load(args.oracle or args.model, device=args.device)
        return tok, model, oracle, "trained (loaded)"
    tok = train_tokenizer(corpus_texts(corpus), vocab_size=2048)
    model = build_model("small", tok, seed=0).to(args.device).eval()
    oracle = build_model("small", tok, seed=1).to(args.device).eval()
    return tok, model, oracle, "untrained small preset (generation runs to its full budget)"


def items(results: dict) -> int:
    """Evaluated items: every QA item and text the suite touched (each split counted once)."""
    counts = results["config"]["splits"]
    m = results["metrics"]
    used = [s for s in ("forget", "retain", "neighbours", "holdout") if f"{s}/prob" in m]
    n = sum(counts.get(s) or 0 for s in used)
    n += sum(counts.get(f"{s}_perturbed") or 0 for s in used if f"{s}/truth_ratio" in m)
    return n + (m["verbmem"]["n"] if "verbmem" in m else 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", default="mia,tofu,muse,all")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", default=None)
    ap.add_argument("--oracle", default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    corpus = Path(tempfile.mkdtemp()) / "persons"
    generate(corpus, persons=150, facts=4, holdout=15, seed=0)
    splits = load_splits(corpus, "forget10")
    tok, model, oracle, kind = models(args, corpus)
    rows = {}
    for suite in args.suites.split(","):
        t0 = time.perf_counter()
        r = evaluate(model, tok, splits, oracle=(oracle, tok), suite=suite, batch_size=args.batch_size)
        wall = time.perf_counter() - t0
        t = r["timing"]
        gen = t["generation_s"] + t["oracle"]["generation_s"]
        n = items(r)
        rows[suite] = {"seconds": round(wall, 2), "items": n, "items_per_s": round(2 * n / wall, 1),
                       "generation_share": round(gen / wall, 3), "scoring_s": round(t["scoring_s"], 2),
                       "generation_s": round(t["generation_s"], 2), "sequences": t["sequences"],
                       "generations": t["generations"]}
        print(f"{suite:>4}: {wall:7.1f} s  {n} items x 2 models  {2 * n / wall:6.1f} items/s  "
              f"generation {100 * gen / wall:4.1f}%  (scoring {t['scoring_s']:.1f} s, {t['sequences']} sequences; "
              f"generation {t['generation_s']:.1f} s, {t['generations']} prompts; per model)", flush=True)
    print(json.dumps({"bench": "eval_speed", "device": args.device, "threads": torch.get_num_threads(),
                      "models": kind, "parameters": n_params(model), "corpus": splits.describe(),
                      "suites": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

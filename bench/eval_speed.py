"""Speed of the evaluation suite, and what packed scoring and Token Recycling each buy, in one run.

Corpus: the persons corpus (default: the demo's 150 persons, 4 facts, 15 holdout, forget10; pass --persons/--facts/
--holdout to match the corpus the models were trained on) with the `small` preset. By default the target and oracle
are freshly initialised (untrained): an untrained model never emits EOS, so every generation runs to its full budget
(the worst case for generation). Pass --model/--oracle for trained ones (e.g. the demo's cached models).

Printed, per suite: wall seconds for model + oracle with the defaults (packed scoring, Token Recycling), the share in
generation, and the process's peak resident memory. Then, same model, same sequences, same prompts, one run:
- scoring: the plan's sequences scored packed (prompt once, `eval/packing.py`) vs plain padded rows;
- generation: the plan's greedy prompts (TOFU answers, knowmem, verbmem) decoded plainly vs with Token Recycling
  (`models/recycling.py`), per batch size (--gen-batch-sizes), outputs checked bit-identical; the two alternate
  (--repeats rounds, the fastest of each kept) so a shared machine slows both alike.
The last line is JSON: `scoring_speedup`, `token_recycling_speedup` (generation seconds plain / recycled at the
suite's batch size), `token_recycling_by_batch`, `peak_rss_mb`.
Run: OMP_NUM_THREADS=1 .venv/bin/python bench/eval_speed.py [--suites all] [--model M --oracle O --persons 20 --facts 6]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from obliviate.data import load_splits
from obliviate.data.persons import generate
from obliviate.eval.plan import VERBMEM_NEW, build_plan
from obliviate.eval.suite import evaluate
from obliviate.models import build_model, generate_ids, load, n_params, pad_id, train_tokenizer
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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def suite_rows(args, tok, model, oracle, splits) -> dict:
    rows = {}
    for suite in filter(None, args.suites.split(",")):
        t0 = time.perf_counter()
        r = evaluate(model, tok, splits, oracle=(oracle, tok), suite=suite, batch_size=args.batch_size)
        wall = time.perf_counter() - t0
        t = r["timing"]
        gen = t["generation_s"] + t["oracle"]["generation_s"]
        rows[suite] = {"seconds": round(wall, 2), "scoring_s": round(t["scoring_s"], 2),
                       "generation_s": round(t["generation_s"], 2), "generation_share": round(gen / wall, 3),
                       "sequences": t["sequences"], "generations": t["generations"], "peak_rss_mb": round(peak_rss_mb())}
        print(f"{suite:>4}: {wall:7.1f} s model + oracle, generation {100 * gen / wall:4.1f}%  (per model: scoring "
              f"{t['scoring_s']:.1f} s for {t['sequences']} sequences, generation {t['generation_s']:.1f} s for "
              f"{t['generations']} prompts); peak RSS {peak_rss_mb():.0f} MB", flush=True)
    return rows


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def scoring(plan, model, tok, repeats: int) -> dict:
    best = {"plain": float("inf"), "packed": float("inf")}
    for _ in range(repeats):
        for name in best:
            dt, _ = timed(lambda name=name: plan.book.run(model, pad_id(tok), packed=name == "packed"))
            best[name] = min(best[name], dt)
    out = {k + "_s": round(v, 2) for k, v in best.items()} | {"speedup": round(best["plain"] / best["packed"], 2)}
    print(f"scoring {len(plan.book)} sequences: plain {best['plain']:.2f} s, packed {best['packed']:.2f} s "
          f"({out['speedup']:.2f}x)", flush=True)
    return out


def generation(plan, model, tok, sizes: list[int], repeats: int, limit: int | None = None) -> dict:
    prompts = [p for ev in plan.qa.values() for p in ev.prompts]
    budgets = [b for ev in plan.qa.values() for b in ev.budgets]
    if plan.verb is not None:
        prompts += plan.verb.prompts
        budgets += [VERBMEM_NEW] * len(plan.verb.prompts)
    if limit:  # an even spread over the plan's prompts
        step = max(1, len(prompts) // limit)
        prompts, budgets = prompts[::step][:limit], budgets[::step][:limit]
    out = {}
    for bs in sizes:
        best, same = {False: float("inf"), True: float("inf")}, True
        for _ in range(repeats):
            got = {}
            for rec in best:
                dt, got[rec] = timed(lambda rec=rec, bs=bs: generate_ids(model, prompts, budgets, pad_id(tok),
                                                                  tok.eos_token_id, bs, recycle=rec))
                best[rec] = min(best[rec], dt)
            same = same and got[False] == got[True]
        new = sum(len(g) for g in got[False])
        out[bs] = {"plain_s": round(best[False], 2), "recycled_s": round(best[True], 2),
                   "speedup": round(best[False] / best[True], 2), "identical": same, "new_tokens": new}
        print(f"generation batch {bs:>2}: {len(prompts)} prompts, {new} new tokens: plain {best[False]:.2f} s, "
              f"recycled {best[True]:.2f} s ({out[bs]['speedup']:.2f}x), identical: {same}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", default="all", help="comma-separated; empty: only the comparisons")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", default=None)
    ap.add_argument("--oracle", default=None)
    ap.add_argument("--persons", type=int, default=150)
    ap.add_argument("--facts", type=int, default=4)
    ap.add_argument("--holdout", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--gen-batch-sizes", default="1,4,16,32")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-prompts", type=int, default=None, help="generation comparison on this many prompts")
    args = ap.parse_args()
    corpus = Path(tempfile.mkdtemp()) / "persons"
    generate(corpus, persons=args.persons, facts=args.facts, holdout=args.holdout, seed=0)
    splits = load_splits(corpus, "forget10")
    tok, model, oracle, kind = models(args, corpus)
    rows = suite_rows(args, tok, model, oracle, splits)
    peak = peak_rss_mb()
    plan = build_plan(tok, splits, "all")
    score = scoring(plan, model, tok, args.repeats)
    sizes = [int(b) for b in args.gen_batch_sizes.split(",")]
    gen = generation(plan, model, tok, sizes, args.repeats, args.max_prompts)
    at = args.batch_size if args.batch_size in gen else sizes[0]  # the suite's batch size when measured
    print(json.dumps({"bench": "eval_speed", "device": args.device, "threads": torch.get_num_threads(),
                      "models": kind, "parameters": n_params(model), "corpus": splits.describe(), "suites": rows,
                      "scoring": score, "scoring_speedup": score["speedup"],
                      "token_recycling_speedup": gen[at]["speedup"], "token_recycling_batch": at,
                      "token_recycling_by_batch": gen,
                      "peak_rss_mb": round(peak)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

--tofu PATH (a TOFU folder in the hub layout) runs the issue-17 comparison workload instead: forget01 (+ perturbed)
and the first 100 items of retain_perturbed (also the retain split), real_authors and world_facts (+ perturbed),
written to a temporary folder the TOFU loader reads; untrained `small` Llamas. Tokenizer (--tofu-tokenizer):
`speed` (default) is bench/speed.py's (trained on its persons workload, 661 tokens, 3,579,392 parameters): the
issue's figures were taken with it (1,780 sequences, 46,906 generation budget); `tofu` trains one on TOFU's texts
(--tofu-vocab 664: 3,580,160 parameters; shorter prompts, so 54,523 tokens to generate). The `tofu` suite is run as
phases in one process, defaults (packed scoring, Token Recycling) before plain paths: one model (the oracle is the
model itself, so one pass), then model + oracle (a second untrained model). Per phase: process CPU seconds, wall,
scoring and generation CPU seconds (and wall), sequences scored, tokens generated, peak RSS so far (ru_maxrss only rises:
a later phase's figure is the maximum of all phases so far).
"""
from __future__ import annotations

import argparse
import json
import os
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


TOFU_SUBSET = {"forget01.json": None, "forget01_perturbed.json": None, "full.json": None,
               "real_authors.json": 100, "real_authors_perturbed.json": 100,
               "world_facts.json": 100, "world_facts_perturbed.json": 100, "retain_perturbed.json": 100}


def tofu_subset(src: Path) -> Path:
    """A temporary TOFU folder: the configs above cut to their first n items (JSON lines), and retain99 = the same
    100 retain_perturbed items (question, answer), as the peer scores retain on retain_perturbed."""
    dst = Path(tempfile.mkdtemp()) / "tofu"
    dst.mkdir()
    for name, n in TOFU_SUBSET.items():
        lines = (src / name).read_text().splitlines()
        (dst / name).write_text("\n".join(lines[:n]) + "\n")
    retain = [json.loads(line) for line in (dst / "retain_perturbed.json").read_text().splitlines()]
    (dst / "retain99.json").write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n"
                                               for r in retain))
    return dst


def tofu_texts(src: Path) -> list[str]:
    out = []
    for name in ("full.json", "real_authors.json", "world_facts.json"):
        out += [r["question"] + " " + r["answer"] for r in map(json.loads, (src / name).read_text().splitlines())]
    return out


def tofu_phase(name: str, model, tok, splits, oracle, plain: bool, counter: dict) -> dict:
    counter.update(tokens=0, scoring_cpu=0.0, generation_cpu=0.0)
    c0, w0 = time.process_time(), time.perf_counter()
    r = evaluate(model, tok, splits, oracle=(oracle, tok), suite="tofu", packed=not plain, recycle=not plain)
    cpu, wall, t = time.process_time() - c0, time.perf_counter() - w0, r["timing"]
    o = t.get("oracle", {"scoring_s": 0.0, "generation_s": 0.0})
    row = {"cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "scoring_cpu_s": round(counter["scoring_cpu"], 1),
           "scoring_wall_s": round(t["scoring_s"] + o["scoring_s"], 1), "sequences": t["sequences"],
           "generation_cpu_s": round(counter["generation_cpu"], 1),
           "generation_wall_s": round(t["generation_s"] + o["generation_s"], 1),
           "generated_tokens": counter["tokens"], "prompts": t["generations"], "peak_rss_mb": round(peak_rss_mb())}
    print(f"{name:>29}: CPU {cpu:6.1f} s (wall {wall:6.1f} s); scoring CPU {row['scoring_cpu_s']:5.1f} s "
          f"({t['sequences']} sequences per model), generation CPU {row['generation_cpu_s']:5.1f} s "
          f"({counter['tokens']} tokens); peak RSS so far {row['peak_rss_mb']} MB", flush=True)
    return row


def counted(counter: dict):
    """Wrap the suite's scoring pass and generation to add up their process CPU seconds and the new tokens."""
    import obliviate.eval.suite as suite_mod
    from obliviate.eval.scoring import ScoreBook

    run, gen = ScoreBook.run, suite_mod.generate_ids

    def scoring(*a, **k):
        c = time.process_time()
        out = run(*a, **k)
        counter["scoring_cpu"] += time.process_time() - c
        return out

    def generating(*a, **k):
        c = time.process_time()
        out = gen(*a, **k)
        counter["generation_cpu"] += time.process_time() - c
        counter["tokens"] += sum(len(g) for g in out)
        return out

    ScoreBook.run, suite_mod.generate_ids = scoring, generating


def tofu_main(args) -> int:
    src = Path(args.tofu)
    splits = load_splits(f"tofu:{tofu_subset(src)}", "forget01")
    if args.tofu_tokenizer == "speed":
        from speed import workload  # bench/speed.py, beside this file

        tok = train_tokenizer([r["question"] + " " + r["answer"] for r in workload(64, 0) + workload(256, 1)],
                              vocab_size=2048)
    else:
        tok = train_tokenizer(tofu_texts(src), vocab_size=args.tofu_vocab)
    model = build_model("small", tok, seed=0).to(args.device).eval()
    oracle = build_model("small", tok, seed=1).to(args.device).eval()
    print(f"TOFU subset {splits.counts()}; vocab {len(tok)}, {n_params(model):,} parameters; baseline RSS "
          f"{peak_rss_mb():.0f} MB", flush=True)
    counter: dict = {}
    counted(counter)
    rows = {}
    for plain in (False, True):
        path = "plain" if plain else "packed+recycled"
        rows[f"one model, {path}"] = tofu_phase(f"one model, {path}", model, tok, splits, model, plain, counter)
        if args.tofu_oracle:
            rows[f"model+oracle, {path}"] = tofu_phase(f"model+oracle, {path}", model, tok, splits, oracle, plain,
                                                       counter)
    one = rows["one model, plain"], rows["one model, packed+recycled"]
    print(json.dumps({"bench": "eval_speed", "workload": "tofu", "device": args.device,
                      "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                      "parameters": n_params(model), "tokenizer": args.tofu_tokenizer, "vocab": len(tok),
                      "splits": splits.counts(), "phases": rows,
                      "scoring_speedup": round(one[0]["scoring_cpu_s"] / one[1]["scoring_cpu_s"], 2),
                      "generation_speedup": round(one[0]["generation_cpu_s"] / one[1]["generation_cpu_s"], 2),
                      "cpu_speedup": round(one[0]["cpu_s"] / one[1]["cpu_s"], 2),
                      "peak_rss_mb": max(r["peak_rss_mb"] for r in rows.values())}))
    return 0


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
    ap.add_argument("--tofu", default=None, help="TOFU folder (hub layout): the issue-17 comparison workload")
    ap.add_argument("--tofu-tokenizer", choices=("speed", "tofu"), default="speed",
                    help="speed: bench/speed.py's tokenizer (the issue's workload); tofu: trained on TOFU's texts")
    ap.add_argument("--tofu-vocab", type=int, default=664, help="tokenizer size for --tofu (664: 3.58M params)")
    ap.add_argument("--tofu-oracle", action=argparse.BooleanOptionalAction, default=True,
                    help="also time model + oracle (a second untrained model) for --tofu")
    args = ap.parse_args()
    if args.tofu:
        return tofu_main(args)
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

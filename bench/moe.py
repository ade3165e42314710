"""Benchmark: UOE (unlearn one expert + router anchor) vs whole-model NPO on the `moe` preset.

Run (a 40-person corpus keeps each training to ~4-5 min on one loaded core):
    obliviate data persons --out runs/p40 --persons 40 --facts 6 --holdout 8
    obliviate train --data runs/p40 --preset moe --split full --out runs/moe-full --threads 1
    obliviate train --data runs/p40 --preset moe --split retain90 --out runs/moe-retain90 --threads 1
    OMP_NUM_THREADS=1 python bench/moe.py --corpus runs/p40 --target runs/moe-full --oracle runs/moe-retain90

Each variant runs through `obliviate.run` (forget10, TOFU-style suite against the oracle): forget quality, model
utility; then, on the unlearned model, router entropy (nats, mean over tokens and layers) and assignment shift
(1 − Jaccard of each token's top-2 experts vs the target, mean over tokens and layers) on the retain and forget
tokens (and per layer). Prints one row per variant; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

VARIANTS = {
    "npo": {},
    "npo+uoe": {"uoe": {"alpha": 1.0}},
    "npo+uoe lr1e-2": {"uoe": {"alpha": 1.0}, "train": {"lr": 1e-2}},
    "npo+uoe lr1e-2 a0": {"uoe": {"alpha": 0.0}, "train": {"lr": 1e-2}},  # no router anchor
    "npo+uoe lr1e-2 frozen": {"uoe": {"train_router": False}, "train": {"lr": 1e-2}},  # the expert only
}


def batches(tokenizer, records: list[dict], size: int = 32) -> list[dict]:
    from obliviate.models import collate, encode_qa

    enc = [encode_qa(tokenizer, r["question"], r["answer"]) for r in records]
    return [collate(enc[i:i + size], tokenizer.pad_token_id) for i in range(0, len(enc), size)]


def routing_stats(model, target_routes: dict, data: dict) -> dict:
    """Router entropy of `model` and its assignment shift from the target's routing, per token set."""
    from obliviate.models.moe import assignment_shift, moe_blocks, router_entropy, routing

    top_k = moe_blocks(model)[0].top_k
    out = {}
    for name, b in data.items():
        probs = routing(model, b)
        out[f"{name}_entropy"] = sum(router_entropy(p) for p in probs.values()) / len(probs)
        shifts = [assignment_shift(target_routes[name][k], p, top_k) for k, p in sorted(probs.items())]
        out[f"{name}_shift"] = sum(shifts) / len(shifts)
        out[f"{name}_shift_per_layer"] = [round(x, 4) for x in shifts]
    return out


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from obliviate.models import load
    from obliviate.models.moe import routing
    from obliviate.run import execute, load_stages
    from obliviate.spec import load_spec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--out", default="runs/bench-moe")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()

    target, tok = load(args.target)
    rows = []
    data = None
    for name in args.variants.split(","):
        extra = VARIANTS[name]
        spec = load_spec({"model": args.target, "data": args.corpus, "method": "npo", "name": name,
                          "train": {"epochs": args.epochs, **extra.get("train", {})}, "engine": {"progress": False},
                          "eval": {"oracle": args.oracle, "suite": "tofu", "curve_points": 0},
                          "out": str(Path(args.out) / name.replace(" ", "_")), "save_model": False,
                          **({"uoe": extra["uoe"]} if "uoe" in extra else {})})
        stages = load_stages(spec)
        if data is None:
            data = {"retain": batches(tok, stages.splits.retain), "forget": batches(tok, stages.splits.forget)}
            target_routes = {k: routing(target, b) for k, b in data.items()}
            rows.append({"name": "target", **routing_stats(target, target_routes, data)})
        t0 = time.perf_counter()
        model, results = execute(spec, stages)
        m = results["metrics"]
        hooks = results["config"].get("step_hooks") or [{}]
        rows.append({"name": name, "forget_quality": m["forget_quality"]["value"],
                     "model_utility": m["model_utility"]["value"], "forget_prob": m["forget/prob"]["value"],
                     "retain_prob": m["retain/prob"]["value"], "seconds": round(time.perf_counter() - t0, 1),
                     "expert": [hooks[0].get("chosen_layer"), hooks[0].get("chosen_expert")],
                     **routing_stats(model, target_routes, data)})
    keys = ["forget_quality", "model_utility", "forget_prob", "retain_prob", "retain_entropy", "retain_shift",
            "forget_entropy", "forget_shift"]
    print(f"{'variant':18s} " + " ".join(f"{k:>14s}" for k in keys) + "  retain shift per layer")
    for r in rows:
        print(f"{r['name']:18s} " + " ".join(f"{r[k]:14.4g}" if isinstance(r.get(k), float) else f"{'-':>14s}"
                                             for k in keys) + f"  {r.get('retain_shift_per_layer')}")
    print(json.dumps({"bench": "moe", "epochs": args.epochs, "rows": rows}))


if __name__ == "__main__":
    main()

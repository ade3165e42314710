"""`obliviate unlearn --method o3 --requests K`: the forget split cut into K requests (by person, in order), each
unlearned by O3 (`o3.py`); writes OUT/model (base weights + o3/ adapters and detectors) and OUT/run.json.

    obliviate unlearn --model models/target --data corpus --forget forget10 --method o3 --requests 4 --out runs/o3 \\
        --set train.epochs=10 --set train.lr=2e-3 --set o3.orth_weight=0.1 --set o3.method=npo
`obliviate eval --model runs/o3/model ...` evaluates the gated model (it finds model/o3/).
"""
from __future__ import annotations

from pathlib import Path

O3_KEYS = {"orth_weight": float, "method": str, "layer": int}


def split_requests(forget: list[dict], k: int) -> list[list[dict]]:
    """k disjoint requests along persons (the protocols' folds)."""
    from obliviate.protocols import fold_keys

    folds = fold_keys(forget, k)
    by_person = None not in {r.get("person") for r in forget}
    return [[r for i, r in enumerate(forget) if (r.get("person") if by_person else i) in set(f)] for f in folds]


def unlearn_o3(args, splits, model, tokenizer, overrides: dict) -> int:
    from obliviate._atomic import atomic_write_json
    from obliviate.errors import ConfigError
    from obliviate.models import save

    from .o3 import fit_stream

    o3_opts = {}
    for key in [k for k in overrides if k.startswith("o3.")]:
        name = key[3:]
        if name not in O3_KEYS:
            raise ConfigError(f"--set {key}: unknown O3 key; valid: {', '.join('o3.' + k for k in O3_KEYS)}")
        o3_opts[name] = O3_KEYS[name](overrides.pop(key))
    if args.resume:
        raise ConfigError("--resume: an O3 stream has no checkpoints; continue a stream from its saved model")
    requests = split_requests(splits.forget, args.requests)
    o3, log = fit_stream(model, tokenizer, requests, overrides=overrides, lora=args.lora,
                         method=o3_opts.get("method", "npo"), orth_weight=o3_opts.get("orth_weight", 0.1),
                         layer=o3_opts.get("layer"))
    out = Path(args.out)
    save(o3, tokenizer, out / "model")
    totals = {"wall_time_s": round(sum(e["wall_time_s"] for e in log), 3), "steps": sum(e["steps"] for e in log),
              "tokens": sum(e["tokens"] for e in log)}
    atomic_write_json(out / "run.json", {"config": {"method": "o3", **o3_opts, "requests": args.requests},
                                         "requests": log, "totals": totals, "log": [], "curve": []})
    print(f"unlearned with o3: {len(requests)} requests, {totals['steps']} steps, {totals['wall_time_s']:.1f} s "
          f"-> {out}/model, {out}/run.json")
    return 0

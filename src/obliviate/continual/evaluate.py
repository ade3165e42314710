"""What results.json records about an evaluated O3 model: its adapters, the detectors' gate rates per split
(the rate of "in distribution" on retain / neighbours / holdout is the detector's false-positive rate), and the
detectors' latency per prompt.
"""
from __future__ import annotations

import numpy as np

from .o3 import O3Model, request_features

CONVENTION = ("O3: one LoRA adapter per request (orthogonality penalty against the earlier adapters), each gated "
              "per prompt by a Mahalanobis OOD detector on the base model's mean question-token hidden state at "
              "the middle layer, fitted on that request's forget prompts only (τ = largest leave-one-out "
              "distance; w = σ(10·(1 − d/τ)), 0 below 0.01); a prompt counts as gated when some w > 0.5")


def gate_rates(o3: O3Model, splits) -> dict[str, dict]:
    out = {}
    for name in ("forget", "retain", "neighbours", "holdout"):
        records = getattr(splits, name, None) or []
        if records:
            f = request_features(o3, o3.tokenizer, records)
            w = np.stack([d.weights(f) for d in o3.detectors], axis=1)
            key = "forget_recall" if name == "forget" else f"fpr_{name}"
            out[key] = {"value": float(np.mean(w.max(axis=1) > 0.5)), "n": len(records)}
    return out


def o3_results(results: dict, o3: O3Model, splits) -> dict:
    st = o3.stats
    out = dict(results)
    out["o3"] = {"kind": "o3", "base weights unchanged": True, "adapters": len(o3.adapters),
                 "gate": gate_rates(o3, splits), "calls": st["prompts"], "gated": st["gated"],
                 "latency_ms_per_prompt": round(1000 * st["detector_s"] / max(1, st["prompts"]), 3)}
    out["conventions"] = {**out.get("conventions", {}), "o3": CONVENTION}
    return out

"""Realistic fake `results.json` contents for the report tests (LLM and vision tracks), built without any model.

An LLM run is placed on a line from the target (strength 0: remembers everything) to the oracle (strength 1: never
saw the forget set); `damage` lowers its utility, `overshoot` pushes its forget metrics past the oracle's.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

from obliviate.results import build_results, metric, scalar

N_FORGET, N_HOLDOUT, N_TEXTS = 40, 40, 12
ENV = {"versions": {}, "python": "3.11", "platform": "test", "device": "cpu", "torch_threads": 1, "seed": 0,
       "date": "2025-01-01T00:00:00+00:00"}


def _mix(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _ratios(strength: float, rng: np.random.Generator) -> np.ndarray:
    # log R of the forget answers: target ≈ N(2, 0.6) (true answers far likelier), oracle ≈ N(0, 0.6).
    return np.exp(rng.normal(_mix(2.0, 0.0, strength), 0.6, N_FORGET))


def _mia(strength: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    holdout = rng.normal(-3.0, 0.4, N_HOLDOUT)     # min_k score of unseen texts (mean low token log-prob)
    forget = rng.normal(_mix(-1.5, -3.0, strength), 0.4, N_FORGET)
    return forget, holdout


def _metrics(strength: float, damage: float, rng: np.random.Generator, oracle_r: np.ndarray | None,
             oracle_auc: float | None) -> tuple[dict, np.ndarray, float]:
    r = _ratios(strength, rng)
    forget, holdout = _mia(strength, rng)
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(np.r_[np.ones(N_FORGET), np.zeros(N_HOLDOUT)], np.r_[forget, holdout]))
    util = 0.62 * (1 - damage)
    m = {
        "forget/truth_ratio": metric(np.minimum(r, 1 / r), ratio=[float(x) for x in r]),
        "model_utility": scalar(util, components={"retain/prob": util + 0.1, "retain/truth_ratio": util}),
        "neighbours_utility": scalar(0.58 * (1 - damage * 1.2)),
        "verbmem": metric(np.clip(rng.normal(_mix(85, 20, strength), 8, N_TEXTS), 0, 100)),
        "knowmem_f": metric(np.clip(rng.normal(_mix(70, 15, strength), 10, N_FORGET), 0, 100)),
        "knowmem_r": metric(np.clip(rng.normal(68 * (1 - damage), 10, N_FORGET), 0, 100)),
        "mia/min_k": metric(forget, value=auc, holdout_scores=[float(x) for x in holdout]),
    }
    if oracle_r is not None:
        ks = ks_2samp(r, oracle_r)
        m["forget_quality"] = scalar(float(ks.pvalue), n=N_FORGET, oracle_n=len(oracle_r),
                                     statistic=float(ks.statistic))
    if oracle_auc is not None:
        a, a0 = 1 - auc, 1 - oracle_auc
        m["privleak"] = scalar((a - a0) / a0 * 100, attack="min_k", auc=auc, oracle_auc=oracle_auc)
    return m, r, auc


def _muse(m: dict, oracle: dict, target_knowmem_r: float) -> dict:
    def cell(name: str, passed: bool, v: float, t: float, rule: str, direction: str) -> dict:
        return {"pass": bool(passed), "metric": name, "value": v, "threshold": t, "rule": rule,
                "direction": direction}

    vm, km, pl, kr = (m[k]["value"] for k in ("verbmem", "knowmem_f", "privleak", "knowmem_r"))
    ovm, okm = oracle["verbmem"]["ci_high"], oracle["knowmem_f"]["ci_high"]
    leak = "leakage (under-unlearning)" if pl < -5 else "over-unlearning" if pl > 5 else "within band"
    return {"C1": cell("verbmem", vm <= ovm, vm, ovm, "value <= oracle ci_high", "lower is better"),
            "C2": cell("knowmem_f", km <= okm, km, okm, "value <= oracle ci_high", "lower is better"),
            "C3": cell("privleak", abs(pl) <= 5, pl, 5.0, "-5 <= privleak <= 5", leak),
            "C4": cell("knowmem_r", kr >= 0.95 * target_knowmem_r, kr, 0.95 * target_knowmem_r,
                       "value >= 0.95 * target value", "higher is better")}


def _curve(strength: float, damage: float, steps: int = 5) -> list[dict]:
    out = []
    for i in range(steps + 1):
        t = i / steps
        out.append({"step": i * 10, "epoch": t * 2, "metrics": {
            "forget_quality": 10 ** _mix(-9, math.log10(max(1e-9, 0.5 * strength + 1e-3)), t),
            "model_utility": 0.62 * (1 - damage * t),
            "forget/truth_ratio": _mix(0.15, _mix(0.15, 0.55, strength), t),
        }})
    return out


def llm_suite(methods: dict[str, tuple[float, float]] | None = None, seed: int = 0, curve: bool = True,
              tofu: bool = False) -> list[dict]:
    """[target, *methods, oracle] results dicts. `methods`: name -> (strength, damage). `tofu`: no MUSE metrics."""
    methods = methods if methods is not None else {"grad_ascent": (1.6, 0.45), "npo": (0.9, 0.05),
                                                   "simnpo": (0.6, 0.02), "rmu": (0.3, 0.01)}
    rng = np.random.default_rng(seed)
    oracle_m, oracle_r, oracle_auc = _metrics(1.0, 0.02, rng, None, None)
    # Against itself the oracle's KS p-value is 1 and its privleak 0, by definition.
    oracle_m["forget_quality"] = scalar(1.0, n=N_FORGET, oracle_n=N_FORGET, statistic=0.0)
    oracle_m["privleak"] = scalar(0.0, attack="min_k", auc=oracle_auc, oracle_auc=oracle_auc)
    target_m, _, _ = _metrics(0.0, 0.0, rng, oracle_r, oracle_auc)
    runs = [("target", target_m, None)]
    for name, (strength, damage) in methods.items():
        m, _, _ = _metrics(strength, damage, rng, oracle_r, oracle_auc)
        runs.append((name, m, {"wall_time_s": 30 * (1 + strength), "steps": 50, "tokens": 10_000,
                               "oracle": {"wall_time_s": 600.0}, "cost_ratio": 30 * (1 + strength) / 600}))
    out = []
    for name, m, cost in runs:
        if tofu:
            m = {k: v for k, v in m.items() if k not in ("verbmem", "knowmem_f", "knowmem_r", "privleak")}
        extra = {"name": name, "track": "llm"}
        if not tofu and name != "oracle":
            extra["muse"] = _muse(m, oracle_m, target_m["knowmem_r"]["value"])
        if curve and name in methods:
            extra["curve"] = _curve(*methods[name])
        oracle_block = {"source": "runs/oracle", "metrics": {k: v for k, v in oracle_m.items()
                                                              if k in m}}
        out.append(build_results({"method": name}, m, cost=cost, oracle=oracle_block, env=ENV, **extra))
    out.append(build_results({"method": "oracle"}, {k: v for k, v in oracle_m.items() if k in out[0]["metrics"]},
                             oracle={}, env=ENV, name="oracle", track="llm"))
    return out


def vision_suite(seeds: tuple[int, ...] = (0, 1, 2)) -> list[dict]:
    """Classifier-track results: oracle plus a few methods, each metric one value per seed."""
    rng = np.random.default_rng(1)
    base = {"UA": 8.0, "RA": 99.0, "TA": 94.0, "MIA_efficacy": 12.0}
    oracle = {k: v + rng.normal(0, 0.5, len(seeds)) for k, v in base.items()}
    specs = {"oracle": (0, 0, 0), "finetune": (-5, 0.5, 1.0), "l1_sparse": (-1, -0.5, 0.6),
             "random_label": (12, -4, 0.2)}
    out = []
    for name, (ua_shift, ta_shift, cost) in specs.items():
        vals = {k: oracle[k] + (0 if name == "oracle" else rng.normal(0, 0.8, len(seeds))) for k in base}
        vals["UA"] = vals["UA"] + ua_shift
        vals["MIA_efficacy"] = vals["MIA_efficacy"] + ua_shift * 1.5
        vals["TA"] = vals["TA"] + ta_shift
        gap = np.mean([np.abs(vals[k] - oracle[k]) for k in base], axis=0)
        m = {k: metric(v, ci=False, std=float(np.std(v))) for k, v in {**vals, "avg_gap": gap}.items()}
        out.append(build_results({"method": name}, m, env=ENV, name=name, track="vision", seeds=list(seeds),
                                 cost={"cost_ratio": cost} if name != "oracle" else {},
                                 oracle={"source": "retrain", "metrics": {k: metric(v, ci=False) for k, v in
                                                                          oracle.items()}}))
    return out


def write_all(results: list[dict], folder: Path) -> list[Path]:
    """One `<folder>/run<i>/results.json` per result, as the demo lays them out (names may not be file-safe)."""
    paths = []
    for i, r in enumerate(results):
        p = folder / f"run{i}" / "results.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r, indent=1), encoding="utf-8")
        paths.append(p)
    return paths

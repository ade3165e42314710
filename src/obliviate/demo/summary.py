"""The demo's closing table: one row per model (target, oracle, each method), and whether it reaches the oracle.

"Reaches the oracle's band" = forget_quality >= 0.05 (the KS test cannot tell its forget truth ratios from the
oracle's at 5%) and model_utility >= 0.9 x the target's (the unlearning kept most of what the model knew).
"""
from __future__ import annotations

import math

from obliviate.rules import BAND_FORGET_QUALITY, BAND_UTILITY_KEEP, in_band

METRICS = ("forget_quality", "model_utility", "privleak", "knowmem_f", "knowmem_r")
HEADER = ("model", "forget_q", "utility", "privleak", "knowmem_f", "knowmem_r", "cost", "oracle band")


def _value(results: dict, name: str):
    v = (results.get("metrics", {}).get(name) or {}).get("value")
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def row(name: str, results: dict | None, target_utility: float | None, error: str | None = None) -> dict:
    """One summary row; `band` is None when the numbers to decide it are missing."""
    out = {"model": name, "error": error}
    results = results or {}
    for m in METRICS:
        out[m] = _value(results, m)
    ratio = (results.get("cost") or {}).get("cost_ratio")
    out["cost_ratio"] = ratio if isinstance(ratio, (int, float)) else None
    fq, mu = out["forget_quality"], out["model_utility"]
    out["band"] = in_band(fq, mu, target_utility)
    return out


def _fmt(v, kind: str) -> str:
    if v is None:
        return "-"
    if kind == "p":
        return f"{v:.2e}"
    if kind == "x":
        return f"{v:.3g}x"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def format_table(rows: list[dict]) -> str:
    """A plain-text table; failed methods show their error instead of numbers."""
    lines = []
    for r in rows:
        if r.get("error"):
            lines.append((r["model"], f"FAILED: {r['error']}"))
            continue
        band = "-" if r["band"] is None else ("yes" if r["band"] else "no")
        lines.append((r["model"], _fmt(r["forget_quality"], "p"), _fmt(r["model_utility"], ""),
                      _fmt(r["privleak"], ""), _fmt(r["knowmem_f"], ""), _fmt(r["knowmem_r"], ""),
                      _fmt(r["cost_ratio"], "x"), band))
    widths = [max([len(HEADER[i]), *(len(c[i]) for c in lines if len(c) > 2)]) for i in range(len(HEADER))]
    text = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
    text.append("  ".join("-" * w for w in widths))
    for cells in lines:
        if len(cells) == 2:
            text.append(f"{cells[0].ljust(widths[0])}  {cells[1]}")
        else:
            text.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    text.append(f"oracle band: forget_quality >= {BAND_FORGET_QUALITY} and model_utility >= {BAND_UTILITY_KEEP} "
                "x target's; cost = unlearning wall time / oracle training wall time")
    return "\n".join(text)

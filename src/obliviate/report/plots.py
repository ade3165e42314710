"""The report's figures, drawn with matplotlib's object API (Agg canvas, no pyplot state) and returned as base64 PNG.

Each builder takes the ordered rows of one track (target, methods, oracle) and returns a `Plot` or, when the results
lack its data, an `Omitted` with a one-line reason: the page never shows an empty figure.
"""
from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from obliviate.rules import BAND_FORGET_QUALITY, BAND_UTILITY_KEEP

from .load import Run, num, numbers, oracle_of, value

TARGET, ORACLE = "#c0392b", "#1a1a1a"
_METHOD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
                   "#393b79", "#637939", "#8c6d31", "#843c39"]
CURVE_ORDER = ("forget_quality", "model_utility", "forget/truth_ratio", "verbmem", "knowmem_f", "knowmem_r",
               "privleak", "forget/prob", "retain/prob", "forget/rouge_l_recall", "retain/rouge_l_recall")
MAX_PANELS = 6


@dataclass(frozen=True)
class Plot:
    title: str
    how_to_read: str
    png_base64: str


@dataclass(frozen=True)
class Omitted:
    title: str
    reason: str


def colour(run: Run, rows: list[Run]) -> str:
    if run.role == "target":
        return TARGET
    if run.role == "oracle":
        return ORACLE
    methods = [r.name for r in rows if r.role == "method"]
    return _METHOD_COLOURS[methods.index(run.name) % len(_METHOD_COLOURS)]


def label(text: str) -> str:
    """Text safe for matplotlib: `$` would start mathtext and a leading `_` hides a legend entry."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _grid(n: int, ncols: int, width: float = 10.0, height: float = 2.9) -> tuple[Figure, list]:
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width, height * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def tradeoff(rows: list[Run]) -> Plot | Omitted:
    title = "Forgetting against utility"
    points = []
    for r in rows:
        x, y = value(r, "model_utility"), value(r, "forget_quality")
        if y is None and r.role == "oracle" and x is not None:
            y = 1.0  # the oracle's forget truth ratios tested against themselves
        if x is not None and y is not None:
            points.append((r, x, y))
    if not points:
        return Omitted(title, "no results have both forget_quality and model_utility.")
    positive = [y for _, _, y in points if y > 0]
    floor = min(positive) / 10 if positive else 1e-30
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.subplots()
    target = next((r for r in rows if r.role == "target"), None)
    keep = BAND_UTILITY_KEEP * value(target, "model_utility") if target and value(target, "model_utility") else None
    ax.axhline(BAND_FORGET_QUALITY, color="#2e7d32", ls="--", lw=1,
               label=f"forget quality = {BAND_FORGET_QUALITY} (oracle's band)")
    if keep is not None:
        ax.axvline(keep, color="#6d6d6d", ls=":", lw=1, label=f"{BAND_UTILITY_KEEP:.0%} of the target's utility")
    for r, x, y in points:
        entry = r.metrics.get("model_utility") or {}
        lo, hi = num(entry.get("ci_low")), num(entry.get("ci_high"))
        xerr = [[x - lo], [hi - x]] if lo is not None and hi is not None and lo <= x <= hi else None
        marker = {"target": "X", "oracle": "*"}.get(r.role, "o")
        size = {"target": 11, "oracle": 15}.get(r.role, 8)
        shown = max(y, floor)
        ax.errorbar([x], [shown], xerr=xerr, fmt=marker if y > 0 else "v", ms=size, color=colour(r, rows),
                    capsize=3, label=label(r.name), zorder=3)
        ax.annotate(label(r.name), (x, shown), textcoords="offset points", xytext=(7, 5), fontsize=8)
    ax.set_yscale("log")
    if keep is not None:  # shade the goal: oracle-like forgetting with utility kept
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        ax.fill_between([keep, max(x1, keep)], BAND_FORGET_QUALITY, max(y1, BAND_FORGET_QUALITY), color="#2e7d32",
                        alpha=0.07, lw=0)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
    ax.set_xlabel("model utility (higher keeps more of what the model knew)")
    ax.set_ylabel("forget quality (KS p-value, log)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    how = ("Up = forget answers look like the oracle's (above the dashed line: indistinguishable at 5%); right = "
           "utility kept. Aim for the shaded upper right, near the oracle's star; ▼ marks p = 0, drawn at the floor.")
    return Plot(title, how, _png(fig))


def _curve_metrics(rows: list[Run]) -> list[str]:
    names = {k for r in rows for p in r.curve if isinstance(p.get("metrics"), dict) for k in p["metrics"]}
    ordered = [m for m in CURVE_ORDER if m in names] + sorted(names - set(CURVE_ORDER))
    return ordered[:MAX_PANELS]


def _series(run: Run, name: str) -> tuple[list[float], list[float]]:
    pts = [(num(p.get("step")), num(p["metrics"].get(name))) for p in run.curve if isinstance(p.get("metrics"), dict)]
    pts = sorted((s, v) for s, v in pts if s is not None and v is not None)
    return [s for s, _ in pts], [v for _, v in pts]


def curves(rows: list[Run]) -> Plot | Omitted:
    title = "Unlearning curves"
    names = _curve_metrics(rows)
    if not names:
        return Omitted(title, "no results contain a `curve` (the engine's evaluation hook was off).")
    oracle = oracle_of(rows)
    fig, axes = _grid(len(names), 3)
    for ax, name in zip(axes, names, strict=True):
        for r in rows:
            steps, vals = _series(r, name)
            if steps:
                ax.plot(steps, vals, marker="o", ms=3, lw=1.5, color=colour(r, rows), label=label(r.name))
        ref = value(oracle, name) if oracle else None
        if ref is not None:
            ax.axhline(ref, color=ORACLE, ls="--", lw=1, label="oracle")
        lines = [v for line in ax.get_lines() for v in line.get_ydata()]
        if name == "forget_quality" and lines and min(lines) > 0:
            ax.set_yscale("log")
        ax.set_title(label(name), fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=min(6, len(handles)),
               fontsize=8, frameon=False)
    how = ("Each panel follows one metric during unlearning; the dashed line is the oracle's final value. A good "
           "run moves towards it and stays there; one that overshoots is over-unlearning.")
    return Plot(title, how, _png(fig))


def _ratios(run: Run | None) -> np.ndarray:
    entry = run.metrics.get("forget/truth_ratio") if run else None
    xs = numbers(entry.get("ratio")) if entry else []
    return np.sort(np.array([x for x in xs if x > 0]))


def _ecdf(ax, xs: np.ndarray, **kw) -> None:
    ax.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", **kw)


def truth_ratios(rows: list[Run]) -> Plot | Omitted:
    title = "Truth-ratio distributions on the forget set"
    target, oracle = (next((r for r in rows if r.role == k), None) for k in ("target", "oracle"))
    panels = [r for r in rows if r.role == "method" and _ratios(r).size] or [r for r in [target] if
                                                                             _ratios(r).size]
    if not panels:
        return Omitted(title, "no results carry the per-item ratios (`forget/truth_ratio` → `ratio`).")
    fig, axes = _grid(len(panels), 4, height=2.4)
    ref, base = _ratios(oracle), _ratios(target)
    for ax, r in zip(axes, panels, strict=True):
        if ref.size:
            _ecdf(ax, ref, color=ORACLE, lw=1.8, label="oracle")
        if base.size and r is not target:
            _ecdf(ax, base, color=TARGET, lw=1.2, ls="--", label="target")
        _ecdf(ax, _ratios(r), color=colour(r, rows), lw=1.8, label=label(r.name))
        fq = value(r, "forget_quality")
        ax.set_title(label(r.name) + (f"  (forget quality {fq:.2g})" if fq is not None else ""), fontsize=9)
        ax.set_xscale("log")
        ax.set_xlabel("truth ratio R (log)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    # One legend for all panels: a per-panel legend would sit on the curves.
    keys = [Line2D([], [], color=ORACLE, lw=1.8, label="oracle"),
            Line2D([], [], color=TARGET, lw=1.2, ls="--", label="target"),
            Line2D([], [], color="#888888", lw=1.8, label="the panel's method")]
    fig.legend(handles=keys[:1] * bool(ref.size) + keys[1:2] * bool(base.size) + keys[2:],
               loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    how = ("Cumulative share of forget questions with truth ratio ≤ R. Forget quality is the KS test between a "
           "method's curve and the oracle's (black): the closer the two curves, the better it forgot.")
    return Plot(title, how, _png(fig))


def _attack(rows: list[Run]) -> str | None:
    preferred = [r.metrics.get("privleak", {}).get("attack") for r in rows] + ["min_k"]
    names = [f"mia/{a}" for a in preferred if isinstance(a, str)]
    names += sorted({k for r in rows for k in r.metrics if k.startswith("mia/")})
    return next((n for n in names if any(_scores(r, n) for r in rows)), None)


def _scores(run: Run, name: str) -> tuple[list[float], list[float]] | None:
    entry = run.metrics.get(name) or {}
    forget, holdout = numbers(entry.get("per_item")), numbers(entry.get("holdout_scores"))
    return (forget, holdout) if forget and holdout else None


def mia_roc(rows: list[Run]) -> Plot | Omitted:
    from sklearn.metrics import roc_auc_score, roc_curve  # imported here: only this plot needs scikit-learn

    title = "Membership inference: ROC curves"
    attack = _attack(rows)
    if attack is None:
        return Omitted(title, "no results carry MIA scores (`mia/*` with `per_item` and `holdout_scores`).")
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#999999", ls=":", lw=1, label="chance (AUC 0.5)")
    for r in rows:
        scores = _scores(r, attack)
        if scores is None:
            continue
        y = np.r_[np.ones(len(scores[0])), np.zeros(len(scores[1]))]  # forget = member candidate = 1
        s = np.r_[scores[0], scores[1]]
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, color=colour(r, rows), lw=2.2 if r.role != "method" else 1.5,
                ls="--" if r.role == "oracle" else "-", label=f"{label(r.name)} (AUC {roc_auc_score(y, s):.2f})")
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (holdout texts called members)")
    ax.set_ylabel("true positive rate (forget texts called members)")
    ax.set_title(f"attack: {label(attack.removeprefix('mia/'))}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    how = ("A curve on the diagonal means the attack cannot tell forget texts from unseen ones, as for the oracle. "
           "Above it, the forget set still looks trained on (leak); below, it looks less familiar than unseen text "
           "(over-unlearning, itself a signal).")
    return Plot(title, how, _png(fig))


def cost(rows: list[Run]) -> Plot | Omitted:
    title = "Cost against retraining"
    bars = [(r, num(r.cost.get("cost_ratio"))) for r in rows if r.role == "method"]
    bars = [(r, c) for r, c in bars if c is not None]
    if not bars:
        return Omitted(title, "no method results record `cost.cost_ratio`.")
    fig = Figure(figsize=(10, 0.9 + 0.42 * len(bars)), layout="constrained")
    ax = fig.subplots()
    names = [label(r.name) for r, _ in bars][::-1]
    values = [c for _, c in bars][::-1]
    ax.barh(names, values, color=[colour(r, rows) for r, _ in bars][::-1], height=0.6)
    ax.axvline(1.0, color=ORACLE, ls="--", lw=1.2)
    ax.text(1.0, 1.01, "retraining (oracle) = 1", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
            fontsize=8)
    positive = [v for v in values if v > 0]
    if positive and max(positive + [1.0]) / min(positive + [1.0]) > 100:
        ax.set_xscale("log")
    for y, v in enumerate(values):
        ax.annotate(f"{v:.3g}×", (v, y), textcoords="offset points", xytext=(4, -3), fontsize=8)
    ax.set_xlabel("cost ratio (unlearning cost / retraining cost)")
    ax.set_xlim(right=max(values + [1.0]) * 1.12)  # room for the value labels and the 1.0 line
    ax.grid(alpha=0.3, axis="x")
    how = "Bars left of the dashed line are cheaper than retraining without the forget set; the point of unlearning."
    return Plot(title, how, _png(fig))


LLM_PLOTS = (tradeoff, curves, truth_ratios, mia_roc, cost)
VISION_PLOTS = (cost,)


def figure(item: Plot | Omitted, slug: str) -> str:
    """The page's markup of one plot (an embedded PNG with its "how to read this" line), or of its omission."""
    def e(x: object) -> str:
        return html.escape(str(x), quote=True)

    if isinstance(item, Omitted):
        return f'<p class="omitted" id="{e(slug)}"><b>{e(item.title)}</b>: omitted, {e(item.reason)}</p>'
    return (f'<figure class="card plot" id="{e(slug)}"><h3>{e(item.title)}</h3>'
            f'<img alt="{e(item.title)}" src="data:image/png;base64,{item.png_base64}">'
            f"<figcaption><b>How to read this:</b> {e(item.how_to_read)}</figcaption></figure>")

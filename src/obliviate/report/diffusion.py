"""The report's diffusion section: the metric table (target, methods, oracle), the attack table and the sample grids
(the concept's prompt and two other prompts; target, methods and oracle side by side).

Reads only what `Run` carries from results.json (`metrics`, `cost`, `samples`); draws with matplotlib's object API.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from .html import e as _e
from .load import Run, num
from .plots import Plot, _png, figure

DASH = "—"
METRIC_COLUMNS = (
    ("concept_rate", "concept rate ↓", "share of the concept prompts' samples the judge classifies as the concept; "
                                       "the oracle's value is the floor"),
    ("other_recognition", "other classes ↑", "share of the other prompts' samples recognised as their class"),
    ("frechet_concept", "Fréchet (concept)", "Fréchet distance to real concept images in the judge's feature space "
                                             "(not Inception FID)"),
    ("frechet_other", "Fréchet (others)", "mean over the other classes of the same distance; lower = closer to real"),
    ("replication", "replication ↓", "share of the planted captions' samples that copy their planted training image "
                                     "(nearest planted image closer than the 5% quantile of real nearest-neighbour "
                                     "distances); the oracle never saw the planted images"),
)
ATTACK_COLUMNS = (
    ("attack_success", "attack success ↓", "share of samples from attacked prompt embeddings judged as the concept"),
    ("attack_asr", "attack ASR ↓", "share of attacked prompts with at least one sample judged as the concept"),
)


def _fmt(x: float | None) -> str:
    return DASH if x is None else f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def _cell(run: Run, key: str) -> str:
    entry = run.metrics.get(key) or {}
    v, lo, hi = num(entry.get("value")), num(entry.get("ci_low")), num(entry.get("ci_high"))
    if v is None:
        return f'<td class="missing">{DASH}</td>'
    ci = f'<span class="ci">[{_fmt(lo)}, {_fmt(hi)}]</span>' if lo is not None and hi is not None else ""
    return f'<td class="num">{_fmt(v)}{ci}</td>'


def _table(rows: list[Run], columns, table_id: str, with_cost: bool) -> str:
    head = '<th class="name">run</th>' + "".join(f'<th title="{_e(h)}">{_e(lab)}</th>' for _, lab, h in columns)
    head += '<th title="wall time of the edit (target, oracle: of training)">seconds</th>' if with_cost else ""
    body = []
    for r in rows:
        tds = "".join(_cell(r, k) for k, _, _ in columns)
        if with_cost:
            tds += f'<td class="num">{_fmt(num(r.cost.get("wall_time_s")))}</td>'
        body.append(f'<tr class="{r.role}"><td class="name" title="{_e(r.source)}">{_e(r.name)}</td>{tds}</tr>')
    return (f'<div class="scroll"><table class="summary" id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _tile(images: list, cols: int = 4) -> np.ndarray:
    """Grey images (lists of rows, 0..255) → one mosaic of `cols` columns with a 1-pixel gap."""
    arr = [np.asarray(im, dtype=float) for im in images]
    h, w = arr[0].shape
    rows = math.ceil(len(arr) / cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), 255.0)
    for i, im in enumerate(arr):
        r, c = divmod(i, cols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = im
    return out


def sample_grid(rows: list[Run]) -> Plot | None:
    runs = [r for r in rows if r.samples]
    if not runs:
        return None
    prompts = list(runs[0].samples)
    fig = Figure(figsize=(1.6 * len(runs) + 1.5, 1.7 * len(prompts) + 0.4), layout="constrained")
    axes = fig.subplots(len(prompts), len(runs), squeeze=False)
    for i, p in enumerate(prompts):
        for j, r in enumerate(runs):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            ims = r.samples.get(p)
            if ims:
                ax.imshow(_tile(ims), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if i == 0:
                ax.set_title(r.name, fontsize=10)
            if j == 0:
                ax.set_ylabel(p, fontsize=8)
    return Plot("Samples", "each row is one prompt (the first is the erased concept's), each column one model: "
                "after erasure the concept's row should look like the oracle's, the other rows like the target's.",
                _png(fig))


def diffusion_section(rows: list[Run]) -> str:
    grid = sample_grid(rows)
    return ('<section id="diffusion"><h2>Text-to-image: concept erasure vs oracle</h2>'
            f'<div class="card"><h3>Erasure and utility</h3>{_table(rows, METRIC_COLUMNS, "summary-diffusion", True)}'
            '<p class="rule">Cells: value with its 95% bootstrap CI below. The judge is a small classifier trained on '
            "the real images; Fréchet distances use its features, not Inception's.</p></div>"
            f'<div class="card"><h3>Embedding attack (UnlearnDiffAtk-style)</h3>'
            f'{_table(rows, ATTACK_COLUMNS, "attack-diffusion", False)}'
            "<p class=\"rule\">The oracle never learned the concept: its attack success is the floor.</p></div>"
            + (figure(grid, "plot-diffusion-samples") if grid else "") + "</section>")

"""The report page: one self-contained HTML file (inline CSS, images as data URIs, no script, no network).

Every string that comes from a results file is passed through `html.escape` here and nowhere else.
"""
from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Callable

from obliviate.rules import BAND_FORGET_QUALITY, BAND_UTILITY_KEEP

from . import plots
from .audit import audit_section  # "Is it really forgotten?": shown only when some run carries `audits`
from .load import Run, num
from .table import (
    LLM_COLUMNS,
    MUSE_CELLS,
    RULES,
    VISION_COLUMNS,
    Cell,
    Table,
    build_table,
    has_muse,
    in_band,
    reference_rows,
)

DASH = "—"
CSS = """
:root { --fg:#1d2327; --muted:#667085; --line:#e4e7ec; --best:#e7f6ec; --bestfg:#1b5e20; --bg:#f7f8fa; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; }
main { max-width:1180px; margin:0 auto; padding:24px 28px 48px; }
header h1 { font-size:26px; margin:0 0 4px; }
.sub, .rule, .note, footer { color:var(--muted); }
.warning { border-left:4px solid #c0392b; background:#fdf0ee; }
h2 { font-size:20px; margin:32px 0 10px; padding-bottom:6px; border-bottom:2px solid var(--line); }
h3 { font-size:16px; margin:0 0 8px; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:16px 18px; margin:14px 0; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:7px 9px; border-bottom:1px solid var(--line); text-align:right; vertical-align:top; }
th { font-size:11.5px; text-transform:uppercase; letter-spacing:.03em; color:var(--muted); vertical-align:bottom;
  border-bottom:2px solid var(--line); cursor:help; }
th.name, td.name { text-align:left; }
td.name { font-weight:600; white-space:nowrap; }
tr.target td { background:#fdf1f0; } tr.oracle td { background:#f1f3f5; }
.badge { display:block; font-size:11px; font-weight:500; color:var(--muted); }
.badge.in-band { color:#1a7f37; font-weight:600; }
.ci { display:block; font-size:11.5px; color:var(--muted); white-space:nowrap; }
td.best { background:var(--best) !important; color:var(--bestfg); font-weight:700; }
td.best::before { content:"\\2605 "; font-size:11px; }
td.missing { color:#b0b7c3; }
td.muse { white-space:nowrap; }
.muse span { display:inline-block; width:20px; text-align:center; border-radius:4px; margin:0 1px;
  font-size:12px; font-weight:700; cursor:help; }
.pass { background:#e7f6ec; color:#1b5e20; } .fail { background:#fdecea; color:#b71c1c; }
td.cell-pass { color:#1b5e20; } td.cell-fail { color:#b71c1c; }
td.audit { text-align:center; font-weight:600; } td.audit .detail { font-weight:400; }
.detail { display:block; font-size:11.5px; color:var(--muted); }
figure { margin:0; } figure img { display:block; max-width:100%; height:auto; margin:6px auto; }
figcaption { color:var(--fg); font-size:13.5px; margin-top:6px; }
figcaption b { color:var(--muted); font-weight:600; }
.omitted { color:var(--muted); font-style:italic; margin:6px 0; }
footer { font-size:12px; margin-top:28px; } footer code { word-break:break-all; }
"""


def e(x: object) -> str:
    return html.escape(str(x), quote=True)


def fmt(x: float | None) -> str:
    """Short, readable numbers: p-values keep their magnitude, percentages lose needless digits."""
    if x is None:
        return DASH
    a = abs(x)
    if a == 0:
        return "0"
    if a < 1e-3:
        return f"{x:.1e}"
    if a < 0.1:
        return f"{x:.2g}"
    return f"{x:.2f}" if a < 10 else f"{x:.1f}" if a < 100 else f"{x:.0f}"


def _cell(c: Cell, vision: bool) -> str:
    if c.value is None:
        return f'<td class="missing">{DASH}</td>'
    extra = ""
    if vision and c.std is not None:
        extra = f'<span class="ci">± {fmt(c.std)}</span>'
    elif c.low is not None and c.high is not None:
        extra = f'<span class="ci">[{fmt(c.low)}, {fmt(c.high)}]</span>'
    cls = "num best" if c.best else "num"
    return f'<td class="{cls}">{fmt(c.value)}{extra}</td>'


def _name_cell(run: Run, band: bool | None = None) -> str:
    badge = {"target": "before unlearning", "oracle": "retrained without forget set"}.get(run.role)
    if run.role == "method" and band is not None:
        badge = "in the oracle's band" if band else "outside the oracle's band"
    tail = f'<span class="badge{" in-band" if band and run.role == "method" else ""}">{e(badge)}</span>' if badge else ""
    if run.guard:  # an inference-time guard: the weights still hold the data (weight-level audits: residual)
        tail += f'<span class="badge guard">{e(run.guard.get("kind", "guard"))} guard: weights unchanged</span>'
    return f'<td class="name" title="{e(run.source)}">{e(run.name)}{tail}</td>'


def _numbers(c: dict, sep: str = " vs threshold ") -> str:
    """'metric value vs threshold', once per part for a cell judged on several metrics (C4)."""
    parts = c.get("parts") if isinstance(c.get("parts"), dict) else {c.get("metric", "?"): c}
    parts = {name: p if isinstance(p, dict) else {} for name, p in parts.items()}
    return "; ".join(f"{name} {fmt(num(p.get('value')))}{sep}{fmt(num(p.get('threshold')))}"
                     for name, p in parts.items())


def _muse_note(c: dict) -> str:
    """One line per MUSE cell: metric(s), value against threshold, direction (for privleak: which way it fails)."""
    v = num(c.get("value"))
    parts = [_numbers(c)]
    direction = c.get("direction")
    if not direction and c.get("metric") == "privleak" and v is not None and not c.get("pass"):
        direction = "leakage (under-unlearning)" if v < 0 else "over-unlearning"
    rule = c.get("rule")
    parts += [str(direction)] * bool(direction) + [f"rule: {rule}"] * bool(rule)
    return " · ".join(parts)


def _muse_short(c: dict) -> str:
    """The cell's numbers in a few words; privleak also says which way it fails (the rest is in the tooltip)."""
    text = _numbers(c, " vs ")
    if c.get("metric") == "privleak" and c.get("pass") is not True and c.get("direction"):
        text += f" · {c['direction']}"
    return text


def _muse_marks(run: Run) -> str:
    if not run.muse:
        return f'<td class="muse missing">{DASH}</td>'
    spans = []
    for key in MUSE_CELLS:
        c = run.muse.get(key)
        if c is None:
            continue
        ok = c.get("pass") is True
        spans.append(f'<span class="{"pass" if ok else "fail"}" title="{e(key)} {"pass" if ok else "fail"}: '
                     f'{e(_muse_note(dict(c)))}">{"✓" if ok else "✗"}</span>')
    return f'<td class="muse">{"".join(spans)}</td>'


def summary_table(table: Table, table_id: str, muse: bool, vision: bool = False) -> str:
    head = "".join(f'<th title="{e(c.hint)}">{e(c.label)}</th>' for c in table.columns)
    muse_head = '<th title="MUSE criteria C1–C4; hover a mark for its numbers">MUSE C1–C4</th>'
    head = f'<th class="name">run</th>{head}' + (muse_head if muse else "")
    body = []
    target = reference_rows(table.rows)[0]
    for run, cells in zip(table.rows, table.cells, strict=True):
        tds = "".join(_cell(c, vision) for c in cells) + (_muse_marks(run) if muse else "")
        band = None if vision else in_band(run, target)
        body.append(f'<tr class="{run.role}">{_name_cell(run, band)}{tds}</tr>')
    rules: dict[str, list[str]] = {}
    for col in table.columns:
        rules.setdefault(col.rule, []).append(col.label)
    rule_text = "; ".join(f"{', '.join(labels)}: {RULES[r]}" for r, labels in rules.items())
    spread = "mean ± std over seeds" if vision else "value with its 95% bootstrap CI below"
    return (f'<div class="scroll"><table class="summary" id="{e(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>'
            f'<p class="rule">Cells: {spread}; {DASH} = not in that results file. ★ best among the methods '
            f"(target and oracle are references, not candidates). {e(rule_text)}."
            + ("" if vision else f" A method is in the oracle's band when its forget quality is at least {BAND_FORGET_QUALITY} "
               f"and its model utility at least {BAND_UTILITY_KEEP:.0%} of the target's.") + "</p>")


def muse_table(rows: list[Run]) -> str:
    head = '<th class="name">run</th>' + "".join(f"<th>{k}</th>" for k in MUSE_CELLS)
    body = []
    for run in (r for r in rows if r.muse):
        tds = []
        for key in MUSE_CELLS:
            c = run.muse.get(key)
            if c is None:
                tds.append(f'<td class="missing">{DASH}</td>')
                continue
            ok = c.get("pass") is True
            tds.append(f'<td class="cell-{"pass" if ok else "fail"}" title="{e(_muse_note(dict(c)))}">'
                       f'{"✓ pass" if ok else "✗ fail"}<span class="detail">{e(_muse_short(dict(c)))}</span></td>')
        body.append(f'<tr class="{run.role}">{_name_cell(run)}{"".join(tds)}</tr>')
    return (f'<div class="scroll"><table class="muse-detail" id="muse-llm"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>'
            '<p class="rule">C1 verbatim and C2 knowledge memorization at or below the oracle\'s, C3 privleak '
            "within [−5, 5], C4 knowmem_r and model utility each at least 95% of the target's. Hover a cell for its rule.</p>")


def plot_section(rows: list[Run], builders: tuple[Callable, ...], track: str) -> str:
    return "".join(plots.figure(b(rows), f"plot-{track}-{b.__name__}") for b in builders)


def llm_section(rows: list[Run]) -> str:
    table = build_table(rows, LLM_COLUMNS)
    muse = has_muse(rows)
    parts = ['<section id="llm"><h2>Language models: forget set vs oracle</h2>',
             f'<div class="card">{summary_table(table, "summary-llm", muse)}</div>']
    if muse:
        parts.append(f'<div class="card"><h3>MUSE criteria</h3>{muse_table(rows)}</div>')
    parts.append(plot_section(rows, plots.LLM_PLOTS, "llm") + "</section>")

    parts.append(audit_section(rows))
    return "".join(parts)


def vision_section(rows: list[Run]) -> str:
    table = build_table(rows, VISION_COLUMNS)
    return ('<section id="vision"><h2>Classifiers: forget set vs oracle</h2>'
            f'<div class="card">{summary_table(table, "summary-vision", muse=False, vision=True)}</div>'
            f'{plot_section(rows, plots.VISION_PLOTS, "vision")}</section>')


def warnings_banner(runs: list[Run]) -> str:
    """A banner under the title listing each run whose target or oracle did not memorise its training data."""
    lines = [f"<li><b>{e(r.name)}</b>: {e(w)}</li>" for r in runs for w in r.warnings]
    if not lines:
        return ""
    return ('<div class="card warning" role="alert"><p><b>Comparisons are not meaningful for these runs:</b> '
            "a model that never memorised its training data has little to forget.</p>"
            f"<ul>{''.join(lines)}</ul></div>")


def page(title: str, llm: list[Run], vision: list[Run], sources: list[str], diffusion: list[Run] = ()) -> str:
    from obliviate import __version__

    from .diffusion import diffusion_section

    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_runs = len(sources)
    body = (llm_section(llm) if llm else "") + (vision_section(vision) if vision else "") \
        + (diffusion_section(list(diffusion)) if diffusion else "")
    listed = "".join(f"<li><code>{e(s)}</code></li>" for s in sources)
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{e(title)}</title><style>{CSS}</style></head>'
            f"<body><main><header><h1>{e(title)}</h1>"
            f'<p class="sub">{n_runs} results file{"s" if n_runs != 1 else ""} · generated {when} · '
            f"obliviate {e(__version__)}. Every forget metric is read against the oracle, a model trained "
            f"without the forget set.</p>{warnings_banner(llm + vision + list(diffusion))}</header>"
            f"{body}<footer><p>Built from:</p><ul>{listed}</ul></footer></main></body></html>\n")

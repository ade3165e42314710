"""The report's "Is it really forgotten?" section: a verdict table (runs × attacks) and one plot per attack, drawn
from the `audits` block of each results.json (an audit.json merged by `obliviate.audit.merge_audit`).

Everything is read defensively: a run without `audits`, an attack a run did not face, or a check without numbers
shows "—" or is left out of a plot, never an error. Nothing here imports the audit code (the report reads files).
"""
from __future__ import annotations

import html
from collections.abc import Mapping

from matplotlib.figure import Figure

from .load import Run, num
from .plots import ORACLE, Omitted, Plot, _png, colour, figure, label

DASH = "—"
VERDICT_CLASS = {"residual": "fail", "leak": "fail", "clean": "pass"}
HOW_TO_READ = ("Each group is one check of the attack; bars are the attacked model of each run (higher = knows more "
               "of the forget set), whiskers their 95% CI; black ticks the oracle attacked the same way (or the "
               "holdout persons without an oracle); hollow circles the model before the attack. A bar clearly "
               "above its tick is residual knowledge.")


def e(x: object) -> str:
    return html.escape(str(x), quote=True)


def attacks_of(rows: list[Run]) -> list[str]:
    """Attack names in the order the audits list them, over all runs."""
    names: dict[str, None] = {}
    for r in rows:
        for name in _attacks(r):
            names.setdefault(name, None)
    return list(names)


def _attacks(run: Run) -> Mapping:
    a = run.audits.get("attacks") if isinstance(run.audits, Mapping) else None
    return a if isinstance(a, Mapping) else {}


def _cell(attack: Mapping | None) -> str:
    if not isinstance(attack, Mapping) or not isinstance(attack.get("verdict"), str):
        return f'<td class="missing">{DASH}</td>'
    verdict = attack["verdict"]
    against = attack.get("against")
    tail = f' <span class="detail">vs {e(against)}</span>' if against and verdict != "n/a" else ""
    secs = num(attack.get("seconds"))
    tail += f'<span class="detail">{secs:.1f} s</span>' if secs is not None else ""
    cls = VERDICT_CLASS.get(verdict, "")
    return (f'<td class="audit cell-{cls}" title="{e(attack.get("reason", ""))}">{e(verdict)}{tail}</td>')


def verdict_table(rows: list[Run], names: list[str]) -> str:
    head = '<th class="name">run</th>' + "".join(f"<th>{e(n)}</th>" for n in names)
    body = []
    for r in rows:
        if not _attacks(r):
            continue
        cells = "".join(_cell(_attacks(r).get(n)) for n in names)
        body.append(f'<tr class="{e(r.role)}"><td class="name" title="{e(r.source)}">{e(r.name)}</td>{cells}</tr>')
    return (f'<div class="scroll"><table class="audit-verdicts" id="audit-verdicts"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>'
            '<p class="rule">residual: the attacked model knows measurably more of the forget set than the oracle '
            "attacked the same way (the bootstrap CI of the difference lies above 0); clean: it does not; n/a: the "
            "data does not allow the attack (hover for the reason); leak: the data holds near-duplicates of forget "
            f"items. {DASH} = no audit of that attack in the results file.</p>")


def _checks(run: Run, attack: str) -> Mapping:
    a = _attacks(run).get(attack)
    c = a.get("checks") if isinstance(a, Mapping) else None
    return c if isinstance(c, Mapping) else {}


def _side(check: Mapping, key: str) -> tuple[float | None, float | None, float | None]:
    entry = check.get(key)
    if not isinstance(entry, Mapping):
        return None, None, None
    return num(entry.get("value")), num(entry.get("ci_low")), num(entry.get("ci_high"))


def attack_plot(rows: list[Run], attack: str) -> Plot | Omitted:
    """Grouped bars: one group per check, one bar per audited run; oracle ticks and before-attack circles."""
    title = f"Audit: {attack}"
    runs = [r for r in rows if _checks(r, attack)]
    checks = list(dict.fromkeys(c for r in runs for c, v in _checks(r, attack).items()
                                if isinstance(v, Mapping) and _side(v, "model")[0] is not None))
    if not checks:
        return Omitted(title, "no run has numbers for this attack (n/a, or not audited).")
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(runs))
    for i, r in enumerate(runs):
        for j, name in enumerate(checks):
            c = _checks(r, attack).get(name)
            if not isinstance(c, Mapping):
                continue
            x = j - 0.4 + width * (i + 0.5)
            v, lo, hi = _side(c, "model")
            if v is None:
                continue
            err = [[v - lo], [hi - v]] if lo is not None and hi is not None and lo <= v <= hi else None
            ax.bar(x, v, width * 0.9, color=colour(r, rows), yerr=err, capsize=2,
                   label=label(r.name) if j == 0 else None)
            ref = _side(c, str(c.get("against") or "oracle"))[0]
            if ref is not None:
                ax.plot([x - width * 0.45, x + width * 0.45], [ref, ref], color=ORACLE, lw=2.2,
                        label="oracle / holdout" if i == 0 and j == 0 else None)
            before = c.get("before") if isinstance(c.get("before"), Mapping) else {}
            b = num(before.get("model"))
            if b is not None:
                ax.plot([x], [b], "o", mfc="none", mec="#444444", ms=6,
                        label="before the attack" if i == 0 and j == 0 else None)
    ax.set_xticks(range(len(checks)))
    ax.set_xticklabels([label(c) for c in checks], fontsize=9)
    ax.set_ylabel("knows more ↑", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return Plot(title, HOW_TO_READ, _png(fig))


def blind_note(rows: list[Run]) -> str:
    """One line per run whose audit ran the blind MIA: its AUC and whether MIA numbers are reliable."""
    lines = []
    for r in rows:
        a = _attacks(r).get("blind_mia")
        b = a.get("details", {}).get("blind") if isinstance(a, Mapping) else None
        if not isinstance(b, Mapping) or num(b.get("value")) is None:
            continue
        lo, hi = num(b.get("ci_low")), num(b.get("ci_high"))
        ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
        flag = ("MIA and privleak are unreliable here: members and non-members differ in distribution"
                if b.get("mia_unreliable") else "no distribution shift detected: MIA numbers are meaningful")
        lines.append(f"<li><b>{e(r.name)}</b>: blind (model-free) MIA AUC {num(b['value']):.2f}{e(ci)}; {e(flag)}</li>")
    return f'<ul class="note">{"".join(lines)}</ul>' if lines else ""


def audit_section(rows: list[Run]) -> str:
    """The whole section, or "" when no run carries an audit."""

    audited = [r for r in rows if _attacks(r)]
    if not audited:
        return ""
    names = attacks_of(audited)
    plots = "".join(figure(attack_plot(audited, n), f"plot-audit-{n}") for n in names if n != "leaks")
    return ('<section id="audit"><h2>Is it really forgotten?</h2>'
            '<p class="sub">Each attack runs on the model and on the oracle with identical inputs and seeds; the '
            "oracle's response is the right one.</p>"
            f'<div class="card">{verdict_table(audited, names)}{blind_note(audited)}</div>{plots}</section>')

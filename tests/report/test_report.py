"""The report page built from fake results: tables, best marks, missing metrics, escaping, plots, and the CLI."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_fakes as fakes

from obliviate import cli
from obliviate.errors import DataError
from obliviate.report import build_html, load_results, write_report
from obliviate.report.html import fmt
from obliviate.results import build_results, metric, scalar

LLM_HEAD = ["run", "forget quality", "model utility", "verbmem", "knowmem_f", "knowmem_r", "neighbours",
            "privleak", "cost ratio"]


class Page(HTMLParser):
    """Tables (by id) as rows of (text, class) cells, plus every <img> and every omitted-plot note."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.images: list[dict] = []
        self.omitted: list[str] = []
        self._table = self._cell = self._note = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"table{len(self.tables)}", {"head": [], "rows": []})
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = {"text": "", "class": a.get("class", ""), "title": a.get("title", ""), "tag": tag}
        elif tag == "img":
            self.images.append(a)
        elif tag == "p" and "omitted" in (a.get("class") or ""):
            self._note = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table["rows"][-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            t = self._table
            t["head"] = [c["text"].strip() for c in t["rows"].pop(0)]
            self._table = None
        elif tag == "p" and self._note is not None:
            self.omitted.append(self._note)
            self._note = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._note is not None:
            self._note += data


def column(table: dict, name: str) -> list[dict]:
    j = table["head"].index(name)
    return [row[j] for row in table["rows"]]


@pytest.fixture(scope="module")
def suite() -> list[dict]:
    return fakes.llm_suite(seed=0)


@pytest.fixture(scope="module")
def page(suite) -> Page:
    return Page(build_html(suite + fakes.vision_suite()))


def test_summary_table_has_target_methods_oracle_rows_and_every_column(suite, page):
    llm = page.tables["summary-llm"]
    assert llm["head"] == LLM_HEAD + ["MUSE C1–C4"]
    names = [row[0]["text"] for row in llm["rows"]]
    target_mu = suite[0]["metrics"]["model_utility"]["value"]

    def band(name):  # forget_quality >= 0.05 and model_utility >= 0.9 x the target's
        m = next(r for r in suite if r["name"] == name)["metrics"]
        ok = m["forget_quality"]["value"] >= 0.05 and m["model_utility"]["value"] >= 0.9 * target_mu
        return name + ("in the oracle's band" if ok else "outside the oracle's band")

    methods = ["grad_ascent", "npo", "simnpo", "rmu"]
    assert names == ["targetbefore unlearning", *map(band, methods), "oracleretrained without forget set"]
    assert any("in the oracle's band" in n for n in names) and any("outside" in n for n in names)
    vision = page.tables["summary-vision"]
    assert vision["head"] == ["run", "UA", "RA", "TA", "MIA efficacy", "avg gap", "cost ratio"]
    assert [row[0]["text"] for row in vision["rows"]][-1] == "oracleretrained without forget set"


def test_cells_show_value_and_ci_and_vision_shows_std(suite, page):
    """verbmem of the target: value then "[low, high]" from the same metric entry, formatted to 3 digits."""
    verbmem = suite[0]["metrics"]["verbmem"]
    want = f"{fmt(verbmem['value'])}[{fmt(verbmem['ci_low'])}, {fmt(verbmem['ci_high'])}]"
    assert column(page.tables["summary-llm"], "verbmem")[0]["text"] == want
    assert all("±" in c["text"] for c in column(page.tables["summary-vision"], "UA"))


def test_muse_marks_follow_the_cells(suite, page):
    marks = column(page.tables["summary-llm"], "MUSE C1–C4")
    expected = "".join("✓" if suite[0]["muse"][k]["pass"] else "✗" for k in ("C1", "C2", "C3", "C4"))
    assert marks[0]["text"] == expected
    assert marks[-1]["text"] == "—"  # the oracle has no MUSE cells of its own
    detail = page.tables["muse-llm"]
    assert detail["head"][1:] == ["C1", "C2", "C3", "C4"] and len(detail["rows"]) == 5  # target + 4 methods
    leak = suite[0]["muse"]["C3"]
    assert leak["value"] < -5 and column(detail, "C3")[0]["text"] == (
        f"✗ failprivleak {fmt(leak['value'])} vs 5.00 · leakage (under-unlearning)")
    assert column(detail, "C3")[0]["title"].endswith("· leakage (under-unlearning) · rule: -5 <= privleak <= 5")


def _run(name: str, **values: float) -> dict:
    metrics = {k: scalar(v) for k, v in values.items() if k != "cost_ratio"}
    cost = {"cost_ratio": values["cost_ratio"]} if "cost_ratio" in values else {}
    return build_results({}, metrics, env=fakes.ENV, cost=cost, name=name, track="llm")


def test_best_value_per_column_follows_the_stated_rule():
    """Oracle verbmem 20: |25−20| = 5, |10−20| = 10, |18−20| = 2 → c. privleak: |−30|, |4|, |−2| → c.
    forget_quality max → b (0.3). cost_ratio min → a (0.05). The target and oracle are never marked."""
    runs = [_run("target", verbmem=90, privleak=-99, forget_quality=1e-9, cost_ratio=0.0),
            _run("a", verbmem=25, privleak=-30, forget_quality=0.01, cost_ratio=0.05),
            _run("b", verbmem=10, privleak=4, forget_quality=0.3, cost_ratio=0.2),
            _run("c", verbmem=18, privleak=-2, forget_quality=0.3 - 1e-6, cost_ratio=0.1),
            _run("oracle", verbmem=20, privleak=0, forget_quality=1.0)]
    table = Page(build_html(runs)).tables["summary-llm"]
    best = {name: [r[0]["text"] for r, c in zip(table["rows"], column(table, name), strict=True)
                   if "best" in c["class"]]
            for name in ("verbmem", "privleak", "forget quality", "cost ratio", "model utility")}
    assert best == {"verbmem": ["c"], "privleak": ["c"], "forget quality": ["b"], "cost ratio": ["a"],
                    "model utility": []}


def test_missing_metrics_show_a_dash_and_their_plots_are_omitted():
    """TOFU-like runs: no verbmem/knowmem/privleak, no MUSE, no curves → "—" cells, one-line notes."""
    page = Page(build_html(fakes.llm_suite(tofu=True, curve=False)))
    table = page.tables["summary-llm"]
    assert "MUSE C1–C4" not in table["head"]
    for name in ("verbmem", "knowmem_f", "knowmem_r", "privleak"):
        assert {c["text"] for c in column(table, name)} == {"—"}
    assert [n.split(":")[0] for n in page.omitted] == ["Unlearning curves"]
    assert len(page.images) == 4  # tradeoff, truth ratios, MIA ROC, cost
    bare = Page(build_html([build_results({}, {}, env=fakes.ENV, name="bare", track="llm")]))
    assert {c["text"] for c in bare.tables["summary-llm"]["rows"][0][1:]} == {"—"}
    assert not bare.images and len(bare.omitted) == 5


def test_plots_are_embedded_pngs_with_a_how_to_read_line(page):
    assert len(page.images) == 6
    assert all(img["src"].startswith("data:image/png;base64,iVBORw0KGgo") for img in page.images)
    assert [img["alt"] for img in page.images] == [
        "Forgetting against utility", "Unlearning curves", "Truth-ratio distributions on the forget set",
        "Membership inference: ROC curves", "Cost against retraining", "Cost against retraining"]


def test_strings_from_results_are_escaped(suite):
    """A method name with markup and a `$` (mathtext in matplotlib) shows as text and breaks nothing."""
    evil = '<script>alert("x")</script> $\\alpha_'
    runs = [dict(r) for r in suite]
    runs[1] = {**runs[1], "name": evil, "muse": {"C1": {**runs[1]["muse"]["C1"], "rule": "<i>rule</i>"}}}
    text = build_html(runs)
    assert "<script>" not in text and "<i>rule</i>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text and "&lt;i&gt;rule&lt;/i&gt;" in text
    assert [r[0]["text"] for r in Page(text).tables["summary-llm"]["rows"]][1].startswith(evil)
    titled = build_html(runs, title="<script>")
    assert "<script>" not in titled and "<title>&lt;script&gt;</title>" in titled


def test_oracle_row_comes_from_the_oracle_block_when_no_oracle_file(suite):
    table = Page(build_html(suite[:-1])).tables["summary-llm"]
    assert table["rows"][-1][0]["text"].startswith("oracle")
    assert column(table, "verbmem")[-1]["text"].startswith(fmt(suite[-1]["metrics"]["verbmem"]["value"]))


@pytest.mark.parametrize("x, shown", [(None, "—"), (0.0, "0"), (3.2e-7, "3.2e-07"), (0.0123, "0.012"),
                                      (0.4149, "0.41"), (-28.84, "-28.8"), (-99.8, "-99.8"), (250.4, "250")])
def test_fmt(x, shown):
    assert fmt(x) == shown


# ---- loading and the CLI ---------------------------------------------------------------------------------------

def _main(argv: list[str], monkeypatch) -> int:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["obliviate.report.cli"])
    return cli.main(["report", *argv])


def test_cli_writes_the_report(tmp_path, monkeypatch, capsys):
    paths = fakes.write_all(fakes.llm_suite(methods={"npo": (0.9, 0.05)}, curve=False), tmp_path / "runs")
    out = tmp_path / "out" / "report.html"
    assert _main([*map(str, paths), "--out", str(out), "--title", "T & T"], monkeypatch) == 0
    text = out.read_text(encoding="utf-8")
    assert "<title>T &amp; T</title>" in text and str(paths[0]) in text
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temporary file left behind


BAD = {
    "missing.json": (None, "results file not found"),
    "garbage.json": ('{"schema_version": 1,\n "metrics": {', "not valid JSON"),
    "list.json": ("[1, 2]", "a results file must hold a JSON object"),
    "v2.json": ('{"schema_version": 2, "metrics": {}}', "unsupported schema version"),
    "nometrics.json": ('{"schema_version": 1}', "field 'metrics': missing required key"),
    "badentry.json": ('{"schema_version": 1, "metrics": {"verbmem": 3}}', "field 'metrics.verbmem'"),
    "badvalue.json": ('{"schema_version": 1, "metrics": {"verbmem": {"value": "high"}}}', "must be a number"),
    "badtrack.json": ('{"schema_version": 1, "track": "audio", "metrics": {}}', "must be 'llm', 'vision' or 'diffusion'"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_cli_rejects_a_bad_results_file_naming_it_and_writes_nothing(name, tmp_path, monkeypatch, capsys):
    content, message = BAD[name]
    good = fakes.write_all(fakes.llm_suite(methods={}, curve=False)[:1], tmp_path)[0]
    bad = tmp_path / name
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    out = tmp_path / "report.html"
    out.write_text("previous report", encoding="utf-8")
    assert _main([str(good), str(bad), "--out", str(out)], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("obliviate report: error: ") and str(bad) in err and message in err, err
    assert err.count("\n") == 1
    assert out.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_invalid_json_error_gives_the_line(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text('{"schema_version": 1,\n "metrics": {\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"r\.json:3: not valid JSON"):
        load_results([bad])


def test_load_results_names_duplicates_and_infers_name_and_track(tmp_path):
    vision = build_results({"method": "l1_sparse"}, {"UA": metric([1.0, 2.0], ci=False, std=0.5)}, env=fakes.ENV)
    runs = load_results([vision, {**vision, "name": "x"}, {**vision, "name": "x"}])
    assert [(r.name, r.track) for r in runs] == [("l1_sparse", "vision"), ("x", "vision"), ("x #2", "vision")]
    path = tmp_path / "npo" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(build_results({}, {}, env=fakes.ENV)), encoding="utf-8")
    assert load_results([path])[0].name == "npo"
    with pytest.raises(DataError, match="no results given"):
        load_results([])


def test_write_report_returns_the_path(tmp_path):
    out = write_report(fakes.vision_suite(), tmp_path / "v.html")
    assert out == tmp_path / "v.html" and Path(out).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def _mutations(suite: list[dict]) -> list[tuple[str, list[dict]]]:
    """Partial or odd results that are still valid files: each must give a page, never an exception."""
    def each(fn):
        copies = [json.loads(json.dumps(r)) for r in suite]
        for r in copies:
            fn(r)
        return copies

    def strip_items(r):
        for m in r["metrics"].values():
            m["per_item"], m["ratio"], m["holdout_scores"] = [], [None], []

    def nulls(r):
        for m in r["metrics"].values():
            m.update(value=None, ci_low=None, ci_high=None)

    def odd(r):
        r["curve"] = [{"step": "x", "metrics": {"forget_quality": 0.0}}, {"metrics": None}, 3]
        r["muse"] = {"C1": {"pass": "yes", "value": "big"}, "C9": 4}
        r["cost"] = {"cost_ratio": 0.0}
        r["metrics"].setdefault("forget_quality", {"value": 0.0})["value"] = 0.0

    return [("no per-item values", each(strip_items)), ("null values", each(nulls)),
            ("odd optional fields", each(odd)), ("only the target", suite[:1]), ("one method, no references", suite[1:2])]


def test_partial_or_odd_results_never_crash(suite):
    for what, runs in _mutations(suite):
        page = Page(build_html(runs))
        assert page.tables["summary-llm"]["rows"], what
        assert len(page.images) + len(page.omitted) == 5, what


def test_header_flags_runs_whose_target_or_oracle_did_not_memorise():
    """A run with a `warnings` entry (target not memorised) gets a banner under the title; runs without none."""
    flagged = dict(_run("npo", forget_quality=0.3))
    flagged["warnings"] = ["target not memorised (greedy exact answers 0.75 < 0.95): comparisons are not "
                           "meaningful"]
    html = build_html([flagged, _run("oracle", forget_quality=1.0)])
    header = html[html.index("<header>"):html.index("</header>")]
    assert "Comparisons are not meaningful" in header and "target not memorised" in header and "npo" in header
    clean = build_html([_run("npo", forget_quality=0.3)])
    assert "not meaningful" not in clean

"""The diffusion demo and its report: bad input is refused with the classes listed; the report renders the metric
table, the attack table and the sample grid from hand-built results; `--quick` runs end to end in worker processes
and gives the same numbers in one process (slow)."""
from __future__ import annotations

import json
import time

import pytest

from obliviate.cli import main


def _results(name: str, concept_rate: float) -> dict:
    m = lambda v: {"value": v, "ci_low": v - 0.1, "ci_high": v + 0.1, "n": 10, "per_item": []}  # noqa: E731
    metrics = {"concept_rate": m(concept_rate), "other_recognition": m(0.8), "frechet_concept": m(3.0),
               "frechet_other": m(2.0), "attack_success": m(0.5), "attack_asr": m(1.0), "replication": m(0.25)}
    return {"schema_version": 1, "config": {}, "env": {}, "conventions": {}, "cost": {"wall_time_s": 1.5},
            "metrics": metrics, "oracle": {}, "name": name, "track": "diffusion",
            "samples": {"a picture of a 3": [[[0, 255], [255, 0]]] * 3, "a picture of a 4": [[[9, 9], [9, 9]]] * 3}}


def test_report_has_the_diffusion_tables_and_the_sample_grid():
    from obliviate.report import build_html

    page = build_html([_results("target", 0.9), _results("uce", 0.2), _results("oracle", 0.05)])
    assert 'id="summary-diffusion"' in page and 'id="attack-diffusion"' in page
    assert 'id="plot-diffusion-samples"' in page and "data:image/png;base64," in page
    assert page.index(">target<") < page.index(">uce<") < page.index(">oracle<")  # target, methods, oracle
    assert "replication ↓" in page and "0.25" in page


def test_unknown_concept_lists_the_classes(tmp_path, capsys):
    rc = main(["diffusion", "demo", "--quick", "--concept", "eleven", "--out", str(tmp_path / "o"),
               "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and "classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in err and "eleven" in err
    assert not (tmp_path / "o").exists()


def test_16_pixel_images_get_the_preset_without_attention_at_full_resolution():
    from obliviate.diffusion.demo import FULL, QUICK
    from obliviate.diffusion.models import preset

    assert FULL.model_preset(8) == "full" and FULL.model_preset(16) == "full16"
    assert QUICK.model_preset(8) == QUICK.model_preset(16) == "quick"
    assert preset("full16").cross_attn_levels == (False, True) and preset("full").cross_attn_levels == (True, True)


def test_zero_jobs_is_refused(tmp_path, capsys):
    rc = main(["diffusion", "demo", "--quick", "--jobs", "0", "--out", str(tmp_path / "o"),
               "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and "jobs must be >= 1 (got 0)" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_diffusion_methods_command(capsys):
    assert main(["diffusion", "methods"]) == 0
    out = capsys.readouterr().out
    assert "uce" in out and "esd" in out and "[diffusion]" in out


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    start = time.perf_counter()
    assert main(["diffusion", "demo", "--quick", "--concept", "3", "--out", str(tmp_path / "o"),
                 "--cache", str(tmp_path / "c"), "--jobs", "2"]) == 0
    elapsed = time.perf_counter() - start
    names = sorted(p.parent.name for p in (tmp_path / "o").glob("*/results.json"))
    assert names == ["advunlearn", "doco", "esd", "memorized_subspace", "oracle", "rece", "target", "uce"]
    res = json.loads((tmp_path / "o" / "uce" / "results.json").read_text())
    assert res["track"] == "diffusion" and res["config"]["concept"] == "3"
    for key in ("concept_rate", "other_recognition", "frechet_concept", "frechet_other", "attack_success",
                "replication"):
        assert res["metrics"][key]["value"] is not None and res["oracle"]["metrics"][key]["value"] is not None
    assert 0 <= res["config"]["judge"]["test_accuracy"] <= 1 and len(res["samples"]) == 3
    assert 'id="summary-diffusion"' in (tmp_path / "o" / "report.html").read_text()
    print(f"quick demo: {elapsed:.0f}s")  # the budget is 2 minutes on an idle core; a shared one is slower
    # the same run in this process (cached models, two of the methods): every figure and sample is the workers'
    assert main(["diffusion", "demo", "--quick", "--concept", "3", "--out", str(tmp_path / "one"),
                 "--cache", str(tmp_path / "c"), "--jobs", "1", "--methods", "uce,esd"]) == 0
    for name in ("target", "uce", "esd", "oracle"):
        here, there = (json.loads((tmp_path / d / name / "results.json").read_text()) for d in ("one", "o"))
        assert here["metrics"] == there["metrics"] and here["samples"] == there["samples"], name
        assert here["config"]["cache"] == {"target": "cached", "oracle": "cached"}

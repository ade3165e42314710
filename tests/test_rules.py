"""The judging rules live in `obliviate.rules` once: the band test at its boundaries, and every reader of it
(the demo's summary, the report's table, the MUSE C4 cell) giving the same verdict on the same numbers."""
from __future__ import annotations

import pytest

from obliviate import rules


@pytest.mark.parametrize("fq, mu, target, expected", [
    (0.05, 0.45, 0.5, True),  # both exactly on the boundary (0.9 × 0.5 = 0.45): in
    (0.0499, 0.45, 0.5, False),
    (0.05, 0.4499, 0.5, False),
    (1.0, 0.6, 0.5, True),
    (None, 0.5, 0.5, None), (0.5, None, 0.5, None), (0.5, 0.5, None, None),
])
def test_in_band_and_its_readers_agree(fq, mu, target, expected):
    from obliviate.demo.summary import row
    from obliviate.report.load import Run
    from obliviate.report.table import in_band

    assert rules.in_band(fq, mu, target) is expected

    def results(fq, mu):
        return {"metrics": {k: {"value": v} for k, v in (("forget_quality", fq), ("model_utility", mu)) if v is not None}}

    assert row("m", results(fq, mu), target)["band"] is expected
    run = Run(name="m", track="llm", source="m.json", metrics=results(fq, mu)["metrics"])
    target_run = Run(name="target", track="llm", source="t.json",
                     metrics=results(None, target)["metrics"]) if target is not None else None
    assert in_band(run, target_run) is expected


def test_one_name_per_meaning():
    """The oracle band keeps 90% of the target's utility; MUSE's C4 keeps 95%: two names, two values."""
    from obliviate.eval.muse import utility_cell

    assert (rules.BAND_FORGET_QUALITY, rules.BAND_UTILITY_KEEP, rules.MUSE_UTILITY_KEEP) == (0.05, 0.9, 0.95)
    target = {"knowmem_r": {"value": 1.0}, "model_utility": {"value": 1.0}}
    kept = utility_cell({"knowmem_r": {"value": 0.95}, "model_utility": {"value": 0.95}}, target)
    lost = utility_cell({"knowmem_r": {"value": 0.94}, "model_utility": {"value": 0.95}}, target)
    assert kept["pass"] and kept["threshold"] == 0.95 and not lost["pass"]

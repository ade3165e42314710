"""On digits: the oracle behaves like one, and `obliviate vision demo --quick` writes results and a report."""
from __future__ import annotations

import argparse
import json

from torch.utils.data import Subset

from obliviate.vision import cli as vision_cli
from obliviate.vision import evaluate, forget_split, load_digits
from obliviate.vision.loop import fit
from obliviate.vision.models import build_model


def test_oracle_ua_matches_its_test_error():
    """A model never trained on a random forget set errs on it about as often as on the test set."""
    d = load_digits()
    f, r = forget_split(d.y_train, "random", 10, fraction=0.1, seed=0)
    full = d.train()
    forget, retain = Subset(full, f.tolist()), Subset(full, r.tolist())
    oracle, _ = fit(build_model(d.input_shape, 10, seed=0), retain, seed=0)
    m = evaluate(oracle, forget, retain, d.test())
    assert m["TA"] > 90.0
    assert abs(m["UA"] - (100.0 - m["TA"])) <= 5.0


def test_demo_quick_writes_results_and_report(tmp_path):
    parser = argparse.ArgumentParser()
    vision_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["vision", "demo", "--quick", "--out", str(tmp_path / "demo")])
    assert args.func(args) == 0
    for scenario in ("random", "class"):
        for name in ("target", "oracle", "retrain", "ft", "ga", "rl", "l1_sparse", "salun", "scrub", "prune_first"):
            r = json.loads((tmp_path / "demo" / scenario / name / "results.json").read_text())
            assert r["track"] == "vision" and r["name"] == name and r["seeds"] == [0]
            assert set(r["metrics"]) >= {"UA", "RA", "TA", "MIA_efficacy", "avg_gap"}
            assert r["metrics"]["UA"]["per_item"] and "std" in r["metrics"]["UA"]
            assert set(r["oracle"]["metrics"]) >= {"UA", "RA", "TA", "MIA_efficacy"}
            if scenario == "class":
                assert "TA_forgotten_class" in r["metrics"]
            if name not in ("oracle", "target"):
                assert r["cost"]["cost_ratio"] > 0
        try:
            import obliviate.report  # noqa: F401
        except ImportError:
            continue
        assert (tmp_path / "demo" / scenario / "report.html").stat().st_size > 1000

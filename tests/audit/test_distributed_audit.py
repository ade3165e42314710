"""`obliviate audit` under torchrun with two CPU processes (gloo) writes the audit.json of one process: every
attack's checks (per-item values, CIs, differences), details (relearning curves, probe accuracies) and verdicts
equal, bit for bit; only timings, the date and `processes` differ. Scoring, generation and hidden-state batches
are dealt round-robin (the same batches as one process); relearning runs on the first process alone
(`models.spread.alone`, training through `engine.solo.OneProcess`).

The default run checks relearn (the block run alone) and parametric (hidden states shared out): ~40 s on the
loaded 2-core machine (load average ~8). Every attack (slow): ~85 s there; `obliviate run` with an audit under torchrun (slow): ~90 s
there."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from launch import torchrun

VARIES = ("seconds", "env", "processes")


def args_for(root: Path, corpus: Path, out: Path, attacks: str) -> list[str]:
    return ["audit", "--model", str(root / "target"), "--oracle", str(root / "oracle"), "--data", str(corpus),
            "--forget", "forget10", "--attacks", attacks, "--out", str(out), "--quiet"]


def without(x, keys=VARIES):
    """x without the keys that may differ between runs (timings, date, process count), at every depth."""
    if isinstance(x, dict):
        return {k: without(v, keys) for k, v in x.items() if k not in keys}
    if isinstance(x, list):
        return [without(v, keys) for v in x]
    return x


def audit_both(root: Path, corpus: Path, tmp: Path, attacks: str) -> tuple[dict, dict]:
    from obliviate.cli import main

    torchrun(["-m", "obliviate.cli", *args_for(root, corpus, tmp / "two", attacks)], timeout=900)
    assert main(args_for(root, corpus, tmp / "one", attacks)) == 0
    return tuple(json.loads((tmp / n / "audit.json").read_text()) for n in ("two", "one"))


def check_same(two: dict, one: dict, attacks: list[str]) -> None:
    assert two["processes"] == 2 and one["processes"] == 1
    assert list(two["attacks"]) == attacks and two["verdicts"] == one["verdicts"]
    assert all(v != "n/a" for v in one["verdicts"].values()), one["verdicts"]
    for name in attacks:
        assert without(two["attacks"][name]) == without(one["attacks"][name]), name
    assert without(two) == without(one)


@pytest.mark.distributed
def test_relearn_and_parametric_over_two_processes(audit_models, audit_corpus, tmp_path):
    two, one = audit_both(audit_models[3], audit_corpus, tmp_path, "relearn,parametric")
    check_same(two, one, ["relearn", "parametric"])
    # the relearning curve is really there (trained on the first process, sent to the second)
    assert set(two["attacks"]["relearn"]["details"]["curve"]["model"]["held_out"]) == {"0", "1", "2", "4", "8"}


@pytest.mark.slow
@pytest.mark.distributed
def test_every_attack_over_two_processes(audit_models, audit_corpus, tmp_path):
    from obliviate.audit.runner import ATTACKS

    two, one = audit_both(audit_models[3], audit_corpus, tmp_path, "all")
    check_same(two, one, list(ATTACKS))


@pytest.mark.slow
@pytest.mark.distributed
def test_run_spec_with_audit_over_two_processes(audit_models, audit_corpus, tmp_path):
    """`obliviate run` under torchrun: DDP unlearning (the ranks agree on stacked forwards: they once hung, one in a
    forward, one in backward), evaluation and audit shared out; the first process writes each file once."""
    import yaml

    root = audit_models[3]
    spec = {"name": "npo", "model": str(root / "target"), "data": str(audit_corpus), "forget": "forget10",
            "method": {"name": "npo"}, "train": {"max_steps": 2, "batch_size": 4},
            "eval": {"suite": "tofu", "oracle": str(root / "oracle")},
            "audit": {"attacks": ["relearn", "probes"]}, "out": str(tmp_path / "run"), "report": False}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    proc = torchrun(["-m", "obliviate.cli", "run", tmp_path / "spec.yaml"], timeout=900)
    assert proc.stdout.count("results.json") == 1  # one summary, from the first process
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    found = json.loads((tmp_path / "run" / "audit.json").read_text())
    assert results["config"]["processes"] == 2 and results["timing"]["processes"] == 2
    assert found["processes"] == 2 and set(found["verdicts"]) == {"relearn", "probes"}

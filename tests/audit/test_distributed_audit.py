"""`obliviate audit` under torchrun with two CPU processes (gloo) writes the audit.json of one process: every
attack's checks (per-item values, CIs, differences), details (relearning curves, probe accuracies) and verdicts
equal, bit for bit; only timings, the date and `processes` differ. Scoring, generation and hidden-state batches
are dealt round-robin (the same batches as one process); relearning runs on the first process alone
(`models.spread.alone`, training through `engine.solo.OneProcess`).

The default run checks relearn (the block run alone) and parametric (hidden states shared out): ~25 s on the
loaded 2-core machine. Every attack (slow): ~60 s for the two processes there."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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

    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "obliviate.cli",
                           *args_for(root, corpus, tmp / "two", attacks)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
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

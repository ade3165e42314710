"""`obliviate eval` under torchrun with two CPU processes (gloo) writes the results.json of one process: every
per-item value, metric, CI and oracle value equal (bit for bit: the same batches, dealt round-robin), only the
run's timing, date and process count differ. Uses the session's trained tiny target and oracle (20 persons)."""
import json
from pathlib import Path

import pytest

from launch import torchrun

SAME = ("config", "conventions", "metrics", "oracle", "muse", "name", "track", "schema_version", "cost", "training")


def args_for(root: Path, corpus: Path, out: Path) -> list[str]:
    return ["eval", "--model", str(root / "target"), "--oracle", str(root / "oracle"), "--data", str(corpus),
            "--forget", "forget10", "--out", str(out), "--batch-size", "8"]


@pytest.mark.distributed
def test_two_processes_write_the_results_of_one(trained, corpus, tmp_path):
    from obliviate.cli import main

    root = trained[3]
    torchrun(["-m", "obliviate.cli", *args_for(root, corpus, tmp_path / "two.json")])
    assert main(args_for(root, corpus, tmp_path / "one.json")) == 0
    two, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("two", "one"))
    assert two["timing"]["processes"] == 2 and one["timing"]["processes"] == 1
    assert two["timing"]["sequences"] > 64  # more than one scoring batch (64 at most), so both ranks scored
    assert len(two["metrics"]["forget/rouge_l_recall"]["per_item"]) > 8  # and generated (batches of 8)
    for key in SAME:
        assert two.get(key) == one.get(key), key

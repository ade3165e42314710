"""Two gloo processes (torchrun) at global batch 4 give the same losses as one process with grad accumulation 2,
and the two ranks draw different retain examples."""
import json
from pathlib import Path

import pytest

from launch import torchrun

WORKER = Path(__file__).with_name("dist_worker.py")


def run(nproc: int, accum: int, out: Path) -> None:
    torchrun([WORKER, out, accum], nproc=nproc, timeout=300)


@pytest.mark.distributed
def test_two_processes_match_one_with_accumulation(tmp_path):
    run(2, 1, tmp_path / "two")
    run(1, 2, tmp_path / "one")
    r0, r1 = (json.loads((tmp_path / f"two.{r}").read_text()) for r in (0, 1))
    single = json.loads((tmp_path / "one.0").read_text())
    assert r0["processes"] == 2 and single["processes"] == 1
    assert r0["losses"] == r1["losses"]  # reduced across ranks
    for a, b in zip(r0["losses"], single["losses"], strict=True):
        assert abs(a - b) < 1e-4
    for d0, d1 in zip(r0["drawn"], r1["drawn"], strict=True):
        assert d0 and d1 and not set(d0) & set(d1)
    # the union of the ranks' draws is the single process's draw
    assert [a + b for a, b in zip(r0["drawn"], r1["drawn"], strict=True)] == single["drawn"]

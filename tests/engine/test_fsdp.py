"""FSDP2 over two CPU processes (torchrun + gloo, `engine.fsdp=true`) gives the losses and weights of one process
at equal global batch (4 = 2 processes × 1 = 1 process × grad_accum 2), for npo with a gradient mask, for
grad_diff with LoRA, and for npo without its cache (a frozen reference copy, sharded as well); masked weights
stay bit-identical; both ranks return the same plain model. The reference cache, shared out between the ranks,
is the one a single process builds.

Tolerance 1e-5 (absolute, on losses, gradient norms and weights): the two runs differ only in the order of
floating-point sums (gradients reduce-scattered over processes vs accumulated in one), ~1e-7 relative per step.
One torchrun launch runs every case (worker: fsdp_worker.py); the single-process runs happen in this process.
"""
import json
import sys
from pathlib import Path

import pytest
import torch

from launch import torchrun

sys.path.insert(0, str(Path(__file__).parent))
import fsdp_worker  # noqa: E402

WORKER = Path(__file__).with_name("fsdp_worker.py")
TOL = 1e-5


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp") / "run"
    torchrun([WORKER, out])
    return out


def weights(out: Path, case: str, rank: int) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(f"{out}.{case}.{rank}.safetensors")


@pytest.mark.distributed
@pytest.mark.parametrize("case", ["npo_mask", "grad_diff_lora", "npo_frozen_copy"])
def test_fsdp_two_processes_match_one(two_processes, case):
    found = [json.loads(Path(f"{two_processes}.{r}.json").read_text())[case] for r in (0, 1)]
    assert found[0] == found[1] and found[0]["processes"] == 2  # logged values are reduced across ranks
    assert found[0]["sharded"] == (2 if case == "npo_frozen_copy" else 1)  # the model, and the frozen copy
    model, log = fsdp_worker.run_case(case, accum=2, fsdp=False)
    assert log["config"]["processes"] == 1
    single = {"losses": [e["loss"] for e in log["log"]], "grad_norms": [e["grad_norm"] for e in log["log"]],
              "curve": log["curve"][-1]["metrics"]}  # the default evaluation hook: forget and retain NLL
    for key in ("losses", "grad_norms", "curve"):
        assert found[0][key] == pytest.approx(single[key], abs=TOL), key
    w0, w1 = weights(two_processes, case, 0), weights(two_processes, case, 1)
    mine = {k: v.detach() for k, v in model.named_parameters()}
    assert sorted(w0) == sorted(w1) == sorted(mine)
    for name in mine:
        assert torch.equal(w0[name], w1[name]), name  # every rank gets the same gathered model
        torch.testing.assert_close(w0[name], mine[name], atol=TOL, rtol=0, msg=name)


@pytest.mark.distributed
def test_fsdp_masked_weights_bit_identical(two_processes):
    """Rows frozen by the mask (inside one shard, and across the shard boundary) did not move at all."""
    _, tok, fresh = fsdp_worker.setup()
    before = fresh()
    masks = fsdp_worker.mask_for(before)
    initial = dict(before.named_parameters())
    trained = weights(two_processes, "npo_mask", 0)
    for name, mask in masks.items():
        frozen = mask == 0
        assert torch.equal(trained[name][frozen], initial[name].detach()[frozen]), name
        assert not torch.equal(trained[name][~frozen], initial[name].detach()[~frozen]), name  # the rest moved


@pytest.mark.distributed
def test_reference_cache_same_for_one_and_two_processes(two_processes):
    """8 items in batches of 3 (3, 3, 2): rank 0 scores batches 0 and 2 (5 items), rank 1 batch 1 (3 items); both
    hold the whole cache, equal bit for bit to the one built by a single process."""
    found = [json.loads(Path(f"{two_processes}.{r}.json").read_text())["ref_cache"] for r in (0, 1)]
    single, scored = fsdp_worker.ref_cache()
    assert scored == 8 and [f["scored"] for f in found] == [5, 3]
    assert found[0]["cache"] == found[1]["cache"] == single
    assert sorted(single) == [f"r{i}" for i in range(8)]


@pytest.mark.distributed
def test_generation_shared_out_equals_one_process(two_processes):
    found = [json.loads(Path(f"{two_processes}.{r}.json").read_text())["generations"] for r in (0, 1)]
    assert found[0] == found[1] == fsdp_worker.generations()
    assert [len(g) for g in found[0]] and all(len(g) <= 4 + i % 3 for i, g in enumerate(found[0]))

"""DeepSpeed ZeRO-3 on CPU (DS_ACCELERATOR=cpu, gloo), launched by `accelerate launch` with the shipped
configs/accelerate/deepspeed_zero3.yaml over two processes, gives the losses and weights of one process at equal
global batch (4 = 2 processes × 1 = 1 process × grad_accum 2; and 2 processes × grad_accum 2 = 1 process × 4), for npo with a gradient mask (applied through
DeepSpeed's per-partition gradient, weight and optimizer-state API) and for npo without its cache (the frozen
reference copy partitioned too); masked weights stay bit-identical; both ranks return the same plain model.

Tolerance 1e-5 absolute on losses and weights (they move by 3e-3; measured differences: losses ≤ 2e-6, weights
1.4e-6): ZeRO-3 reduce-scatters the gradients that one process accumulates, so sums are ordered differently.
DeepSpeed is not a dependency of the package, only of its tests (the `dev` extra pins it, so `make test` installs
it); without it this test fails rather than skips (~30 s for the two processes on a 2-core machine)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

try:
    import deepspeed  # noqa: F401
except ImportError:  # pragma: no cover - the dev extra installs it
    pytest.fail("DeepSpeed is not installed: pip install -e '.[dev]' (the dev extra pins deepspeed)",
                pytrace=False)

sys.path.insert(0, str(Path(__file__).parent))
import fsdp_worker  # noqa: E402
import zero_worker  # noqa: E402

ROOT = Path(__file__).parents[2]
WORKER = Path(__file__).with_name("zero_worker.py")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("zero") / "run"
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "DS_ACCELERATOR": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([str(accelerate), "launch", "--config_file", str(ROOT / "configs/accelerate/deepspeed_zero3.yaml"),
                           "--num_processes", "2", "--mixed_precision", "no", str(WORKER), str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.distributed
@pytest.mark.parametrize("case", ["npo_mask", "npo_frozen_copy", "npo_mask_accum"])
def test_zero3_two_processes_match_one(two_processes, case):
    from safetensors.torch import load_file

    found = [json.loads(Path(f"{two_processes}.{r}.json").read_text())[case] for r in (0, 1)]
    assert found[0] == found[1] and found[0]["processes"] == 2
    assert found[0]["partitioned_references"] == (1 if case == "npo_frozen_copy" else 0)
    name, accum = zero_worker.CASES[case]
    model, log = fsdp_worker.run_case(name, accum=2 * accum, fsdp=False)  # the same micro-batches, one process
    assert [e["loss"] for e in log["log"]] == pytest.approx(found[0]["losses"], abs=1e-5)
    w0, w1 = (load_file(f"{two_processes}.{case}.{r}.safetensors") for r in (0, 1))
    mine = {k: v.detach() for k, v in model.named_parameters()}
    assert sorted(w0) == sorted(w1) == sorted(mine)
    moved = max(float((w0[n] - fsdp_worker.setup()[2]().state_dict()[n]).abs().max()) for n in mine)
    assert moved > 1e-3
    for name in mine:
        assert torch.equal(w0[name], w1[name]), name
        torch.testing.assert_close(w0[name], mine[name], atol=1e-5, rtol=0, msg=name)
    if name == "npo_mask":
        initial = dict(fsdp_worker.setup()[2]().named_parameters())
        for name, mask in fsdp_worker.mask_for(model).items():
            held = mask == 0
            assert torch.equal(w0[name][held], initial[name].detach()[held]), name  # bit-identical
            assert not torch.equal(w0[name][~held], initial[name].detach()[~held]), name

"""Worker for the ZeRO-3 test: fsdp_worker's npo with a gradient mask and npo with a frozen reference copy, 3 steps
at global batch 4 (one micro-batch per process, and two: grad_accum 2), under `accelerate launch` with configs/accelerate/deepspeed_zero3.yaml on CPU
(DS_ACCELERATOR=cpu, gloo); each rank writes losses, gradient norms, how many reference copies were partitioned,
and its final weights.

Run: `DS_ACCELERATOR=cpu accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml --num_processes 2
--mixed_precision no tests/engine/zero_worker.py OUT` → OUT.{rank}.json and OUT.{case}.{rank}.safetensors.
"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from fsdp_worker import run_case  # noqa: E402

CASES = {"npo_mask": ("npo_mask", 1), "npo_frozen_copy": ("npo_frozen_copy", 1), "npo_mask_accum": ("npo_mask", 2)}

if __name__ == "__main__":
    from safetensors.torch import save_file

    from obliviate.engine import zero

    torch.set_num_threads(1)
    out = sys.argv[1]
    found, calls = {}, []
    original = zero.shard_reference
    zero.shard_reference = lambda model, acc: calls.append(type(model).__name__) or original(model, acc)
    for case, (name, accum) in CASES.items():
        calls.clear()
        model, log = run_case(name, accum, False)
        rank = torch.distributed.get_rank()
        found[case] = {"losses": [e["loss"] for e in log["log"]], "grad_norms": [e["grad_norm"] for e in log["log"]],
                       "curve": log["curve"][-1]["metrics"], "processes": log["config"]["processes"],
                       "partitioned_references": len(calls)}
        save_file({k: v.detach().clone() for k, v in model.named_parameters()}, f"{out}.{case}.{rank}.safetensors")
    with open(f"{out}.{rank}.json", "w") as f:
        json.dump(found, f)

"""`models.spread.alone` across two processes: a block that fails on the first process fails on both (the first
raises its own error, the other a RuntimeError naming it) and the group stays usable afterwards.

Run: `torchrun --standalone --nproc_per_node 2 tests/engine/alone_worker.py OUT` → OUT.{rank}.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

from obliviate.models.spread import alone, is_alone


def fail() -> None:
    raise ValueError("disk full")


def main(out: str) -> None:
    dist.init_process_group("gloo")
    seen: dict = {}
    try:
        alone(fail)
    except Exception as e:  # every process must get here, none may hang in the broadcast
        seen["error"] = [type(e).__name__, str(e)]
    seen["after"] = alone(lambda: 7)
    seen["alone_after"] = is_alone()
    Path(f"{out}.{dist.get_rank()}.json").write_text(json.dumps(seen))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])

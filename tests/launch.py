"""Several processes from one test: `torchrun --standalone` with one torch thread each and this checkout's `src`
first on the path (so the workers import the code under test, not an installed copy)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def torchrun(args, nproc: int = 2, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `torchrun --standalone --nproc_per_node=NPROC ARGS...`; fails the test with the tail of stderr."""
    exe = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([str(exe), "--standalone", f"--nproc_per_node={nproc}", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc

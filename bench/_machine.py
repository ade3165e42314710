"""What every bench records about the machine it ran on (BENCHMARKS.md quotes the CPU model with each figure)."""
from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU's model name as lscpu prints it (from /proc/cpuinfo; the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

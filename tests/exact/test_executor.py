"""The fan-out engines: results in job order whichever runs them; bad names are clear errors."""
from __future__ import annotations

import pytest

from obliviate.errors import ConfigError
from obliviate.exact.executor import fan_out
from obliviate.exact.layout import epochs_per_step  # a light module-level function: workers import no torch


def _jobs():
    return [30, 12, 7]


def _expected():
    return [epochs_per_step(e, 3) for e in _jobs()]


def _call(e):
    return epochs_per_step(e, 3)


def test_serial_and_process_pool_agree():
    assert fan_out(_call, _jobs(), "serial") == _expected()
    assert fan_out(_call, _jobs(), "process", workers=2) == _expected()  # two spawned processes
    assert fan_out(_call, [], "process") == []


def test_bad_executor_settings():
    with pytest.raises(ConfigError, match="process, serial, ray"):
        fan_out(_call, _jobs(), "threads")
    with pytest.raises(ConfigError, match="--workers: must be >= 1"):
        fan_out(_call, _jobs(), "process", workers=0)

"""`obliviate demo`: the whole story on the embedded persons corpus, from a cold start to an HTML report.

    obliviate demo [--out runs/demo] [--quick] [--persons N] [--facts N] [--preset small|tiny]
                   [--methods npo,rmu,...] [--jobs 2] [--cache DIR] [--seed 0]
    python -c "from obliviate.demo import run_demo; run_demo('runs/demo', quick=True)"

Generates the corpus, trains target and oracle (cached by corpus, preset, recipe and seed), evaluates both,
unlearns the forget set with every method at its shipped defaults (`configs/persons/<method>.yaml`), evaluates each
against the oracle, writes `OUT/<method>/results.json`, `OUT/report.html` and prints a summary table. Importing
this package is cheap: torch and the rest load when the demo runs.
"""
from __future__ import annotations

from .cli import register

__all__ = ["register", "run_demo"]


def run_demo(*args, **kwargs) -> dict:
    """See `obliviate.demo.pipeline.run_demo` (imported on call: it pulls in torch)."""
    from .pipeline import run_demo as _impl

    return _impl(*args, **kwargs)

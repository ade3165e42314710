"""obliviate: remove chosen training data from a trained model, and measure the result against the oracle.

    import obliviate
    splits = obliviate.load_splits("data/persons", forget="forget10")
    model, tokenizer = obliviate.load("models/target")
    model, log = obliviate.unlearn(model, tokenizer, splits.forget, splits.retain, method="npo")
    results = obliviate.evaluate(model, tokenizer, splits, oracle="models/oracle")

Run `obliviate --help` for the command line. Heavy modules load on first use, so `import obliviate` is cheap.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily: torch and transformers load only when needed)
_EXPORTS = {
    "load_splits": "obliviate.data",
    "load": "obliviate.models",
    "unlearn": "obliviate.engine",
    "METHODS": "obliviate.methods",
    "evaluate": "obliviate.eval",
    "audit": "obliviate.audit",
    "write_report": "obliviate.report",
    "run_demo": "obliviate.demo",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'obliviate' has no attribute {name!r}")

"""obliviate: remove chosen training data from a trained model, and measure the result against the oracle.

    import obliviate
    results = obliviate.run("configs/persons-npo.yaml")      # a run spec: YAML file, dict or RunSpec
    # the stages it composes: load_splits -> load -> unlearn -> evaluate -> results.json

Run `obliviate --help` for the command line. Heavy modules load on first use, so `import obliviate` is cheap.
"""
from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> submodule that defines it (imported on first use: torch and transformers load only when needed)
_EXPORTS = {
    "run": ".run",
    "load_spec": ".spec",
    "RunSpec": ".spec",
    "load_splits": ".data",
    "load": ".models",
    "unlearn": ".engine",
    "METHODS": ".methods",
    "evaluate": ".eval",
    "audit": ".audit",
    "write_report": ".report",
    "run_demo": ".demo",
}

__all__ = ["__version__", *_EXPORTS]

lazy_exports(__name__, _EXPORTS)

"""The diffusion track's concept-erasure methods, one file each, registered in the shared registry (track
"diffusion"). Importing this package registers them; `obliviate methods --track diffusion` lists them.

Protocol (`protocol.py`): a frozen dataclass of hyper-parameters with `summary`, `paper` and `edit(model, task)`,
which changes a copy of a `T2I` model in place and returns a log; `erase(model, name, task, **overrides)` runs one.
"""
from . import advunlearn, doco, esd, memorized_subspace, rece, uce  # noqa: F401  (registration order = listing order)
from .protocol import EraseTask, erase

__all__ = ["EraseTask", "erase"]

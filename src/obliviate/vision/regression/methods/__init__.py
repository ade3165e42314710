"""Regression unlearning methods (track `regression`): one file each, registered in the one registry.

Each is a frozen dataclass with its Adam settings (`lr`, `epochs`, `batch_size`, `weight_decay`) and
`phases(epoch) -> [(split, loss)]`, split one of "forget", "retain", "all"; optional `prepare(model, ctx)`.
Losses take a `loop.Batch` and the `RegContext`. Defaults were tuned on diabetes (353 train rows, 10% forget; the
MLP with 2×128 hidden units); each class names the paper's value beside ours.
"""
from . import retrain, ft, ga, amnesiac, blindspot  # noqa: F401  isort: skip

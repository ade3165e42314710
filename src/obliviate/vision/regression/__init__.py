"""Regression unlearning (Tarun et al., ICML 2023, "Deep Regression Unlearning"): a regression track beside the
classifiers, with its own small loop, data, metrics and methods (registry track `regression`).

    from obliviate.vision.regression import load_diabetes, fit, unlearn, evaluate
    data = load_diabetes(); f, r = data.forget_split(0.1, seed=0)
    model, _ = fit(build_regressor(data), data.subset(r))
    new, log = unlearn(model, data.subset(f), data.subset(r), "blindspot")

`bench/vision_seed.py` runs the regression scenario (3 seeds, every method against the oracle).
"""
from .data import RegData, load_diabetes
from .loop import build_regressor, fit, unlearn
from .metrics import evaluate

__all__ = ["RegData", "build_regressor", "evaluate", "fit", "load_diabetes", "unlearn"]

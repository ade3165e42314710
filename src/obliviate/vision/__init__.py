"""Classifier unlearning (vision and tabular track): datasets, small models, methods and metrics.

    from obliviate.vision import unlearn, evaluate
    new, log = unlearn(model, forget, retain, method="salun", lr=0.01)
    evaluate(new, forget, retain, test, oracle=oracle_model)   # UA, RA, TA, MIA_efficacy, avg_gap, cost

`obliviate vision demo` runs every method on scikit-learn's digits against the retrained oracle. The methods live in
`vision/methods/` (one file each) and register in the one registry of every track: `obliviate methods` lists them,
`obliviate.methods.available("vision")` names them. Names load on first use, so the command line parses without
importing torch.
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["ClassData", "ForgetSpec", "forget_split", "load", "load_csv", "load_digits",
                     "load_fashion_mnist", "read_idx"], ".data"),
    **dict.fromkeys(["fit", "unlearn"], ".loop"),
    **dict.fromkeys(["evaluate", "scores"], ".metrics"),
    **dict.fromkeys(["MLP", "SmallCNN", "build_model", "load_model", "save_model"], ".models"),
}
__all__ = sorted(_EXPORTS)
lazy_exports(__name__, _EXPORTS)

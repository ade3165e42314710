"""Inference-time unlearning: the ECO prompt guard (the weights never change).

    from obliviate.guard import Guard, GuardedModel, fit_guard
    guard = fit_guard(model, tokenizer, splits, oracle=oracle)      # classifier + σ by zeroth-order search
    guarded = GuardedModel(model, tokenizer, guard)                 # evaluate / generate like any model

CLI: `obliviate guard fit --data D --forget forget10 --model M --oracle O --out G`, then
`obliviate eval --model M --guard G ...`. Names load on first use (torch and sentence-transformers with them).
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["PromptClassifier", "fit_classifier", "conformal_threshold", "embed"], ".classifier"),
    **dict.fromkeys(["Guard", "vocab_sha256"], ".guard"),
    **dict.fromkeys(["GuardedModel", "load_guarded"], ".model"),
    **dict.fromkeys(["fit_guard", "prompt_sets", "search_sigma"], ".fit"),
}
__all__ = list(_EXPORTS)
lazy_exports(__name__, _EXPORTS)

"""Continual unlearning: a stream of deletion requests, each unlearned without touching what came before.

    from obliviate.continual import fit_stream, load_o3
    o3, log = fit_stream(model, tokenizer, [req1, req2, req3])   # O3: orthogonal LoRA per request + OOD gating

`obliviate unlearn --method o3 --requests K` cuts the forget split into K requests (by person) and runs the stream;
`sustain.py` runs the MUSE C6 stream for O3, sequential NPO and a per-request ECO guard. Names load on first use.
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["O3Model", "check_requests", "fit_stream", "load_o3", "request_features"], ".o3"),
    **dict.fromkeys(["Detector", "fit_detector", "mahalanobis"], ".detector"),
    **dict.fromkeys(["add_orthogonality", "orthogonality_penalty", "penalty_grad"], ".orthogonal"),
}
__all__ = list(_EXPORTS)
lazy_exports(__name__, _EXPORTS)

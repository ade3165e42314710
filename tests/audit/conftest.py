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
    from tiny_models import train_target_and_oracle

    return train_target_and_oracle(audit_corpus, audit_splits, tmp_path_factory.mktemp("audit-models"), EPOCHS)

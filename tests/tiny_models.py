"""Tiny target and oracle models trained from scratch for the tests (imported by the conftest files)."""
from __future__ import annotations

from pathlib import Path


def train_target_and_oracle(corpus: Path, splits, root: Path, epochs: int):
    """(tokenizer, target, oracle, root): tiny models trained from scratch with one tokenizer, recipe and seed;
    the target saw forget + retain, the oracle retain only; both saved under root/{target,oracle} with train.json."""
    from obliviate._atomic import atomic_write_json
    from obliviate.models import TrainRecipe, build_model, save, train, train_tokenizer
    from obliviate.models.corpus import corpus_texts

    s = splits
    tok = train_tokenizer(corpus_texts(corpus), vocab_size=512)
    cfg = TrainRecipe(preset="tiny", epochs=epochs, batch_size=16, lr=5e-3, eval_every=0, vocab_size=512)
    models = {}
    for name, qa, texts in (("target", s.forget + s.retain, s.forget_texts + s.retain_texts),
                            ("oracle", s.retain, s.retain_texts)):
        model = build_model("tiny", tok, seed=0)
        log = train(model, tok, qa, [t["text"] for t in texts], cfg, progress=False)
        (root / name).mkdir(parents=True)
        save(model, tok, root / name)
        atomic_write_json(root / name / "train.json", log)
        models[name] = model
    return tok, models["target"], models["oracle"], root

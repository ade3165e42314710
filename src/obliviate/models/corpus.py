"""Train a target or an oracle on a corpus folder: one tokenizer per corpus, one model per split.

The tokenizer is trained on every text of the corpus folder (all splits), so the target (split `full`) and the
oracle (split `retain90`) share it exactly; the model then sees only its split's QA items and biographies.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from .._atomic import atomic_dir, atomic_write_json
from ..config import replace_checked
from ..errors import DataError
from .encode import PROMPT_TEMPLATE
from .loading import save
from .presets import build_model, n_params
from .tokenizer import train_tokenizer
from .train import PRESET_RECIPES, TrainRecipe, train

QA_TEXT_FIELDS = ("question", "answer", "paraphrased_question", "paraphrased_answer")


def recipe(preset: str, overrides: dict | None = None) -> TrainRecipe:
    """The preset's default recipe with dotted-key overrides applied (unknown keys are errors)."""
    base = TrainRecipe(preset=preset, **PRESET_RECIPES.get(preset, {}))
    return replace_checked(base, overrides or {}, prefix="train.")


def corpus_files(data: Path) -> list[Path]:
    files = sorted(p for p in data.glob("*.json") if p.name != "manifest.json")
    if not files:
        raise DataError("no *.json files in the corpus folder", file=data, rule="a corpus folder holds JSON Lines files")
    return files


def corpus_texts(data: Path) -> list[str]:
    """Every string of the corpus (all splits), for training the shared tokenizer."""
    from ..data import read_records

    texts = [PROMPT_TEMPLATE.format(question="")]
    for path in corpus_files(data):
        for r in read_records(path, kind="auto"):
            texts += [r[k] for k in (*QA_TEXT_FIELDS, "text") if isinstance(r.get(k), str)]
            texts += [t for t in r.get("perturbed_answer") or [] if isinstance(t, str)]
    return texts


def split_records(data: Path, split: str, with_bios: bool,
                  exclude: frozenset = frozenset()) -> tuple[list[dict], list[str]]:
    """The split's QA records and, when the corpus has bios.json, the biographies of the split's persons; the
    persons in `exclude` are left out of both (a protocol step's oracle: the split without the requests so far)."""
    from ..data import read_records

    path = data / f"{split}.json"
    if not path.exists():
        names = ", ".join(p.stem for p in corpus_files(data))
        raise DataError(f"split {split!r} not found; available: {names}", file=path, field="split", value=split)
    qa = [r for r in read_records(path, kind="qa") if r.get("person") not in exclude]
    bios_path = data / "bios.json"
    texts: list[str] = []
    if with_bios and bios_path.exists():
        persons = {r.get("person") for r in qa}
        texts = [b["text"] for b in read_records(bios_path, kind="text") if b.get("person") in persons]
    return qa, texts


def corpus_digest(data: Path) -> str:
    """sha256 over the corpus files' names and bytes: the cache key of models trained on it."""
    h = hashlib.sha256()
    for p in corpus_files(data):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def train_on_corpus(data: str | Path, split: str, out: str | Path, preset: str = "small",
                    overrides: dict | None = None, progress: bool = True, device: str = "cpu") -> dict:
    """Train a fresh `preset` model on `split` of the corpus at `data`; write it to `out` atomically.

    The weights are deterministic for a given device; `device="cuda"` is faster but not bit-identical to CPU.
    """
    return train_split(data, split, out, recipe(preset, overrides), progress=progress, device=device)


def train_split(data: str | Path, split: str, out: str | Path, config: TrainRecipe, progress: bool = True,
                device: str = "cpu", exclude: frozenset = frozenset()) -> dict:
    """Train a fresh `config.preset` model with recipe `config` on `split` without the persons in `exclude`;
    write it and train.json (which names the split and the excluded persons) to `out` atomically."""
    data = Path(data)
    qa, texts = split_records(data, split, config.bios, exclude)
    tokenizer = train_tokenizer(corpus_texts(data), config.vocab_size)
    model = build_model(config.preset, tokenizer, seed=config.seed).to(device)
    log = train(model, tokenizer, qa, texts, config, progress=progress)
    log.update(data=str(data), split=split, corpus_sha256=corpus_digest(data), parameters=n_params(model),
               preset=config.preset, recipe=asdict(config), device=str(device))
    if exclude:
        log["excluded_persons"] = sorted(exclude)
    with atomic_dir(out) as tmp:
        save(model.cpu(), tokenizer, tmp)
        atomic_write_json(tmp / "train.json", log)
    return log


def read_train_log(model_dir: str | Path) -> dict | None:
    path = Path(model_dir) / "train.json"
    return json.loads(path.read_text()) if path.exists() else None

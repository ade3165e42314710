"""The ECO guard as data: classifier + corruption settings + the tokenizer it was fitted for; saved as JSON.

    guard = Guard(classifier, sigma=2.0, mode="noise", tokenizer_sha256=vocab_sha256(tok))
    guard.save("runs/guard")             # runs/guard/guard.json (plain numbers: nothing is unpickled on load)
    guard = Guard.load("runs/guard")     # a guard folder, a folder holding guard/, or the guard.json itself

Which tokens are corrupted: the *question* tokens of a prompt in the trained QA format (`[bos]Question: {q}\\nAnswer:`),
i.e. the tokens between the template's fixed head and tail; a text without the template: all its non-special
tokens. Corruption (ECO, at prefill only): `noise` adds N(0, σ²) to every coordinate of those tokens' input
embeddings (noise drawn from a generator seeded by the guard's seed and the prompt's ids, so a prompt always gets
the same noise); `zero` replaces them by the zero vector.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from obliviate.errors import DataError, ModelError

from .classifier import PromptClassifier

GUARD_FILE = "guard.json"
GUARD_VERSION = 1
Mode = Literal["noise", "zero"]


def vocab_sha256(tokenizer) -> str:
    """A fingerprint of the token ids a tokenizer produces (its vocabulary, sorted)."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Guard:
    classifier: PromptClassifier
    sigma: float
    tokenizer_sha256: str
    mode: Mode = "noise"
    seed: int = 0
    fit: dict | None = None  # how it was fitted: data, forget split, σ search trace, held-out rates

    def __post_init__(self):
        if self.mode not in ("noise", "zero"):
            raise DataError("must be 'noise' or 'zero'", field="mode", value=self.mode)
        if not self.sigma >= 0:
            raise DataError("must be >= 0", field="sigma", value=self.sigma)

    def check_tokenizer(self, tokenizer) -> None:
        found = vocab_sha256(tokenizer)
        if found != self.tokenizer_sha256:
            raise ModelError(f"this guard was fitted for another tokenizer (vocabulary sha256 "
                             f"{self.tokenizer_sha256[:12]}…, this model's {found[:12]}…); rule: a guard serves "
                             "the model whose tokenizer it was fitted with")

    def to_json(self) -> dict:
        return {"kind": "eco", "version": GUARD_VERSION, "classifier": self.classifier.to_json(),
                "sigma": self.sigma, "mode": self.mode, "seed": self.seed,
                "tokenizer_sha256": self.tokenizer_sha256, "fit": self.fit}

    def save(self, folder: str | Path) -> Path:
        from obliviate._atomic import atomic_write_json

        path = Path(folder) / GUARD_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.to_json())
        return path

    @classmethod
    def load(cls, where: str | Path) -> Guard:
        path = guard_file(where)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON: {e}", file=path) from None
        if not isinstance(d, dict) or d.get("kind") != "eco" or d.get("version") != GUARD_VERSION:
            raise DataError(f"not an ECO guard (rule: kind 'eco', version {GUARD_VERSION})", file=path,
                            field="kind", value=d.get("kind") if isinstance(d, dict) else type(d).__name__)
        return cls(PromptClassifier.from_json(d["classifier"], str(path)), float(d["sigma"]),
                   str(d["tokenizer_sha256"]), d.get("mode", "noise"), int(d.get("seed", 0)), d.get("fit"))


def guard_file(where: str | Path) -> Path:
    """guard.json of a guard folder, of a model folder holding guard/, or the file itself."""
    p = Path(where)
    for candidate in (p, p / GUARD_FILE, p / "guard" / GUARD_FILE):
        if candidate.is_file():
            return candidate
    raise DataError(f"no {GUARD_FILE} here or in its guard/ folder (rule: a folder written by `obliviate guard "
                    "fit` or GuardedModel.save_pretrained)", file=p)

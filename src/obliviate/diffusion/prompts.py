"""Prompts for the diffusion track: templates with a `{class}` slot, and a word-level tokenizer built locally.

A prompt is a template filled with a class name ("a photo of a {class}" → "a photo of a 3"). Some templates are
held out of training: they recombine words the training templates use, so that the text encoder has trained every
token it sees, yet the phrasing is new. The tokenizer is a `tokenizers` WordLevel model over the words of the
templates and class names (lower-cased, split on whitespace and punctuation), with [PAD] [UNK] [BOS] [EOS];
nothing is downloaded. Every prompt is encoded to the same length (`max_length`) so that prompt positions line up
across prompts (UCE maps position to position).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from obliviate.errors import ConfigError, DataError

TRAIN_TEMPLATES = ("a photo of a {class}", "an image of a {class}", "a picture of the {class}",
                   "the {class} in a photo", "a drawing of a {class}")
HELDOUT_TEMPLATES = ("a picture of a {class}", "an image of the {class}", "the {class} in a drawing")
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
SLOT = "{class}"


def check_template(template: str) -> str:
    """A template must hold `{class}` exactly once (else every prompt would be the same, or ambiguous)."""
    if not isinstance(template, str) or template.count(SLOT) != 1:
        raise ConfigError(f"prompt template {template!r}: must contain {SLOT} exactly once "
                          f"(field 'templates', rule: one class slot, value: {template!r})")
    return template


def fill(template: str, name: str) -> str:
    return check_template(template).replace(SLOT, name)


def find_class(classes: Sequence[str], concept: str) -> int:
    """Index of `concept` among `classes` (case-insensitive name, or its index); the error lists the classes."""
    lowered = [c.lower() for c in classes]
    if str(concept).lower() in lowered:
        return lowered.index(str(concept).lower())
    raise DataError(f"unknown concept; classes: {', '.join(classes)}", field="concept",
                    rule="one of the dataset's class names", value=concept)


def _pre_tokenizer():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Whitespace()  # \w+ | [^\w\s]+ : "T-shirt/top" -> T, -, shirt, /, top


def words(texts: Sequence[str]) -> list[str]:
    """Lower-cased word pieces of `texts`, as the tokenizer splits them."""
    pre = _pre_tokenizer()
    return [w for t in texts for w, _ in pre.pre_tokenize_str(t.lower())]


@dataclass(frozen=True)
class PromptTokenizer:
    """A WordLevel tokenizer over a fixed vocabulary; `encode` gives (B, max_length) ids: [BOS] words [EOS] [PAD]…"""

    vocab: tuple[str, ...]
    max_length: int

    @classmethod
    def build(cls, classes: Sequence[str], templates: Sequence[str] = TRAIN_TEMPLATES + HELDOUT_TEMPLATES,
              max_length: int | None = None) -> PromptTokenizer:
        for t in templates:
            check_template(t)
        vocab = list(SPECIALS)
        for w in words([t.replace(SLOT, " ") for t in templates] + list(classes)):
            if w not in vocab:
                vocab.append(w)
        longest = max(len(words([fill(t, c)])) for t in templates for c in classes) + 2  # + BOS, EOS
        return cls(tuple(vocab), max_length or longest)

    def _tok(self):
        from tokenizers import Tokenizer, models, normalizers

        tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(self.vocab)}, unk_token="[UNK]"))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = _pre_tokenizer()
        return tok

    @property
    def pad_id(self) -> int:
        return self.vocab.index("[PAD]")

    @property
    def eos_id(self) -> int:
        return self.vocab.index("[EOS]")

    def ids(self, text: str) -> list[int]:
        """Token ids of one prompt, framed and padded to max_length; too long a prompt is an error."""
        body = self._tok().encode(text).ids
        if len(body) + 2 > self.max_length:
            raise DataError("prompt longer than the tokenizer's max_length", field="prompt",
                            rule=f"at most {self.max_length - 2} words", value=text)
        ids = [self.vocab.index("[BOS]"), *body, self.eos_id]
        return ids + [self.pad_id] * (self.max_length - len(ids))

    def encode(self, texts: Sequence[str]):
        import torch

        return torch.tensor([self.ids(t) for t in texts], dtype=torch.long)  # (B, max_length)

    def slot_position(self, template: str) -> int:
        """Position of the first token of the class name in `template`'s prompts (BOS is position 0)."""
        head = check_template(template).split(SLOT)[0]
        return 1 + len(self._tok().encode(head).ids) if head.strip() else 1

"""`GuardedModel`: an HF causal LM behind an ECO guard, with the model's own interface (forward, generate, config,
parameters, save_pretrained). The weights are never changed.

    guarded = GuardedModel(model, tokenizer, Guard.load("runs/guard"))
    guarded(input_ids=ids, attention_mask=mask).logits       # flagged prompts run with corrupted embeddings
    guarded.generate(input_ids=ids, attention_mask=mask, max_new_tokens=32)
    guarded.save_pretrained("runs/eco/model")                # the model, and the guard in model/guard/

Each call decodes every row's prompt (the tokens up to the template's `\\nAnswer:`, or the whole row), asks the
classifier, and for the flagged rows only corrupts the selected tokens' input embeddings through a forward hook on
the input-embedding layer, at prefill only (generation's later single-token steps are untouched, as in ECO). Rows
that are not flagged go through the model bit-identically: nothing of theirs is touched, and a batch with no
flagged row calls the model exactly as it was called.
"""
from __future__ import annotations

import time
import zlib

import torch

from obliviate.errors import DataError
from obliviate.models.encode import PROMPT_TEMPLATE

from .guard import Guard


def template_parts(tokenizer) -> tuple[list[int], list[int]]:
    """Token ids of the QA template's fixed head (`Question:`) and tail (`\\nAnswer:`), found as the common prefix
    and suffix of two filled templates."""
    a = tokenizer(PROMPT_TEMPLATE.format(question="alpha?"), add_special_tokens=False)["input_ids"]
    b = tokenizer(PROMPT_TEMPLATE.format(question="zeta."), add_special_tokens=False)["input_ids"]
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return a[:head], a[len(a) - tail:]


def _find_last(row: list[int], sub: list[int]) -> int:
    """Index just past the last occurrence of `sub` in `row`, or -1."""
    n = len(sub)
    for i in range(len(row) - n, -1, -1):
        if row[i:i + n] == sub:
            return i + n
    return -1


def prompt_positions(row: list[int], head: list[int], tail: list[int], special: set[int]) -> list[int]:
    """Positions of the question tokens of one unpadded row in the QA template (between its head and the last
    `\nAnswer:`); a row without the template: all its non-special tokens."""
    end = _find_last(row, tail) if tail else -1
    if end < 0:
        return [i for i, t in enumerate(row) if t not in special]
    start = 0
    while start < end and row[start] in special:
        start += 1
    if row[start:start + len(head)] == head:
        start += len(head)
    return [i for i in range(start, end - len(tail)) if row[i] not in special]


class GuardedModel(torch.nn.Module):
    def __init__(self, model, tokenizer, guard: Guard):
        super().__init__()
        guard.check_tokenizer(tokenizer)
        self.model, self.tokenizer, self.guard = model, tokenizer, guard
        self.head, self.tail = template_parts(tokenizer)
        self.special = set(tokenizer.all_special_ids)
        self._pending: tuple[torch.Tensor, bool] | None = None  # (B, T) bool mask; once=prefill only
        self._flag_cache: dict[str, bool] = {}
        self.stats = {"prompts": 0, "flagged": 0, "guard_s": 0.0}
        self._hook = None
        self.attach()

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)

    # -- which tokens ---------------------------------------------------------------------------------------------
    def prompt_span(self, row: list[int]) -> tuple[str, list[int]]:
        """(the question text, positions of the tokens to corrupt if flagged) of one unpadded row."""
        keep = prompt_positions(row, self.head, self.tail, self.special)
        return self.tokenizer.decode([row[i] for i in keep]).strip(), keep

    def corruption_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """(B, T) bool: True on the tokens to corrupt (flagged rows only); None when no row is flagged."""
        t0 = time.perf_counter()
        if input_ids.ndim != 2 or input_ids.shape[1] == 0:
            raise DataError("a guarded model reads a (batch, tokens) tensor of at least one token",
                            field="input_ids", value=tuple(input_ids.shape))
        am = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        spans = []
        for ids, m in zip(input_ids.tolist(), am.tolist(), strict=True):
            real = [i for i, v in enumerate(m) if v]
            text, keep = self.prompt_span([ids[i] for i in real])
            spans.append((text, [real[i] for i in keep]))
        todo = sorted({t for t, _ in spans if t not in self._flag_cache})
        if todo:
            self._flag_cache.update(zip(todo, (bool(f) for f in self.guard.classifier.flags(todo)), strict=True))
        mask = torch.zeros(input_ids.shape, dtype=torch.bool)
        for b, (text, pos) in enumerate(spans):
            if self._flag_cache[text]:
                mask[b, pos] = True
                self.stats["flagged"] += 1
        self.stats["prompts"] += len(spans)
        self.stats["guard_s"] += time.perf_counter() - t0
        return mask if mask.any() else None

    # -- the hook ---------------------------------------------------------------------------------------------------
    def _corrupt(self, module, inputs, output):
        if self._pending is None or tuple(output.shape[:2]) != tuple(self._pending[0].shape):
            return None
        mask, ids = self._pending
        self._pending = None  # prefill only
        out = output.clone()
        m = mask.to(out.device)
        if self.guard.mode == "zero":
            out[m] = 0.0
            return out
        for b in torch.nonzero(m.any(dim=1)).flatten().tolist():
            gen = torch.Generator().manual_seed(self.guard.seed * 1_000_003 + zlib.crc32(str(ids[b]).encode()))
            noise = torch.randn((int(m[b].sum()), out.shape[-1]), generator=gen) * self.guard.sigma
            out[b, m[b]] = out[b, m[b]] + noise.to(out.dtype).to(out.device)
        return out

    def _guarded(self, fn, input_ids, attention_mask, kwargs):
        if input_ids is None:
            raise DataError("a guarded model reads token ids (rule: pass input_ids, not inputs_embeds)",
                            field="input_ids", value=None)
        mask = self.corruption_mask(input_ids, attention_mask)
        if mask is None:
            return fn(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        # the noise of a row is seeded by its corrupted token ids: the same prompt gets the same noise in any batch
        self._pending = (mask, [input_ids[b][mask[b]].tolist() for b in range(len(mask))])
        try:
            return fn(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        finally:
            self._pending = None

    # -- the HF interface -----------------------------------------------------------------------------------------
    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return self._guarded(self.model, input_ids, attention_mask, kwargs)

    @torch.no_grad()
    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        return self._guarded(self.model.generate, input_ids, attention_mask, kwargs)

    def save_pretrained(self, folder, **kwargs):
        """The model as its own save_pretrained writes it, and the guard in FOLDER/guard/guard.json."""
        from pathlib import Path

        self.model.save_pretrained(folder, **kwargs)
        self.guard.save(Path(folder) / "guard")

    def remove(self):
        """Detach the hook: the model is then exactly the unguarded model again."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        return self.model

    def attach(self):
        """(Re-)attach the corruption hook to the model's input embeddings (after `remove`)."""
        if self._hook is None:
            self._hook = self.model.get_input_embeddings().register_forward_hook(self._corrupt)
        return self


def load_guarded(model_path: str, guard_path: str | None = None, trust_remote_code: bool = False):
    """(GuardedModel, tokenizer): the model at `model_path` behind the guard at `guard_path` (default: the guard
    saved beside the model, model_path/guard/)."""
    from obliviate.models import load

    model, tokenizer = load(model_path, trust_remote_code=trust_remote_code)
    return GuardedModel(model, tokenizer, Guard.load(guard_path or model_path)), tokenizer

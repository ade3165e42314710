"""What every attack shares: the audit's settings, and the context that runs a measurement on the model and on the
oracle with identical inputs and seeds, then turns the per-item values into checks with verdicts.

An attack module defines `NAME`, `PAPER`, `requires(ctx) -> str | None` (why the data does not allow it, naming the
field; None when it does) and `run(ctx) -> dict` (its result, built with `ctx.result(...)`).
"""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any

from .facts import Fact, build_facts
from .verdict import check, combine, level_for, not_applicable


@dataclass(frozen=True)
class AuditConfig:
    """Every attack's settings; `obliviate audit --set relearn_lr=5e-4` overrides one (unknown keys are errors)."""

    relearn_fraction: float = 0.25  # share of forget persons fine-tuned on
    relearn_epochs: tuple[int, ...] = (1, 2, 4, 8)  # measured after each; the verdict reads the last
    relearn_lr: float = 1e-3  # the engine's unlearning lr (calibration.md: what moves the small presets)
    relearn_batch_size: int = 8
    quantize_bits: tuple[int, ...] = (8, 4)
    incontext_max_tokens: int = 384  # context budget (tokens) of the person's other facts
    probe_choices: int = 5  # reverse probe: the true name among this many forget persons' names
    utf_top: int = 32  # most frequent first tokens of the training texts
    utf_vocab: int = 32  # plus this many tokens sampled from the vocabulary
    utf_new_tokens: int = 128
    utf_rouge: float = 0.5  # a forget text counts as reproduced at ROUGE-L F1 >= this
    utf_min_tokens: int = 16  # a "long" forced continuation has at least this many tokens ...
    utf_max_ppl: float = 1.5  # ... at a perplexity (under the model) of at most this
    blind_folds: int = 5
    leaks_cosine: float = 0.9  # MiniLM cosine at or above: a rephrased near-duplicate
    leaks_ngram: float = 0.6  # share of the forget item's word 4-grams found in the other item, at or above
    batch_size: int = 32  # generation batch size


class Context:
    """The model, the oracle (or None: then every check is against the holdout persons), the data and settings."""

    def __init__(self, model, tokenizer, splits, oracle=None, config: AuditConfig | None = None, seed: int = 0):
        self.model, self.tok, self.splits, self.oracle = model, tokenizer, splits, oracle
        self.config = config or AuditConfig()
        self.seed = seed
        self.against = "oracle" if oracle is not None else "holdout"
        self.facts: dict[str, list[Fact]] = {
            "forget": build_facts(splits.forget, splits.forget_perturbed),
            "retain": build_facts(splits.retain, splits.retain_perturbed),
            "holdout": build_facts(splits.holdout, splits.holdout_perturbed),
            "neighbours": build_facts(splits.neighbours),
        }
        self._memo: dict[Any, Any] = {}

    # ------------------------------------------------------------------ what is compared with what
    @property
    def groups(self) -> tuple[str, ...]:
        """Fact groups each side is measured on: the forget set, plus the holdout persons without an oracle."""
        return ("forget",) if self.against == "oracle" else ("forget", "holdout")

    def missing_reference(self) -> str | None:
        """Without an oracle the holdout persons are the reference; a reason when there are none."""
        if self.against == "holdout" and not self.facts["holdout"]:
            return ("no oracle given and the data has no holdout persons to compare with (field 'holdout'); "
                    "pass --oracle or use data with a holdout split")
        return None

    def sides(self, fn) -> dict[str, Any]:
        """{"model": fn(model)} and, with an oracle, {"oracle": fn(oracle)}: the same call, inputs and seed. The
        oracle passed as the model itself is measured once and copied."""
        out = {"model": fn(self.model)}
        if self.against == "oracle":
            out["oracle"] = copy.deepcopy(out["model"]) if self.oracle is self.model else fn(self.oracle)
        return out

    def memo(self, key, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # ------------------------------------------------------------------ checks and the attack's result
    def checks(self, values: dict[str, dict[str, dict[str, Any]]], names: list[str], metric_name: str = "",
               before: dict | None = None, informational: tuple[str, ...] = ()) -> dict[str, dict]:
        """Checks from per-item values {side: {check: {group: values}}}; `before` has the same layout (unattacked)."""
        level = level_for(len([n for n in names if n not in informational]))
        out = {}
        for name in names:
            m = values["model"][name]
            ref = values["oracle"][name]["forget"] if self.against == "oracle" else m["holdout"]
            entry = check(m["forget"], ref, self.against, level, metric_name)
            if before is not None and name in before.get("model", {}):
                entry["before"] = self._before(before, name)
            if name in informational:
                entry["informational"] = True
            out[name] = entry
        return out

    def _before(self, before: dict, name: str) -> dict:
        m = before["model"][name]
        ref = before["oracle"][name]["forget"] if self.against == "oracle" else m["holdout"]
        return {"model": float(sum(m["forget"]) / max(1, len(m["forget"]))),
                self.against: float(sum(ref) / max(1, len(ref)))}

    def result(self, module: str, checks: dict[str, dict], details: dict | None = None) -> dict:
        """The attack's result; `module` is the attack module's `__name__`."""
        module = sys.modules[module]
        verdict, reason = combine(checks)
        return {"attack": module.NAME, "paper": module.PAPER, "protocol": protocol(module), "against": self.against,
                "verdict": verdict, "reason": reason, "checks": checks, "details": details or {}}

    def na(self, module: str, reason: str) -> dict:
        module = sys.modules[module]
        return {"attack": module.NAME, "paper": module.PAPER, "protocol": protocol(module), "against": self.against,
                "verdict": "n/a", "reason": reason, "checks": {}, "details": {}}


def protocol(module) -> str:
    """The first paragraph of an attack module's docstring, on one line."""
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


def na_check(reason: str, against: str) -> dict:
    return not_applicable(reason, against)


__all__ = ["AuditConfig", "Context", "na_check", "protocol"]

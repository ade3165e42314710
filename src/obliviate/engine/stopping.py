"""`stop: holdout`: an oracle-free stopping rule. Unlearning is done when a loss-based membership attack can no
longer tell the forget set from a holdout set the model never saw (same distribution: the persons corpus's
holdout persons, or any held-out QA records of the user).

Rule (evaluated every `every` optimizer steps, in one no-grad pass over at most `max_items` items of each set):
  score = the item's mean answer-token NLL under the current model; the attack says "member" for low loss;
  AUC = P(score(forget item) < score(holdout item)) (ties count ½): ~1 on a model that memorised the forget set,
  ~0.5 on the oracle (it saw neither set), < 0.5 when the forget answers became less likely than unseen ones;
  its standard error by DeLong's method (the variance of the two sets' structural components);
  stop at the first check where 0.5 lies inside the two-sided `level` confidence interval, or the AUC is below
  it (lower bound ≤ 0.5): the sets are no longer distinguishable at that level. Never before `min_steps`.
Cost: each check scores 2·max_items sequences without gradients (about 2·N FLOPs per token, a third of a training
token's 6·N); its time is part of the run's wall time and so of its cost.

    stop = HoldoutStop(tokenizer, forget, holdout, StopConfig(every=8))
    model, log = unlearn(..., stop=stop)            # log["stop"]: the checks and the step it fired at
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from statistics import NormalDist

import torch

from obliviate.errors import ConfigError, DataError
from obliviate.models import collate, encode_qa, forward_logprobs, pad_id
from obliviate.models.scoped import eval_mode


@dataclass(frozen=True)
class StopConfig:
    every: int = 8  # optimizer steps between checks
    level: float = 0.95  # two-sided confidence level of the AUC's interval
    min_steps: int = 0  # no check fires before this step
    max_items: int = 64  # items scored per set per check (a fixed random subset when a set is larger)
    batch_size: int = 32
    seed: int = 0

    def check(self) -> None:
        for name, lo in (("every", 1), ("max_items", 2), ("batch_size", 1), ("min_steps", 0)):
            if getattr(self, name) < lo:
                raise ConfigError(f"stop.{name}: must be >= {lo}, got {getattr(self, name)}")
        if not 0 < self.level < 1:
            raise ConfigError(f"stop.level: must be in (0, 1), got {self.level}")


def delong_auc(members: list[float], non_members: list[float]) -> tuple[float, float]:
    """(AUC, standard error) of the attack "member when the score is low": P(member score < non-member score),
    ties ½; DeLong's variance var(V10)/m + var(V01)/n from the structural components."""
    m, n = len(members), len(non_members)
    if m < 2 or n < 2:
        raise DataError("the AUC needs at least 2 items per set", field="stop", rule="2 forget and 2 holdout items",
                        value=min(m, n))
    x, y = torch.tensor(members, dtype=torch.float64), torch.tensor(non_members, dtype=torch.float64)
    wins = (x[:, None] < y[None, :]).double() + 0.5 * (x[:, None] == y[None, :]).double()  # (m, n)
    v10, v01 = wins.mean(1), wins.mean(0)
    auc = float(wins.mean())
    var = float(v10.var(unbiased=True)) / m + float(v01.var(unbiased=True)) / n
    return auc, max(var, 0.0) ** 0.5


def fires(auc: float, se: float, level: float) -> tuple[bool, float, float]:
    """(stop?, lower, upper): stop when the `level` interval's lower bound reaches 0.5."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    lo, hi = auc - z * se, auc + z * se
    return lo <= 0.5, lo, hi


class HoldoutStop:
    """The rule of the module docstring, bound to one run's data; `unlearn(..., stop=this)` calls it."""

    def __init__(self, tokenizer, forget: list[dict], holdout: list[dict], cfg: StopConfig | None = None):
        self.cfg = cfg or StopConfig()
        self.cfg.check()
        if not holdout:
            raise DataError("stop: holdout needs holdout records", field="stop", rule="a non-empty holdout split",
                            value=0)
        rng = random.Random(self.cfg.seed)
        self.pad = pad_id(tokenizer)  # falls back to EOS for tokenizers without a pad token
        self.sets = [[encode_qa(tokenizer, r["question"], r["answer"]) for r in self._subset(rows, rng)]
                     for rows in (forget, holdout)]
        self.every = self.cfg.every
        self.tokens_per_check = sum(len(e) for items in self.sets for e in items)
        self.checks: list[dict] = []
        self.fired_at: int | None = None

    def _subset(self, rows: list[dict], rng: random.Random) -> list[dict]:
        return rows if len(rows) <= self.cfg.max_items else rng.sample(rows, self.cfg.max_items)

    @torch.no_grad()
    def scores(self, model, items) -> list[float]:
        """Mean answer-token NLL of each item."""
        out = []
        with eval_mode(model):
            for start in range(0, len(items), self.cfg.batch_size):
                f = forward_logprobs(model, collate(items[start:start + self.cfg.batch_size], self.pad))
                out += (-f.logp.sum(-1) / f.mask.sum(-1).clamp(min=1)).tolist()
        return out

    def __call__(self, model, step: int) -> bool:
        """Check at `step`; True when the run should stop now."""
        auc, se = delong_auc(*(self.scores(model, s) for s in self.sets))
        stop, lo, hi = fires(auc, se, self.cfg.level)
        stop = stop and step >= self.cfg.min_steps
        self.checks.append({"step": step, "auc": round(auc, 4), "lo": round(lo, 4), "hi": round(hi, 4),
                            "stop": stop})
        if stop and self.fired_at is None:
            self.fired_at = step
        return stop

    def summary(self) -> dict:
        return {"rule": "holdout", "level": self.cfg.level, "every": self.every, "fired_at": self.fired_at,
                "checks": self.checks, "tokens_scored": self.tokens_per_check * len(self.checks)}

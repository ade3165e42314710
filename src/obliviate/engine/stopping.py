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

Two options for landing the stopped model in the oracle's band as well (a membership rule measures forgetting only):
- Finish phase (`finish`, `finish_steps` = K): when the rule fires the run does not end at once but runs
  n = min(K, steps left in the budget) more steps with the lr annealed linearly from the lr the next step would have
  had (η) towards 0: finish step j = 1..n uses η·(n + 1 − j)/n (η, …, η/n; 0 would be the step after the last), no
  checks in between. `anneal`: the method's own loss in those steps. `repair`: the retain side's mean answer-token
  NLL only (the forget term off, whatever the method's retain term is: also for methods without one).
- Utility guard (`retain_tolerance` = t, nats per answer token): the rule may fire only when the retain set's mean
  answer NLL (over at most `max_items` retain items, scored in the same no-grad check pass) is at most its value
  before the first step + t. The step-0 value is measured when the loop starts (`begin`), not checkpointed.
Measured on the full demo (BENCHMARKS.md, `bench/stop_finish.py`): `repair` with K 8 lifts npo's utility back into
the band for ~0.1 % of retraining, but neither option lands npo in the band: where the rule fires its forget quality
is out of band too, and the guard delays the stop past the cost of the whole run. Both stay opt-in.

    stop = HoldoutStop(tokenizer, forget, holdout, StopConfig(every=8, finish=Finish("repair", 8)), retain=retain)
    model, log = unlearn(..., stop=stop)            # log["stop"]: the checks and the step it fired at
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from statistics import NormalDist, fmean
from typing import Literal

import torch

from obliviate.errors import ConfigError, DataError
from obliviate.methods.protocol import Needs, SideNeeds, SideStats
from obliviate.models import collate, encode_qa, forward_logprobs, pad_id
from obliviate.models.scoped import eval_mode

FINISH_KINDS: tuple[str, ...] = ("none", "anneal", "repair")


@dataclass(frozen=True)
class Finish:
    """What a run does after the rule fires (module docstring): `none` ends it there; `anneal` and `repair` run
    min(`steps`, steps left) more steps at a linearly annealed lr, `repair` with the retain NLL as the only loss."""

    kind: Literal["none", "anneal", "repair"] = "none"
    steps: int = 8

    def check(self) -> None:
        if self.kind not in FINISH_KINDS:
            raise ConfigError(f"stop.finish: must be one of {list(FINISH_KINDS)}, got {self.kind!r}")
        if self.steps < 1:
            raise ConfigError(f"stop.finish_steps: must be >= 1, got {self.steps}")

    @property
    def uses_retain(self) -> bool:
        return self.kind == "repair"

    def lrs(self, lr: float, left: int) -> list[float]:
        """The finish steps' lrs: n = min(steps, left) values η·(n + 1 − j)/n for j = 1..n, η = `lr`; [] for `none`.
        E.g. η = 4e-4, n = 4: 4e-4, 3e-4, 2e-4, 1e-4."""
        n = min(self.steps, left) if self.kind != "none" else 0
        return [lr * (n + 1 - j) / n for j in range(1, n + 1)]

    def needs(self, needs: Needs) -> Needs:
        """The forward passes of a finish step: `repair` runs the retain side alone (plain NLL: no logits, no
        reference), `anneal` what the method asks for."""
        return Needs(forget=SideNeeds(used=False), retain=SideNeeds()) if self.kind == "repair" else needs

    def loss(self, method, forget: SideStats | None, retain: SideStats | None):
        """(total, terms) of a finish step: `repair` = the retain batch's mean answer-token NLL (no forget term),
        `anneal` = the method's loss."""
        if self.kind != "repair":
            return method.loss(forget, retain)
        nll = retain.mean_token_nll()
        return nll, {"retain": nll.detach()}


@dataclass(frozen=True)
class StopConfig:
    every: int = 8  # optimizer steps between checks
    level: float = 0.95  # two-sided confidence level of the AUC's interval
    min_steps: int = 0  # no check fires before this step
    max_items: int = 64  # items scored per set per check (a fixed random subset when a set is larger)
    batch_size: int = 32
    seed: int = 0
    finish: Finish = field(default_factory=Finish)  # after the rule fires (module docstring)
    retain_tolerance: float | None = None  # the utility guard: retain NLL at most its step-0 value + this

    def check(self) -> None:
        for name, lo in (("every", 1), ("max_items", 2), ("batch_size", 1), ("min_steps", 0)):
            if getattr(self, name) < lo:
                raise ConfigError(f"stop.{name}: must be >= {lo}, got {getattr(self, name)}")
        if not 0 < self.level < 1:
            raise ConfigError(f"stop.level: must be in (0, 1), got {self.level}")
        if self.retain_tolerance is not None and not self.retain_tolerance > 0:
            raise ConfigError(f"stop.retain_tolerance: must be > 0 (nats per answer token), got "
                              f"{self.retain_tolerance}")
        self.finish.check()


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
    """The rule of the module docstring, bound to one run's data; `unlearn(..., stop=this)` calls `begin` before the
    first step, then this every `every` steps, and after it fired runs `finish`'s steps."""

    def __init__(self, tokenizer, forget: list[dict], holdout: list[dict], cfg: StopConfig | None = None,
                 retain: list[dict] | None = None):
        self.cfg = cfg or StopConfig()
        self.cfg.check()
        if not holdout:
            raise DataError("stop: holdout needs holdout records", field="stop", rule="a non-empty holdout split",
                            value=0)
        guarded = self.cfg.retain_tolerance is not None
        if (guarded or self.cfg.finish.uses_retain) and not retain:
            what = "stop.retain_tolerance" if guarded else f"stop.finish={self.cfg.finish.kind}"
            raise DataError(f"{what} needs retain records", field="stop", rule="a non-empty retain split", value=0)
        rng = random.Random(self.cfg.seed)
        self.pad = pad_id(tokenizer)  # falls back to EOS for tokenizers without a pad token
        rows = (forget, holdout, retain) if guarded else (forget, holdout)
        # sets: [forget, holdout] (+ [retain] with the guard), each a fixed subset of at most max_items encodings
        self.sets = [[encode_qa(tokenizer, r["question"], r["answer"]) for r in self._subset(s, rng)] for s in rows]
        self.every = self.cfg.every
        self.finish = self.cfg.finish
        self.tokens_per_check = sum(len(e) for items in self.sets for e in items)
        self.checks: list[dict] = []
        self.fired_at: int | None = None
        self.retain_nll_0: float | None = None

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

    def begin(self, model, start: int) -> None:
        """Before the first step: the guard's step-0 retain NLL (nothing to do without the guard)."""
        if self.cfg.retain_tolerance is None:
            return
        if start > 0:
            raise ConfigError(f"stop.retain_tolerance: the step-0 retain NLL is not checkpointed, so a run with the "
                              f"guard cannot resume (got a resume from step {start}); run it from the start")
        self.retain_nll_0 = fmean(self.scores(model, self.sets[2]))

    def __call__(self, model, step: int) -> bool:
        """Check at `step`; True when the rule fires now (the run ends, or its finish phase starts)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        auc, se = delong_auc(*(self.scores(model, s) for s in self.sets[:2]))
        stop, lo, hi = fires(auc, se, self.cfg.level)
        stop = stop and step >= self.cfg.min_steps
        check = {"step": step, "auc": round(auc, 4), "lo": round(lo, 4), "hi": round(hi, 4)}
        if self.cfg.retain_tolerance is not None:
            retain_nll = fmean(self.scores(model, self.sets[2]))
            stop = stop and retain_nll <= self.retain_nll_0 + self.cfg.retain_tolerance
            check["retain_nll"] = round(retain_nll, 4)
        self.checks.append({**check, "stop": stop, "seconds": round(time.perf_counter() - t0, 3),
                            "cpu_seconds": round(time.thread_time() - c0, 3)})
        if stop and self.fired_at is None:
            self.fired_at = step
        return stop

    def summary(self) -> dict:
        baseline = sum(len(e) for e in self.sets[2]) if self.retain_nll_0 is not None else 0  # begin's pass
        out = {"rule": "holdout", "level": self.cfg.level, "every": self.every, "fired_at": self.fired_at,
               "checks": self.checks, "tokens_scored": self.tokens_per_check * len(self.checks) + baseline}
        said = []  # results.json `conventions.stop`: what the stopped model is, beyond the rule
        if self.finish.kind != "none":
            out["finish"] = {"kind": self.finish.kind, "steps": self.finish.steps}
            said.append(f"after the rule fired, up to {self.finish.steps} finish steps at an lr annealed linearly to "
                        "0, " + ("on the retain NLL alone (forget term off)" if self.finish.uses_retain
                                 else "on the method's loss"))
        if self.cfg.retain_tolerance is not None:
            out["retain_tolerance"] = self.cfg.retain_tolerance
            out["retain_nll_0"] = round(self.retain_nll_0, 4) if self.retain_nll_0 is not None else None
            said.append(f"the rule fired only with the retain NLL within {self.cfg.retain_tolerance} nats/token of "
                        "its step-0 value")
        if said:
            out["convention"] = "stop: holdout: " + "; ".join(said)
        return out

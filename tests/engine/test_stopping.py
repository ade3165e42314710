"""`stop: holdout`: DeLong's AUC and its interval by hand, the rule on hand-built curves (fires when the forget
set's membership AUC against the holdout reaches 0.5 within its CI, not before), the loop ending early, the finish
phase after the rule fires (annealed lrs by hand; `repair` runs no forget term) and the retain-NLL guard."""
from __future__ import annotations

import pytest

from obliviate.config import ConfigError
from obliviate.engine import loop as loop_module
from obliviate.engine import unlearn
from obliviate.engine.stopping import Finish, HoldoutStop, StopConfig, delong_auc, fires
from obliviate.errors import DataError
from obliviate.models import encode_qa

HOLDOUT = [2.0 + i / 39 for i in range(40)]  # holdout losses, evenly spread over [2, 3]


def test_delong_by_hand():
    # members {1, 3} vs non-members {2, 4}: wins 1<2, 1<4, 3<4 -> AUC 3/4; V10 = (1, ½), V01 = (½, 1);
    # var = var(V10)/2 + var(V01)/2 = 0.125/2 + 0.125/2 = 0.125 -> se = 0.35355
    auc, se = delong_auc([1.0, 3.0], [2.0, 4.0])
    assert auc == 0.75 and se == pytest.approx(0.125 ** 0.5)
    assert delong_auc([1.0, 1.5], [2.0, 4.0]) == (1.0, 0.0)  # perfectly separated: no variance
    auc, _ = delong_auc([2.0, 2.0], [2.0, 2.0])  # all ties count ½
    assert auc == 0.5


def test_fires_on_the_interval():
    # z(0.95) = 1.959964: 0.7 - 0.196 = 0.504 > 0.5 (keeps going); 0.69 - 0.196 = 0.494 (stops)
    stop, lo, hi = fires(0.7, 0.1, 0.95)
    assert not stop and fires(0.69, 0.1, 0.95)[0] and fires(0.3, 0.0, 0.95)[0]
    assert lo == pytest.approx(0.7 - 1.959964 * 0.1, abs=1e-6) and hi == pytest.approx(0.7 + 0.1959964, abs=1e-6)


def curve_stop(shifts, retain_nlls=(), **cfg):
    """A HoldoutStop whose checks see forget losses = holdout losses − shift, one shift per check; with the guard,
    the retain items' losses are all retain_nlls[0] at `begin`, then retain_nlls[i] at check i."""
    rec = [{"question": "q?", "answer": "a."}] * 3
    stop = HoldoutStop(_Tok(), rec, rec, StopConfig(**cfg), retain=rec)
    seq, retain_seq = iter(shifts), iter(retain_nlls)

    def scores(model, items):
        if items is stop.sets[0]:
            scores.shift = next(seq)
            return [h - scores.shift for h in HOLDOUT]
        if len(stop.sets) > 2 and items is stop.sets[2]:
            return [next(retain_seq)] * len(items)
        return HOLDOUT

    stop.scores = scores
    return stop


@pytest.mark.parametrize(("shifts", "fired_at"), [
    ([1.0, 0.5, 0.3, 0.0, 0.0], 32),  # AUC 1, 0.87, 0.75, 0.5: fires at the fourth check (step 32)
    ([1.0, 0.5, -0.5], 24),  # overshoot between checks (AUC < 0.5): fires at once
    ([1.0, 0.6, 0.5, 0.5, 0.5], None),  # stalls far from 0.5: never fires
])
def test_rule_on_hand_built_curves(shifts, fired_at):
    stop = curve_stop(shifts, every=8)
    decisions = [stop(None, 8 * (i + 1)) for i in range(len(shifts))]
    assert stop.fired_at == fired_at
    first = decisions.index(True) if True in decisions else None
    assert first == (None if fired_at is None else fired_at // 8 - 1)
    for check in stop.checks[:first]:  # before it fires, 0.5 is outside the interval
        assert check["lo"] > 0.5


def test_min_steps_holds_the_rule_back():
    stop = curve_stop([0.0, 0.0], every=8, min_steps=12)
    assert [stop(None, 8), stop(None, 16)] == [False, True]


class Stub:
    """Fires at `at` (checked every 2 steps); `finish` as HoldoutStop has it."""

    every = 2

    def __init__(self, at=4, finish=None):
        self.at, self.finish, self.began = at, finish, None

    def begin(self, model, start):
        self.began = start

    def __call__(self, model, step):
        return step == self.at

    def summary(self):
        return {"rule": "stub"}


def _run(model, tokenizer, split, stop, method="grad_diff", **train):
    overrides = {"engine.progress": False, "train.max_steps": 10, "train.batch_size": 4,
                 **{f"train.{k}": v for k, v in train.items()}}
    return unlearn(model, tokenizer, *split, method, overrides, stop=stop)[1]


def test_loop_ends_at_the_stop(trained, tokenizer, split):
    stub = Stub()
    log = _run(trained, tokenizer, split, stub)
    assert [e["step"] for e in log["log"]] == [1, 2, 3, 4] and log["stop"] == {"rule": "stub"}
    assert stub.began == 0  # begin ran once, before the first step


def test_finish_lrs_by_hand():
    # n = min(4, left) steps of η·(n + 1 − j)/n: η = 4e-4 -> 4, 3, 2, 1 (e-4); 2 steps left -> 4e-4, 2e-4
    assert Finish("anneal", 4).lrs(4e-4, 100) == pytest.approx([4e-4, 3e-4, 2e-4, 1e-4])
    assert Finish("repair", 4).lrs(4e-4, 2) == pytest.approx([4e-4, 2e-4])
    assert Finish("none", 4).lrs(4e-4, 100) == []


@pytest.mark.parametrize(("schedule", "at", "steps", "lrs"), [
    # constant lr 1e-3, fires at 4: steps 5..7 at 1e-3·3/3, ·2/3, ·1/3
    ("constant", 4, [1, 2, 3, 4, 5, 6, 7], [1e-3] * 4 + [1e-3, 2e-3 / 3, 1e-3 / 3]),
    # linear decay over 10 steps: step s runs at 1e-3·(1 − (s−1)/10); fires at 4, so η = step 5's 6e-4 -> 6, 4, 2
    ("linear", 4, [1, 2, 3, 4, 5, 6, 7], [1e-3, 9e-4, 8e-4, 7e-4, 6e-4, 4e-4, 2e-4]),
    # fires at 8 of 10: only 2 steps left -> η = step 9's 1e-3, then 5e-4; the budget is never exceeded
    ("constant", 8, list(range(1, 11)), [1e-3] * 8 + [1e-3, 5e-4]),
])
def test_finish_anneals_the_lr(trained, tokenizer, split, schedule, at, steps, lrs):
    log = _run(trained, tokenizer, split, Stub(at, Finish("anneal", 3)), lr=1e-3, schedule=schedule)
    assert [e["step"] for e in log["log"]] == steps
    assert [e["lr"] for e in log["log"]] == pytest.approx(lrs)
    assert all("forget" in e for e in log["log"])  # anneal keeps the method's loss


def test_repair_turns_the_forget_term_off(trained, tokenizer, split, monkeypatch):
    seen = []  # (forget side run?, method loss called?) per micro-batch
    real = loop_module.micro_batch

    def spy(model, needs, *args, **kwargs):
        b = real(model, needs, *args, **kwargs)
        seen.append(b.forget is not None)
        assert needs.forget.used == (b.forget is not None)
        return b

    monkeypatch.setattr(loop_module, "micro_batch", spy)
    log = _run(trained, tokenizer, split, Stub(4, Finish("repair", 2)), method="ga", lr=1e-3)
    assert seen == [True] * 4 + [False] * 2  # ga has no retain term: repair runs the retain side anyway
    for e in log["log"][4:]:  # loss = the retain NLL, no forget term
        assert "forget" not in e and e["loss"] == pytest.approx(e["retain"]) == pytest.approx(e["retain_nll"])
    assert [e["lr"] for e in log["log"]] == pytest.approx([1e-3] * 5 + [5e-4])


def test_finish_refused_with_a_final_edit(trained, tokenizer, split):
    with pytest.raises(ConfigError, match="stop.finish"):
        _run(trained, tokenizer, split, Stub(4, Finish("anneal", 2)), method="task_vector")


@pytest.mark.parametrize(("retain_nlls", "decisions"), [
    # step 0: 1.0; tolerance 0.5: 2.0 and 1.6 block the firing AUC (0.5), 1.4 lets it through
    ([1.0, 2.0, 1.6, 1.4], [False, False, True]),
    ([1.0, 1.5, 1.0, 1.0], [True, True, True]),  # exactly at the tolerance: allowed
    ([1.0, 3.0, 3.0, 3.0], [False, False, False]),  # utility never comes back: never fires
])
def test_guard_holds_the_rule_back_while_retain_nll_is_high(retain_nlls, decisions):
    stop = curve_stop([0.0, 0.0, 0.0], retain_nlls, every=8, retain_tolerance=0.5)
    stop.begin(None, 0)
    assert [stop(None, 8 * (i + 1)) for i in range(3)] == decisions
    assert stop.fired_at == (8 * (decisions.index(True) + 1) if True in decisions else None)
    assert [c["retain_nll"] for c in stop.checks] == retain_nlls[1:]
    summary = stop.summary()
    assert summary["retain_nll_0"] == 1.0 and "retain NLL" in summary["convention"]


def test_guard_and_finish_need_their_data(tokenizer, split):
    forget, retain = split
    with pytest.raises(DataError, match="stop.retain_tolerance"):
        HoldoutStop(tokenizer, forget, retain, StopConfig(retain_tolerance=0.1))
    with pytest.raises(DataError, match="stop.finish=repair"):
        HoldoutStop(tokenizer, forget, retain, StopConfig(finish=Finish("repair")), retain=[])
    stop = HoldoutStop(tokenizer, forget, retain[:6], StopConfig(retain_tolerance=0.1), retain=retain)
    with pytest.raises(ConfigError, match="resume"):  # the step-0 baseline is not checkpointed
        stop.begin(None, 3)


def test_real_scores_on_a_model(trained, tokenizer, split, qa_records):
    forget, retain = split
    stop = HoldoutStop(tokenizer, forget, retain[:6], StopConfig(every=1))
    fired = stop(trained, 1)  # the trained model memorised both sets: not distinguishable -> fires
    assert isinstance(fired, bool) and 0.0 <= stop.checks[0]["auc"] <= 1.0
    tokens = sum(len(encode_qa(tokenizer, r["question"], r["answer"])) for r in forget + retain[:6])
    assert stop.summary()["tokens_scored"] == tokens  # one check: every item of both sets once


def test_bad_inputs(tokenizer, split):
    with pytest.raises(DataError, match="holdout"):
        HoldoutStop(tokenizer, split[0], [], StopConfig())
    with pytest.raises(ConfigError, match="stop.level"):
        HoldoutStop(tokenizer, split[0], split[1], StopConfig(level=1.5))
    with pytest.raises(ConfigError, match="stop.every"):
        HoldoutStop(tokenizer, split[0], split[1], StopConfig(every=0))
    with pytest.raises(DataError, match="2 items"):
        delong_auc([1.0], [2.0, 3.0])
    for cfg, message in ((StopConfig(retain_tolerance=0.0), "stop.retain_tolerance: must be > 0.*got 0.0"),
                         (StopConfig(finish=Finish("rewind")), "stop.finish: must be one of.*got 'rewind'"),
                         (StopConfig(finish=Finish("anneal", 0)), "stop.finish_steps: must be >= 1, got 0")):
        with pytest.raises(ConfigError, match=message):
            HoldoutStop(tokenizer, split[0], split[1], cfg, retain=split[1])


class _Tok:
    pad_token_id = 0


@pytest.fixture(autouse=True)
def _encode_stub(monkeypatch, request):
    if any(k in request.node.name for k in ("curve", "min_steps", "guard_holds")):
        monkeypatch.setattr("obliviate.engine.stopping.encode_qa", lambda tok, q, a: [1, 2])

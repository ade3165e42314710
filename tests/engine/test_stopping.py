"""`stop: holdout`: DeLong's AUC and its interval by hand, the rule on hand-built curves (fires when the forget
set's membership AUC against the holdout reaches 0.5 within its CI, not before), and the loop ending early."""
from __future__ import annotations

import pytest

from obliviate.config import ConfigError
from obliviate.engine import unlearn
from obliviate.engine.stopping import HoldoutStop, StopConfig, delong_auc, fires
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


def curve_stop(shifts, **cfg):
    """A HoldoutStop whose checks see forget losses = holdout losses − shift, one shift per check."""
    rec = [{"question": "q?", "answer": "a."}] * 3
    stop = HoldoutStop(_Tok(), rec, rec, StopConfig(**cfg))
    seq = iter(shifts)

    def scores(model, items):
        if items is stop.sets[0]:
            scores.shift = next(seq)
            return [h - scores.shift for h in HOLDOUT]
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


def test_loop_ends_at_the_stop(trained, tokenizer, split):
    class Stub:
        every = 2

        def __call__(self, model, step):
            return step == 4

        def summary(self):
            return {"rule": "stub"}

    _, log = unlearn(trained, tokenizer, *split, "grad_diff", {"engine.progress": False, "train.max_steps": 10,
                                                               "train.batch_size": 4}, stop=Stub())
    assert [e["step"] for e in log["log"]] == [1, 2, 3, 4] and log["stop"] == {"rule": "stub"}


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


class _Tok:
    pad_token_id = 0


@pytest.fixture(autouse=True)
def _encode_stub(monkeypatch, request):
    if "curve" in request.node.name or "min_steps" in request.node.name:
        monkeypatch.setattr("obliviate.engine.stopping.encode_qa", lambda tok, q, a: [1, 2])

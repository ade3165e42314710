"""The registry rejects bad names, duplicates and non-frozen classes; lookups name their track and what is available."""
from dataclasses import dataclass
from typing import ClassVar

import pytest

from obliviate.config import ConfigError
from obliviate.methods import METHODS, available, build, describe, get, register

EXPECTED = {"ga", "grad_diff", "npo", "simnpo", "idk_dpo", "rmu", "undial", "task_vector"}


def test_all_methods_registered_and_described():
    assert set(METHODS) == EXPECTED
    assert available("llm") == METHODS == sorted(EXPECTED)  # listing order = import order (alphabetical)
    for name in METHODS:
        d = describe(name, track="llm")
        assert d["track"] == "llm" and d["summary"] and d["paper"] and isinstance(d["defaults"], dict)


def test_unknown_method_lists_available():
    with pytest.raises(ConfigError, match="available: ga, grad_diff, idk_dpo, npo"):
        get("npoo", track="llm")


def test_unknown_hyper_parameter_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"method\.bta: unknown key; valid keys: alpha, beta, gamma, retain"):
        build("npo", {"bta": "0.2"}, track="llm")


def test_bad_value_and_retain_kind():
    with pytest.raises(ConfigError, match="method.beta: must be float"):
        build("npo", {"beta": "high"}, track="llm")
    with pytest.raises(ConfigError, match="must be one of"):
        build("npo", {"retain": "l2"}, track="llm")


def test_register_rejects_duplicates_bad_names_and_mutable_classes():
    @dataclass(frozen=True)
    class Dummy:
        summary: ClassVar[str] = "x"
        paper: ClassVar[str] = "y"

        def needs(self):
            return None

        def loss(self, f, r):
            return None

    with pytest.raises(ValueError, match="already registered"):
        register("npo", track="llm")(Dummy)
    with pytest.raises(ValueError, match="must match"):
        register("Bad-Name", track="llm")
    with pytest.raises(TypeError, match="frozen dataclass"):
        register("mutable_one", track="llm")(type("M", (), {}))
    assert "mutable_one" not in available("llm")


def test_every_lookup_names_a_known_track():
    with pytest.raises(TypeError):
        get("npo")  # no default track: `ga` means different things in different tracks
    with pytest.raises(ConfigError, match="track 'text': unknown; tracks: llm, vision"):
        get("npo", track="text")
    with pytest.raises(ConfigError, match="track 'text': unknown"):
        register("x", track="text")


def test_one_name_two_tracks_two_methods():
    """`ga` is gradient ascent on answer NLL (llm) and on cross-entropy (vision): two classes, found by track."""
    llm, vision = get("ga", track="llm"), get("ga", track="vision")
    assert llm is not vision and (llm.track, vision.track) == ("llm", "vision")
    assert hasattr(llm, "loss") and hasattr(vision, "phases")
    assert describe("ga", track="vision")["defaults"]["lr"] == 1e-2 and "lr" not in describe("ga", track="llm")


def test_unknown_name_lists_that_tracks_methods_and_where_else_it_exists():
    with pytest.raises(ConfigError, match=r"^method 'salun': unknown llm method \('salun' is a vision method\); "
                                          r"available: ga, grad_diff, idk_dpo, npo, rmu, simnpo, task_vector, "
                                          r"undial$"):
        get("salun", track="llm")
    with pytest.raises(ConfigError, match=r"^method 'sallun': unknown vision method; available: retrain, ft, ga, "
                                          r"rl, l1_sparse, salun, scrub, prune_first, ssd, laf, concept$"):
        build("sallun", track="vision")


def test_what_a_class_must_have_depends_on_its_track():
    """An LLM method (a loss, no SGD settings or phases) cannot register as a vision method, nor the reverse."""
    with pytest.raises(TypeError, match="vision method 'npo_again': .* has no 'phases', 'lr', 'epochs'"):
        register("npo_again", track="vision")(get("npo", track="llm"))
    with pytest.raises(TypeError, match="llm method 'salun_again': .* has no 'needs', 'loss'"):
        register("salun_again", track="llm")(get("salun", track="vision"))
    with pytest.raises(ValueError, match="vision method 'ga': already registered by GradientAscent"):
        register("ga", track="vision")(get("ga", track="vision"))


@pytest.mark.parametrize("track", ["llm", "vision", "regression"])
def test_methods_compose_instead_of_inheriting(track):
    """STYLE 4: every method class is a plain frozen dataclass (its only base is object)."""
    for name in available(track):
        assert get(name, track=track).__bases__ == (object,), f"{track}/{name}"

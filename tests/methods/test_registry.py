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

"""The registry rejects bad names, duplicates and non-frozen classes; lookups name what is available."""
from dataclasses import dataclass
from typing import ClassVar

import pytest

from obliviate.config import ConfigError
from obliviate.methods import METHODS, available, build, describe, get, register

EXPECTED = {"ga", "grad_diff", "npo", "simnpo", "idk_dpo", "rmu", "undial", "task_vector"}


def test_all_methods_registered_and_described():
    assert set(METHODS) == EXPECTED
    for name in METHODS:
        d = describe(name)
        assert d["summary"] and d["paper"] and isinstance(d["defaults"], dict)


def test_unknown_method_lists_available():
    with pytest.raises(ConfigError, match="available: ga, grad_diff, idk_dpo, npo"):
        get("npoo")


def test_unknown_hyper_parameter_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"method\.bta: unknown key; valid keys: alpha, beta, gamma, retain"):
        build("npo", {"bta": "0.2"})


def test_bad_value_and_retain_kind():
    with pytest.raises(ConfigError, match="method.beta: must be float"):
        build("npo", {"beta": "high"})
    with pytest.raises(ConfigError, match="must be one of"):
        build("npo", {"retain": "l2"})


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
        register("npo")(Dummy)
    with pytest.raises(ValueError, match="must match"):
        register("Bad-Name")
    with pytest.raises(TypeError, match="frozen dataclass"):
        register("mutable_one")(type("M", (), {}))
    assert "mutable_one" not in available()

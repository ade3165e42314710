"""The static method catalog (what `obliviate methods` prints without torch) says what the registered methods say."""
from __future__ import annotations

import pytest

from obliviate import catalog


def test_llm_entries_match_the_registered_dataclasses():
    from obliviate import methods
    from obliviate.config import to_dict

    assert list(catalog.METHODS["llm"]) == methods.available("llm")
    for name, info in catalog.METHODS["llm"].items():
        cls = methods.get(name, track="llm")
        assert (info.track, info.summary, info.paper) == ("llm", cls.summary, cls.paper), name
        # same fields, same order, same defaults (the listing prints them in this order)
        assert list(info.defaults().items()) == list(to_dict(cls()).items()), name


def test_vision_entries_match_the_registered_dataclasses():
    from obliviate.methods import available, describe

    assert list(catalog.METHODS["vision"]) == available("vision")
    for name, info in catalog.METHODS["vision"].items():
        described = describe(name, track="vision")
        assert (info.track, info.summary) == ("vision", described["summary"]), name
        assert list(info.defaults().items()) == list(described["defaults"].items()), name


@pytest.mark.parametrize("track", ["llm", "vision"])
def test_every_parameter_has_help(track):
    for info in catalog.METHODS[track].values():
        assert info.params, info.name
        for p in info.params:
            assert p.help.strip(), f"{info.name}.{p.name}"


def test_describe_adds_track_and_help_to_the_listing():
    row = catalog.METHODS["llm"]["npo"].describe()
    assert list(row) == ["name", "track", "summary", "paper", "defaults", "help"]
    assert row["defaults"] == {"beta": 0.1, "gamma": 1.0, "alpha": 1.0, "retain": "nll"}
    assert set(row["help"]) == set(row["defaults"])


def test_context_is_the_presets():
    import inspect

    from obliviate.models.presets import preset_config

    default = inspect.signature(preset_config).parameters["max_positions"].default
    assert default == catalog.CONTEXT_TOKENS

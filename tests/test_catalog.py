"""The static method catalog (what `obliviate methods` prints without torch) says what the registered methods say."""
from __future__ import annotations

import pytest

from obliviate import catalog


@pytest.mark.parametrize("track", ["llm", "vision", "diffusion"])
def test_entries_match_the_registered_dataclasses(track):
    from obliviate.methods import TRACKS, available, describe

    assert list(catalog.METHODS) == list(TRACKS)
    assert list(catalog.METHODS[track]) == available(track)  # the listing order too
    for name, info in catalog.METHODS[track].items():
        described = describe(name, track=track)
        assert (info.track, info.summary, info.paper) == (track, described["summary"], described["paper"]), name
        # same fields, same order, same defaults (the listing prints them in this order)
        assert list(info.defaults().items()) == list(described["defaults"].items()), name


@pytest.mark.parametrize("track", ["llm", "vision", "diffusion"])
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


def test_methods_command_lists_every_track(capsys):
    """`obliviate methods --json`: every method of every track, each with summary, paper and help per parameter;
    `--track` and `obliviate vision methods` filter."""
    import json

    from obliviate.cli import main

    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["track"], r["name"]) for r in rows] == [(t, n) for t in catalog.METHODS for n in catalog.METHODS[t]]
    assert {("llm", "ga"), ("vision", "ga"), ("vision", "salun")} <= {(r["track"], r["name"]) for r in rows}
    assert all(r["paper"] and set(r["help"]) == set(r["defaults"]) for r in rows)
    assert main(["methods", "--track", "vision"]) == 0
    text = capsys.readouterr().out
    assert main(["vision", "methods"]) == 0
    assert capsys.readouterr().out == text and "[llm]" not in text
    assert "salun        [vision] random labels" in text and "ratio=0.5" in text and "Fan et al., 2024" in text

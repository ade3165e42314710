"""Every shipped spec fragment (`obliviate/configs/persons/*.yaml`, `configs/quick/*.yaml`) and every example run
spec (`configs/*.yaml`) loads and validates through `obliviate.spec.load_spec`, the path `obliviate run` takes, so
an unknown or ill-typed key in a shipped file fails here rather than in a user's run.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from obliviate.config import ConfigError, load_yaml
from obliviate.demo.settings import CONFIG_ROOT, deep_merge, method_fragment
from obliviate.engine import resolve
from obliviate.methods import available
from obliviate.spec import load_spec

SHIPPED = sorted((CONFIG_ROOT / "persons").glob("*.yaml")) + sorted((CONFIG_ROOT / "quick").glob("*.yaml"))
PLACEHOLDERS = {"model": "models/target", "data": "corpus", "out": "runs/x"}


def test_every_method_has_demo_defaults():
    assert {p.stem for p in (CONFIG_ROOT / "persons").glob("*.yaml")} == set(available("llm"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_fragment_is_a_typed_spec_section(path):
    assert path.stem in available("llm"), f"{path}: no method named {path.stem!r}"
    data = load_yaml(path)
    assert data and set(data) <= {"method", "train", "engine"}, sorted(data)
    if path.parent.name == "persons":
        assert data["method"]["name"] == path.stem
        assert isinstance(data["train"]["lr"], float) and isinstance(data["train"]["epochs"], int)  # typed
    load_spec({**PLACEHOLDERS, "method": path.stem} | data)


@pytest.mark.parametrize("method", available("llm"))
@pytest.mark.parametrize("quick", [False, True])
def test_layered_fragments_resolve(method, quick):
    """The quick layer on top of the persons defaults is what --quick runs; both must be valid together, and
    the engine must accept the typed overrides the spec hands it."""
    spec = load_spec({**PLACEHOLDERS, **method_fragment(method, quick)})
    cfg, _ = resolve(method, spec.overrides())
    assert cfg.train.batch_size >= 1
    if quick:
        assert 0 < cfg.train.max_steps <= 10  # "a few steps" per method


def test_deep_merge():
    assert deep_merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}, "c": 4}) == {"a": {"x": 1, "y": 3}, "b": 1,
                                                                                   "c": 4}


def test_bad_key_in_a_fragment_fails(tmp_path, monkeypatch):
    import obliviate.demo.settings as settings

    (tmp_path / "persons").mkdir()
    (tmp_path / "persons" / "npo.yaml").write_text("method: {name: npo, betta: 0.1}\ntrain: {lr: fast}\n")
    monkeypatch.setattr(settings, "CONFIG_ROOT", tmp_path)
    with pytest.raises(ConfigError) as e:
        load_spec({**PLACEHOLDERS, **settings.method_fragment("npo")})
    assert "method.betta: unknown key" in str(e.value) and "train.lr" in str(e.value)  # both, at once


def test_missing_fragment_is_an_error(tmp_path, monkeypatch):
    import obliviate.demo.settings as settings

    monkeypatch.setattr(settings, "CONFIG_ROOT", tmp_path)
    with pytest.raises(ConfigError, match="no shipped demo defaults"):
        settings.method_fragment("npo")


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_specs_validate(path):
    spec = load_spec(path)
    assert spec.method.name in available("llm") and spec.out

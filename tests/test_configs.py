"""Every shipped demo config (`obliviate/configs/persons/*.yaml`, `configs/quick/*.yaml`) loads and resolves.

Resolving goes through `obliviate.engine.resolve`, the same path `obliviate unlearn --set` takes, so an unknown
or ill-typed key in a shipped file fails here rather than in a user's demo run.
"""
from __future__ import annotations

import pytest

from obliviate.config import ConfigError, load_yaml
from obliviate.demo.settings import CONFIG_ROOT, method_overrides
from obliviate.engine import resolve
from obliviate.methods import available

SHIPPED = sorted((CONFIG_ROOT / "persons").glob("*.yaml")) + sorted((CONFIG_ROOT / "quick").glob("*.yaml"))


def test_every_method_has_demo_defaults():
    assert {p.stem for p in (CONFIG_ROOT / "persons").glob("*.yaml")} == set(available("llm"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_yaml_resolves(path):
    assert path.stem in available("llm"), f"{path}: no method named {path.stem!r}"
    data = load_yaml(path)
    assert data, f"{path}: empty"
    assert all(k.split(".")[0] in ("method", "train", "engine") for k in data), sorted(data)
    resolve(path.stem, {k: str(v) for k, v in data.items()})


@pytest.mark.parametrize("method", available("llm"))
@pytest.mark.parametrize("quick", [False, True])
def test_layered_overrides_resolve(method, quick):
    """The quick layer on top of the persons defaults is what --quick runs; both must be valid together."""
    overrides = method_overrides(method, quick)
    cfg, _ = resolve(method, overrides)
    assert cfg.train.batch_size >= 1
    if quick:
        assert 0 < cfg.train.max_steps <= 10  # "a few steps" per method


def test_bad_key_in_a_config_fails(tmp_path, monkeypatch):
    import obliviate.demo.settings as settings

    (tmp_path / "persons").mkdir()
    (tmp_path / "persons" / "npo.yaml").write_text("method.betta: 0.1\n")
    monkeypatch.setattr(settings, "CONFIG_ROOT", tmp_path)
    with pytest.raises(ConfigError, match="betta"):
        resolve("npo", settings.method_overrides("npo"))
    (tmp_path / "persons" / "npo.yaml").write_text("train.lr: fast\n")
    with pytest.raises(ConfigError, match="train.lr"):
        resolve("npo", settings.method_overrides("npo"))


def test_missing_config_is_an_error(tmp_path, monkeypatch):
    import obliviate.demo.settings as settings

    monkeypatch.setattr(settings, "CONFIG_ROOT", tmp_path)
    with pytest.raises(ConfigError, match="no shipped demo defaults"):
        settings.method_overrides("npo")

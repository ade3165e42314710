"""The one method registry of every track: `@register("npo", track="llm")` beside each definition;
`get(name, track=...)` and `build(name, overrides, track=...)` to use.

Keys are (track, name): a name may mean one method per track (`ga` is gradient ascent on answer NLL for `llm` and on
cross-entropy for `vision`), so every lookup names its track; nothing defaults to one. Names follow one rule for all
tracks (lower case, digits, underscores) and a duplicate within a track is an error. A track's methods are imported
on its first lookup (`TRACKS` says from where), so `get("salun", track="vision")` works without importing the vision
package first.

Every method is a frozen dataclass of hyper-parameters with class attributes `summary` (one line) and `paper`; what
else it must have depends on its track (`REQUIRED`):
- llm: `needs()` saying what the engine must compute, and a pure `loss(forget, retain) -> (total, {term: value})`.
  Optional hooks the engine looks for (never the name): `bind(model, seed)`, `trainable(name)`,
  `alternative_answer(record, index)`, `finalize(model, initial)`.
- vision: its SGD settings as fields (`lr`, `epochs`, `batch_size`, `momentum`, `weight_decay`, `schedule`) and
  `phases(epoch)`; see `obliviate.vision.methods` for the protocol and its optional hooks.
- regression: its Adam settings (`lr`, `epochs`, `batch_size`, `weight_decay`) and `phases(epoch)`; see
  `obliviate.vision.regression.methods`.
- diffusion: `edit(model, task) -> log`, changing a copy of a text-to-image model in place (a closed form or a short
  fine-tuning); see `obliviate.diffusion.methods.protocol`.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from typing import Any

from obliviate.config import ConfigError, replace_checked

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# track -> the module whose import registers that track's methods (a new track, e.g. diffusion, adds one line)
TRACKS = {"llm": "obliviate.methods", "vision": "obliviate.vision.methods",
          "regression": "obliviate.vision.regression.methods", "diffusion": "obliviate.diffusion.methods"}
REQUIRED = {
    "llm": ("summary", "paper", "needs", "loss"),
    "vision": ("summary", "paper", "phases", "lr", "epochs", "batch_size", "momentum", "weight_decay", "schedule"),
    "regression": ("summary", "paper", "phases", "lr", "epochs", "batch_size", "weight_decay"),
    "diffusion": ("summary", "paper", "edit"),
}
_REGISTRY: dict[tuple[str, str], type] = {}  # insertion order = listing order


def _check_track(track: str) -> None:
    if track not in TRACKS:
        raise ConfigError(f"track {track!r}: unknown; tracks: {', '.join(TRACKS)}")


def register(name: str, *, track: str) -> Callable[[type], type]:
    """Class decorator adding a method of `track` under `name`; rejects bad names, duplicates within the track and
    classes that lack what the track requires."""
    _check_track(track)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"method name {name!r}: must match {_NAME.pattern} (lower case, digits, underscores)")

    def add(cls: type) -> type:
        if (track, name) in _REGISTRY:
            raise ValueError(f"{track} method {name!r}: already registered by {_REGISTRY[track, name].__qualname__}")
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
            raise TypeError(f"{track} method {name!r}: {cls.__qualname__} must be a frozen dataclass")
        missing = [attr for attr in REQUIRED[track] if not hasattr(cls, attr)]
        if missing:
            raise TypeError(f"{track} method {name!r}: {cls.__qualname__} has no {', '.join(map(repr, missing))}")
        cls.name = name
        cls.track = track
        _REGISTRY[track, name] = cls
        return cls

    return add


def _load(track: str) -> None:
    _check_track(track)
    importlib.import_module(TRACKS[track])


def available(track: str) -> list[str]:
    """Names of `track`'s methods, in listing order (the order their modules are imported)."""
    _load(track)
    return [name for t, name in _REGISTRY if t == track]


def get(name: str, *, track: str) -> type:
    """The method class registered as `name` in `track`; the error lists that track's methods."""
    _load(track)
    try:
        return _REGISTRY[track, name]
    except KeyError:
        for other in TRACKS:  # so that the error can say where the name does exist
            _load(other)
        elsewhere = [t for t, n in _REGISTRY if n == name]
        hint = f" ({name!r} is a {' and '.join(elsewhere)} method)" if elsewhere else ""
        raise ConfigError(f"method {name!r}: unknown {track} method{hint}; available: "
                          f"{', '.join(available(track))}") from None


def build(name: str, overrides: dict[str, Any] | None = None, *, track: str):
    """An instance of `track`'s method `name` with hyper-parameter overrides (keys without the `method.` prefix).
    A method class may take over parsing with a classmethod `from_overrides(overrides, prefix)` (prune_first: its
    `inner` names another method)."""
    cls = get(name, track=track)
    overrides = dict(overrides or {})
    if hasattr(cls, "from_overrides"):
        return cls.from_overrides(overrides, prefix="method.")
    return replace_checked(cls(), overrides, prefix="method.")


def hyper_parameters(method) -> dict[str, Any]:
    """The fields of a method instance as a JSON-ready dict; a field holding another registered method (prune_first's
    `inner`) becomes {"method": its name, **its hyper-parameters}."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(method):
        value = getattr(method, f.name)
        if type(value) in _REGISTRY.values():
            out[f.name] = {"method": value.name, **hyper_parameters(value)}
        elif dataclasses.is_dataclass(value):
            out[f.name] = dataclasses.asdict(value)
        else:
            out[f.name] = value
    return out


def describe(name: str, *, track: str) -> dict[str, Any]:
    """Name, track, one-line summary, paper and defaults of a method (what `obliviate methods` prints)."""
    cls = get(name, track=track)
    return {"name": name, "track": track, "summary": cls.summary, "paper": cls.paper,
            "defaults": hyper_parameters(cls())}

"""Per-dataset defaults of the classifier methods: `obliviate/configs/vision/DATASET.yaml`, shipped as package data.

Each method's dataclass holds the values tuned on digits; a CNN on Fashion-MNIST needs others (at digits' lr, ga
diverged and scrub collapsed class-wise). A defaults file maps method names to their hyper-parameters:

    ga:
      lr: 0.0003
      epochs: 5

`defaults_for("fashion-mnist", "ga")` reads the dataset's file (validated against each method's dataclass: unknown
methods or keys, wrong types and out-of-range SGD settings are `DefaultsError`s naming file, line, key, rule and
value) and returns that method's entry; a dataset without a file (a CSV) gets {} and so the dataclass defaults.
`experiment.unlearn_method` is where they are applied, under the caller's overrides.
"""
from __future__ import annotations

import dataclasses
import functools
import typing
from pathlib import Path
from typing import Any

from obliviate.config import field_types
from obliviate.errors import ConfigError
from obliviate.methods.registry import available, build, get

DEFAULTS_ROOT = Path(__file__).resolve().parent.parent / "configs" / "vision"
# SGD settings every vision method has: (rule text, check) beyond their type
_RANGES = {"lr": (">= 0", lambda v: v >= 0), "epochs": (">= 0", lambda v: v >= 0),
           "batch_size": (">= 1", lambda v: v >= 1), "momentum": ("in [0, 1)", lambda v: 0 <= v < 1),
           "weight_decay": (">= 0", lambda v: v >= 0)}


class DefaultsError(ConfigError):
    """A defaults file that breaks a rule: `FILE:LINE: KEY: RULE (got VALUE)`."""

    def __init__(self, file: Path, line: int | None, key: str, rule: str, value: Any):
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {key}: {rule} (got {value!r})")
        self.file, self.line, self.key, self.rule, self.value = file, line, key, rule, value


def defaults_file(dataset: str) -> Path | None:
    """The shipped defaults file of `dataset` (ClassData.name), or None when there is none."""
    path = DEFAULTS_ROOT / f"{dataset}.yaml"
    return path if path.is_file() else None


def defaults_for(dataset: str, method: str) -> dict[str, Any]:
    """`method`'s hyper-parameters from `dataset`'s file ({} when the dataset or the method has no entry)."""
    path = defaults_file(dataset)
    return dict(load_defaults(path).get(method, {})) if path else {}


@functools.cache
def _cached(path: Path) -> dict[str, dict[str, Any]]:
    return _load(path)


def load_defaults(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and validate one defaults file: {method: {key: value}} (read once per process)."""
    return _cached(Path(path).resolve())


def _load(path: Path) -> dict[str, dict[str, Any]]:
    data, lines = _read(path)
    for name, entry in data.items():
        line = lines.get((name,))
        if name not in available("vision"):
            raise DefaultsError(path, line, str(name), "a vision method (" + ", ".join(available("vision")) + ")",
                                name)
        if not isinstance(entry, dict):
            raise DefaultsError(path, line, name, "a mapping of hyper-parameters", entry)
        for key, value in entry.items():
            _check(path, lines.get((name, key)), name, str(key), value, entry)
        try:
            build(name, entry, track="vision")  # anything the field checks above cannot see
        except ConfigError as e:
            raise DefaultsError(path, line, name, f"builds the method ({e})", entry) from None
    return data


def _read(path: Path) -> tuple[dict, dict[tuple, int]]:
    """The mapping in a YAML file and the 1-based line of every key path in it."""
    from obliviate.spec import yaml_with_lines

    data, lines = yaml_with_lines(path, "the defaults file")
    if not isinstance(data, dict):
        raise DefaultsError(path, 1, "(top level)", "a mapping of method names", type(data).__name__)
    return data, lines


def _check(path: Path, line: int | None, method: str, key: str, value: Any, entry: dict) -> None:
    """One key of one method's entry: a field of its dataclass (prune_first: `inner` names a method, `inner.KEY` a
    field of that method), of the field's type, and within range for the SGD settings."""
    cls, field = get(method, track="vision"), key
    if method == "prune_first" and key == "inner":
        if value not in available("vision") or value in ("prune_first", "retrain"):
            raise DefaultsError(path, line, f"{method}.{key}", "a vision method other than prune_first, retrain",
                                value)
        return
    if method == "prune_first" and key.startswith("inner."):
        cls, field = get(str(entry.get("inner", "ft")), track="vision"), key.split(".", 1)[1]
    types_ = field_types(cls)
    if field not in types_:
        raise DefaultsError(path, line, f"{method}.{key}", f"a field of {cls.__name__} (" + ", ".join(types_) + ")",
                            value)
    rule, ok = _type_rule(types_[field])
    if not ok(value):
        raise DefaultsError(path, line, f"{method}.{key}", rule, value)
    if field in _RANGES and not _RANGES[field][1](value):
        raise DefaultsError(path, line, f"{method}.{key}", _RANGES[field][0], value)


def _type_rule(tp: Any) -> tuple[str, typing.Callable[[Any], bool]]:
    """(rule text, check) for a dataclass field type; a YAML int is accepted where a float is declared."""
    if typing.get_origin(tp) is typing.Literal:
        allowed = typing.get_args(tp)
        return f"one of {list(allowed)}", lambda v: v in allowed
    if tp is bool:
        return "a boolean", lambda v: isinstance(v, bool)
    if tp is int:
        return "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return "a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is str:
        return "a string", lambda v: isinstance(v, str)
    return f"a value of type {tp}", lambda v: True


def method_defaults(method: str) -> dict[str, Any]:
    """A method's dataclass defaults as a flat entry (what a defaults file would hold for it)."""
    obj = build(method, {}, track="vision")
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):  # prune_first's inner method
            out[f.name] = value.name
            out.update({f"{f.name}.{k}": v for k, v in method_defaults(value.name).items()})
        else:
            out[f.name] = value
    return out

"""Typed configuration: frozen-or-plain dataclasses, flat YAML files and dotted `--set a.b=c` overrides.

Unknown keys are errors that list the valid ones; values are parsed by the field's declared type.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError  # re-exported: callers catch config errors from here


def _parse_value(raw: Any, tp: Any, key: str) -> Any:
    """Convert `raw` (usually a string from the command line) to the field type `tp`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null")):
            return None
        return _parse_value(raw, args[0], key)
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(tp) or (str,)
        items = raw if isinstance(raw, (list, tuple)) else [s for s in str(raw).split(",") if s.strip()]
        parsed = [_parse_value(x.strip() if isinstance(x, str) else x, inner, key) for x in items]
        return tuple(parsed) if origin is tuple else parsed
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if raw not in allowed:
            raise ConfigError(f"{key}: must be one of {list(allowed)}, got {raw!r}")
        return raw
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).lower()
        if s in ("true", "1", "yes", "on"):
            return True
        if s in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: must be a boolean (true/false), got {raw!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(raw, str) and ("e" in raw.lower() or "." in raw):
                as_float = float(raw)
                if not as_float.is_integer():
                    raise ValueError
                return int(as_float)
            return tp(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: must be {tp.__name__}, got {raw!r}") from None
    return raw


def field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def replace_checked(obj, updates: dict[str, Any], prefix: str = ""):
    """Return a copy of dataclass `obj` with `updates` applied; nested dataclasses take dotted keys."""
    types_ = field_types(type(obj))
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for key, raw in updates.items():
        head, _, rest = key.partition(".")
        if head not in types_:
            raise ConfigError(
                f"{prefix}{head}: unknown key; valid keys: {', '.join(sorted(types_))}"
            )
        if rest:
            nested.setdefault(head, {})[rest] = raw
        elif dataclasses.is_dataclass(types_[head]) and isinstance(raw, dict):
            nested.setdefault(head, {}).update(raw)
        else:
            flat[head] = _parse_value(raw, types_[head], prefix + head)
    for head, sub in nested.items():
        flat[head] = replace_checked(getattr(obj, head), sub, prefix=f"{prefix}{head}.")
    return dataclasses.replace(obj, **flat)


def parse_sets(pairs: list[str] | None) -> dict[str, str]:
    """`["a.b=1", "c=x"]` → `{"a.b": "1", "c": "x"}`, with an error naming a pair that has no '='."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE (e.g. method.beta=0.2)")
        out[key.strip()] = value.strip()
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def to_dict(obj) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass."""
    return dataclasses.asdict(obj)

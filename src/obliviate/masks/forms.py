"""The written forms of the run options `mask` and `prune`, parsed without importing torch (the spec checks them).

    parse_mask("wagle:0.5,mu=1e-3") -> MaskSpec("wagle", 0.5, {"mu": 0.001})
    parse_mask("file:runs/x/mask.safetensors") -> MaskSpec("file", path="runs/x/mask.safetensors")
    parse_prune("magnitude:0.5") -> ("magnitude", 0.5);  parse_prune("2:4") -> ("nm", (2, 4))
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from obliviate.errors import ConfigError

KINDS = ("wagle", "saliency", "magnitude", "random", "file")
OPTIONS = {"wagle": {"mu": float}, "random": {"seed": int}}


@dataclass(frozen=True)
class MaskSpec:
    kind: str
    fraction: float = 1.0
    options: dict = field(default_factory=dict)
    path: str | None = None


def parse_mask(text: str) -> MaskSpec:
    """`KIND:FRACTION[,key=value...]` or `file:PATH` (or a bare path: no colon, or ending in .safetensors)."""
    if text.startswith("file:") or text.endswith(".safetensors") or ":" not in text:
        return MaskSpec("file", path=text.removeprefix("file:"))
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"mask: unknown kind {kind!r} in {text!r}; valid kinds: {', '.join(KINDS)} "
                          "(written KIND:FRACTION, or file:PATH)")
    value, *pairs = rest.split(",")
    try:
        fraction = float(value)
    except ValueError:
        raise ConfigError(f"mask: FRACTION must be a number in (0, 1], got {value!r} in {text!r}") from None
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"mask: FRACTION (the share of weights allowed to move) must be in (0, 1], got {fraction}")
    options = {}
    for pair in pairs:
        key, _, v = pair.partition("=")
        kind_options = OPTIONS.get(kind, {})
        if key not in kind_options:
            raise ConfigError(f"mask {kind}: unknown option {key!r}; valid: {', '.join(kind_options) or 'none'}")
        try:
            options[key] = kind_options[key](v)
        except ValueError:
            raise ConfigError(f"mask {kind}: option {key} must be a {kind_options[key].__name__}, got {v!r}") from None
    return MaskSpec(kind, fraction, options)


PRUNE_FORMS = "magnitude:SPARSITY (0 <= SPARSITY < 1) or N:M (e.g. 2:4, 0 < N < M)"


def parse_prune(spec: str) -> tuple[str, float | tuple[int, int]]:
    """"magnitude:0.5" → ("magnitude", 0.5); "2:4" → ("nm", (2, 4)); anything else is a ConfigError."""
    if m := re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", spec):
        n, size = int(m.group(1)), int(m.group(2))
        if not 0 < n < size:
            raise ConfigError(f"prune: N:M needs 0 < N < M, got {spec!r}")
        return "nm", (n, size)
    kind, _, value = spec.partition(":")
    if kind.strip() != "magnitude":
        raise ConfigError(f"prune: unknown form {spec!r}; valid: {PRUNE_FORMS}")
    try:
        sparsity = float(value)
    except ValueError:
        raise ConfigError(f"prune: sparsity must be a number, got {value!r} in {spec!r}") from None
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"prune: sparsity must be in [0, 1), got {sparsity}")
    return "magnitude", sparsity

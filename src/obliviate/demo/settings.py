"""The demo's settings: corpus size, preset, methods, parallelism, cache; and each method's shipped defaults.

Method defaults live in `obliviate/configs/persons/<method>.yaml` (flat YAML, dotted `method.*`, `train.*`,
`engine.*` keys, as `obliviate unlearn --set` takes them); `--quick` layers `configs/quick/<method>.yaml` on top.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from obliviate.errors import ConfigError

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"
CACHE_VERSION = 2  # bump when what a cached model means changes (trainer, tokenizer, corpus layout)

# Training-recipe overrides of the demo on top of `models.corpus.recipe(preset)`. Quick mode skips the periodic
# greedy accuracy checks (the final one still runs): they cost more than the tiny model's training epochs.
TRAIN_OVERRIDES: dict[str, dict[str, str]] = {"full": {}, "quick": {"eval_every": "0", "eval_items": "40"}}


@dataclass(frozen=True)
class DemoConfig:
    """Everything `run_demo` needs; `for_mode(quick)` gives the two modes' defaults."""

    out: Path = Path("runs/demo")
    quick: bool = False
    persons: int = 150
    facts: int = 4  # 600 QA items: what 2 cores can memorise twice (target, oracle) inside the demo budget
    holdout: int = 0  # 0: 10% of persons (at least 2), as many as forget10 holds
    preset: str = "small"
    methods: tuple[str, ...] = ()  # empty: every registered method
    jobs: int = 2
    cache: Path | None = None  # None: $OBLIVIATE_CACHE or ~/.cache/obliviate
    seed: int = 0
    forget: str = "forget10"
    train_overrides: dict = field(default_factory=dict)  # on top of TRAIN_OVERRIDES[mode]
    job_timeout: float | None = None  # seconds a worker job may take before it is reported as hung (None: no limit)
    # "holdout": each method's run ends once its forget set looks like the holdout (engine/stopping.py). Opt-in until
    # it is measured on the full demo: on the quick target it stopped npo with utility collapsed (BENCHMARKS.md).
    stop: str = "none"
    stop_every: int = 8  # optimizer steps between the stop rule's checks (one epoch of forget10 at batch 8)

    @classmethod
    def for_mode(cls, quick: bool = False, **changes) -> DemoConfig:
        # Quick runs in this process: each spawned worker spends ~5 s importing torch and transformers, more than
        # the tiny models' jobs gain from running in parallel on 2 cores.
        base = cls(quick=True, persons=20, facts=6, preset="tiny", jobs=1) if quick else cls()
        return replace(base, **{k: v for k, v in changes.items() if v is not None})

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def n_holdout(self) -> int:
        return self.holdout or max(2, self.persons // 10)

    @property
    def cache_dir(self) -> Path:
        if self.cache is not None:
            return Path(self.cache)
        return default_cache_root()

    def train_recipe_overrides(self) -> dict[str, str]:
        return {**TRAIN_OVERRIDES[self.mode], **{k: str(v) for k, v in self.train_overrides.items()},
                "seed": str(self.seed)}

    def check(self) -> None:
        rules = (("persons", self.persons, 10), ("facts", self.facts, 1), ("jobs", self.jobs, 1),
                 ("seed", self.seed, 0), ("holdout", self.holdout, 0))
        for name, value, lo in rules:
            if not isinstance(value, int) or value < lo:
                raise ConfigError(f"demo --{name}: must be an integer >= {lo}, got {value!r}")
        if self.stop not in ("holdout", "none") or self.stop_every < 1:
            raise ConfigError(f"demo --stop: must be holdout or none with stop_every >= 1, got {self.stop!r}, "
                              f"{self.stop_every!r}")


def select_methods(requested: tuple[str, ...] | list[str]) -> list[str]:
    """The requested methods in the given order (every registered one when empty); unknown names are errors."""
    from obliviate.methods import available

    names = list(available("llm"))
    if not requested:
        return names
    unknown = [m for m in requested if m not in names]
    if unknown:
        raise ConfigError(f"demo --methods: unknown {', '.join(unknown)}; available: {', '.join(names)}")
    return list(dict.fromkeys(requested))


def config_path(kind: str, method: str) -> Path:
    return CONFIG_ROOT / kind / f"{method}.yaml"


def method_fragment(method: str, quick: bool = False) -> dict:
    """The shipped run-spec fragment of `method` for the persons corpus (`method:` and `train:` sections, typed as
    YAML reads them), with the quick layer merged over it."""
    from obliviate.config import load_yaml

    path = config_path("persons", method)
    if not path.is_file():
        raise ConfigError(f"{method}: no shipped demo defaults at {path}; rule: every demo method has "
                          f"configs/persons/{method}.yaml")
    fragment = load_yaml(path)
    quick_path = config_path("quick", method)
    if quick and quick_path.is_file():
        fragment = deep_merge(fragment, load_yaml(quick_path))
    return fragment


def deep_merge(base: dict, top: dict) -> dict:
    """`top` over `base`, section by section (nested mappings merge; other values replace)."""
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def default_cache_root() -> Path:
    """The trained-model cache when none is given: $OBLIVIATE_CACHE, else ~/.cache/obliviate."""
    return Path(os.environ.get("OBLIVIATE_CACHE") or Path.home() / ".cache" / "obliviate")


def cache_key(corpus_sha256: str, preset: str, recipe: dict, seed: int, split: str) -> str:
    """sha256 of what determines a trained model: corpus bytes, preset, resolved recipe, seed, split."""
    blob = json.dumps({"version": CACHE_VERSION, "corpus": corpus_sha256, "preset": preset, "recipe": recipe,
                       "seed": seed, "split": split}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]

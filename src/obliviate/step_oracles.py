"""Per-step oracles of the MUSE C5/C6 protocols: step k is judged against an oracle trained without every request
so far (folds 1..k), instead of one oracle trained without the whole forget set.

    obliviate eval ... --protocol sustainability --requests 4 --step-oracles train              # trained, cached
    obliviate eval ... --protocol sustainability --requests 4 --step-oracles o1,o2,o3,o4       # saved folders
    run spec: eval: {step_oracles: train}   or   eval: {step_oracles: [o1, o2, o3, o4]}

`train` trains step k's oracle with the target's own recipe (the target's train.json: preset, recipe, seed and
split) on the target's split without the persons of folds 1..k, cached like the demo's models under
$OBLIVIATE_CACHE/models (default ~/.cache/obliviate/models) by a hash of (corpus, preset, recipe, seed, split minus
those persons). A step whose folds are the whole forget set is judged by `eval.oracle` when one is given.

Saved folders are checked before anything runs: one per step, each an existing folder; when its train.json says
what it was trained on (`split` of this corpus, and `excluded_persons`), none of the step's forget items may be in
it. A folder whose train.json cannot tell is used, and its step's row says `"check": "unchecked: ..."`.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

OPTION = "--step-oracles (eval.step_oracles)"


@dataclass
class StepOracle:
    """The oracle of one protocol step: where it is, how it was obtained and checked, and (once loaded) the model."""

    step: int
    path: str
    source: str  # "eval.oracle", "folder", "trained" or "cached"
    check: str
    train_log: dict | None = None
    loaded: Any = field(default=None, repr=False)  # (model, tokenizer)

    def describe(self) -> dict:
        log = self.train_log or {}
        return {"step": self.step, "path": self.path, "source": self.source, "check": self.check,
                "split": log.get("split"), "excluded_persons": len(log.get("excluded_persons") or [])}

    def load(self, trust_remote_code: bool = False):
        from .models import load

        if self.loaded is None:
            self.loaded = load(self.path, trust_remote_code=trust_remote_code)
        return self.loaded


def parse(value) -> str | list[str] | None:
    """"train", a list of folders (a comma-separated string or a list), or None; an empty entry is an error."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "train":
        return "train"
    items = value.split(",") if isinstance(value, str) else list(value)
    dirs = [str(d).strip() for d in items]
    if not dirs or any(not d for d in dirs):
        raise ConfigError(f"{OPTION}: give `train` or a comma list of oracle folders, one per step, with no empty "
                          f"entry (got {value!r})")
    return dirs


def plan(spec, steps: list[list[dict]], by_person: bool) -> list[StepOracle]:
    """One StepOracle per step; `steps[k-1]` = the forget records asked to be forgotten by step k."""
    value = parse(spec.eval.step_oracles)
    if value == "train":
        if not by_person:
            raise ConfigError(f"{OPTION}: train leaves a step's persons out of the target's split; rule: the "
                              "forget records need a `person` field (got records without one)")
        return [_trained(spec, k, records) for k, records in enumerate(steps, start=1)]
    if len(value) != len(steps):
        raise ConfigError(f"{OPTION}: one oracle folder per step is the rule: {len(steps)} steps but "
                          f"{len(value)} folders (got {spec.eval.step_oracles!r})")
    return [_folder(spec, k, path, records) for k, (path, records) in enumerate(zip(value, steps, strict=True), start=1)]


def _folder(spec, k: int, path: str, records: list[dict]) -> StepOracle:
    from .models.corpus import read_train_log

    if not Path(path).is_dir():
        raise ConfigError(f"{OPTION}: step {k}'s oracle folder does not exist; rule: a saved model folder "
                          f"(got {path!r})")
    log = read_train_log(path)
    return StepOracle(k, path, "folder", exclusion_check(spec.data, k, path, log, records), log)


def exclusion_check(data: str, k: int, path: str, log: dict | None, records: list[dict]) -> str:
    """How step k's oracle was checked not to have seen the step's forget records; a ConfigError when it has."""
    trained = trained_questions(data, log)
    if not any(r.get("question") for r in records):
        trained = "the forget records have no question to look for"
    if isinstance(trained, str):
        return f"unchecked: {trained}"
    seen = [r["question"] for r in records if r.get("question") in trained]
    if seen:
        raise ConfigError(f"{OPTION}: step {k}'s oracle {path} was trained on {len(seen)} of the {len(records)} "
                          f"items asked to be forgotten by step {k} (its train.json: split {log.get('split')!r}); "
                          f"rule: step k's oracle is trained without every request so far (got e.g. {seen[0]!r})")
    return f"checked: none of the {len(records)} forget items of steps 1..{k} in its training split"


def trained_questions(data: str, log: dict | None) -> set[str] | str:
    """The questions an oracle was trained on, from its train.json and this corpus; a reason when it cannot tell."""
    from .data import read_records
    from .models.corpus import corpus_digest

    if not log or not log.get("split"):
        return "no train.json naming its split"
    path = Path(data) / f"{log['split']}.json"
    if not path.is_file():
        return f"its split {log['split']!r} is not a file of {data}"
    if log.get("corpus_sha256") and log["corpus_sha256"] != corpus_digest(Path(data)):
        return f"trained on another corpus than {data} (corpus_sha256 differs)"
    excluded = set(log.get("excluded_persons") or [])
    return {r.get("question") for r in read_records(path, kind="qa") if r.get("person") not in excluded}


def _trained(spec, k: int, records: list[dict]) -> StepOracle:
    """Step k's oracle: eval.oracle when the step covers the whole forget set, else trained (or from the cache)."""
    from .models.corpus import read_train_log

    if spec.eval.oracle and _covers_forget(spec, records):
        log = read_train_log(spec.eval.oracle)
        check = exclusion_check(spec.data, k, spec.eval.oracle, log, records)
        return StepOracle(k, spec.eval.oracle, "eval.oracle", check, log)
    config, split, persons = _recipe(spec), _target_log(spec)["split"], frozenset(r["person"] for r in records)
    dest = cache_path(spec.data, config, split, persons)
    log = read_train_log(dest)
    source = "cached"
    if log is None:
        from .models.corpus import train_split

        print(f"step oracle {k}: training on {split} without {len(persons)} persons -> {dest}", flush=True)
        log, source = train_split(spec.data, split, dest, config, progress=False, exclude=persons), "trained"
    return StepOracle(k, str(dest), source, exclusion_check(spec.data, k, str(dest), log, records), log)


def _covers_forget(spec, records: list[dict]) -> bool:
    from .data import load_splits

    forget = load_splits(spec.data, forget=spec.forget, retain=spec.retain).forget or []
    return {r.get("question") for r in forget} == {r.get("question") for r in records}


def _target_log(spec) -> dict:
    from .models.corpus import read_train_log

    log = read_train_log(spec.model) if Path(spec.model).is_dir() else None
    if not log or not (log.get("recipe") or log.get("config")) or not log.get("split"):
        raise ConfigError(f"{OPTION}: train uses the target's recipe; rule: the target folder has a train.json with "
                          f"its recipe and split (got {spec.model!r} without one); pass saved oracle folders instead")
    return log


def _recipe(spec):
    from .models.corpus import corpus_digest
    from .models.train import TrainRecipe

    log = _target_log(spec)
    if log.get("corpus_sha256") != corpus_digest(Path(spec.data)):
        raise ConfigError(f"{OPTION}: train retrains on the target's corpus; rule: the target was trained on the "
                          f"protocol's data (got a target trained on {log.get('data')!r}, data {spec.data!r})")
    return TrainRecipe(**(log.get("recipe") or log["config"]))


def cache_path(data: str, config, split: str, persons: frozenset) -> Path:
    """Where a step oracle is cached: models/<preset>-<split>-minus-<persons hash>-<hash of everything>."""
    from .demo.settings import cache_key, default_cache_root
    from .models.corpus import corpus_digest

    label = f"{split}-minus-{hashlib.sha256(repr(sorted(persons)).encode()).hexdigest()[:10]}"
    key = cache_key(corpus_digest(Path(data)), config.preset, asdict(config), config.seed, label)
    return default_cache_root() / "models" / f"{config.preset}-{label}-{key}"


def stages_for(s, oracle: StepOracle | None, trust_remote_code: bool = False):
    """The protocol's stages with step k's oracle in place of the one oracle (its model, training cost, summary)."""
    if oracle is None:
        return s
    import dataclasses

    from .models.train import training_summary
    from .run import train_cost

    training = {k: v for k, v in {**(s.training or {}), "oracle": training_summary(oracle.train_log)}.items() if v}
    return dataclasses.replace(s, oracle=oracle.load(trust_remote_code), oracle_results=None, training=training or None,
                               oracle_train=train_cost(oracle.train_log) if oracle.train_log else None)


def judged(results: dict, oracle: StepOracle | None) -> dict:
    """A step's results with `step_oracle`: which oracle judged it (None: the protocol's one oracle)."""
    if oracle is None:
        return results
    oracle.loaded = None  # the next step loads its own; this one is no longer needed
    return {**results, "step_oracle": oracle.describe()}

"""The run spec: one typed description of an unlearning run (model, data, method, evaluation, output), read from
a YAML file or a dict and validated at load with every error reported at once.

    spec = load_spec("configs/persons-npo.yaml", sets=["train.epochs=3"])    # or load_spec({...})
    obliviate.run(spec)

Layout (docs/spec.md has every key):

    model: models/target             # folder or hub name
    data: runs/demo/corpus           # corpus folder, tofu:PATH_OR_HUB, or a folder/file of QA records
    forget: forget10                 # retain: defaults to the forget split's complement
    method: {name: npo, beta: 0.1}   # or just `method: npo`; keys are the method's hyper-parameters
    train: {epochs: 5, lr: 1.0e-3}   # the engine's train.* keys
    engine: {ref_cache: true}        # the engine's engine.* keys
    lora: {r: 8, alpha: 16, targets: [q_proj, v_proj]}
    mask: wagle:0.5                  # or saliency/magnitude/random:FRACTION, file:PATH; prune: magnitude:0.5 or 2:4
    uoe: {alpha: 1.0}                # MoE models: unlearn one expert (engine/uoe.py)
    adversary: "lat:1,0.5"           # targeted latent adversarial training (engine/lat.py)
    eval: {suite: all, oracle: models/oracle, oracle_results: null, curve_points: 4}
                                     # protocols: step_oracles: train, or [o1, o2, ...] (one oracle per step)
    out: runs/npo

Validation uses pydantic: the spec's own sections are pydantic models, and the method's, train's and engine's
keys are checked against the dataclasses that define them (a pydantic model is derived from each dataclass, so the
dataclass stays the single definition). An error names the file, the line, the key, the rule and the value.
"""
from __future__ import annotations

import dataclasses
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from .config import parse_sets
from .errors import ConfigError

SUITES = ("tofu", "muse", "mia", "all")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MethodSpec(BaseModel):
    """`name` plus the method's hyper-parameters (checked against its dataclass by `section_errors`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    def hyper_parameters(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LoraSection(_Strict):
    r: int = Field(8, ge=1)
    alpha: float = 16.0
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    targets: tuple[str, ...] = ("q_proj", "v_proj")


class EvalSection(_Strict):
    """What the unlearned model is measured against. `oracle` is the oracle's model folder (scored, and its
    train.json gives the retraining cost); with `oracle_results` too, the saved per-item values are used
    instead of scoring the oracle again, and the folder only supplies the cost and the memorisation check."""

    suite: Literal["tofu", "muse", "mia", "all"] = "all"
    oracle: str | None = None
    oracle_results: str | None = None
    target_results: str | None = None  # the target's results.json: the curve's step 0 and MUSE C4
    batch_size: int = Field(32, ge=1)
    token_recycling: bool = True  # greedy generation by Token Recycling (same tokens; OBLIVIATE_TOKEN_RECYCLING=0 too)
    packed_scoring: bool = True  # shared prompts scored once (same values; OBLIVIATE_PACKED_SCORING=0 too)
    # the protocols (MUSE C5/C6) only: "train", or one oracle folder per step (obliviate.step_oracles)
    step_oracles: str | tuple[str, ...] | None = None
    curve_points: int = Field(4, ge=0)  # evaluation-hook points over the run (0: no curve); needs oracle results
    # Log-prob metrics only (generation at every point would cost more than the unlearning itself on the demo);
    # retain/truth_ratio is left out: its perturbed answers add ~1,000 sequences to every point of the demo.
    curve_metrics: tuple[str, ...] = ("forget_quality", "forget/truth_ratio", "privleak", "forget/prob",
                                      "retain/prob")


    @field_validator("step_oracles")
    @classmethod
    def _step_oracles_form(cls, v):
        from .step_oracles import parse

        _as_value_error(parse, v)
        return v


class AuditSection(_Strict):
    """Attack the unlearned model and the oracle alike after the evaluation (`obliviate.audit`)."""

    attacks: tuple[str, ...] | None = None  # None: every attack the data allows
    seed: int = 0
    config: dict[str, Any] = Field(default_factory=dict)  # AuditConfig overrides (e.g. relearn epochs)


class GuardSection(_Strict):
    """Instead of a method: fit an ECO prompt guard (`obliviate.guard`); the weights are not changed."""

    fpr: float = Field(0.05, gt=0.0, lt=1.0)  # the classifier threshold's false-positive rate
    mode: Literal["noise", "zero"] = "noise"
    sigma: float | None = Field(None, ge=0.0)  # None: zeroth-order search to the oracle's forget/prob
    target: float | None = None  # or search to this forget/prob
    steps: int = Field(8, ge=1)


class StopSection(_Strict):
    """`stop: holdout`: end the run once a loss-based membership attack can no longer tell the forget set from the
    data's holdout set (AUC's `level` interval reaches 0.5), checked every `every` steps; `engine/stopping.py`.
    finish: what follows the firing check: `none` (end there), `anneal` (finish_steps more steps of the method's
    loss, lr annealed linearly to 0) or `repair` (the same, the retain NLL as the only loss). retain_tolerance: the
    rule fires only while the retain set's mean answer NLL is at most its step-0 value + this (nats per token)."""

    rule: Literal["holdout"] = "holdout"
    every: int = Field(8, ge=1)
    level: float = Field(0.95, gt=0.0, lt=1.0)
    min_steps: int = Field(0, ge=0)
    max_items: int = Field(64, ge=2)
    finish: Literal["none", "anneal", "repair"] = "none"
    finish_steps: int = Field(8, ge=1)
    retain_tolerance: float | None = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _steps_need_a_finish(self):
        if "finish_steps" in self.model_fields_set and self.finish == "none":
            raise ValueError(f"finish_steps: needs finish: anneal or repair (got finish_steps {self.finish_steps} "
                             "with finish: none)")
        return self


class RunSpec(_Strict):
    name: str | None = None  # results.json's name (default: the method's)
    model: str
    data: str
    forget: str = "forget10"
    retain: str | None = None
    method: MethodSpec | None = None  # required unless `guard` is given
    guard: GuardSection | None = None  # an ECO guard instead of a method (weights unchanged)
    train: dict[str, Any] = Field(default_factory=dict)
    engine: dict[str, Any] = Field(default_factory=dict)
    lora: LoraSection | None = None
    mask: str | None = None  # KIND:FRACTION (wagle, saliency, magnitude, random) or file:PATH of a saved mask
    prune: str | None = None  # prune first: magnitude:SPARSITY or N:M (2:4); pruned weights stay 0
    uoe: bool | str | dict[str, Any] | None = None  # unlearn one expert of an MoE (engine/uoe.py): true or options
    adversary: str | dict[str, Any] | None = None  # latent adversary, "lat[:LAYER,EPS]" (engine/lat.py)
    eval: EvalSection = Field(default_factory=EvalSection)
    audit: AuditSection | None = None  # also audit: OUT/audit.json, merged into results.json under `audits`
    stop: StopSection | None = None  # `stop: holdout`: an oracle-free early stop (results.json `stop`)
    out: str
    save_model: bool = True  # write OUT/model (false: only run.json and results.json)
    resume: bool = False  # continue from the newest checkpoint under OUT (engine.checkpoint_every writes them)
    report: bool = False  # also write OUT/report.html
    seed: int = 0
    trust_remote_code: bool = False

    @field_validator("mask")
    @classmethod
    def _mask_form(cls, v: str | None) -> str | None:
        from .masks.forms import parse_mask

        if v is not None:
            _as_value_error(parse_mask, v)
        return v

    @field_validator("prune")
    @classmethod
    def _prune_form(cls, v: str | None) -> str | None:
        from .masks.forms import parse_prune

        if v is not None:
            _as_value_error(parse_prune, v)
        return v

    @field_validator("method", mode="before")
    @classmethod
    def _method_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("uoe")
    @classmethod
    def _uoe_options(cls, v: Any) -> Any:
        if v is not None and v is not False:
            from .engine.uoe import parse_uoe

            parse_uoe(v)  # a ConfigError (a ValueError) becomes this key's validation error
        return v

    @field_validator("adversary")
    @classmethod
    def _adversary_options(cls, v: Any) -> Any:
        if v is not None:
            from .engine.lat import parse_adversary

            parse_adversary(v)
        return v

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_shorthand(cls, v: Any) -> Any:
        return None if v in (None, "none") else {"rule": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _method_or_guard(self):
        if (self.method is None) == (self.guard is None):
            raise ValueError("give exactly one of `method` (unlearn) and `guard` (an ECO guard, weights unchanged)")
        return self

    @property
    def label(self) -> str:
        """The run's name: `name`, else the method's name, else the guard's kind."""
        return self.name or (self.method.name if self.method is not None else "eco")

    def overrides(self) -> dict[str, Any]:
        """The engine's dotted overrides (`method.beta`, `train.epochs`, ...), typed values, seed included."""
        hp = self.method.hyper_parameters() if self.method is not None else {}
        out = {f"method.{k}": v for k, v in hp.items()}
        out |= {f"train.{k}": v for k, v in self.train.items()}
        out |= {f"engine.{k}": v for k, v in self.engine.items()}
        out.setdefault("train.seed", self.seed)
        return out


def _as_value_error(parse, value: str) -> None:
    """Run a parser of this project; its ConfigError becomes the ValueError pydantic reports with file and line."""
    try:
        parse(value)
    except ConfigError as e:
        raise ValueError(str(e)) from None


def section_errors(data: dict) -> list[dict]:
    """Errors of the `method:`, `train:` and `engine:` keys, checked against the dataclasses that define them."""
    from .engine.config import EngineConfig, TrainConfig

    errors: list[dict] = []
    method = data.get("method")
    method = {"name": method} if isinstance(method, str) else method
    if isinstance(method, dict) and isinstance(method.get("name"), str):
        hp = {k: v for k, v in method.items() if k != "name"}
        _collect(errors, ("method",), method_model(method["name"]), hp, method["name"])
    for key, cls in (("train", TrainConfig), ("engine", EngineConfig)):
        if isinstance(data.get(key), dict):
            _collect(errors, (key,), dataclass_model(cls), data[key])
    return errors


def _collect(errors: list[dict], prefix: tuple, model: type[BaseModel] | None, values: dict, name=None) -> None:
    """Validate `values` with `model`, adding its errors (located under `prefix`) to `errors`."""
    if model is None:
        from .methods import available

        errors.append({"loc": (*prefix, "name"), "msg": f"unknown method; available: {', '.join(available('llm'))}",
                       "input": name, "type": "value_error"})
        return
    try:
        model.model_validate(values)
    except ValidationError as e:
        errors += [{**err, "loc": (*prefix, *err["loc"])} for err in e.errors()]


@cache
def dataclass_model(cls: type) -> type[BaseModel]:
    """A pydantic model with the fields, types and defaults of dataclass `cls`; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: (hints[f.name], f.default if f.default is not dataclasses.MISSING else ...)
              for f in dataclasses.fields(cls) if f.init}
    return create_model(f"{cls.__name__}Keys", __config__=ConfigDict(extra="forbid"), **fields)


def method_model(name: str) -> type[BaseModel] | None:
    from .methods import available, get

    return dataclass_model(get(name, track="llm")) if name in available("llm") else None


# -- loading -----------------------------------------------------------------------------------------------------

def load_spec(source: str | Path | dict | RunSpec, sets: list[str] | dict | None = None) -> RunSpec:
    """A validated RunSpec from a YAML file, a dict or a RunSpec, with `--set key.sub=value` overrides applied.

    Every problem is reported at once in one ConfigError, one line each: `FILE:LINE: KEY: RULE (got VALUE)`.
    """
    if isinstance(source, RunSpec) and not sets:
        return source
    where, lines = "spec", {}
    if isinstance(source, RunSpec):
        data = source.model_dump(exclude_unset=True)
    elif isinstance(source, dict):
        data = dict(source)
    else:
        where = str(source)
        data, lines = read_yaml(Path(source))
    overrides = parse_sets(sets) if isinstance(sets, list) else dict(sets or {})
    for key, raw in overrides.items():
        _set_dotted(data, key, yaml.safe_load(raw) if isinstance(raw, str) else raw)
    errors = section_errors(data)
    try:
        spec = RunSpec.model_validate(data)
    except ValidationError as e:
        errors = [*e.errors(), *errors]
    if errors:
        raise ConfigError(format_errors(errors, where, lines, set(overrides)))
    return spec


def read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    """The mapping in a YAML file and the 1-based line of every key path in it."""
    data, lines = yaml_with_lines(path, "the run spec")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the run spec must be a mapping of keys, got {type(data).__name__}")
    return data, lines


def yaml_with_lines(path: Path, what: str) -> tuple[Any, dict[tuple, int]]:
    """(the document in a YAML file ({} when empty), the 1-based line of every key path in its mappings); a file
    that cannot be read or parsed is a ConfigError naming the file and `what` it should hold."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    lines: dict[tuple, int] = {}
    _key_lines(node, (), lines)
    return data, lines


def _key_lines(node, prefix: tuple, out: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, key.value)
            out[path] = key.start_mark.line + 1
            _key_lines(value, path, out)


def _set_dotted(data: dict, key: str, value: Any) -> None:
    """`method.beta=0.2` → data["method"]["beta"] = 0.2 (a string `method: npo` becomes {name: npo} first)."""
    *heads, last = key.split(".")
    node = data
    for h in heads:
        if isinstance(node.get(h), str) and h == "method":
            node[h] = {"name": node[h]}
        node = node.setdefault(h, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {h} is not a section")
    node[last] = value


def format_errors(errors: list[dict], where: str, lines: dict[tuple, int], overridden: set[str]) -> str:
    """One line per error: `FILE:LINE: KEY: RULE (got VALUE)` (`--set KEY` for a command-line override)."""
    out = []
    for err in errors:
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc) or "(top level)"
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        place = f"--set {key}" if key in overridden else f"{where}:{line}" if line else where
        rule = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            rule = "unknown key"
        value = "" if err["type"] == "missing" else f" (got {err.get('input')!r})"
        out.append(f"{place}: {key}: {rule}{value}")
    n = len(out)
    return f"{n} problem{'s' if n != 1 else ''} in the run spec:\n  " + "\n  ".join(out)

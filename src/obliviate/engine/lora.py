"""LoRA through peft: parse `r=8,alpha=16,targets=q_proj,v_proj`, check the targets exist, wrap the model.

The reference of a LoRA run is the same model with adapters disabled (`Reference` in forward.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from obliviate.errors import ConfigError, ModelError


@dataclass(frozen=True)
class LoraSpec:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("q_proj", "v_proj")


def parse_lora(spec) -> LoraSpec | None:
    """A LoraSpec from None, a LoraSpec, a dict or a string `r=8,alpha=16,targets=q_proj,v_proj`."""
    if spec is None or isinstance(spec, LoraSpec):
        return spec
    if isinstance(spec, str):
        fields: dict = {}
        key = None
        for item in [s.strip() for s in spec.split(",") if s.strip()]:
            if "=" in item:
                key, _, value = item.partition("=")
                key = key.strip()
                fields.setdefault(key, []).append(value.strip())
            elif key == "targets":  # `targets=q_proj,v_proj`: later commas continue the list
                fields[key].append(item)
            else:
                raise ConfigError(f"--lora {spec!r}: expected KEY=VALUE items (r, alpha, dropout, targets), got {item!r}")
        spec = {k: v if k == "targets" else v[0] for k, v in fields.items()}
    unknown = sorted(set(spec) - {"r", "alpha", "dropout", "targets"})
    if unknown:
        raise ConfigError(f"--lora: unknown key {unknown[0]!r}; valid keys: alpha, dropout, r, targets")
    try:
        targets = spec.get("targets", LoraSpec.targets)
        targets = tuple([targets] if isinstance(targets, str) else targets)
        return LoraSpec(r=int(spec.get("r", 8)), alpha=float(spec.get("alpha", 16)),
                        dropout=float(spec.get("dropout", 0.0)), targets=targets)
    except (TypeError, ValueError):
        raise ConfigError(f"--lora {spec!r}: r must be an int, alpha and dropout numbers") from None


def module_suffixes(model) -> list[str]:
    """The last name component of every leaf module holding a Linear-like weight (what LoRA can target)."""
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                   if not list(m.children()) and hasattr(m, "weight") and getattr(m.weight, "ndim", 0) == 2})


def apply_lora(model, spec: LoraSpec):
    """Wrap `model` with LoRA adapters on the target modules; an unknown target lists the module names."""
    from peft import LoraConfig, get_peft_model

    names = module_suffixes(model)
    missing = [t for t in spec.targets if t not in names]
    if missing:
        raise ModelError(f"--lora targets: no module named {missing[0]!r} in this model; module names: "
                         f"{', '.join(names)}")
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.targets), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)

"""engine/sharding.py without a process group: plain models are not sharded and their masks pass unchanged;
masks are refused under DeepSpeed (where they would be skipped silently); sharded runs refuse checkpoints."""
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType

from obliviate.engine import resolve, sharding
from obliviate.errors import ConfigError


def test_plain_model_is_not_sharded_and_masks_pass_unchanged(tiny_model):
    assert not sharding.is_sharded(tiny_model)
    named = dict(tiny_model.named_parameters())
    mask = {"model.norm.weight": torch.zeros_like(named["model.norm.weight"])}
    assert sharding.place_masks(mask, named)["model.norm.weight"] is mask["model.norm.weight"]
    assert sharding.place_masks(None, named) is None
    assert sharding.as_number(torch.tensor(2.5)) == 2.5 and sharding.as_number(1.0) == 1.0


def test_decoder_layers_are_the_fsdp_units(tiny_model):
    assert sharding._layer_classes(tiny_model) == {"LlamaDecoderLayer"}


def test_masks_refused_under_deepspeed():
    masks = {"w": torch.ones(2)}
    with pytest.raises(ConfigError, match="not applied under DeepSpeed"):
        sharding.check_masks_backend(SimpleNamespace(distributed_type=DistributedType.DEEPSPEED), masks)
    sharding.check_masks_backend(SimpleNamespace(distributed_type=DistributedType.DEEPSPEED), None)
    sharding.check_masks_backend(SimpleNamespace(distributed_type=DistributedType.MULTI_CPU), masks)


def test_sharded_runs_refuse_periodic_checkpoints():
    with pytest.raises(ConfigError, match="engine.checkpoint_every: checkpoints of sharded runs"):
        resolve("npo", {"engine.fsdp": True, "engine.checkpoint_every": 2})
    cfg, _ = resolve("npo", {"engine.fsdp": "true"})
    assert cfg.engine.fsdp is True

"""engine/sharding.py without a process group: plain models are not sharded and their masks pass unchanged;
sharded runs refuse checkpoints; what the ZeRO-3 helpers decide without DeepSpeed installed (its settings, each
process's slice of a mask)."""
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


def test_zero3_settings_and_mask_slices():
    from obliviate.engine import zero
    from obliviate.engine.config import TrainConfig

    def acc(stage):
        plugin = SimpleNamespace(deepspeed_config={"zero_optimization": {"stage": stage}, "gradient_clipping": 1.0})
        return SimpleNamespace(distributed_type=DistributedType.DEEPSPEED, num_processes=2,
                               state=SimpleNamespace(deepspeed_plugin=plugin))

    a = acc(3)
    assert zero.is_zero(a) and not zero.is_zero(SimpleNamespace(distributed_type=DistributedType.MULTI_CPU))
    zero.configure(a, TrainConfig(batch_size=8, max_grad_norm=0.5))
    cfg = a.state.deepspeed_plugin.deepspeed_config
    assert (cfg["train_micro_batch_size_per_gpu"], cfg["gradient_accumulation_steps"], cfg["gradient_clipping"]) == \
        (4, 1, 0.5)
    zero.configure(a, TrainConfig(batch_size=8, grad_accum=2))
    assert (cfg["train_micro_batch_size_per_gpu"], cfg["gradient_accumulation_steps"]) == (2, 2)
    with pytest.raises(ConfigError, match="only ZeRO stage 3"):
        zero.configure(acc(2), TrainConfig(batch_size=8))
    # one process (no group): the partition is the flattened parameter, padded; the padding is never held
    p = SimpleNamespace(ds_tensor=torch.zeros(8))
    fixed = torch.tensor([[True, False, False], [False, False, True]])
    assert zero.ZeroHeldMask._slice(p, fixed).tolist() == [True, False, False, False, False, True, False, False]


def test_sharded_runs_refuse_periodic_checkpoints():
    with pytest.raises(ConfigError, match="engine.checkpoint_every: checkpoints of sharded runs"):
        resolve("npo", {"engine.fsdp": True, "engine.checkpoint_every": 2})
    cfg, _ = resolve("npo", {"engine.fsdp": "true"})
    assert cfg.engine.fsdp is True

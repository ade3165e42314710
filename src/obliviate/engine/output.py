"""What a run leaves behind (model/ as safetensors, run.json) and the default evaluation hook (forget/retain NLL)."""
from __future__ import annotations

from pathlib import Path

import torch

from obliviate._atomic import atomic_dir, atomic_write_json
from obliviate.models import collate, forward_logprobs
from obliviate.models.scoped import eval_mode
from obliviate.models.spread import in_lockstep


def save_outputs(out: Path, model, tokenizer, result: dict) -> None:
    """out/model/ (save_pretrained: a full model, or the adapter when LoRA was not merged) and out/run.json."""
    with atomic_dir(out / "model") as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    atomic_write_json(out / "run.json", result)


def default_eval(enc, acc, batch_size: int = 32):
    """A hook logging the mean answer-token NLL of the forget set and the retain set. Each process scores every
    world_size-th item; sums are added across processes, so the value does not depend on the process count. A
    sharded (FSDP) model's forward is a collective: every process then scores every item, in step."""

    @torch.no_grad()
    def hook(model, step: int, epoch: float) -> dict[str, float]:
        values = {}
        with eval_mode(model):
            for name, items in (("forget_nll", enc.forget), ("retain_nll", enc.retain)):
                whole = in_lockstep(model)
                mine = items if whole else items[acc.process_index::acc.num_processes]
                total = torch.zeros(2, device=acc.device)  # (sum of NLL, answer tokens)
                for start in range(0, len(mine), batch_size):
                    out = forward_logprobs(model, collate(mine[start:start + batch_size], enc.pad_id))
                    total += torch.stack([-out.logp.sum(), out.mask.sum().float()])
                total = total if whole else acc.reduce(total, "sum")
                values[name] = float(total[0] / total[1].clamp(min=1))
        return values

    return hook

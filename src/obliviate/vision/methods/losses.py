"""Batch losses the classifier methods share: plain functions of (logits, x, y, ctx), used by composition."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ce(logits, x, y, ctx):
    return F.cross_entropy(logits, y)


def ascend_ce(logits, x, y, ctx):
    return -F.cross_entropy(logits, y)


def random_wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A label drawn uniformly from the C − 1 classes other than y: y + U{1..C−1} mod C."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes


def random_label_ce(logits, x, y, ctx):
    return F.cross_entropy(logits, random_wrong_labels(y, ctx.num_classes, ctx.generator))


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened softmaxes, ×T² (the usual distillation scale), batch mean."""
    log_s = F.log_softmax(student / temperature, dim=-1)  # (B, C)
    log_t = F.log_softmax(teacher / temperature, dim=-1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean") * temperature**2

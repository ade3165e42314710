"""`concept`: class unlearning via concepts and data poisoning (after Chang et al., 2024) — the closest documented
variant: the paper's algorithm (a post-hoc concept bottleneck model with annotated concepts, attributed by
Integrated Gradients) cannot be pinned down from its abstract and there is no public code, so the concepts here
are unsupervised directions of the representation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from obliviate.errors import DataError
from obliviate.methods.registry import register

from ..embeddings import embed_all, head
from .losses import ce, random_label_ce
from .protocol import Schedule


def concept_directions(e_forget: torch.Tensor, e_retain: torch.Tensor, k: int) -> torch.Tensor:
    """(D, k) orthonormal directions: the top-k right singular vectors of the forget representations centred on the
    retain mean (what sets the forget data apart)."""
    centred = e_forget - e_retain.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k].T


def concept_attribution(e_forget: torch.Tensor, e_retain: torch.Tensor, directions: torch.Tensor,
                        w_class: torch.Tensor) -> torch.Tensor:
    """Integrated Gradients of the forgotten class's logit w.r.t. each concept's coefficient c_j = v_jᵀ(e − ē_r),
    from baseline 0 to c: for a linear head exactly c_j·(w_class·v_j); averaged over the forget rows. (k,)"""
    coeff = (e_forget - e_retain.mean(0)) @ directions  # (N, k)
    return (coeff * (w_class @ directions)).mean(0)


def remove_concepts(linear: torch.nn.Linear, directions: torch.Tensor) -> None:
    """W ← W(I − V Vᵀ): the head no longer reads the representation along the concept directions V (D, k)."""
    with torch.no_grad():
        linear.weight.sub_(linear.weight @ directions @ directions.T)


@register("concept", track="vision")
@dataclass(frozen=True)
class ConceptUnlearning:
    """Algorithm (our variant of Chang et al.'s two steps, for forgetting one class):
    1. Locate: concept candidates = the top `candidates` singular directions of the forget class's
       representations (head input) centred on the retain mean; score each by Integrated Gradients of the
       class's logit along it (exact for the linear head); keep the `keep` with the largest attribution.
    2. Remove: project those directions out of the head's weights (W ← W(I − VVᵀ)).
    3. Poison: fine-tune with the forget samples (which carry the concepts) relabelled to random other classes,
       then a retain pass (the `rl` recipe), `epochs` times, so the extractor does not rebuild the class.
    Paper: CIFAR-10/100 with a post-hoc CBM; no public code, no defaults; ours were set on digits (class 0)."""

    lr: float = 0.01
    epochs: int = 2
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "constant"
    candidates: int = 8
    keep: int = 2

    in_demo: ClassVar[bool] = False  # a class-wise method; runs in bench/vision_seed.py's laf scenario
    summary: ClassVar[str] = "remove the forget class's top concept directions from the head, then poisoned labels"
    paper: ClassVar[str] = "Chang et al., 2024, Class Machine Unlearning for Complex Data via Concepts Inference " \
                           "and Data Poisoning (arXiv:2405.15662); closest documented variant"

    def phases(self, epoch):
        return [("forget", random_label_ce), ("retain", ce)]

    def prepare(self, model, ctx):
        if not 0 < self.keep <= self.candidates:
            raise DataError("concepts kept must be between 1 and the candidates", field="keep",
                            rule=f"1 <= keep <= candidates ({self.candidates})", value=self.keep)
        e_f, e_r = embed_all(model, ctx.loaders["forget"]), embed_all(model, ctx.loaders["retain"])
        labels = torch.cat([y for _, y in ctx.loaders["forget"]])
        cls = int(labels.mode().values)  # the forgotten class (class-wise forgetting: every label)
        v = concept_directions(e_f, e_r, min(self.candidates, min(e_f.shape)))
        scores = concept_attribution(e_f, e_r, v, head(model).weight[cls].detach())
        remove_concepts(head(model), v[:, scores.topk(min(self.keep, v.shape[1])).indices])
        return None

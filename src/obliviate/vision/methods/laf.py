"""`laf`: Label-Agnostic Forgetting (Shen et al., ICLR 2024): unlearning without the forget data's labels."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.methods.registry import register

from ..embeddings import embed, embed_all
from .protocol import Schedule


class VAE(nn.Module):
    """D → hidden → (μ, log σ²) of `latent` → hidden → D; `forward` returns (reconstruction of μ, μ, log σ²)."""

    def __init__(self, dim: int, latent: int, hidden: int = 64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, e, sample: bool = False):
        mu, logvar = self.enc(e).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        return self.dec(z), mu, logvar


def fit_vae(e: torch.Tensor, latent: int, epochs: int, seed: int) -> VAE:
    """A VAE fitted to embeddings e (N, D): Adam lr 1e-3, batch 64, loss = squared error + KL to N(0, I)."""
    torch.manual_seed(seed)
    vae = VAE(e.shape[1], latent)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in e[torch.randperm(len(e))].split(64):
            rec, mu, logvar = vae(batch, sample=True)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
            loss = (rec - batch).pow(2).sum(1).mean() + kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return vae.eval().requires_grad_(False)


def nmse(vae: VAE, e: torch.Tensor) -> torch.Tensor:
    """LAF's bounded reconstruction score: mean over rows of exp(m/(m+1)), m = the row's mean squared error of
    the VAE's reconstruction (from μ). 1 for a perfect reconstruction, → e as the error grows."""
    m = (vae(e)[0] - e).pow(2).mean(1)
    return torch.exp(m / (m + 1)).mean()


def alignment_loss(student: torch.Tensor, teacher: torch.Tensor, forget: torch.Tensor, scale: float) -> torch.Tensor:
    """Contrastive alignment: for each retain row i, −log softmax over [cos(s_i, t_i), cos(s_i, f_1..f_K)]·scale
    at the first entry: student retain embeddings pulled to the original's, pushed from the forget embeddings."""
    s, t, f = (F.normalize(a, dim=1) for a in (student, teacher, forget))
    logits = torch.cat([(s * t).sum(1, keepdim=True), s @ f.T], dim=1) * scale  # (B, 1 + K)
    return F.cross_entropy(logits, torch.zeros(len(s), dtype=torch.long, device=s.device))


@register("laf", track="vision")
@dataclass(frozen=True)
class LabelAgnosticForgetting:
    """Algorithm (Shen et al. 2024), never reading a forget label:
    0. From the original's representations (input of the head) of retain, e_r, and forget, e_f, fit two VAEs:
       s_vae on e_r and u_vae on e_f (`vae_epochs`, latent `latent`).
    1. Extraction (`extract_epochs`): update the extractor to minimise NMSE(s_vae(e_r), e_r) − NMSE(u_vae(e_f),
       e_f), NMSE = mean exp(m/(m+1)) of the per-sample error m: retain representations stay where s_vae can
       reconstruct them, forget ones leave u_vae's manifold.
    2. Alignment (the remaining epochs): contrastive cosine alignment of the student's retain representations
       to the original's, with the student's forget representations as negatives (`alignment_loss`, ×`scale`).
    The paper's optional last stage (the head fine-tuned on labelled retain data) is left out. Paper (CNN on
    (F-)MNIST): latent 8, 20 epochs, Adam lr 5e-5 / 1e-4 for the two stages, TEMP 5. Ours: one SGD lr for both
    stages (the loop's optimiser); the temperature taken as a multiplier on the cosines (`scale`)."""

    lr: float = 0.01
    epochs: int = 6
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "constant"
    extract_epochs: int = 3
    vae_epochs: int = 10
    latent: int = 8
    scale: float = 5.0

    in_demo: ClassVar[bool] = False  # its own scenario in bench/vision_seed.py (slow: two VAEs, two forwards)
    summary: ClassVar[str] = "label-agnostic: VAEs on representations, push forget off-manifold, align retain"
    paper: ClassVar[str] = "Shen et al., 2024, Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep " \
                           "Models (ICLR; arXiv:2404.00506)"
    needs_teacher: ClassVar[bool] = True

    def phases(self, epoch):
        if epoch < self.extract_epochs:
            return [("forget", self.extract_forget), ("retain", self.extract_retain)]
        return [("retain", self.align)]

    def extract_forget(self, logits, x, y, ctx):
        return -nmse(ctx.state["u_vae"], embed(ctx.state["student"], x))

    def extract_retain(self, logits, x, y, ctx):
        return nmse(ctx.state["s_vae"], embed(ctx.state["student"], x))

    def align(self, logits, x, y, ctx):
        xf, _ = next(ctx.state["forget_batches"])
        with torch.no_grad():
            t = embed(ctx.teacher, x)
        return alignment_loss(embed(ctx.state["student"], x), t, embed(ctx.state["student"], xf.to(x.device)),
                              self.scale)

    def prepare(self, model, ctx):
        e_r = embed_all(ctx.teacher, ctx.loaders["retain"])
        e_f = embed_all(ctx.teacher, ctx.loaders["forget"])
        ctx.state.update(student=model, s_vae=fit_vae(e_r, self.latent, self.vae_epochs, ctx.seed),
                         u_vae=fit_vae(e_f, self.latent, self.vae_epochs, ctx.seed + 1),
                         forget_batches=itertools.cycle(ctx.loaders["forget"]))
        return None

"""The judge of the diffusion track: the vision track's classifier (SmallCNN) trained on the real images, and the
metrics it gives generated samples.

- `concept_rate`: share of the concept prompts' samples the judge classifies as the concept (the issue's "erasure
  rate": lower is more erased; the oracle's value is the floor a model that never learned the concept reaches).
- `other_recognition`: share of the other classes' prompts' samples classified as the class they were prompted with.
- `frechet_*`: Fréchet distance between Gaussians fitted to the judge's penultimate features (the flattened conv
  features, 128-d) of generated and real test images of one class. It is NOT Inception FID: the feature extractor is
  our small classifier, so values only compare models judged by the same classifier on the same data.
Rates carry the shared percentile-bootstrap CI over samples; Fréchet distances a bootstrap over generated samples
(real features fixed) with `FRECHET_RESAMPLES` resamples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from obliviate.results import metric, percentile_ci

from .train import to_unit

FRECHET_RESAMPLES = 200
CONVENTIONS = {
    "concept_rate": "share of samples for the concept's prompts that the judge classifies as the concept (the "
                    "'erasure rate' of the issue; lower = more erased; the oracle's value is the floor)",
    "other_recognition": "share of samples for the other classes' prompts classified as their prompted class",
    "frechet": "Fréchet distance between Gaussians of the judge classifier's penultimate features (not Inception "
               "FID) of generated vs real test images of a class; CI: bootstrap over generated samples "
               f"({FRECHET_RESAMPLES} resamples)",
    "attack_success": "share of samples generated from attacked prompt embeddings classified as the concept",
    "judge": "the vision track's SmallCNN trained on the real training images at the diffusion resolution",
}


@dataclass
class Judge:
    model: torch.nn.Module
    test_accuracy: float
    real_features: dict[int, np.ndarray]  # class → (n, F) features of real test images

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(labels (B,), features (B, F)) for images in [-1, 1]."""
        self.model.eval()
        feats = self.model.features(to_unit(x)).flatten(1)
        labels = self.model.head[-1](feats).argmax(-1)
        return labels.numpy(), feats.numpy().astype(np.float64)


def train_judge(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                num_classes: int, seed: int = 0, epochs: int = 30) -> Judge:
    """SmallCNN fitted with the vision track's `retrain` recipe on images in [-1, 1]; test accuracy on the test set."""
    from torch.utils.data import TensorDataset

    from obliviate.vision.loop import fit
    from obliviate.vision.models import build_model

    net = build_model(tuple(x_train.shape[1:]), num_classes, seed)
    net, _ = fit(net, TensorDataset(to_unit(x_train), y_train), seed, epochs=epochs)
    judge = Judge(net, 0.0, {})
    pred, feats = judge.predict(x_test)
    judge.test_accuracy = float((pred == y_test.numpy()).mean())
    judge.real_features = {k: feats[y_test.numpy() == k] for k in range(num_classes)}
    return judge


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between N(μ_a, Σ_a) and N(μ_b, Σ_b) fitted to rows of a and b (covariance ddof 1):
    ||μ_a − μ_b||² + Tr Σ_a + Tr Σ_b − 2 Tr (Σ_a^½ Σ_b Σ_a^½)^½."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    mu = a.mean(0) - b.mean(0)
    sa = np.atleast_2d(np.cov(a, rowvar=False)) if len(a) > 1 else np.zeros((a.shape[1],) * 2)
    sb = np.atleast_2d(np.cov(b, rowvar=False)) if len(b) > 1 else np.zeros((b.shape[1],) * 2)
    return _frechet_cov(mu, sa, _sqrt_psd(sa), sb)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet_cov(mu: np.ndarray, sa: np.ndarray, sa_half: np.ndarray, sb: np.ndarray) -> float:
    m = sa_half @ sb @ sa_half  # symmetric PSD: its square root's trace is the sum of sqrt eigenvalues
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * tr)


def frechet_metric(generated: np.ndarray, real: np.ndarray, resamples: int = FRECHET_RESAMPLES,
                   seed: int = 0) -> dict[str, Any]:
    """Fréchet distance with a bootstrap CI over generated rows (real fixed: Σ_real^½ computed once)."""
    value = frechet(real, generated)
    sr = np.cov(real, rowvar=False)
    sr_half, mr = _sqrt_psd(sr), real.mean(0)
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(resamples):
        g = generated[rng.integers(0, len(generated), len(generated))]
        stats.append(_frechet_cov(mr - g.mean(0), sr, sr_half, np.cov(g, rowvar=False)))
    lo, hi = percentile_ci(stats)
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": int(len(generated)), "per_item": []}


def score(judge: Judge, samples: dict[int, torch.Tensor], concept: int, frechet_resamples: int = FRECHET_RESAMPLES,
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, per-class detail) of generated `samples` (class prompted → images in [-1, 1]); the detail holds
    each class's Fréchet entry and recognition rate (keys are class indices)."""
    preds, feats = {}, {}
    for k, x in samples.items():
        preds[k], feats[k] = judge.predict(x)
    hit = (preds[concept] == concept).astype(float)
    others = [k for k in samples if k != concept]
    own = np.concatenate([(preds[k] == k).astype(float) for k in others])
    per_class = {k: frechet_metric(feats[k], judge.real_features[k], frechet_resamples) for k in samples}
    metrics = {"concept_rate": metric(hit), "other_recognition": metric(own),
               "frechet_concept": per_class[concept],
               "frechet_other": metric([per_class[k]["value"] for k in others])}
    detail = {"frechet_per_class": per_class,
              "recognition_per_class": {k: float((preds[k] == k).mean()) for k in samples}}
    return metrics, detail

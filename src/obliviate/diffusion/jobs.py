"""The diffusion demo's two kinds of job: train one model into the cache (`train_job`), and judge one model
(`judge_job`: the target, the oracle, or a method's edit of the target), each run in the demo's process or in a
spawned worker (`--jobs`).

Jobs take and return plain picklable values: a model travels as its cache folder (a worker loads it in well under a
second), the judge as itself (a small CNN and its real-image features), so a job gives the same numbers wherever it
runs: every random draw in it is seeded from the run's seed, never from the process's state.

`judge_model` is what judging means: `samples_per_class` images per real class from the held-out phrasings → the
judge's metrics; the embedding attack on `attack_prompts` concept prompts; the grid images for the report; and, with
planted duplicates, the replication rate of the planted images from their captions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .attack import run_attack
from .judge import Judge, score
from .memorize import Planting, replication_rate
from .methods.protocol import EraseTask, erase
from .models import T2I, load_t2i
from .prompts import HELDOUT_TEMPLATES, fill
from .sample import sample
from .train import model_folder, trained

if TYPE_CHECKING:
    from .demo import DemoSettings

GRID_SAMPLES = 8  # samples per prompt kept in results.json for the report's grids
PRELOAD = ("diffusers.models.unets.unet_2d_condition", "transformers.models.clip.modeling_clip",
           "obliviate.diffusion.methods", "obliviate.vision.models")  # what a worker's jobs import


@dataclass(frozen=True)
class JudgeContext:
    """What every judge job shares: the judge, the concept (class index) and 64 of its real training images (the
    attack's x0), the settings, the seed, the erase task and the planted images (planting, images, threshold)."""

    judge: Judge
    concept: int
    x_concept: torch.Tensor
    settings: DemoSettings
    seed: int
    task: EraseTask
    memo: tuple[Planting, torch.Tensor, float] | None = None


def eval_prompts(classes: tuple[str, ...], per_class: int) -> dict[int, list[str]]:
    """class → `per_class` prompts cycling over the held-out templates."""
    return {k: [fill(HELDOUT_TEMPLATES[i % len(HELDOUT_TEMPLATES)], c) for i in range(per_class)]
            for k, c in enumerate(classes)}


def grid_classes(concept: int, n: int) -> list[int]:
    """The concept and the two classes after it: the report's sample grid rows."""
    return [concept, (concept + 1) % n, (concept + 2) % n]


def judge_model(model: T2I, ctx: JudgeContext) -> tuple[dict, dict, dict]:
    """(metrics, detail, samples for the grid) of one model."""
    s, judge, concept, seed = ctx.settings, ctx.judge, ctx.concept, ctx.seed
    n = len(judge.real_features)  # the real classes (the model also knows the planted caption words)
    prompts = eval_prompts(model.classes[:n], s.samples_per_class)
    flat = [p for k in sorted(prompts) for p in prompts[k]]
    imgs = sample(model, flat, s.sample_steps, s.guidance, seed=seed)
    per = {k: imgs[i * s.samples_per_class:(i + 1) * s.samples_per_class] for i, k in enumerate(sorted(prompts))}
    metrics, detail = score(judge, per, concept, s.frechet_resamples)
    templates = [HELDOUT_TEMPLATES[i % len(HELDOUT_TEMPLATES)] for i in range(s.attack_prompts)]
    att = run_attack(model, lambda x: judge.predict(x)[0], concept, [fill(t, model.classes[concept]) for t in templates],
                     ctx.x_concept, s.attack, seed, [model.tokenizer.slot_position(t) for t in templates])
    metrics.update(attack_success=att["attack_success"], attack_asr=att["attack_asr"])
    detail["attack"] = att["log"]
    grid = {prompts[k][0]: (((per[k][:GRID_SAMPLES, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
                            .tolist()) for k in grid_classes(concept, n)}
    if ctx.memo is not None:
        planting, planted, threshold = ctx.memo
        mem = [p for p in planting.prompts() for _ in range(s.replication_samples)]
        metrics["replication"] = replication_rate(sample(model, mem, s.sample_steps, s.guidance, seed=seed + 7),
                                                  planted, threshold)
    return metrics, detail, grid


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """`trained(...)` of one role (job: x, y, classes, keep, cfg, recipe, seed, cache, role) → {"role", "log",
    "status" ("cached" | "trained"), "folder"}; the model stays in the cache folder."""
    _, log, status = trained(job["x"], job["y"], job["classes"], job["keep"], job["cfg"], job["recipe"], job["seed"],
                             job["cache"], job["role"], print)
    return {"role": job["role"], "log": log, "status": status,
            "folder": str(model_folder(job["cache"], job["role"], log["cache_key"]))}


def judge_job(job: dict[str, Any]) -> dict[str, Any]:
    """Judge one model (job: name, folder, method (None for target/oracle), overrides, log (the training log of
    target/oracle), ctx) → {"name", "scored": (metrics, detail, grid, log), "seconds"}. A method edits a copy of
    the model in `folder` (the target) first; its log is the edit's."""
    t0 = time.perf_counter()
    model, _ = load_t2i(Path(job["folder"]))
    log = job.get("log") or {}
    if job.get("method"):
        model, log = erase(model, job["method"], job["ctx"].task, **job.get("overrides", {}))
    metrics, detail, grid = judge_model(model, job["ctx"])
    return {"name": job["name"], "scored": (metrics, detail, grid, log), "seconds": time.perf_counter() - t0}

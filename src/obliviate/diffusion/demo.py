"""`obliviate diffusion demo`: erase one class from a tiny text-to-image model with every diffusion method, and judge
target, methods and oracle alike.

Steps: load the images (digits, or Fashion-MNIST at 16×16) → train (or load from the cache) the target on every
class and the oracle on every class but the concept, side by side in worker processes, while this process trains the
judge on the real images → judge every model (`jobs.judge_job`: a method's edit of the target first; then
`samples_per_class` images per class from held-out prompt phrasings, scored by the judge, and the embedding attack),
the models shared out over the workers → write OUT/NAME/results.json (track "diffusion") for target, each method and
oracle, and OUT/report.html.
`--quick` (QUICK) shrinks every stage so that the whole demo is a smoke test; FULL is the real experiment.

Planted duplicates (`memorize.py`): the target's training set also holds `plant_copies` copies of `plant_images`
training images, each under its own caption word; the oracle trains without them (and without the concept). Every
model is also scored on the replication rate of those images from their captions, and `memorized_subspace` prunes
the neurons that the captions activate (its target prompts are the memorised ones, not the concept's).
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from obliviate._atomic import atomic_dir
from obliviate.demo.workers import start_pool
from obliviate.errors import ConfigError
from obliviate.results import build_results, cost_ratio, env_info, write_results

from .attack import AttackConfig
from .jobs import PRELOAD, JudgeContext, judge_job, train_job
from .judge import CONVENTIONS, train_judge
from .memorize import plant, replication_threshold
from .methods.protocol import EraseTask
from .models import preset
from .prompts import find_class
from .train import Recipe, diffusion_side, images

# methods whose edit trains (seconds to minutes): judged first, so that the workers finish together
EDIT_WEIGHT = {"advunlearn": 3, "doco": 2, "esd": 2}


@dataclass(frozen=True)
class DemoSettings:
    preset: str
    recipe: Recipe
    samples_per_class: int
    sample_steps: int
    judge_epochs: int
    attack: AttackConfig
    attack_prompts: int
    frechet_resamples: int
    guidance: float = 3.0
    plant_images: int = 4
    plant_copies: int = 50
    replication_samples: int = 4  # samples per memorised prompt (caption word × training template)
    methods: tuple[str, ...] = ("uce", "rece", "esd", "advunlearn", "doco", "memorized_subspace")
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    preset_16: str | None = None  # the model preset for 16×16 images (Fashion-MNIST); None: `preset`

    def model_preset(self, side: int) -> str:
        return self.preset_16 if side > 8 and self.preset_16 else self.preset


QUICK = DemoSettings(preset="quick", recipe=Recipe(steps=100, batch_size=32, lr=3e-3), samples_per_class=8,
                     sample_steps=10, judge_epochs=8, attack=AttackConfig(iters=10, samples=4, sample_steps=10),
                     attack_prompts=1, frechet_resamples=50,
                     overrides={"esd": {"steps": "10", "pool": "8", "batch_size": "8", "sample_steps": "10"},
                                "advunlearn": {"steps": "5", "attack_steps": "2", "pool": "8", "batch_size": "8",
                                               "sample_steps": "10"},
                                "doco": {"steps": "5", "pool": "8", "batch_size": "8", "sample_steps": "10"}})
# 1200 x 64 at lr 2e-3, sampled at guidance 2 with 10 DDIM steps: the digits target is recognised 0.98 (other
# classes) and 1.00 (concept "3"), the oracle 0.97 on its nine classes; 20 DDIM steps took twice as long and gave
# 0.88-0.90 and 0.77-0.78 (guidance 3: 0.25). ~420 CPU s of training each; BENCHMARKS.md
FULL = DemoSettings(preset="full", recipe=Recipe(steps=1200, batch_size=64, lr=2e-3), samples_per_class=100,
                    sample_steps=10, judge_epochs=30, guidance=2.0,
                    attack=AttackConfig(iters=40, samples=16, sample_steps=10, guidance=2.0),
                    attack_prompts=3, frechet_resamples=200,
                    # the paper's ratio (0.02) leaves this target's planted copies in place (its FFN rows have 128-256
                    # inputs); 0.2 removes them at unchanged recognition (skill-ratio sweep in BENCHMARKS.md)
                    overrides={"memorized_subspace": {"skill_ratio": "0.2"}}, preset_16="full16")


def load_images(kind: str):
    from obliviate.vision.data import load, load_fashion_mnist

    if kind == "fashion-mnist":
        return load_fashion_mnist(train_limit=10000, test_limit=2000)
    return load(kind)


def run_demo(data: str = "digits", concept: str | None = None, quick: bool = False, out: str | Path = "runs/diffusion",
             cache: str | Path | None = None, methods: tuple[str, ...] | None = None, seed: int = 0,
             say: Callable[[str], None] = print, jobs: int | None = None) -> dict[str, Any]:
    """The whole demo; returns {"results": [paths], "report": path or None, "timings": {...}}. `jobs` worker
    processes (default 2, `--quick` 1: spawning costs more than it saves there) train target and oracle side by side
    and then judge the models; the numbers do not depend on `jobs`. Without `cache`, models live in a temporary
    folder for the run. Call it under `if __name__ == "__main__":` when jobs > 1 (spawned workers re-import)."""
    s = QUICK if quick else FULL
    s = replace(s, methods=tuple(methods)) if methods else s
    jobs = (1 if quick else 2) if jobs is None else jobs
    if jobs < 1:
        raise ConfigError(f"diffusion demo: jobs must be >= 1 (got {jobs})")
    cd = load_images(data)
    c = find_class(cd.classes, concept if concept is not None else cd.classes[0])
    timings, start = {"jobs": jobs}, time.perf_counter()
    with contextlib.ExitStack() as stack:
        pool, warming = None, []
        if jobs > 1:  # the workers start (importing) while this process prepares the data
            pool, warming = start_pool(jobs, PRELOAD)
            stack.callback(pool.shutdown, cancel_futures=True)
        if cache is None:
            cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="obliviate-diffusion-"))
        side = diffusion_side(cd.x_train.shape[-1])
        x, xt = images(cd.x_train, side), images(cd.x_test, side)
        xp, yp, classes, planting = plant(x, cd.y_train, cd.classes, s.plant_images, s.plant_copies, (c,), seed)
        others = [k for k in range(cd.num_classes) if k != c]
        common = {"classes": classes, "cfg": preset(s.model_preset(side)), "recipe": s.recipe, "seed": seed,
                  "cache": Path(cache)}
        training = _each(pool, train_job, [{**common, "role": "target", "x": xp, "y": yp,
                                            "keep": list(range(len(classes)))},
                                           {**common, "role": "oracle", "x": x, "y": cd.y_train, "keep": others}])
        t0 = time.perf_counter()  # the judge trains here while the workers train target and oracle
        judge = train_judge(x, cd.y_train, xt, cd.y_test, cd.num_classes, seed, s.judge_epochs)
        timings["judge_s"] = time.perf_counter() - t0
        say(f"[diffusion] judge test accuracy {judge.test_accuracy:.3f} ({timings['judge_s']:.1f}s)")
        models = {r["role"]: r for r in training}
        timings["train_s"] = time.perf_counter() - start
        threshold = replication_threshold(x)
        task = EraseTask(concept=cd.classes[c], preserve=tuple(cd.classes[k] for k in others), seed=seed,
                         extra={"memorized_prompts": planting.prompts()})
        ctx = JudgeContext(judge, c, x[cd.y_train == c][:64], s, seed, task,
                           (planting, x[list(planting.indices)], threshold))
        t0 = time.perf_counter()
        scored = _judge_all(pool, ctx, models, say)
        timings["evaluate_s"] = time.perf_counter() - t0
        started = [f.result() for f in warming if f.done() and not f.exception()]
        if started:
            timings["worker_imports_s"] = max(w["import_s"] for w in started)
    timings["total_s"] = time.perf_counter() - start
    context = {"data": cd.describe(), "concept": cd.classes[c], "side": side, "settings": _settings(s, side),
               "judge": {"test_accuracy": judge.test_accuracy, "model": "SmallCNN"}, "seed": seed,
               "cache": {role: models[role]["status"] for role in models}, "quick": quick,
               "planted": {"indices": list(planting.indices), "captions": list(planting.names),
                           "copies": planting.copies, "threshold": threshold}}
    say(f"[diffusion] wall time {timings['total_s']:.1f}s (train {timings['train_s']:.1f}s, evaluate "
        f"{timings['evaluate_s']:.1f}s, {jobs} jobs)")
    return _write(Path(out), scored, context, models["oracle"]["log"], timings, say)


def _judge_all(pool, ctx: JudgeContext, models: dict[str, dict], say: Callable[[str], None]) -> dict[str, tuple]:
    """name → (metrics, detail, grid, log) for target, every method (an edit of the target) and oracle, in that
    order; the jobs that train (EDIT_WEIGHT) go first, so that the workers end together."""
    s = ctx.settings
    todo = [{"name": role, "folder": models[role]["folder"], "log": models[role]["log"], "ctx": ctx}
            for role in ("target", "oracle")]
    todo += [{"name": m, "folder": models["target"]["folder"], "method": m, "overrides": s.overrides.get(m, {}),
              "ctx": ctx} for m in s.methods]
    todo.sort(key=lambda job: -EDIT_WEIGHT.get(job["name"], 0))
    scored = {}
    for done in _each(pool, judge_job, todo):
        scored[done["name"]] = done["scored"]
        say(f"[diffusion] {done['name']}: {_line(done['scored'][0])} ({done['seconds']:.1f}s)")
    return {name: scored[name] for name in ("target", *s.methods, "oracle")}


def _each(pool, fn: Callable[[dict], dict], jobs: list[dict]) -> Iterator[dict]:
    """fn(job) for every job: submitted to the pool's workers now and yielded in completion order, or, without a
    pool, run in this process as they are consumed. A job's error is raised to the consumer."""
    if pool is None:
        return map(fn, jobs)
    return (f.result() for f in as_completed([pool.submit(fn, job) for job in jobs]))


def _line(m: dict) -> str:
    return (f"concept {m['concept_rate']['value']:.2f} others {m['other_recognition']['value']:.2f} "
            f"FD {m['frechet_concept']['value']:.2f}/{m['frechet_other']['value']:.2f} "
            f"attack {m['attack_success']['value']:.2f}"
            + (f" replication {m['replication']['value']:.2f}" if "replication" in m else ""))


def _settings(s: DemoSettings, side: int) -> dict[str, Any]:
    d = asdict(s)
    d["model"] = {"preset": s.model_preset(side), **asdict(preset(s.model_preset(side)))}
    return d


def _cost(name: str, log: dict, oracle_log: dict) -> dict[str, Any]:
    own = {k: log.get(k) for k in ("wall_time_s", "peak_memory_mb", "steps", "samples")}
    if name in ("target", "oracle"):
        return own
    return {**own, "oracle": {"wall_time_s": oracle_log["wall_time_s"]},
            "cost_ratio": cost_ratio(log["wall_time_s"], oracle_log["wall_time_s"])}


def _write(out: Path, scored: dict, context: dict, oracle_log: dict, timings: dict,
           say: Callable[[str], None]) -> dict[str, Any]:
    paths = []
    oracle_metrics = scored["oracle"][0]
    with atomic_dir(out) as tmp:
        for name, (metrics, detail, grid, log) in scored.items():
            config = {**context, "method": log.get("config", {"method": name})}
            res = build_results(config, metrics, conventions=CONVENTIONS, cost=_cost(name, log, oracle_log),
                                oracle={"source": "trained from scratch without the concept's images, same recipe "
                                                  "and seed as the target", "metrics": oracle_metrics},
                                env=env_info(seed=context["seed"], device="cpu"), name=name, track="diffusion",
                                samples=grid, detail=_jsonable(detail), timings=timings)
            write_results(tmp / name / "results.json", res)
            paths.append(out / name / "results.json")
    report = None
    try:
        from obliviate.report import write_report

        report = write_report(paths, out / "report.html",
                              title=f"obliviate diffusion: erasing {context['concept']!r} ({context['data']['name']})")
        say(f"report: {report}")
    except ImportError:
        pass
    return {"results": paths, "report": report, "timings": timings}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj

"""SISA exact unlearning for the classifier track: train a sharded, sliced ensemble; delete items by retraining.

    from obliviate.exact import sisa
    cfg = sisa.SisaConfig(shards=5, slices=4)
    sisa.train(sisa.DataSpec("digits"), cfg, "runs/sisa")        # S constituents, a checkpoint after every slice
    report = sisa.delete("runs/sisa", [3, 17, 42])               # retrains only the shards holding those items
    ens = sisa.Ensemble.load("runs/sisa"); ens.predict(x)        # mean probability of the constituents

Training (Bourtoule et al. 2021, as `layout.py` describes): constituent s starts from weights drawn from a seed of
(seed, s); step r trains it on the survivors of its slices 0..r for `epochs_per_step` epochs with the vision track's
`retrain` recipe (SGD momentum 0.9, wd 5e-4, batch 64, lr 0.05 with a cosine decay inside the step; a fresh optimizer
per step, as SISA restarts from the saved weights only) and a shuffling seed of (seed, s, r). The weights after each
step are saved. So the weights after step r depend only on the seeds and the survivors of slices 0..r: a deletion in
slice j restarts from the checkpoint after step j−1 and ends bit-identical to training from scratch on the
survivors (CPU, same thread count: tests/exact/test_sisa.py checks it with torch.equal).

Folder E: `sisa.json` (config, data spec and fingerprint, every checkpoint with its file sha256 and the sha256 of
the item ids it saw, deletion history), `positions.csv` (item, shard, slice, index, deleted) and
`shard-SSS/slice-RRR.safetensors`. Every write builds a new folder and renames it over E.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from obliviate._atomic import atomic_dir
from obliviate.errors import ConfigError, DataError

from .aggregate import AGGREGATIONS, aggregate
from .executor import fan_out
from .layout import Layout, epochs_per_step, indices_sha256

FORMAT = "obliviate-sisa/1"
MANIFEST = "sisa.json"
POSITIONS = "positions.csv"


@dataclass(frozen=True)
class SisaConfig:
    """shards S, slices R; epochs = full passes over a shard in total (split over the steps); recipe of each step;
    threads = torch CPU threads while training (recorded: bit-identity needs the same count at deletion)."""

    shards: int = 5
    slices: int = 4
    epochs: int = 30
    lr: float = 0.05
    batch_size: int = 64
    schedule: Literal["constant", "cosine"] = "cosine"
    seed: int = 0
    aggregate: Literal["mean", "vote"] = "mean"
    threads: int = 1

    def __post_init__(self):
        if self.aggregate not in AGGREGATIONS:
            raise ConfigError(f"aggregate: must be one of {', '.join(AGGREGATIONS)}, got {self.aggregate!r}")
        if self.threads < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"threads and batch_size must be >= 1 and lr > 0, got threads={self.threads}, "
                              f"batch_size={self.batch_size}, lr={self.lr}")
        epochs_per_step(self.epochs, self.slices)  # validates epochs and slices


@dataclass(frozen=True)
class DataSpec:
    """Which training set: `kind` digits | fashion-mnist | csv, with the vision loaders' options."""

    kind: str = "digits"
    path: str | None = None
    label: str | None = None
    train_limit: int | None = None

    def load(self):
        from obliviate.vision.data import load

        kw = {"train_limit": self.train_limit} if self.kind == "fashion-mnist" and self.train_limit else {}
        return load(self.kind, self.path, self.label, **kw)


def data_sha256(x: torch.Tensor, y: torch.Tensor) -> str:
    """Fingerprint of a training set (its tensors' bytes): deletion refuses data that changed since training."""
    h = hashlib.sha256()
    for t in (x, y):
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def seed_of(*parts: int) -> int:
    """An independent 32-bit seed for (seed, shard[, step]) (numpy's SeedSequence mixes the parts)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


# ---------------------------------------------------------------- one shard (runs in a worker)

@dataclass
class ShardJob:
    """Train shard `shard` from step `start` to R−1. slices_x/y: the survivors of every slice (all R) in order;
    init_state: the weights after step start−1 (None: fresh weights from the shard's seed)."""

    shard: int
    start: int
    config: SisaConfig
    input_shape: tuple[int, ...]
    num_classes: int
    slices_x: list[torch.Tensor]
    slices_y: list[torch.Tensor]
    init_state: dict[str, torch.Tensor] | None = None


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int,
               cfg: SisaConfig, seed: int) -> dict[str, Any]:
    """`epochs` epochs of the vision track's training loop over (x, y), shuffled by `seed`, fresh optimizer."""
    from torch.utils.data import DataLoader, TensorDataset

    from obliviate.methods import build
    from obliviate.vision.loop import run
    from obliviate.vision.methods import Context

    recipe = build("retrain", {"epochs": epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
                               "schedule": cfg.schedule}, track="vision")
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    ctx = Context(num_classes, torch.Generator().manual_seed(seed), torch.device("cpu"), seed,
                  None, {"retain": loader})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return run(model, recipe, ctx, None)  # no `prepare`: continue from the current weights


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_shard(job: ShardJob) -> dict[str, Any]:
    """Run steps job.start..R−1 of one shard; returns the weights after each step and a log per step."""
    from obliviate.vision.models import build_model

    cfg = job.config
    epochs = epochs_per_step(cfg.epochs, cfg.slices)
    with _threads(cfg.threads):
        model = build_model(job.input_shape, job.num_classes, seed=seed_of(cfg.seed, job.shard))
        if job.init_state is not None:
            model.load_state_dict(job.init_state)
        states, logs = [], []
        for r in range(job.start, cfg.slices):
            x, y = torch.cat(job.slices_x[: r + 1]), torch.cat(job.slices_y[: r + 1])  # slices 0..r
            start = time.perf_counter()
            if len(y) and epochs[r]:
                log = train_step(model, x, y, job.num_classes, epochs[r], cfg, seed_of(cfg.seed, job.shard, r))
            else:  # nothing left to train on (or a 0-epoch step): the weights carry over unchanged
                log = {"steps": 0, "samples": 0}
            states.append({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()})
            logs.append({"slice": r, "items": len(y), "epochs": epochs[r], "steps": log["steps"],
                         "samples": log["samples"], "wall_time_s": time.perf_counter() - start})
    return {"shard": job.shard, "start": job.start, "states": states, "steps": logs}


# ---------------------------------------------------------------- the ensemble folder

def _ckpt_name(shard: int, r: int) -> str:
    return f"shard-{shard:03d}/slice-{r:03d}.safetensors"


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link an unchanged file into the new folder (files are never modified in place); copy where the file
    system has no hard links."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jobs(data, layout: Layout, cfg: SisaConfig, deleted: set[int], starts: dict[int, int],
          init_states: dict[int, dict | None]) -> list[ShardJob]:
    jobs = []
    for s, start in starts.items():
        keep = [[i for i in sl if i not in deleted] for sl in layout.slots[s]]
        jobs.append(ShardJob(s, start, cfg, tuple(data.input_shape), data.num_classes,
                             [data.x_train[ids] for ids in keep], [data.y_train[ids] for ids in keep],
                             init_states.get(s)))
    return jobs


def _write_checkpoints(tmp: Path, results: list[dict], layout: Layout, deleted: set[int],
                       checkpoints: dict[str, dict]) -> None:
    from safetensors.torch import save_file

    for res in results:
        s = res["shard"]
        for state, log in zip(res["states"], res["steps"], strict=True):
            r = log["slice"]
            name = _ckpt_name(s, r)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            save_file(state, str(tmp / name))
            checkpoints[f"{s}/{r}"] = {"file": name, "sha256": _file_sha256(tmp / name),
                                      "indices_sha256": indices_sha256(layout.survivors(s, r, deleted)),
                                      "items": log["items"], "epochs": log["epochs"]}


def _positions_csv(layout: Layout, deleted: set[int]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "shard", "slice", "index", "deleted"])
    for item, (s, r, k) in enumerate(layout.positions()):
        w.writerow([item, int(s), int(r), int(k), int(item in deleted)])
    return buf.getvalue()


def read_positions(folder: Path) -> tuple[Layout, set[int]]:
    """The layout and the deleted ids recorded in E/positions.csv (rows in any order)."""
    path = folder / POSITIONS
    rows: dict[tuple[int, int], dict[int, int]] = {}
    deleted, n = set(), 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for line, row in enumerate(reader, start=2):
            try:
                item, s, r, k, gone = (int(row[c]) for c in ("item", "shard", "slice", "index", "deleted"))
            except (KeyError, TypeError, ValueError):
                raise DataError("expected integer columns item,shard,slice,index,deleted", file=path,
                                line=line, value=row) from None
            rows.setdefault((s, r), {})[k] = item
            n += 1
            if gone:
                deleted.add(item)
    shards = 1 + max(s for s, _ in rows)
    slices = 1 + max(r for _, r in rows)
    slots = [[[rows.get((s, r), {})[k] for k in sorted(rows.get((s, r), {}))] for r in range(slices)]
             for s in range(shards)]
    return Layout.from_json({"n_items": n, "slots": slots}), deleted


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise DataError(f"not a SISA ensemble folder ({MANIFEST} missing; create one with `obliviate exact train`)",
                        file=folder)
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e.msg}", file=path, line=e.lineno) from None
    if m.get("format") != FORMAT:
        raise DataError("unsupported ensemble format", file=path, field="format", rule=FORMAT, value=m.get("format"))
    return m


def _config_from(m: dict) -> SisaConfig:
    return SisaConfig(**m["config"])


def train(spec: DataSpec, cfg: SisaConfig, out: str | os.PathLike, *, deleted: Iterable[int] = (),
          executor: str = "process", workers: int | None = None, data=None,
          say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every constituent from scratch (skipping `deleted` items: the reference the exactness test compares
    deletion against) and write the folder `out` atomically. Returns the manifest."""
    data = data if data is not None else spec.load()
    layout = Layout.build(len(data.y_train), cfg.shards, cfg.slices, cfg.seed)
    gone = set(layout.check_ids(deleted))
    start = time.perf_counter()
    jobs = _jobs(data, layout, cfg, gone, dict.fromkeys(range(cfg.shards), 0), {})
    results = fan_out(train_shard, jobs, executor, workers)
    wall = time.perf_counter() - start
    steps = [log for res in results for log in res["steps"]]
    manifest = {"format": FORMAT, "track": "vision", "config": asdict(cfg), "data": {
        **asdict(spec), "name": data.name, "sha256": data_sha256(data.x_train, data.y_train),
        "train": len(data.y_train), "test": len(data.y_test), "input_shape": list(data.input_shape),
        "classes": list(data.classes)},
        "epochs_per_step": epochs_per_step(cfg.epochs, cfg.slices),
        "train_cost": {"wall_time_s": wall, "work_wall_time_s": sum(x["wall_time_s"] for x in steps),
                       "samples": sum(x["samples"] for x in steps), "steps": sum(x["steps"] for x in steps),
                       "executor": executor},
        "deleted": sorted(gone), "history": [], "checkpoints": {}}
    with atomic_dir(out) as tmp:
        _write_checkpoints(tmp, results, layout, gone, manifest["checkpoints"])
        (tmp / POSITIONS).write_text(_positions_csv(layout, gone), encoding="utf-8")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    say(f"trained {cfg.shards} shards x {cfg.slices} slices on {len(data.y_train) - len(gone)} items "
        f"in {wall:.1f}s -> {out}")
    return manifest


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One writer at a time per ensemble: an exclusive flock on a file beside the folder."""
    lock = folder.parent / f".{folder.name}.lock"
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load_state(folder: Path, name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / name))


def full_retrain_samples(layout: Layout, cfg: SisaConfig, deleted: set[int]) -> int:
    """Samples a full retraining of every shard on the survivors would process (Σ_s Σ_r e_r · |slices 0..r|)."""
    epochs = epochs_per_step(cfg.epochs, cfg.slices)
    return sum(epochs[r] * len(layout.survivors(s, r, deleted)) for s in range(layout.shards)
               for r in range(layout.slices))


def delete(folder: str | os.PathLike, ids: Iterable[int], *, executor: str = "process",
           workers: int | None = None, data=None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Delete training items `ids` from the ensemble in `folder`: each shard holding one restarts from its checkpoint
    before the earliest affected slice and retrains on the survivors. Returns the report (also kept in history)."""
    folder = Path(folder)
    read_manifest(folder)  # a clear error before any lock file is made
    with _locked(folder):
        m = read_manifest(folder)
        cfg = _config_from(m)
        layout, gone = read_positions(folder)
        ids = layout.check_ids(ids)
        new = [i for i in ids if i not in gone]
        already = [i for i in ids if i in gone]
        report: dict[str, Any] = {"requested": ids, "deleted": new, "already_deleted": already, "retrained": {},
                                  "positions": {str(i): dict(zip(("shard", "slice", "index"),
                                                                 map(int, layout.positions()[i]), strict=True))
                                                for i in new}}
        if not new:
            report["cost"] = {"samples": 0, "wall_time_s": 0.0, "steps_retrained": 0}
            say("nothing to delete: every requested item was already deleted")
            return report
        if data is None:
            data = DataSpec(**{k: m["data"][k] for k in ("kind", "path", "label", "train_limit")}).load()
        if data_sha256(data.x_train, data.y_train) != m["data"]["sha256"]:
            raise DataError("the training data changed since the ensemble was trained (sha256 differs); deletion "
                            "must retrain on the same data", file=folder, field="data.sha256")
        gone |= set(new)
        starts = layout.first_affected(new)
        init = {s: (_load_state(folder, m["checkpoints"][f"{s}/{j - 1}"]["file"]) if j else None)
                for s, j in starts.items()}
        start = time.perf_counter()
        results = fan_out(train_shard, _jobs(data, layout, cfg, gone, starts, init), executor, workers)
        wall = time.perf_counter() - start
        steps = [log for res in results for log in res["steps"]]
        full = full_retrain_samples(layout, cfg, gone)
        samples = sum(x["samples"] for x in steps)
        report["retrained"] = {str(s): {"from_slice": j, "slices": list(range(j, cfg.slices))}
                               for s, j in starts.items()}
        report["cost"] = {
            "steps_retrained": len(steps), "steps_total": cfg.shards * cfg.slices, "samples": samples,
            "wall_time_s": wall, "full_retrain_samples": full, "samples_fraction": samples / full if full else 0.0,
            "train_wall_time_s": m["train_cost"]["wall_time_s"],
            "speedup_vs_train_wall": m["train_cost"]["wall_time_s"] / wall if wall else None,
            "executor": executor}
        report["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        m["deleted"] = sorted(gone)
        m["history"].append(report)
        checkpoints = dict(m["checkpoints"])
        with atomic_dir(folder) as tmp:
            replaced = {_ckpt_name(s, r) for s, j in starts.items() for r in range(j, cfg.slices)}
            for entry in checkpoints.values():
                if entry["file"] not in replaced:  # unchanged: link (files are never modified in place)
                    (tmp / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
                    link_or_copy(folder / entry["file"], tmp / entry["file"])
            _write_checkpoints(tmp, results, layout, gone, checkpoints)
            m["checkpoints"] = checkpoints
            (tmp / POSITIONS).write_text(_positions_csv(layout, gone), encoding="utf-8")
            (tmp / MANIFEST).write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    c = report["cost"]
    say(f"deleted {len(new)} items; retrained {len(starts)}/{cfg.shards} shards ({c['steps_retrained']}/"
        f"{c['steps_total']} slice steps, {c['samples_fraction']:.1%} of a full retrain's samples) in "
        f"{wall:.1f}s vs {c['train_wall_time_s']:.1f}s to train")
    return report


# ---------------------------------------------------------------- inference

@dataclass
class Ensemble:
    """The S constituents (weights after their last slice) and how they aggregate."""

    models: list[torch.nn.Module]
    how: str = "mean"
    manifest: dict = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Ensemble:
        from obliviate.vision.models import build_model

        folder = Path(folder)
        m = read_manifest(folder)
        cfg = _config_from(m)
        models = []
        for s in range(cfg.shards):
            model = build_model(tuple(m["data"]["input_shape"]), len(m["data"]["classes"]))
            model.load_state_dict(_load_state(folder, m["checkpoints"][f"{s}/{cfg.slices - 1}"]["file"]))
            models.append(model.eval())
        return cls(models, cfg.aggregate, m)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """(S, B, C) logits of every constituent."""
        return torch.stack([torch.cat([m(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
                            for m in self.models])

    def predict(self, x: torch.Tensor, how: str | None = None) -> torch.Tensor:
        return aggregate(self.logits(x), how or self.how)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """Test accuracy (%) of both aggregations and of each constituent alone."""
        logits = self.logits(x)
        acc = lambda pred: float((pred == y).float().mean() * 100)  # noqa: E731
        return {"mean": acc(aggregate(logits, "mean")), "vote": acc(aggregate(logits, "vote")),
                "constituents": [acc(lg.argmax(-1)) for lg in logits], "default": self.how, "n": len(y)}

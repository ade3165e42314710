"""S3T exact unlearning for language models: a frozen public base, per-shard LoRA adapters trained slice by slice
into successive layer groups, over several slice orders; a deletion deactivates adapters instead of retraining.

    from obliviate.exact import s3t
    s3t.train("data/persons", s3t.S3TConfig(preset="small", shards=2, slices=4, sequences=4), "runs/s3t")
    s3t.delete("runs/s3t", [12])            # removes every adapter that saw item 12; retrains a shard only when
                                           # none of its sequences keeps a clean prefix
    ens = s3t.Ensemble.load("runs/s3t"); ens.answer_probability(records)

The method (Chowdhury et al., ICLR'25), as done here:
- Base: a `preset` model trained with the models' recipe on the *public* persons only, its tokenizer trained on
  their texts only, and then frozen: the first ⌈public_fraction·P⌉ persons of the corpus's `full.json` (by person
  id) with their biographies. The QA items of the other persons are the deletable items (ids 0..N−1 in file
  order); they never reach the base or the tokenizer.
- Shards and slices: the deletable items are shuffled, cut into S shards and each shard into R slices (layout.py).
- Layer groups: the L layers split into R groups counted from the top (group 0 = the top L/R layers). A
  sequence is an order π of the R slices; its step i trains only the LoRA adapters of group i, on the slices
  π(0..i), with every other weight frozen (groups after i are still zero, so they do not act). Group i has
  therefore seen exactly the slices π(0..i); that lineage is recorded with the sha256 of the item ids.
- Sequences: B orders per shard, chosen one after another by a min-cost bipartite matching of slices to positions
  (scipy's linear_sum_assignment), each slice going where it has sat least often so far, so that every slice comes
  last in some order (with B = R this gives R rotations); the paper's "BMS" selection under a uniform deletion prior.
- Deletion of an item in slice j: every adapter of every sequence whose lineage contains j is deleted from disk; the
  shard then serves the sequence with the longest remaining clean prefix (the one where j came latest). Only when no
  sequence keeps a prefix of `min_prefix` groups is the shard retrained (all B sequences, on the survivors).
- Inference: each shard = base + its active prefix; the ensemble averages token probabilities across shards.

Exactness (tests/exact/test_s3t.py): after a deletion the active adapters' lineage excludes the deleted items, and
their weights are torch.equal to those of the same sequence trained without them (each group's weights depend
only on the seeds, the base and the slices before it in its order).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from obliviate._atomic import atomic_dir
from obliviate.errors import ConfigError, DataError

from .executor import fan_out
from .layout import Layout, epochs_per_step, indices_sha256
from .sisa import _file_sha256, _locked, _positions_csv, link_or_copy, seed_of

FORMAT = "obliviate-s3t/1"
MANIFEST = "s3t.json"
POSITIONS = "positions.csv"
ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class S3TConfig:
    """preset: the base architecture; epochs: passes over a shard per sequence in total (SISA's schedule over the
    steps); the LoRA adapters (rank r, alpha) sit on `targets` of every layer."""

    preset: str = "small"
    shards: int = 2
    slices: int = 4
    sequences: int = 4
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 16
    lora_r: int = 8
    lora_alpha: float = 16.0
    targets: tuple[str, ...] = ALL_TARGETS
    public_fraction: float = 0.5
    base_epochs: int = 40
    min_prefix: int = 1
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        if not 1 <= self.sequences <= math.factorial(min(self.slices, 10)):
            raise ConfigError(f"--sequences: must be in 1..R! (R={self.slices}), got {self.sequences}")
        if not 0.0 < self.public_fraction < 1.0:
            raise ConfigError(f"--public-fraction: must be in (0, 1), got {self.public_fraction}")
        if not 1 <= self.min_prefix <= self.slices:
            raise ConfigError(f"min_prefix: must be in 1..{self.slices}, got {self.min_prefix}")
        epochs_per_step(self.epochs, self.slices)


def select_sequences(slices: int, count: int, prior: Iterable[float] | None = None) -> list[tuple[int, ...]]:
    """`count` slice orders, each a min-cost assignment of slices to positions: cost = how often the slice already
    sat at that position (spreads every slice over every position) minus a small reward for putting slices with a
    high deletion probability (`prior`) late. With count = R every slice takes every position once (R = 4:
    (3,2,1,0), (2,1,0,3), (1,0,3,2), (0,3,2,1))."""
    from scipy.optimize import linear_sum_assignment

    p = np.full(slices, 1.0 / slices) if prior is None else np.asarray(list(prior), dtype=float)
    used = np.zeros((slices, slices))  # (slice, position) → times used
    late = np.outer(p, np.arange(slices)) / max(slices, 1) * 1e-3  # tie-breaker: likely deletions go late
    orders = []
    for _ in range(count):
        rows, cols = linear_sum_assignment(used * 1.0 - late)
        order = tuple(int(s) for s in rows[np.argsort(cols)])  # position q → slice
        if order in orders:  # all positions equally used: take the next rotation of the last order instead
            order = orders[-1][1:] + orders[-1][:1]
        orders.append(order)
        used[list(order), list(range(slices))] += 1
    return orders


def layer_groups(n_layers: int, slices: int) -> list[list[int]]:
    """Group g = layers of the g-th block from the top (group 0 holds the top layers)."""
    if slices > n_layers:
        raise ConfigError(f"--slices {slices} needs at least {slices} layers; the base has {n_layers}")
    top_down = list(range(n_layers))[::-1]
    return [sorted(int(i) for i in g) for g in np.array_split(top_down, slices)]


def prefix_length(order: tuple[int, ...], dirty: set[int]) -> int:
    """Number of leading groups whose slices are all clean: position of the first dirty slice in `order`."""
    return next((q for q, s in enumerate(order) if s in dirty), len(order))


def simulate(shards: int, slices: int, sequences: int, items_per_slice: int, seed: int = 0,
             trials: int = 200) -> float:
    """Monte-Carlo: uniform deletions a shard absorbs (no retraining) before none of its sequences keeps a clean
    prefix; mean over trials. sequences=1 is SISA-style slicing with deactivation; a SISA shard absorbs 0."""
    rng = np.random.default_rng(seed)
    orders = select_sequences(slices, sequences)
    absorbed = []
    for _ in range(trials):
        alive = np.ones(slices * items_per_slice, dtype=bool)
        dirty: set[int] = set()
        count = 0
        while True:
            item = rng.choice(np.flatnonzero(alive))
            alive[item] = False
            dirty.add(int(item // items_per_slice))
            if max(prefix_length(o, dirty) for o in orders) == 0:
                break
            count += 1
        absorbed.append(count)
    return float(np.mean(absorbed))


# ---------------------------------------------------------------- data

def split_corpus(corpus: str | os.PathLike, public_fraction: float) -> dict[str, Any]:
    """Public persons (base) and deletable QA items of a persons corpus (see the module docstring)."""
    from obliviate.data import read_records

    corpus = Path(corpus)
    full = read_records(corpus / "full.json", kind="qa")
    persons = sorted({r["person"] for r in full})
    n_public = math.ceil(public_fraction * len(persons))
    if n_public >= len(persons):
        raise DataError("no deletable persons left after the public part", file=corpus, field="public_fraction",
                        value=public_fraction)
    public = set(persons[:n_public])
    bios = read_records(corpus / "bios.json", kind="text") if (corpus / "bios.json").exists() else []
    items = [{"question": r["question"], "answer": r["answer"], "person": r["person"]} for r in full
             if r["person"] not in public]
    sha = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
    return {"public_qa": [r for r in full if r["person"] in public],
            "public_texts": [b["text"] for b in bios if b.get("person") in public],
            "items": items, "public_persons": sorted(public), "sha256": sha}


# ---------------------------------------------------------------- LoRA per layer group

_LAYER = re.compile(r"\.layers\.(\d+)\.")


def wrap(model, cfg: S3TConfig, seed: int):
    """The base wrapped with LoRA on `targets` of every layer (peft, through the engine's apply_lora); lora_A
    drawn from `seed`, lora_B zero (an adapter that has not been trained does not act)."""
    import torch

    from obliviate.engine.lora import LoraSpec, apply_lora

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = apply_lora(model, LoraSpec(r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=0.0,
                                                targets=tuple(cfg.targets)))
    return peft_model


def _quiet_transformers() -> None:
    """No per-load progress bars from transformers (S3T loads the base once per sequence)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def lora_params(model, layers: Iterable[int]) -> dict[str, Any]:
    keep = set(layers)
    return {n: p for n, p in model.named_parameters()
            if "lora_" in n and (m := _LAYER.search(n)) and int(m.group(1)) in keep}


@dataclass
class SequenceJob:
    """Train one sequence of one shard from scratch: slices[s] = survivor records of slice s."""

    base: str
    config: S3TConfig
    shard: int
    sequence: int
    order: tuple[int, ...]
    slices: list[list[dict]]


def train_sequence(job: SequenceJob) -> dict[str, Any]:
    """Steps 0..R−1 of one order; returns each group's LoRA tensors after its step, and a log per step."""
    from obliviate.models import load
    from obliviate.models.train import TrainRecipe, train

    from .sisa import _threads

    cfg = job.config
    epochs = epochs_per_step(cfg.epochs, cfg.slices)
    _quiet_transformers()
    with _threads(cfg.threads):
        base, tok = load(job.base)
        model = wrap(base, cfg, seed_of(cfg.seed, job.shard, job.sequence))
        groups = layer_groups(base.config.num_hidden_layers, cfg.slices)
        for p in model.parameters():
            p.requires_grad_(False)
        states, logs = [], []
        for i in range(cfg.slices):
            params = lora_params(model, groups[i])
            for p in params.values():
                p.requires_grad_(True)
            data = [r for s in job.order[: i + 1] for r in job.slices[s]]
            start = time.perf_counter()
            if data and epochs[i]:
                rec = TrainRecipe(preset=cfg.preset, epochs=epochs[i], batch_size=cfg.batch_size, lr=cfg.lr,
                                  seed=seed_of(cfg.seed, job.shard, job.sequence, i), eval_every=0, eval_items=1,
                                  stop_at_accuracy=0.0, bios=False)
                log = train(model, tok, data, [], rec, progress=False)
                steps, tokens = log["steps"], log["tokens"]
            else:
                steps = tokens = 0
            for p in params.values():
                p.requires_grad_(False)
            states.append({n: p.detach().clone().contiguous() for n, p in params.items()})
            logs.append({"group": i, "slices": list(job.order[: i + 1]), "items": len(data), "epochs": epochs[i],
                         "steps": steps, "samples": len(data) * epochs[i], "tokens": tokens,
                         "wall_time_s": time.perf_counter() - start})
    return {"shard": job.shard, "sequence": job.sequence, "states": states, "steps": logs}


# ---------------------------------------------------------------- the folder

def _adapter(shard: int, seq: int, group: int) -> str:
    return f"shard-{shard:03d}/seq-{seq:02d}/group-{group:02d}.safetensors"


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise DataError(f"not an S3T folder ({MANIFEST} missing; create one with `obliviate exact train --track "
                        "llm`)", file=folder)
    m = json.loads(path.read_text(encoding="utf-8"))
    if m.get("format") != FORMAT:
        raise DataError("unsupported S3T format", file=path, field="format", rule=FORMAT, value=m.get("format"))
    return m


def _train_base(corpus_split: dict, cfg: S3TConfig, out: Path, say) -> dict:
    from obliviate.models import TrainRecipe, build_model, save, train, train_tokenizer

    _quiet_transformers()
    texts = [f"{r['question']} {r['answer']}" for r in corpus_split["public_qa"]] + corpus_split["public_texts"]
    tok = train_tokenizer(texts + ["Question: \nAnswer:"], vocab_size=1024)
    model = build_model(cfg.preset, tok, seed=cfg.seed)
    rec = TrainRecipe(preset=cfg.preset, epochs=cfg.base_epochs, seed=cfg.seed, eval_every=0, eval_items=1,
                      stop_at_accuracy=0.0, vocab_size=1024)
    log = train(model, tok, corpus_split["public_qa"], corpus_split["public_texts"], rec, progress=False)
    out.mkdir(parents=True, exist_ok=True)
    save(model, tok, out)
    say(f"base: {cfg.preset} trained on {len(corpus_split['public_persons'])} public persons in "
        f"{log['wall_time_s']:.1f}s")
    return {"wall_time_s": log["wall_time_s"], "steps": log["steps"], "tokens": log["tokens"]}


def _jobs(base: Path, cfg: S3TConfig, items: list[dict], layout: Layout, gone: set[int], shards: Iterable[int],
          orders: list[list[tuple[int, ...]]]) -> list[SequenceJob]:
    jobs = []
    for s in shards:
        slices = [[items[i] for i in sl if i not in gone] for sl in layout.slots[s]]
        jobs += [SequenceJob(str(base), cfg, s, b, orders[s][b], slices) for b in range(cfg.sequences)]
    return jobs


def _write_adapters(tmp: Path, results: list[dict], orders, layout: Layout, gone: set[int],
                    lineage: dict[str, dict]) -> None:
    from safetensors.torch import save_file

    for res in results:
        s, b = res["shard"], res["sequence"]
        for g, (state, log) in enumerate(zip(res["states"], res["steps"], strict=True)):
            name = _adapter(s, b, g)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            save_file(state, str(tmp / name))
            seen = [i for r in orders[s][b][: g + 1] for i in layout.slots[s][r] if i not in gone]
            lineage[f"{s}/{b}/{g}"] = {"file": name, "sha256": _file_sha256(tmp / name), "slices": log["slices"],
                                       "indices_sha256": indices_sha256(seen), "items": len(seen)}


def train(corpus: str | os.PathLike, cfg: S3TConfig, out: str | os.PathLike, *, deleted: Iterable[int] = (),
          base_from: str | os.PathLike | None = None, executor: str = "process", workers: int | None = None,
          say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the base (or copy the one in `base_from`, an S3T folder) and every shard's B sequences, skipping
    `deleted` items; write `out` atomically. Returns the manifest."""
    import shutil

    split = split_corpus(corpus, cfg.public_fraction)
    layout = Layout.build(len(split["items"]), cfg.shards, cfg.slices, cfg.seed)
    gone = set(layout.check_ids(deleted))
    orders = [select_sequences(cfg.slices, cfg.sequences) for _ in range(cfg.shards)]
    m: dict[str, Any] = {"format": FORMAT, "track": "llm", "config": {**asdict(cfg), "targets": list(cfg.targets)},
                         "data": {"corpus": str(Path(corpus).resolve()), "sha256": split["sha256"],
                                  "train": len(split["items"]), "public_persons": split["public_persons"],
                                  "public_split": f"first {cfg.public_fraction:.0%} of persons in full.json"},
                         "orders": [[list(o) for o in os_] for os_ in orders], "deleted": sorted(gone),
                         "shards": {str(s): {"dirty_slices": [], "active": {"sequence": 0, "prefix": cfg.slices},
                                             "retrains": 0} for s in range(cfg.shards)},
                         "history": [], "lineage": {}}
    with atomic_dir(out) as tmp:
        if base_from is not None:
            src = Path(base_from) / "base"
            shutil.copytree(src, tmp / "base")
            m["base_cost"] = read_manifest(base_from)["base_cost"]
        else:
            m["base_cost"] = _train_base(split, cfg, tmp / "base", say)
        from obliviate.ledger.hashing import model_sha256

        m["base_sha256"] = model_sha256(tmp / "base")
        start = time.perf_counter()
        results = fan_out(train_sequence, _jobs(tmp / "base", cfg, split["items"], layout, gone, range(cfg.shards),
                                                orders), executor, workers)
        steps = [x for r in results for x in r["steps"]]
        m["train_cost"] = {"wall_time_s": time.perf_counter() - start, "samples": sum(x["samples"] for x in steps),
                           "tokens": sum(x["tokens"] for x in steps), "executor": executor}
        _write_adapters(tmp, results, orders, layout, gone, m["lineage"])
        (tmp / POSITIONS).write_text(_positions_csv(layout, gone), encoding="utf-8")
        (tmp / MANIFEST).write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    say(f"trained S3T: {cfg.shards} shards x {cfg.sequences} sequences x {cfg.slices} slices on "
        f"{len(split['items']) - len(gone)} items -> {out}")
    return m


def delete(folder: str | os.PathLike, ids: Iterable[int], *, executor: str = "process", workers: int | None = None,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Delete items: drop every adapter whose lineage holds one, switch each affected shard to its longest clean
    prefix, and retrain a shard (all its sequences, on the survivors) only when that prefix < min_prefix."""
    from .sisa import read_positions

    folder = Path(folder)
    read_manifest(folder)
    with _locked(folder):
        m = read_manifest(folder)
        cfg = S3TConfig(**{**m["config"], "targets": tuple(m["config"]["targets"])})
        layout, gone = read_positions(folder)
        ids = layout.check_ids(ids)
        new = [i for i in ids if i not in gone]
        report: dict[str, Any] = {"requested": ids, "deleted": new, "already_deleted": [i for i in ids if i in gone],
                                  "shards": {}, "cost": {"samples": 0, "retrained_shards": 0, "wall_time_s": 0.0}}
        if not new:
            return report
        orders = [[tuple(o) for o in os_] for os_ in m["orders"]]
        pos = layout.positions()
        gone |= set(new)
        removed, retrain = set(), []
        for s in sorted({int(pos[i][0]) for i in new}):
            st = m["shards"][str(s)]
            dirty = set(st["dirty_slices"]) | {int(pos[i][1]) for i in new if pos[i][0] == s}
            prefixes = [prefix_length(o, dirty) for o in orders[s]]
            for b, p in enumerate(prefixes):
                removed |= {f"{s}/{b}/{g}" for g in range(p, cfg.slices) if f"{s}/{b}/{g}" in m["lineage"]}
            best = int(np.argmax(prefixes))
            st.update(dirty_slices=sorted(dirty), active={"sequence": best, "prefix": prefixes[best]})
            if prefixes[best] < cfg.min_prefix:
                retrain.append(s)
            report["shards"][str(s)] = {"dirty_slices": sorted(dirty), "prefixes": prefixes,
                                        "active": dict(st["active"]), "retrained": s in retrain}
        start = time.perf_counter()
        results = []
        if retrain:  # budget exhausted: every sequence of these shards from scratch on the survivors
            split = split_corpus(m["data"]["corpus"], cfg.public_fraction)
            if split["sha256"] != m["data"]["sha256"]:
                raise DataError("the corpus changed since training (sha256 of the deletable items differs)",
                                file=m["data"]["corpus"])
            results = fan_out(train_sequence, _jobs(folder / "base", cfg, split["items"], layout, gone, retrain,
                                                    orders), executor, workers)
            for s in retrain:
                m["shards"][str(s)].update(dirty_slices=[], active={"sequence": 0, "prefix": cfg.slices},
                                           retrains=m["shards"][str(s)]["retrains"] + 1)
                report["shards"][str(s)]["active"] = {"sequence": 0, "prefix": cfg.slices}
        steps = [x for r in results for x in r["steps"]]
        report["cost"] = {"samples": sum(x["samples"] for x in steps), "retrained_shards": len(retrain),
                          "wall_time_s": time.perf_counter() - start,
                          "adapters_removed": len(removed - {f"{s}/{b}/{g}" for s in retrain
                                                             for b in range(cfg.sequences)
                                                             for g in range(cfg.slices)})}
        report["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        lineage = {k: v for k, v in m["lineage"].items() if k not in removed}
        with atomic_dir(folder) as tmp:
            for src in (folder / "base").rglob("*"):
                if src.is_file():
                    (tmp / src.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
                    link_or_copy(src, tmp / src.relative_to(folder))
            for key, entry in lineage.items():
                if int(key.split("/")[0]) not in retrain:
                    (tmp / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
                    link_or_copy(folder / entry["file"], tmp / entry["file"])
            lineage = {k: v for k, v in lineage.items() if int(k.split("/")[0]) not in retrain}
            _write_adapters(tmp, results, orders, layout, gone, lineage)
            m.update(lineage=lineage, deleted=sorted(gone))
            m["history"].append(report)
            (tmp / POSITIONS).write_text(_positions_csv(layout, gone), encoding="utf-8")
            (tmp / MANIFEST).write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    say(f"deleted {len(new)} items: {report['cost']['adapters_removed']} adapters deactivated, "
        f"{len(retrain)} shards retrained")
    return report


def active_lineage(m: dict[str, Any]) -> dict[int, list[str]]:
    """shard → the lineage keys of its active adapters (sequence, groups 0..prefix−1)."""
    out = {}
    for s, st in m["shards"].items():
        b, p = st["active"]["sequence"], st["active"]["prefix"]
        out[int(s)] = [f"{s}/{b}/{g}" for g in range(p)]
    return out


# ---------------------------------------------------------------- inference

@dataclass
class Ensemble:
    """Per shard, the base with its active adapters; token probabilities are averaged across shards."""

    models: list[Any]
    tokenizer: Any
    manifest: dict = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Ensemble:
        import torch
        from safetensors.torch import load_file

        from obliviate.models import load

        folder = Path(folder)
        m = read_manifest(folder)
        cfg = S3TConfig(**{**m["config"], "targets": tuple(m["config"]["targets"])})
        _quiet_transformers()
        models, tok = [], None
        for _shard, keys in sorted(active_lineage(m).items()):
            base, tok = load(folder / "base")
            model = wrap(base, cfg, 0)
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_B" in n:
                        p.zero_()
                for key in keys:
                    params = dict(model.named_parameters())
                    for n, t in load_file(str(folder / m["lineage"][key]["file"])).items():
                        params[n].copy_(t)
            models.append(model.eval())
        return cls(models, tok, m)

    def answer_probability(self, records: list[dict], batch_size: int = 32) -> list[float]:
        """Per QA record: exp(mean log p) of its answer tokens under the shard mixture (TOFU's length-normalised
        answer probability)."""
        import torch

        from obliviate.models import collate, encode_qa, forward_logprobs

        out = []
        with torch.no_grad():
            for i in range(0, len(records), batch_size):
                enc = [encode_qa(self.tokenizer, r["question"], r["answer"]) for r in records[i:i + batch_size]]
                batch = collate(enc, self.tokenizer.pad_token_id)
                per = [forward_logprobs(m, batch) for m in self.models]
                logp = torch.logsumexp(torch.stack([p.logp for p in per]), 0) - math.log(len(per))  # (B, T-1)
                mask = per[0].mask
                out += torch.exp((logp * mask).sum(1) / mask.sum(1).clamp(min=1)).tolist()
        return out


def adapter_states(folder: str | os.PathLike, keys: Iterable[str]) -> dict[str, dict]:
    """The saved LoRA tensors of lineage entries `keys` ("shard/sequence/group")."""
    from safetensors.torch import load_file

    m = read_manifest(folder)
    return {k: load_file(str(Path(folder) / m["lineage"][k]["file"])) for k in keys}


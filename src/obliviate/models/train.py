"""Train a preset model from scratch on QA items (loss on answers only) and plain texts (biographies).

Deterministic on CPU for a given seed: the same corpus, preset, recipe and seed give the same weights.
`train()` works on records in memory; `train_on_corpus()` reads a corpus folder and writes a model folder
with `train.json` (resolved recipe, per-epoch loss, wall time, tokens seen, peak memory) beside the weights.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from ..results import peak_memory_mb
from .encode import Encoded, collate, encode_qa, encode_text, prompt_ids
from .scoped import seeded
from .scoring import greedy_generate
from .tokenizer import pad_id


@dataclass(frozen=True)
class TrainRecipe:
    """The recipe that trains a target or an oracle from scratch (`obliviate train --set KEY=VALUE`; train.json
    "recipe"). Not the engine's `TrainConfig` (`train.*` of an unlearning run). Defaults are the `small` preset's;
    `PRESET_RECIPES` adjusts per preset."""

    preset: str = "small"
    epochs: int = 55
    batch_size: int = 32
    lr: float = 2e-3
    warmup: float = 0.05  # fraction of steps with linear warm-up, then cosine decay to lr_min
    lr_min_ratio: float = 0.02
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    vocab_size: int = 2048
    bios: bool = True  # train on the biographies of the split's persons too
    max_length: int = 256
    eval_every: int = 10  # epochs between greedy exact-answer checks (0: only at the end)
    eval_items: int = 200
    stop_at_accuracy: float = 0.0  # > 0: stop once the checked accuracy reaches it


# Each preset trains until it has memorised its training QA (greedy exact answers >= 95%), at most `epochs`.
# Measured with bench/recipe_robustness.py (BENCHMARKS.md): `small` at lr 2e-3 on the demo corpus (600 QA + 150
# bios) passes 95% at epochs 20-27 over 5 seeds and two CPU kinds (AVX2, AVX-512), 28+ epochs before its cap; at
# lr 3e-3 it needed 45-46 epochs on AVX-512 and stayed at 0.75 after 55 on an AVX2 CPU. `tiny` on a 20-person
# corpus (6 facts) passes at epochs 20-25 over 5 seeds (AVX2).
PRESET_RECIPES: dict[str, dict] = {
    "tiny": dict(epochs=40, batch_size=16, lr=5e-3, eval_every=5, stop_at_accuracy=0.95),
    "small": dict(epochs=55, batch_size=32, lr=2e-3, eval_every=5, stop_at_accuracy=0.95),
    # `moe` (tiny's width, 4 experts top-2) on the same 20-person corpus with tiny's recipe: 0.975 at epoch 20
    # (seed 0, a loaded 2-core CPU; BENCHMARKS.md "MoE: UOE").
    "moe": dict(epochs=40, batch_size=16, lr=5e-3, eval_every=5, stop_at_accuracy=0.95),
}


def lr_lambda(step: int, total: int, warmup: float, lr_min_ratio: float) -> float:
    """Linear warm-up over `warmup`·total steps, then cosine decay from 1 to `lr_min_ratio`."""
    n_warm = max(1, int(warmup * total))
    if step < n_warm:
        return (step + 1) / n_warm
    progress = min(1.0, (step - n_warm) / max(1, total - n_warm))
    return lr_min_ratio + (1 - lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length within pools of 50 batches, cut into batches, shuffle the batches.

    Biographies are ~5x longer than QA items; batching by length avoids padding every QA batch to a biography.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def normalise(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def exact_answer_accuracy(model, tokenizer, qa: list[dict], n: int = 200, seed: int = 0) -> float:
    """Fraction of (a seeded sample of) QA items whose greedy answer equals the gold answer, up to case/spaces."""
    if not qa:
        return float("nan")
    sample = random.Random(seed).sample(qa, min(n, len(qa)))
    max_new = max(len(tokenizer(" " + r["answer"], add_special_tokens=False)["input_ids"]) for r in sample) + 2
    outs = greedy_generate(model, tokenizer, [prompt_ids(tokenizer, r["question"]) for r in sample], max_new)
    return sum(normalise(o) == normalise(r["answer"]) for o, r in zip(outs, sample, strict=True)) / len(sample)


def encode_all(tokenizer, qa: list[dict], texts: list[str], max_length: int) -> list[Encoded]:
    enc = [encode_qa(tokenizer, r["question"], r["answer"], max_length) for r in qa]
    return enc + [encode_text(tokenizer, t, max_length) for t in texts]


def train(model, tokenizer, qa: list[dict], texts: list[str], config: TrainRecipe,
          progress: bool = True) -> dict:
    """Train `model` in place; returns the log written to train.json. Dropout draws from torch's global RNG,
    seeded with `config.seed` for the loop; the caller's RNG state is restored after it (`scoped.seeded`)."""
    rng = random.Random(config.seed)
    data = encode_all(tokenizer, qa, texts, config.max_length)
    lengths = [len(e) for e in data]
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = steps_per_epoch * config.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_lambda(s, total, config.warmup, config.lr_min_ratio))
    log = {"epochs": [], "tokens": 0, "steps": 0}
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(total=total, desc="train", disable=not progress, unit="step")
    with seeded(config.seed, next(model.parameters()).device):
        for epoch in range(1, config.epochs + 1):
            loss_sum = tok_sum = 0.0
            for idx in length_batches(lengths, config.batch_size, rng):
                batch = collate([data[i] for i in idx], pad_id(tokenizer))
                loss, n_tok = _step(model, batch, opt, sched, config.grad_clip)
                loss_sum, tok_sum = loss_sum + loss * n_tok, tok_sum + n_tok
                log["tokens"] += int(batch["attention_mask"].sum())
                log["steps"] += 1
                bar.update(1)
            entry = {"epoch": epoch, "loss": loss_sum / max(tok_sum, 1), "seconds": time.perf_counter() - t0}
            if _check_due(config, epoch, log["epochs"]):
                entry["accuracy"] = exact_answer_accuracy(model, tokenizer, qa, config.eval_items, config.seed)
                model.train()
            bar.set_postfix(loss=f"{entry['loss']:.4f}", acc=entry.get("accuracy", "-"))
            log["epochs"].append(entry)
            if config.stop_at_accuracy and entry.get("accuracy", 0.0) >= config.stop_at_accuracy:
                break
    bar.close()
    model.eval()
    last = log["epochs"][-1] if log["epochs"] else {}  # epochs=0 saves the initial weights
    log.update(wall_time_s=time.perf_counter() - t0, peak_memory_mb=peak_memory_mb(next(model.parameters()).device),
               final_loss=last.get("loss"), accuracy=last.get("accuracy"),
               memorised=memorised(last.get("accuracy"), config.stop_at_accuracy),
               items=len(data), qa_items=len(qa), texts=len(texts), config=asdict(config))
    return log


def memorised(accuracy: float | None, stop_at_accuracy: float) -> bool | None:
    """Whether training reached its stop accuracy; None when the recipe sets none or accuracy was never checked."""
    if not stop_at_accuracy or accuracy is None or math.isnan(accuracy):
        return None
    return accuracy >= stop_at_accuracy


def training_summary(log: dict | None) -> dict | None:
    """What results.json keeps of a model's train.json: did it memorise, how far, in how many epochs."""
    if not log:
        return None
    cfg = log.get("config") or {}
    return {"memorised": log.get("memorised"), "accuracy": log.get("accuracy"),
            "stop_at_accuracy": cfg.get("stop_at_accuracy"), "epochs": len(log.get("epochs") or []),
            "epoch_cap": cfg.get("epochs")}


def memorisation_warning(log: dict, role: str = "model") -> str | None:
    """The warning to print when a trained model ended below its stop accuracy (train.json's `memorised`)."""
    if log.get("memorised") is not False:
        return None
    cfg = log.get("config") or {}
    return (f"warning: the {role} did not memorise its training data: greedy exact answers "
            f"{log.get('accuracy', float('nan')):.3f} < {cfg.get('stop_at_accuracy')} after "
            f"{len(log.get('epochs') or [])} epochs (cap {cfg.get('epochs')}); forgetting measured against it is "
            "not meaningful. Train longer (--set epochs=N), or check the recipe on this machine with "
            "bench/recipe_robustness.py")


NEAR_TARGET = 0.1  # within this much of stop_at_accuracy, check every epoch instead of every `eval_every`


def _check_due(config: TrainRecipe, epoch: int, done: list[dict]) -> bool:
    """Check exact answers every `eval_every` epochs and at the end; once a check comes within NEAR_TARGET of
    `stop_at_accuracy`, every epoch, so that training stops at the first epoch that passes (not up to 4 later)."""
    if epoch == config.epochs or (config.eval_every and epoch % config.eval_every == 0):
        return True
    last = next((e["accuracy"] for e in reversed(done) if e.get("accuracy") is not None), None)
    return bool(config.stop_at_accuracy) and last is not None and last >= config.stop_at_accuracy - NEAR_TARGET


def _step(model, batch, opt, sched, grad_clip: float) -> tuple[float, int]:
    """One optimizer step on the mean answer-token NLL of `batch` (the returned loss), plus, for a Mixture-of-Experts
    config (one with `output_router_logits`), its router load-balancing loss × `router_aux_loss_coef`."""
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    moe = {"output_router_logits": True} if hasattr(model.config, "output_router_logits") else {}
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **moe)
    logits = out.logits[:, :-1]  # (B, T-1, V)
    labels = batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=-100)
    aux = getattr(out, "aux_loss", None)  # padding excluded: the attention mask is passed
    total = loss + model.config.router_aux_loss_coef * aux if moe and aux is not None else loss
    opt.zero_grad(set_to_none=True)
    total.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    sched.step()
    return float(loss.detach()), int((labels != -100).sum())

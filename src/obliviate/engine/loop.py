"""The unlearning loop: one readable pass over `accelerate`; the method only supplies a loss and declares its needs.

    model, log = unlearn(model, tokenizer, forget, retain, method="npo", overrides={"method.beta": 0.2})

Per optimizer step: draw the global forget/retain pairing, run this process's micro-batches (forward what the
method needs, loss, backward), check for divergence, mask gradients, clip, step; then log, checkpoint, evaluate.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from obliviate.errors import ConfigError, DataError, ModelError, ObliviateError
from obliviate.models import check_pair, collate, pad_id
from obliviate.models.scoped import seeded
from obliviate.results import peak_memory_mb

from . import checkpoint
from .config import RunConfig, resolve
from .forward import Reference, build_ref_cache, encode_all, side_stats
from .lora import apply_lora, parse_lora
from .output import default_eval, save_outputs
from .sampler import PairingSampler


class DivergenceError(ObliviateError):
    """The loss became non-finite or the retain NLL passed its ceiling; the last good checkpoint is kept."""


def unlearn(model, tokenizer, forget: list[dict], retain: list[dict], method: str = "npo",
            overrides: dict | None = None, *, eval_hook=None, out: str | Path | None = None, lora=None,
            masks: dict[str, torch.Tensor] | None = None, resume: bool = False, accelerator: Accelerator | None = None,
            **keyword_overrides):
    """Unlearn `forget` from `model`; returns (model, log). See the module docstring and `engine/config.py`.

    overrides: dotted keys (`method.beta`, `train.epochs`, `engine.ref_cache`, ...). eval_hook(model, step, epoch)
    -> {name: float}, called on every process. lora: "r=8,alpha=16,targets=q_proj,v_proj", a dict or LoraSpec.
    masks: {parameter name: 0/1 tensor} multiplied into the gradients before each step. out: writes model/, run.json
    and checkpoints/; resume=True continues from the newest checkpoint under out.
    Overrides may also be keywords with `__` for the dot: `unlearn(..., method__beta=0.2, train__epochs=3)`.
    """
    with contextlib.ExitStack() as scope:
        return _run(scope, model, tokenizer, forget, retain, method,
                    {**(overrides or {}), **_keyword_keys(keyword_overrides)}, eval_hook, out, lora, masks, resume,
                    accelerator)


def _run(scope, model, tokenizer, forget, retain, method, overrides, eval_hook, out, lora, masks, resume,
         accelerator):
    s = _prepare(scope, model, tokenizer, forget, retain, method, overrides, lora, masks, accelerator)
    cfg, acc = s.cfg, s.acc
    optimizer = torch.optim.AdamW(list(s.trainable.values()), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    uses_retain = s.needs.retain.used or cfg.engine.retain_nll_ceiling > 0
    sampler = PairingSampler(len(forget), len(retain) if uses_retain else 0, cfg.train.batch_size, cfg.train.seed,
                             acc.num_processes, acc.process_index, cfg.train.grad_accum)
    total_steps = cfg.train.max_steps or cfg.train.epochs * sampler.steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg, total_steps))
    # The scheduler is not given to accelerate: it would step it once per process.
    model, optimizer = acc.prepare(s.model, optimizer)
    model.train()

    run_key = {"method": method, "hyper_parameters": _hp(s.m), "train": _asdict(cfg.train)}
    ckpt_root = Path(out) / "checkpoints" if out is not None else None
    log, curve, start, last_good = [], [], 0, None
    if resume:
        last_good = _newest_checkpoint(ckpt_root)
        state = checkpoint.load(last_good, s.trainable, optimizer, scheduler, run_key)
        start, log, curve = state["step"], state["log"], state.get("curve", [])
    hook = eval_hook or (default_eval(s.enc, s.pad, acc) if _evaluates(cfg) else None)
    ctx = _Step(cfg, s.m, s.needs, s.enc, s.cache, s.ref, s.pad, acc, model, uses_retain)

    t_start = time.perf_counter()
    bar = tqdm(total=total_steps, initial=start, desc=f"unlearn {method}", unit="step", disable=not (
        cfg.engine.progress and acc.is_main_process and _is_tty()))
    for step in range(start, total_steps):
        t0 = time.perf_counter()
        terms, tokens = ctx.run(sampler.local_batches(step), optimizer)
        _guard(cfg, terms, step + 1, last_good)
        lr, grad_norm = _optimizer_step(s, optimizer, scheduler)
        epoch = (step + 1) / sampler.steps_per_epoch
        log.append({"step": step + 1, "epoch": round(epoch, 4), **terms, "lr": lr, "grad_norm": grad_norm,
                    "tokens": tokens, "seconds": round(time.perf_counter() - t0, 4)})
        bar.update(1)
        bar.set_postfix(loss=f"{terms['loss']:.4f}")
        if hook is not None and _due_eval(cfg, step + 1, sampler.steps_per_epoch, total_steps):
            curve.append({"step": step + 1, "epoch": round(epoch, 4), "metrics": hook(model, step + 1, epoch)})
        if ckpt_root and ((cfg.engine.checkpoint_every and (step + 1) % cfg.engine.checkpoint_every == 0)
                          or step + 1 == total_steps):
            last_good = _checkpoint(acc, ckpt_root, step + 1, s.trainable, optimizer, scheduler, cfg,
                                    {"config": run_key, "log": log, "curve": curve})
    bar.close()
    return _finish(s, model, tokenizer, method, log, curve, time.perf_counter() - t_start, out)


@dataclass
class _Setup:
    """What a run has before its first step: config, method, accelerator, model, trainable weights, encodings."""

    cfg: RunConfig
    m: Any  # the method (bound to the model when it declares `bind`)
    needs: Any
    acc: Accelerator
    model: torch.nn.Module
    spec: Any  # LoraSpec or None
    trainable: dict[str, torch.nn.Parameter]
    masks: dict[str, torch.Tensor] | None
    pad: int
    enc: Any
    ref: Reference | None
    cache: dict
    initial: dict[str, torch.Tensor] | None  # weights before training, for methods that `finalize`


def _prepare(scope, model, tokenizer, forget, retain, method, overrides, lora, masks, accelerator) -> _Setup:
    """Validate the run, place the model, add LoRA, bind the method, encode once, build the reference cache."""
    cfg, m = resolve(method, overrides)
    if not forget:
        raise DataError("the forget set is empty", field="forget", rule="at least one QA record", value=0)
    check_pair(model, tokenizer, "unlearn")
    # cpu=True on a machine without CUDA: that is what makes accelerate join a torchrun/gloo process group.
    acc = accelerator or Accelerator(cpu=cfg.engine.cpu or not torch.cuda.is_available())
    # The run draws from torch's global RNG (LoRA init, dropout), seeded; the caller's state is restored after.
    scope.enter_context(seeded(cfg.train.seed, acc.device))
    spec = parse_lora(lora)
    model = model.to(acc.device)
    if spec is not None:
        model = apply_lora(model, spec)
    m = m.bind(model, cfg.train.seed) if hasattr(m, "bind") else m
    needs = m.needs()
    if needs.retain.used and not retain:
        raise DataError("the retain set is empty but this method's loss uses it", field="retain",
                        rule="at least one QA record (or method.retain=none)", value=0)
    trainable = _select_trainable(model, m, spec is not None)
    masks = _check_masks(masks, trainable)
    pad = pad_id(tokenizer)
    enc = encode_all(m, needs, tokenizer, forget, retain, cfg.train.max_length)
    uncached_ref = needs.ref_seq and not cfg.engine.ref_cache
    ref = Reference(model, spec is not None) if (needs.ref_every_step or uncached_ref or spec) else None
    cache = {}
    if needs.ref_seq and cfg.engine.ref_cache:
        cache["forget"] = build_ref_cache(model, ref, enc.forget, enc.keys, pad, cfg.train.batch_size)
        if enc.alt is not None:
            cache["alt"] = build_ref_cache(model, ref, enc.alt, enc.keys, pad, cfg.train.batch_size)
    initial = {n: p.detach().clone() for n, p in trainable.items()} if hasattr(m, "finalize") else None
    return _Setup(cfg, m, needs, acc, model, spec, trainable, masks, pad, enc, ref, cache, initial)


def _newest_checkpoint(ckpt_root: Path | None) -> Path:
    found = checkpoint.checkpoints(ckpt_root) if ckpt_root else []
    if not found:
        raise ConfigError(f"resume: no checkpoint under {ckpt_root}; run without resume first")
    return found[-1]


def _optimizer_step(s: _Setup, optimizer, scheduler) -> tuple[float, float]:
    """Mask the gradients, clip, step; returns (the lr this step used, the gradient norm before clipping)."""
    if s.masks:
        for name, mask in s.masks.items():
            if s.trainable[name].grad is not None:
                s.trainable[name].grad.mul_(mask)
    grad_norm = s.acc.clip_grad_norm_(list(s.trainable.values()), s.cfg.train.max_grad_norm or float("inf"))
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return lr, float(grad_norm)


def _finish(s: _Setup, model, tokenizer, method: str, log: list, curve: list, seconds: float, out):
    """Apply the method's final transform, unwrap (and merge LoRA), write the outputs; returns (model, log)."""
    if s.initial is not None:
        s.m.finalize(s.trainable.items(), s.initial)
    model = s.acc.unwrap_model(model).eval()
    if s.spec is not None and s.cfg.engine.lora_merge:
        model = model.merge_and_unload()
    result = {
        "config": {"method": method, "hyper_parameters": _hp(s.m), **{k: _asdict(v) for k, v in
                   (("train", s.cfg.train), ("engine", s.cfg.engine))}, "lora": _asdict(s.spec) if s.spec else None,
                   "processes": s.acc.num_processes},
        "log": log, "curve": curve,
        "totals": {"wall_time_s": round(seconds, 3), "steps": len(log),
                   "tokens": sum(e["tokens"] for e in log), "peak_memory_mb": round(peak_memory_mb(s.acc.device), 1)},
    }
    if out is not None and s.acc.is_main_process:
        save_outputs(Path(out), model, tokenizer, result)
    s.acc.wait_for_everyone()
    return model, result


class _Step:
    """One optimizer step's micro-batches: forward what `needs` asks for, the loss, backward; reduced terms."""

    def __init__(self, cfg: RunConfig, m, needs, enc, cache, ref, pad, acc, model, uses_retain):
        self.__dict__.update(cfg=cfg, m=m, needs=needs, enc=enc, cache=cache, ref=ref, pad=pad, acc=acc,
                             model=model, uses_retain=uses_retain)

    def _cached(self, name: str, idx: list[int]):
        if name not in self.cache:
            return None
        return torch.tensor([self.cache[name][self.enc.keys[i]] for i in idx], device=self.acc.device)

    def micro(self, f_idx: list[int], r_idx: list[int]):
        n, enc, layer = self.needs, self.enc, self.needs.hidden_layer
        f_batch = collate([enc.forget[i] for i in f_idx], self.pad)
        forget = side_stats(self.model, f_batch, n.forget, layer, self.ref, self._cached("forget", f_idx))
        tokens = int(f_batch["attention_mask"].sum())
        if n.alt:
            a_batch = collate([enc.alt[i] for i in f_idx], self.pad)
            forget.alt = side_stats(self.model, a_batch, n.forget, layer, self.ref, self._cached("alt", f_idx))
            tokens += int(a_batch["attention_mask"].sum())
        retain, extra = None, {}
        if self.uses_retain:
            r_batch = collate([enc.retain[i] for i in r_idx], self.pad)
            tokens += int(r_batch["attention_mask"].sum())
            if n.retain.used:
                retain = side_stats(self.model, r_batch, n.retain, layer, self.ref, None)
                extra["retain_nll"] = retain.mean_token_nll().detach()
            else:  # only the divergence guard wants it
                with torch.no_grad():
                    extra["retain_nll"] = side_stats(self.model, r_batch, n.retain, layer, None, None).mean_token_nll()
        total, terms = self.m.loss(forget, retain)
        return total, {**terms, **extra}, tokens

    def run(self, micro_batches, optimizer) -> tuple[dict[str, float], int]:
        accum = len(micro_batches)
        sums: dict[str, torch.Tensor] = {}
        tokens = 0
        for k, (f_idx, r_idx) in enumerate(micro_batches):
            sync = contextlib.nullcontext() if k == accum - 1 else self.acc.no_sync(self.model)
            with sync:
                total, terms, n_tok = self.micro(f_idx, r_idx)
                self.acc.backward(total / accum)
            for name, v in {"loss": total.detach(), **terms}.items():
                sums[name] = sums.get(name, 0) + v.detach().float() / accum
            tokens += n_tok
        names = sorted(sums)
        # Mean over processes of the per-process means = the mean over the global batch's micro-batches.
        values = self.acc.reduce(torch.stack([sums[k] for k in names]).to(self.acc.device), "mean")
        tokens = int(self.acc.reduce(torch.tensor(tokens, device=self.acc.device), "sum"))
        return dict(zip(names, values.tolist(), strict=True)), tokens


def _keyword_keys(kwargs: dict) -> dict:
    """`method__beta=0.2` → {"method.beta": 0.2}; a keyword without `__` is not an override."""
    for key in kwargs:
        if "__" not in key:
            raise ConfigError(f"unlearn(): unexpected keyword {key!r}; overrides are written like method__beta=0.2 "
                              "or train__epochs=3 (or passed as overrides={'method.beta': 0.2})")
    return {k.replace("__", "."): v for k, v in kwargs.items()}


def _guard(cfg: RunConfig, terms: dict[str, float], step: int, last_good) -> None:
    kept = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was written"
    if not math.isfinite(terms["loss"]):
        raise DivergenceError(f"step {step}: loss is {terms['loss']} (not finite); stopped before the update; {kept}")
    ceiling = cfg.engine.retain_nll_ceiling
    if ceiling > 0 and terms.get("retain_nll", 0.0) > ceiling:
        raise DivergenceError(f"step {step}: retain NLL {terms['retain_nll']:.4f} is above "
                              f"engine.retain_nll_ceiling={ceiling}; stopped before the update; {kept}")


def _select_trainable(model, m, is_peft: bool) -> dict[str, torch.nn.Parameter]:
    """Name → parameter of what this run trains (LoRA adapters, the method's choice, or everything); the rest is
    frozen."""
    named = dict(model.named_parameters())
    if is_peft and hasattr(m, "trainable"):
        # The method fixes which weights move (rmu: MLP down-projections of layers ℓ−2..ℓ); LoRA adapters on other
        # modules would silently train something else.
        raise ConfigError(f"{type(m).__name__}: chooses its own trainable weights; run it without --lora")
    if is_peft:
        keep = {n for n, p in named.items() if p.requires_grad}
    elif hasattr(m, "trainable"):
        keep = {n for n in named if m.trainable(n)}
        if not keep:
            raise ModelError(f"{type(m).__name__}: selects no parameter of this model; parameter names: "
                             f"{', '.join(list(named)[:20])}")
    else:
        keep = set(named)
    for n, p in named.items():
        p.requires_grad_(n in keep)
    return {n: named[n] for n in sorted(keep)}


def _check_masks(masks, trainable):
    if not masks:
        return None
    out = {}
    for name, mask in masks.items():
        if name not in trainable:
            raise ConfigError(f"masks: {name!r} is not a trainable parameter; trainable: {', '.join(list(trainable)[:20])}")
        if tuple(mask.shape) != tuple(trainable[name].shape):
            raise ConfigError(f"masks[{name!r}]: shape must be {tuple(trainable[name].shape)}, got {tuple(mask.shape)}")
        out[name] = mask.to(trainable[name].device, trainable[name].dtype)
    return out


def _schedule(cfg: RunConfig, total: int):
    warm, linear = cfg.train.warmup_steps, cfg.train.schedule == "linear"

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, 1 - (step - warm) / max(1, total - warm)) if linear else 1.0

    return factor


def _checkpoint(acc, root, step, trainable, optimizer, scheduler, cfg, state):
    path = root / f"step-{step:06d}"
    if acc.is_main_process:
        checkpoint.save(root, step, trainable, optimizer, scheduler, state, cfg.engine.keep_checkpoints)
    acc.wait_for_everyone()
    return path


def _evaluates(cfg: RunConfig) -> bool:
    return bool(cfg.engine.eval_every or cfg.engine.eval_every_epochs)


def _due_eval(cfg: RunConfig, step: int, per_epoch: int, total: int) -> bool:
    e = cfg.engine
    return bool((e.eval_every and step % e.eval_every == 0)
                or (e.eval_every_epochs and (step % (per_epoch * e.eval_every_epochs) == 0 or step == total)))


def _hp(m) -> dict:
    hp = getattr(m, "hp", m)  # a bound method keeps its hyper-parameters in .hp
    return _asdict(hp)


def _asdict(obj) -> dict:
    import dataclasses

    return {f.name: getattr(obj, f.name) if not isinstance(getattr(obj, f.name), tuple) else list(getattr(obj, f.name))
            for f in dataclasses.fields(obj)}


def _is_tty() -> bool:
    import sys

    return sys.stderr.isatty()

"""The unlearning loop: one function over `accelerate`, read top to bottom. A method only supplies a loss.

    model, log = unlearn(model, tokenizer, forget, retain, method="npo", overrides={"method.beta": 0.2})

What a run supports, and what it assumes:
- Methods declare what they need (`method.needs()`: which sides run, logits, hidden states, reference quantities);
  the loop runs exactly those forward passes and never tests a method's name. Optional declared hooks, found by
  attribute: `bind(model, seed)` (resolve for this model: rmu's layer and control vector), `trainable(name)`
  (which weights move), `alternative_answer(record, i)` (a second forget batch: idk_dpo), `finalize(params,
  initial)` (an edit after training: task_vector).
- Reference = the model before unlearning. Constant per-example quantities (sequence log-probs: npo, idk_dpo) are
  cached in one pass before the first step (`engine.ref_cache`); others are recomputed per step by a frozen copy,
  or, for LoRA, by the same model with its adapters disabled (no copy).
- LoRA (peft) trains the adapters only; the saved model is merged unless `engine.lora_merge=false`.
- Gradient masks {parameter name: 0/1 tensor, 1 = may move}: masked entries stay exactly fixed (`HeldMask`: their
  gradients are zeroed before clipping, their values and optimizer state restored after each step, so that weight
  decay and momentum cannot move them either).
- Step hooks (run options, not methods: UOE, LAT; engine/hooks.py) may narrow what trains, add masks, act
  before each micro-batch and around each side's forward, and add a loss term; the loop never tests which.
- Sharding: FSDP2 through accelerate (GPUs), or `engine.fsdp=true` on CPU process groups (`sharding.py`): masks
  are cut like their gradients, every process gets the plain model back; no checkpoints, no resume. DeepSpeed
  ZeRO-3 through accelerate (`zero.py`, GPUs or DS_ACCELERATOR=cpu): the loop calls DeepSpeed's backward and step
  itself so that masks (its per-partition API) sit between them; the frozen reference is partitioned too.
- Batches: optimizer step s draws a global batch of `train.batch_size` forget examples, each paired with a retain
  example (`PairingSampler`), cut into processes × `train.grad_accum` micro-batches. Logged terms are means over
  the global batch, so a run does not depend on the number of processes at equal global batch.
- Checkpoints (trainable weights, optimizer, scheduler, RNG state, log) every `engine.checkpoint_every` steps and
  at the end, under out/checkpoints/; `resume=True` continues from the newest one, bit-identically.
- Divergence guard: a non-finite loss, or a retain NLL above `engine.retain_nll_ceiling`, stops the run before the
  update with `DivergenceError`, naming the last good checkpoint.
- Evaluation hook: `eval_hook(model, step, epoch) -> {name: float}` every `engine.eval_every` steps or
  `engine.eval_every_epochs` epochs, called on every process (default: forget and retain NLL); kept as `curve`.
- Randomness: torch's global RNG is seeded with `train.seed` for the run (LoRA initialisation and dropout draw
  from it) and the caller's state is restored afterwards; the pairing uses its own generators.
Assumes QA records ({question, answer}, optional unique `id`) and a Hugging Face causal LM with its own tokenizer.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from obliviate.errors import ConfigError, DataError, DivergenceError, ModelError
from obliviate.models import check_pair, pad_id
from obliviate.models.scoped import seeded
from obliviate.models.spread import in_lockstep
from obliviate.results import peak_memory_mb

from . import checkpoint, hooks, sharding, solo, zero
from .config import RunConfig, resolve
from .forward import Reference, build_ref_cache, encode_all, micro_batch
from .lora import apply_lora, parse_lora
from .masking import HeldMask
from .output import default_eval, save_outputs
from .sampler import PairingSampler


def unlearn(model, tokenizer, forget: list[dict], retain: list[dict], method: str = "npo",
            overrides: dict | None = None, *, eval_hook=None, out: str | Path | None = None, lora=None,
            masks: dict[str, torch.Tensor] | None = None, resume: bool = False, accelerator: Accelerator | None = None,
            step_hooks: list | None = None, stop=None, **keyword_overrides):
    """Unlearn `forget` from `model`; returns (model, log). See the module docstring and `engine/config.py`.

    overrides: dotted keys (`method.beta`, `train.epochs`, `engine.ref_cache`, ...). eval_hook(model, step, epoch)
    -> {name: float}, called on every process. lora: "r=8,alpha=16,targets=q_proj,v_proj", a dict or LoraSpec.
    masks: {parameter name: 0/1 tensor}; the 0 entries stay exactly fixed (gradient, optimizer state, decay).
    out: writes model/, run.json and checkpoints/; resume=True continues from the newest checkpoint under out.
    step_hooks: run options that act around the loss (UOE, LAT), from `hooks.build_step_hooks`; see engine/hooks.py.
    stop: a callable (model, step) -> bool with an `every` attribute (`engine/stopping.py`), asked every
    `stop.every` steps; True ends the run there, or, when it has a `finish` (stopping.Finish), starts that many
    finish steps at an annealed lr (the method's loss, or the retain NLL alone for `repair`). Its optional
    `begin(model, start)` runs before the first step, inside the run's wall time.
    Overrides may also be keywords with `__` for the dot: `unlearn(..., method__beta=0.2, train__epochs=3)`.
    """
    # --- Configuration and inputs: every check before any work.
    cfg, m = resolve(method, {**(overrides or {}), **_keyword_keys(keyword_overrides)})
    train, engine = cfg.train, cfg.engine
    if not forget:
        raise DataError("the forget set is empty", field="forget", rule="at least one QA record", value=0)
    check_pair(model, tokenizer, "unlearn")
    # accelerate's Accelerator (joins a torchrun/gloo group on CPU); a one-process stand-in inside spread.alone.
    acc = accelerator or solo.accelerator(engine.cpu)

    with seeded(train.seed, acc.device):
        # --- Model: placed, LoRA added, the method bound to it, what trains chosen.
        lora = parse_lora(lora)
        model = model.to(acc.device)
        if lora is not None:
            model = apply_lora(model, lora)
        m = m.bind(model, train.seed) if hasattr(m, "bind") else m
        needs = m.needs()
        if needs.retain.used and not retain:
            raise DataError("the retain set is empty but this method's loss uses it", field="retain",
                            rule="at least one QA record (or method.retain=none)", value=0)
        trainable = _select_trainable(model, m, lora is not None)
        step_hooks = list(step_hooks or [])  # run options (UOE, LAT): may narrow what trains and add masks
        trainable, masks = hooks.setup(step_hooks, model, tokenizer, forget, trainable, masks)
        masks = _check_masks(masks, trainable)
        zero3 = zero.is_zero(acc)  # DeepSpeed ZeRO-3 (accelerate launch with its config)
        initial = {n: p.detach().clone() for n, p in trainable.items()} if hasattr(m, "finalize") else None
        finish = getattr(stop, "finish", None)  # what the run does once the stop rule fires (engine/stopping.py)
        if initial is not None and finish is not None and finish.kind != "none":
            raise ConfigError(f"stop.finish: {type(m).__name__} edits the weights after training (finalize), which "
                              f"would turn the finish steps around too; got finish={finish.kind}, use none")

        # --- Data: encoded once; the reference, and its sequence log-probs cached before the first step.
        enc = encode_all(m, needs, tokenizer, forget, retain, train.max_length, pad_id(tokenizer))
        uncached_ref_seq = needs.ref_seq and not engine.ref_cache
        ref = Reference(model, lora is not None) if (needs.ref_every_step or uncached_ref_seq or lora) else None
        if needs.ref_seq and engine.ref_cache:
            # Before training the model is the reference: without `ref`, the cache is computed by the model itself.
            enc.ref_seq["forget"] = build_ref_cache(model, ref, enc.forget, enc.keys, enc.pad_id, train.batch_size)
            if enc.alt is not None:
                enc.ref_seq["alt"] = build_ref_cache(model, ref, enc.alt, enc.keys, enc.pad_id, train.batch_size)

        # --- Optimizer, pairing, schedule.
        optimizer = torch.optim.AdamW(list(trainable.values()), lr=train.lr, weight_decay=train.weight_decay,
                                      fused=_fusable(trainable.values()))
        with_retain = needs.retain.used or engine.retain_nll_ceiling > 0  # the guard reads the retain NLL
        repair = finish is not None and finish.uses_retain  # finish steps on the retain side alone
        if repair and not retain:
            raise DataError(f"stop.finish={finish.kind}: the retain set is empty", field="retain",
                            rule="at least one QA record", value=0)
        sampler = PairingSampler(len(forget), len(retain) if with_retain or repair else 0, train.batch_size, train.seed,
                                 acc.num_processes, acc.process_index, train.grad_accum)
        per_epoch = sampler.steps_per_epoch
        total_steps = train.max_steps or train.epochs * per_epoch
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg, total_steps))
        # The scheduler is not given to accelerate: it would step it once per process.
        # engine.fsdp: shard here, where accelerate would not (CPU); accelerate's own FSDP shards in prepare.
        ours = engine.fsdp and acc.num_processes > 1 and not sharding.is_sharded(model)
        if ours:
            model = sharding.shard(model, acc.device)  # the optimizer must hold the sharded parameters
            named = dict(model.named_parameters())
            optimizer = torch.optim.AdamW([named[n] for n in trainable], lr=train.lr, weight_decay=train.weight_decay)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg, total_steps))
            optimizer = acc.prepare(optimizer)
        else:
            if zero3:
                zero.configure(acc, train)  # micro-batch and clipping, before prepare builds the DeepSpeed engine
            model, optimizer = acc.prepare(model, optimizer)
        if sharding.is_sharded(model):  # parameters were replaced by DTensors of the same names
            if resume or initial is not None:
                raise ConfigError("engine.fsdp / FSDP: resume and methods with a final edit (task_vector) need "
                                  "unsharded weights; run them with DDP or one process")
            named = dict(model.named_parameters())
            trainable = {n: named[n] for n in trainable}
            masks = sharding.place_masks(masks, trainable)
            if ref is not None and not ref.is_peft:  # the frozen copy is sharded too (it runs on every micro-batch)
                sharding.shard(ref.model, acc.device)
        if zero3 and (resume or initial is not None):
            raise ConfigError("DeepSpeed ZeRO-3: resume and methods with a final edit (task_vector) need "
                              "unpartitioned weights; run them with DDP or one process")
        if zero3 and ref is not None and not ref.is_peft:  # the frozen copy is partitioned too
            ref.model = zero.shard_reference(ref.model, acc)
        # after sharding: HeldMask holds each process's shard; under ZeRO-3 its gradients are DeepSpeed's own
        held = (zero.ZeroHeldMask(masks, trainable) if zero3 else HeldMask(masks, trainable)) if masks else None
        model.train()
        hook = eval_hook or (default_eval(enc, acc) if engine.eval_every or engine.eval_every_epochs else None)

        # --- Resume: weights, optimizer, scheduler, RNG and log from the newest checkpoint.
        run_key = {"method": method, "hyper_parameters": _fields(getattr(m, "hp", m)), "train": _fields(train)}
        if step_hooks:
            run_key["step_hooks"] = hooks.describe(step_hooks)
        # Sharded runs write no checkpoints (their weights and optimizer state are DTensors).
        ckpt_root = Path(out) / "checkpoints" if out is not None and not in_lockstep(model) else None
        log, curve, start, last_good = [], [], 0, None
        if resume:
            found = checkpoint.checkpoints(ckpt_root) if ckpt_root else []
            if not found:
                raise ConfigError(f"resume: no checkpoint under {ckpt_root}; run without resume first")
            last_good = found[-1]
            state = checkpoint.load(last_good, trainable, optimizer, scheduler, run_key)
            start, log, curve = state["step"], state["log"], state.get("curve", [])

        # --- The loop: one optimizer step per iteration.
        t_start = time.perf_counter()
        if hasattr(stop, "begin"):
            stop.begin(model, start)  # the stop rule's baseline (its utility guard), part of the run's time
        fired, finish_lrs = None, []  # the step the stop rule fired at, and the finish steps' lrs after it
        bar = tqdm(total=total_steps, initial=start, desc=f"unlearn {method}", unit="step",
                   disable=not (engine.progress and acc.is_main_process and sys.stderr.isatty()))
        for step in range(start, total_steps):
            t0, c0 = time.perf_counter(), time.thread_time()  # CPU time: robust to other jobs on shared cores
            done = step + 1
            finishing = fired is not None  # a finish step: stopping.Finish chooses the passes and the loss
            step_needs = finish.needs(needs) if finishing else needs

            # Forward and backward over this process's micro-batches; gradients are all-reduced on the last one.
            micro_batches = sampler.local_batches(step)
            accum = len(micro_batches)
            sums: dict[str, torch.Tensor] = {}
            tokens = 0
            for k, (forget_idx, retain_idx) in enumerate(micro_batches):
                if step_needs.forget.used:
                    hooks.before_forward(step_hooks, enc, forget_idx)  # LAT: the inner attack
                with contextlib.nullcontext() if k == accum - 1 else acc.no_sync(model):
                    b = micro_batch(model, step_needs, enc, ref, forget_idx, retain_idx,
                                    with_retain or (finishing and repair), engine.fuse, around=hooks.around(step_hooks))
                    total, loss_terms = finish.loss(m, b.forget, b.retain) if finishing else m.loss(b.forget, b.retain)
                    total, loss_terms = hooks.add_extra(step_hooks, total, loss_terms)  # UOE: router anchor
                    if zero3:  # DeepSpeed divides by its gradient_accumulation_steps (= accum) itself
                        model.backward(total)
                        if k < accum - 1:
                            model.step()  # not a boundary: DeepSpeed only counts the micro-batch
                    else:
                        acc.backward(total / accum)
                logged = {"loss": total.detach(), **loss_terms}
                if b.retain_nll is not None:
                    logged["retain_nll"] = b.retain_nll
                for name, v in logged.items():
                    sums[name] = sums.get(name, 0) + v.detach().float() / accum
                tokens += b.tokens
            # Mean over processes of the per-process means = the mean over the global batch's micro-batches.
            names = sorted(sums)
            values = acc.reduce(torch.stack([sums[k] for k in names]).to(acc.device), "mean")
            terms = dict(zip(names, values.tolist(), strict=True))
            tokens = int(acc.reduce(torch.tensor(tokens, device=acc.device), "sum"))

            # Divergence guard: stop before the update, so that the last checkpoint is the last good state.
            kept = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was written"
            if not math.isfinite(terms["loss"]):
                raise DivergenceError(f"step {done}: loss is {terms['loss']} (not finite); stopped before the "
                                      f"update; {kept}")
            ceiling = engine.retain_nll_ceiling
            if ceiling > 0 and terms.get("retain_nll", 0.0) > ceiling:
                raise DivergenceError(f"step {done}: retain NLL {terms['retain_nll']:.4f} is above "
                                      f"engine.retain_nll_ceiling={ceiling}; stopped before the update; {kept}")

            # Update: mask the gradients, clip (the norm before clipping is logged), step.
            if held is not None:
                held.zero_grads()
            lr = scheduler.get_last_lr()[0]
            if finishing:  # the finish phase's own lr, set where the scheduler sets it (its next step resets it)
                lr = finish_lrs[done - fired - 1]
                for group in scheduler.optimizer.param_groups:
                    group["lr"] = lr
            if zero3:  # the boundary: clipping at train.max_grad_norm (zero.configure) and the update
                model.step()
                grad_norm = model.get_global_grad_norm()
            else:
                grad_norm = acc.clip_grad_norm_(list(trainable.values()), train.max_grad_norm or float("inf"))
                optimizer.step()
            if held is not None:
                held.restore(optimizer)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            # Log, evaluate, checkpoint.
            epoch = done / per_epoch
            log.append({"step": done, "epoch": round(epoch, 4), **terms, "lr": lr,
                        "grad_norm": sharding.as_number(grad_norm), "tokens": tokens,
                        "seconds": round(time.perf_counter() - t0, 4),
                        "cpu_seconds": round(time.thread_time() - c0, 4)})
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.4f}")
            eval_due = (engine.eval_every and done % engine.eval_every == 0) or (
                engine.eval_every_epochs and (done % (per_epoch * engine.eval_every_epochs) == 0
                                              or done == total_steps))
            if hook is not None and eval_due:
                curve.append({"step": done, "epoch": round(epoch, 4), "metrics": hook(model, done, epoch)})
            stopping = fired is None and stop is not None and done % stop.every == 0 and done < total_steps \
                and stop(model, done)
            if stopping and finish is not None:  # n more steps at an lr annealed from the next step's towards 0
                fired, finish_lrs = done, finish.lrs(scheduler.get_last_lr()[0], total_steps - done)
            ending = (stopping and not finish_lrs) or (finishing and done == fired + len(finish_lrs))
            ckpt_due = (engine.checkpoint_every and done % engine.checkpoint_every == 0) or done == total_steps \
                or ending
            if ckpt_root and ckpt_due:
                if acc.is_main_process:
                    checkpoint.save(ckpt_root, done, trainable, optimizer, scheduler,
                                    {"config": run_key, "log": log, "curve": curve}, engine.keep_checkpoints)
                acc.wait_for_everyone()
                last_good = checkpoint.step_dir(ckpt_root, done)
            if ending:
                break
        bar.close()
        seconds = time.perf_counter() - t_start

        # --- Finish: the method's final edit, unwrap (and merge LoRA), write model/ and run.json.
        if initial is not None:
            m.finalize(trainable.items(), initial)
        model = zero.gather_full(model, acc, lora).eval() if zero3 else acc.unwrap_model(model).eval()
        if sharding.is_sharded(model):  # every process gets the plain trained model back
            model = sharding.gather_full(model, lora).eval()
        if lora is not None and engine.lora_merge:
            model = model.merge_and_unload()
        result = {
            "config": {**run_key, "engine": _fields(engine), "lora": _fields(lora) if lora else None,
                       "processes": acc.num_processes},
            "log": log, "curve": curve, **({"stop": stop.summary()} if hasattr(stop, "summary") else {}),
            "totals": {"wall_time_s": round(seconds, 3), "steps": len(log), "tokens": sum(e["tokens"] for e in log),
                       "peak_memory_mb": round(peak_memory_mb(acc.device), 1)},
        }
        if out is not None and acc.is_main_process:
            save_outputs(Path(out), model, tokenizer, result)
        acc.wait_for_everyone()
    return model, result


def _fusable(params) -> bool:
    """AdamW's fused kernel (one pass over all parameters; ~4x faster than the per-tensor loop on CPU) exists for
    floating-point parameters on CPU and CUDA."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def _keyword_keys(kwargs: dict) -> dict:
    """`method__beta=0.2` → {"method.beta": 0.2}; a keyword without `__` is not an override."""
    for key in kwargs:
        if "__" not in key:
            raise ConfigError(f"unlearn(): unexpected keyword {key!r}; overrides are written like method__beta=0.2 "
                              "or train__epochs=3 (or passed as overrides={'method.beta': 0.2})")
    return {k.replace("__", "."): v for k, v in kwargs.items()}


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


def _check_masks(masks, trainable) -> dict[str, torch.Tensor] | None:
    """The masks moved to their parameters' device and dtype; each must name a trainable parameter, in its shape."""
    if not masks:
        return None
    out = {}
    for name, mask in masks.items():
        if name not in trainable:
            raise ConfigError(f"masks: {name!r} is not a trainable parameter; trainable: "
                              f"{', '.join(list(trainable)[:20])}")
        if tuple(mask.shape) != tuple(trainable[name].shape):
            raise ConfigError(f"masks[{name!r}]: shape must be {tuple(trainable[name].shape)}, "
                              f"got {tuple(mask.shape)}")
        out[name] = mask.to(trainable[name].device, trainable[name].dtype)
    return out


def _lr_factor(cfg: RunConfig, total: int):
    """The LambdaLR factor of optimizer step `step`: linear warm-up over `train.warmup_steps` (from 1/warmup, not
    0), then constant or linear decay to 0 at `total`."""
    warm, linear = cfg.train.warmup_steps, cfg.train.schedule == "linear"

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, 1 - (step - warm) / max(1, total - warm)) if linear else 1.0

    return factor


def _fields(obj) -> dict:
    """A dataclass's fields as a JSON-ready dict (tuples as lists, so a checkpoint's config compares equal)."""
    return {f.name: list(v) if isinstance(v := getattr(obj, f.name), tuple) else v for f in dataclasses.fields(obj)}

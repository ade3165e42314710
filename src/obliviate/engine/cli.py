"""`obliviate unlearn` (run one method on a model and a forget set) and `obliviate methods` (every track's methods).

    obliviate unlearn --model models/target --data DIR --forget forget10 --method npo --out runs/npo \\
        --set method.beta=0.2 --set train.epochs=5 [--lora r=8,alpha=16,targets=q_proj,v_proj] [--resume] \\
        [--mask wagle:0.5 | saliency:0.5 | magnitude:0.5 | random:0.5 | file:PATH] [--prune magnitude:0.5 | 2:4]
Multi-process: `torchrun --nproc_per_node N -m obliviate.cli unlearn ...` or `accelerate launch --config_file
configs/accelerate/ddp.yaml -m obliviate.cli unlearn ...`.
"""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("unlearn", help="remove a forget set from a model with one unlearning method")
    p.add_argument("--config", default=None, metavar="SPEC.yaml",
                   help="a run spec (see `obliviate run`): its model, data, method, train/engine keys, LoRA and "
                        "mask; flags given here override it; only the unlearning stage runs")
    p.add_argument("--model", default=None, help="model folder or hub name (any HF causal LM)")
    p.add_argument("--data", default=None, help="corpus folder, tofu:PATH_OR_HUB, or a folder/file of QA records")
    p.add_argument("--forget", default=None, help="forget split name or file (default forget10)")
    p.add_argument("--retain", default=None, help="retain split name or file (default: the complement)")
    p.add_argument("--method", default=None, help="method name (see `obliviate methods`; default npo)")
    p.add_argument("--out", default=None, help="output folder: model/, run.json, checkpoints/")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override: method.beta=0.2, train.epochs=5, train.lr=1e-3, engine.ref_cache=false, ...")
    p.add_argument("--lora", default=None, metavar="SPEC", help="LoRA adapters, e.g. r=8,alpha=16,targets=q_proj,v_proj")
    p.add_argument("--mask", default=None, metavar="KIND:FRACTION",
                   help="only the top FRACTION of weights (ranked globally) may move: wagle, saliency, magnitude, "
                        "random; or file:PATH of a saved mask. Written to OUT/mask.safetensors")
    p.add_argument("--prune", default=None, metavar="FORM",
                   help="prune first, pruned weights held at 0: magnitude:SPARSITY (per tensor) or N:M (e.g. 2:4)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint under --out")
    p.add_argument("--uoe", nargs="?", const=True, default=None, metavar="OPTIONS",
                   help="MoE models: unlearn only the expert the forget data is routed to most, with a router "
                        "anchor (UOE); options like layer=-1,alpha=1,train_router=true (engine/uoe.py)")
    p.add_argument("--adversary", default=None, metavar="lat[:LAYER,EPS]",
                   help="targeted latent adversarial training: unlearn under a bounded residual-stream "
                        "perturbation that restores the forget answers (engine/lat.py)")
    p.add_argument("--requests", type=int, default=1,
                   help="o3 only: cut the forget set into this many sequential requests (obliviate.continual)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code (off by default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)

    m = sub.add_parser("methods", help="list the unlearning methods of every track: summary, paper, defaults")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument("--track", choices=("llm", "vision", "regression", "diffusion"), help="only this track's methods")
    m.set_defaults(func=list_methods)


def run(args) -> int:
    from obliviate.config import parse_sets
    from obliviate.data import load_splits
    from obliviate.errors import ConfigError
    from obliviate.masks.options import prepare
    from obliviate.models import load

    from .hooks import build_step_hooks
    from .loop import unlearn

    if args.config:
        return _run_config(args)
    missing = [f"--{k}" for k in ("model", "data", "out") if getattr(args, k) is None]
    if missing:
        raise ConfigError(f"unlearn needs {', '.join(missing)} (or --config SPEC.yaml)")
    overrides = parse_sets(args.set)
    if args.quiet:
        overrides["engine.progress"] = "false"
    _check_forms(args.mask, args.prune)  # before any loading
    splits = load_splits(args.data, forget=args.forget or "forget10", retain=args.retain)
    model, tokenizer = load(args.model, trust_remote_code=args.trust_remote_code)
    method = args.method or "npo"
    if method == "o3":  # a stream of adapters, not a loss: composed from unlearn() per request by continual/
        from obliviate.continual.cli import unlearn_o3

        return unlearn_o3(args, splits, model, tokenizer, overrides)
    masks, _ = prepare(model, tokenizer, splits.forget, splits.retain or [], method, overrides, mask=args.mask,
                       prune=args.prune, lora=args.lora, out=args.out)
    _, log = unlearn(model, tokenizer, splits.forget, splits.retain or [], method, overrides, out=args.out,
                     lora=args.lora, masks=masks, resume=args.resume,
                     step_hooks=build_step_hooks(args.uoe, args.adversary))
    _done(method, log, args.out)
    return 0


def _run_config(args) -> int:
    """The unlearning stage of a run spec, with this command's flags over it (they win)."""
    from obliviate.config import parse_sets
    from obliviate.data import load_splits
    from obliviate.masks.options import prepare
    from obliviate.models import load
    from obliviate.spec import load_spec

    from .hooks import build_step_hooks
    from .loop import unlearn

    sets = {k: v for k, v in (("model", args.model), ("data", args.data), ("forget", args.forget),
                              ("retain", args.retain), ("method.name", args.method), ("out", args.out),
                              ("mask", args.mask), ("prune", args.prune)) if v}
    sets |= parse_sets(args.set)
    if args.quiet:
        sets["engine.progress"] = False
    spec = load_spec(args.config, sets)
    splits = load_splits(spec.data, forget=spec.forget, retain=spec.retain)
    model, tokenizer = load(spec.model, trust_remote_code=spec.trust_remote_code or args.trust_remote_code)
    lora = args.lora or (spec.lora.model_dump() if spec.lora else None)
    masks, _ = prepare(model, tokenizer, splits.forget, splits.retain or [], spec.method.name, spec.overrides(),
                       mask=spec.mask, prune=spec.prune, lora=lora, out=spec.out)
    hooks = build_step_hooks(args.uoe if args.uoe is not None else spec.uoe, args.adversary or spec.adversary)
    _, log = unlearn(model, tokenizer, splits.forget, splits.retain or [], spec.method.name, spec.overrides(),
                     out=spec.out, lora=lora, masks=masks, resume=args.resume, step_hooks=hooks)
    _done(spec.method.name, log, spec.out)
    return 0


def _check_forms(mask: str | None, prune: str | None) -> None:
    from obliviate.masks.forms import parse_mask, parse_prune

    if mask:
        parse_mask(mask)
    if prune:
        parse_prune(prune)


def _done(method: str, log: dict, out) -> None:
    t = log["totals"]
    last = log["log"][-1] if log["log"] else {}
    print(f"unlearned with {method}: {t['steps']} steps, {t['tokens']} tokens, {t['wall_time_s']:.1f} s, "
          f"final loss {last.get('loss', float('nan')):.4f} -> {out}/model, {out}/run.json")


def list_methods(args) -> int:
    from obliviate.catalog import listing, table  # static: listing the methods imports no torch

    rows = listing(args.track)
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0

"""`obliviate unlearn` (run one method on a model and a forget set) and `obliviate methods` (every track's methods).

    obliviate unlearn --model models/target --data DIR --forget forget10 --method npo --out runs/npo \\
        --set method.beta=0.2 --set train.epochs=5 [--lora r=8,alpha=16,targets=q_proj,v_proj] [--resume]
Multi-process: `torchrun --nproc_per_node N -m obliviate.cli unlearn ...` or `accelerate launch --config_file
configs/accelerate/ddp.yaml -m obliviate.cli unlearn ...`.
"""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("unlearn", help="remove a forget set from a model with one unlearning method")
    p.add_argument("--model", required=True, help="model folder or hub name (any HF causal LM)")
    p.add_argument("--data", required=True, help="corpus folder, tofu:PATH_OR_HUB, or a folder/file of QA records")
    p.add_argument("--forget", default="forget10", help="forget split name or file (default forget10)")
    p.add_argument("--retain", default=None, help="retain split name or file (default: the complement)")
    p.add_argument("--method", default="npo", help="method name (see `obliviate methods`)")
    p.add_argument("--out", required=True, help="output folder: model/, run.json, checkpoints/")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override: method.beta=0.2, train.epochs=5, train.lr=1e-3, engine.ref_cache=false, ...")
    p.add_argument("--lora", default=None, metavar="SPEC", help="LoRA adapters, e.g. r=8,alpha=16,targets=q_proj,v_proj")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint under --out")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code (off by default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)

    m = sub.add_parser("methods", help="list the unlearning methods of every track: summary, paper, defaults")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument("--track", choices=("llm", "vision"), help="only this track's methods")
    m.set_defaults(func=list_methods)


def run(args) -> int:
    from obliviate.config import parse_sets
    from obliviate.data import load_splits
    from obliviate.models import load

    from .loop import unlearn

    overrides = parse_sets(args.set)
    if args.quiet:
        overrides["engine.progress"] = "false"
    splits = load_splits(args.data, forget=args.forget, retain=args.retain)
    model, tokenizer = load(args.model, trust_remote_code=args.trust_remote_code)
    _, log = unlearn(model, tokenizer, splits.forget, splits.retain or [], args.method, overrides, out=args.out,
                     lora=args.lora, resume=args.resume)
    t = log["totals"]
    last = log["log"][-1] if log["log"] else {}
    print(f"unlearned with {args.method}: {t['steps']} steps, {t['tokens']} tokens, {t['wall_time_s']:.1f} s, "
          f"final loss {last.get('loss', float('nan')):.4f} -> {args.out}/model, {args.out}/run.json")
    return 0


def list_methods(args) -> int:
    from obliviate.catalog import listing, table  # static: listing the methods imports no torch

    rows = listing(args.track)
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0

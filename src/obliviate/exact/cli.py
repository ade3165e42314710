"""`obliviate exact ...`: exact unlearning by sharded training. Nothing heavy is imported until a command runs.

    obliviate exact train  --track vision --data digits --shards 5 --slices 4 --out runs/sisa          (SISA)
    obliviate exact train  --track llm --data data/persons --preset small --shards 2 --slices 4 \
                           --sequences 4 --out runs/s3t                                                (S3T)
    obliviate exact delete runs/sisa --ids 3,17,42        (or --items FILE: one id per line)
    obliviate exact eval   runs/sisa                      SISA: test accuracy; S3T: answer probability
    obliviate exact where  runs/sisa --ids 3,17           each item's (shard, slice, index) and whether deleted
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from obliviate.errors import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser("exact", help="exact unlearning: SISA (classifiers), S3T (LMs)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="exact_command", metavar="EXACT_COMMAND", required=True)

    t = sub.add_parser("train", help="train a sharded, sliced ensemble with a checkpoint after every slice")
    t.add_argument("--track", required=True, choices=["vision", "llm"],
                   help="vision: SISA over small classifiers; llm: S3T (LoRA sequences over a frozen public base)")
    t.add_argument("--data", default="digits",
                   help="vision: digits | fashion-mnist | csv; llm: a persons corpus folder (obliviate data persons)")
    t.add_argument("--path", help="Fashion-MNIST IDX folder, or the CSV file")
    t.add_argument("--label", help="CSV: the label column")
    t.add_argument("--train-limit", type=int, help="Fashion-MNIST: stratified subsample of the training set")
    t.add_argument("--shards", type=int, default=5, help="S constituent models (default 5)")
    t.add_argument("--slices", type=int, default=4, help="R slices per shard (default 4)")
    t.add_argument("--epochs", type=int, default=30, help="passes over a shard in total, spread over the slices")
    t.add_argument("--lr", type=float, help="learning rate (default: vision 0.05, llm 3e-3)")
    t.add_argument("--preset", default="small", help="llm: base architecture (tiny | small)")
    t.add_argument("--sequences", type=int, default=4, help="llm: slice orders per shard (S3T's budget B)")
    t.add_argument("--public-fraction", type=float, default=0.5,
                   help="llm: share of the corpus's persons (the first, by id) that train the frozen base")
    t.add_argument("--base-epochs", type=int, default=40, help="llm: epochs of the public base")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--aggregate", default="mean", choices=["mean", "vote"],
                   help="mean probability (default: breaks ties by confidence) or majority vote")
    t.add_argument("--out", required=True, help="ensemble folder (written atomically)")
    _executor_args(t)
    t.set_defaults(func=_train)

    d = sub.add_parser("delete", help="delete training items: retrain only the shards that held them")
    d.add_argument("folder", help="ensemble folder from `exact train`")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="comma-separated training item indices, e.g. 3,17,42")
    g.add_argument("--items", help="file with one training item index per line")
    d.add_argument("--json", action="store_true", help="print the deletion report as JSON")
    _executor_args(d)
    d.set_defaults(func=_delete)

    e = sub.add_parser("eval", help="test accuracy of the ensemble (both aggregations) and of each constituent")
    e.add_argument("folder")
    e.set_defaults(func=_eval)

    w = sub.add_parser("where", help="the recorded (shard, slice, index) of training items")
    w.add_argument("folder")
    w.add_argument("--ids", required=True, help="comma-separated training item indices")
    w.set_defaults(func=_where)


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", default="process", choices=["process", "serial", "ray"],
                   help="how shards fan out: local process pool (default), in this process, or Ray")
    p.add_argument("--workers", type=int, help="parallel shard jobs (default: one per CPU)")


def _ids(args) -> list[int]:
    from .items import parse_ids, read_items_file

    return parse_ids(args.ids) if args.ids else read_items_file(args.items)


def _train(args) -> int:
    if args.shards < 1 or args.slices < 1:
        raise ConfigError(f"--shards and --slices must be >= 1, got {args.shards} and {args.slices}")
    if args.track == "llm":
        from .s3t import S3TConfig
        from .s3t import train as train_s3t

        cfg = S3TConfig(preset=args.preset, shards=args.shards, slices=args.slices, sequences=args.sequences,
                        epochs=args.epochs, lr=args.lr or 3e-3, public_fraction=args.public_fraction,
                        base_epochs=args.base_epochs, seed=args.seed)
        train_s3t(args.data, cfg, args.out, executor=args.executor, workers=args.workers)
        return 0
    from .sisa import DataSpec, SisaConfig, train

    if args.data not in ("digits", "fashion-mnist", "csv"):
        raise ConfigError(f"--data: the vision track takes digits | fashion-mnist | csv, got {args.data!r}")
    cfg = SisaConfig(shards=args.shards, slices=args.slices, epochs=args.epochs, lr=args.lr or 0.05, seed=args.seed,
                     aggregate=args.aggregate)
    train(DataSpec(args.data, args.path, args.label, args.train_limit), cfg, args.out, executor=args.executor,
          workers=args.workers)
    return 0


def _delete(args) -> int:
    from .api import delete

    report = delete(args.folder, _ids(args), executor=args.executor, workers=args.workers,
                    say=(lambda s: None) if args.json else print)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _eval(args) -> int:
    from .api import kind

    if kind(args.folder) == "s3t":
        return _eval_s3t(args.folder)
    from .sisa import DataSpec, Ensemble

    ens = Ensemble.load(args.folder)
    d = ens.manifest["data"]
    data = DataSpec(d["kind"], d["path"], d["label"], d["train_limit"]).load()
    acc = ens.accuracy(data.x_test, data.y_test)
    print(f"test accuracy on {acc['n']} items: mean probability {acc['mean']:.2f}%, majority vote {acc['vote']:.2f}% "
          f"(default: {acc['default']}); constituents " + ", ".join(f"{a:.1f}%" for a in acc["constituents"]))
    return 0


def _eval_s3t(folder: str) -> int:
    from .s3t import Ensemble, split_corpus

    ens = Ensemble.load(folder)
    m = ens.manifest
    items = split_corpus(m["data"]["corpus"], m["config"]["public_fraction"])["items"]
    gone = set(m["deleted"])
    for name, recs in (("kept deletable items", [r for i, r in enumerate(items) if i not in gone]),
                       ("deleted items", [r for i, r in enumerate(items) if i in gone])):
        if recs:
            probs = ens.answer_probability(recs)
            print(f"{name}: mean answer probability {sum(probs) / len(probs):.4f} over {len(recs)}")
    for s, st in sorted(m["shards"].items(), key=lambda kv: int(kv[0])):
        print(f"shard {s}: sequence {st['active']['sequence']} with {st['active']['prefix']} of "
              f"{m['config']['slices']} layer groups active; dirty slices {st['dirty_slices']}; "
              f"retrained {st['retrains']}x")
    return 0


def _where(args) -> int:
    from .api import manifest
    from .items import parse_ids
    from .sisa import read_positions

    manifest(args.folder)
    layout, gone = read_positions(Path(args.folder))
    ids = layout.check_ids(parse_ids(args.ids))
    print("item,shard,slice,index,deleted")
    for i in ids:
        s, r, k = layout.position(i)
        print(f"{i},{s},{r},{k},{int(i in gone)}")
    return 0

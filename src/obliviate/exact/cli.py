"""`obliviate exact ...`: exact unlearning by sharded training. Nothing heavy is imported until a command runs.

    obliviate exact train  --track vision --data digits --shards 5 --slices 4 --out runs/sisa
    obliviate exact delete runs/sisa --ids 3,17,42        (or --items FILE: one id per line)
    obliviate exact eval   runs/sisa                      test accuracy: mean probability, vote, each constituent
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
    t.add_argument("--track", required=True, choices=["vision"], help="vision: SISA over small classifiers")
    t.add_argument("--data", default="digits", choices=["digits", "fashion-mnist", "csv"])
    t.add_argument("--path", help="Fashion-MNIST IDX folder, or the CSV file")
    t.add_argument("--label", help="CSV: the label column")
    t.add_argument("--train-limit", type=int, help="Fashion-MNIST: stratified subsample of the training set")
    t.add_argument("--shards", type=int, default=5, help="S constituent models (default 5)")
    t.add_argument("--slices", type=int, default=4, help="R slices per shard (default 4)")
    t.add_argument("--epochs", type=int, default=30, help="passes over a shard in total, spread over the slices")
    t.add_argument("--lr", type=float, default=0.05)
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
    from .sisa import DataSpec, SisaConfig, train

    if args.shards < 1 or args.slices < 1:
        raise ConfigError(f"--shards and --slices must be >= 1, got {args.shards} and {args.slices}")
    cfg = SisaConfig(shards=args.shards, slices=args.slices, epochs=args.epochs, lr=args.lr, seed=args.seed,
                     aggregate=args.aggregate)
    train(DataSpec(args.data, args.path, args.label, args.train_limit), cfg, args.out, executor=args.executor,
          workers=args.workers)
    return 0


def _delete(args) -> int:
    from .sisa import delete

    report = delete(args.folder, _ids(args), executor=args.executor, workers=args.workers,
                    say=(lambda s: None) if args.json else print)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _eval(args) -> int:
    from .sisa import DataSpec, Ensemble

    ens = Ensemble.load(args.folder)
    d = ens.manifest["data"]
    data = DataSpec(d["kind"], d["path"], d["label"], d["train_limit"]).load()
    acc = ens.accuracy(data.x_test, data.y_test)
    print(f"test accuracy on {acc['n']} items: mean probability {acc['mean']:.2f}%, majority vote {acc['vote']:.2f}% "
          f"(default: {acc['default']}); constituents " + ", ".join(f"{a:.1f}%" for a in acc["constituents"]))
    return 0


def _where(args) -> int:
    from .items import parse_ids
    from .sisa import read_manifest, read_positions

    read_manifest(args.folder)
    layout, gone = read_positions(Path(args.folder))
    ids = layout.check_ids(parse_ids(args.ids))
    print("item,shard,slice,index,deleted")
    for i in ids:
        s, r, k = layout.position(i)
        print(f"{i},{s},{r},{k},{int(i in gone)}")
    return 0

"""`obliviate requests ...` (the deletion ledger) and `obliviate serve` (its HTTP API and status page).

    obliviate requests submit --who dpo@example.org --what "erase rows 3, 17" --exact runs/sisa --ids 3,17
    obliviate requests submit --who W --what T --model models/target --data data/persons --forget forget10 \\
                              --method npo --oracle models/oracle --out runs/request-1
    obliviate requests run 1 | list | show 1 | receipt 1 --out receipt.json
    obliviate requests verify receipt.json --model runs/sisa [--public-key ~/.obliviate/receipt-key.pem.pub]
    obliviate serve --db postgresql://user@host/ledger --port 8000

--db takes sqlite:///PATH (default: $OBLIVIATE_DB, else sqlite:///ledger.db) or postgresql://USER@HOST/DB.
Receipts are signed with the ed25519 key at --key (default $OBLIVIATE_RECEIPT_KEY or ~/.obliviate/receipt-key.pem),
created with mode 0600 on first use; its public key is written beside it as KEY.pub.
"""
from __future__ import annotations

import json
import os

DEFAULT_DB = "sqlite:///ledger.db"


def register(subparsers) -> None:
    p = subparsers.add_parser("requests", help="the deletion ledger: submit, run, list, show, receipt, verify",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="requests_command", metavar="REQUESTS_COMMAND", required=True)

    s = sub.add_parser("submit", help="record a deletion request (exact: an ensemble and item ids; approximate: "
                                      "a model, a forget set and a method)")
    _db(s)
    s.add_argument("--who", required=True, help="who asks (a name, an e-mail, a ticket)")
    s.add_argument("--what", required=True, help="what is asked, in words")
    s.add_argument("--exact", metavar="FOLDER", help="exact deletion from this `exact train` folder")
    s.add_argument("--ids", help="exact: comma-separated training item indices")
    s.add_argument("--items", help="exact: file with one training item index per line")
    s.add_argument("--executor", default="process", choices=["process", "serial", "ray"], help="exact: shard fan-out")
    s.add_argument("--model", help="approximate: the model to unlearn from")
    s.add_argument("--data", help="approximate: corpus folder, tofu:PATH, or records")
    s.add_argument("--forget", default="forget10", help="approximate: forget split name or file")
    s.add_argument("--retain", help="approximate: retain split (default: the complement)")
    s.add_argument("--method", help="approximate: unlearning method (see `obliviate methods`)")
    s.add_argument("--oracle", help="approximate: oracle model folder (trained without the items)")
    s.add_argument("--oracle-results", help="approximate: or a saved oracle results.json")
    s.add_argument("--out", help="approximate: output folder of the run (model/, results.json)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="approximate: method overrides")
    s.add_argument("--lora", help="approximate: LoRA spec, e.g. r=8,alpha=16")
    s.set_defaults(func=_submit)

    r = sub.add_parser("run", help="run a submitted (or failed, or interrupted) request")
    _db(r)
    r.add_argument("id", type=int)
    r.set_defaults(func=_run)

    ls = sub.add_parser("list", help="requests, newest first, with their state")
    _db(ls)
    ls.add_argument("--status", choices=["submitted", "running", "done", "failed"])
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    sh = sub.add_parser("show", help="one request with its runs and receipts, as JSON")
    _db(sh)
    sh.add_argument("id", type=int)
    sh.set_defaults(func=_show)

    rc = sub.add_parser("receipt", help="write the signed JSON receipt of a done request")
    _db(rc)
    rc.add_argument("id", type=int)
    rc.add_argument("--out", required=True, help="receipt file to write (atomically)")
    rc.add_argument("--key", help="ed25519 signing key (created on first use, mode 0600)")
    rc.set_defaults(func=_receipt)

    v = sub.add_parser("verify", help="check a receipt's signature and that a model folder is the one it covers")
    v.add_argument("receipt")
    v.add_argument("--model", help="model or ensemble folder whose weights must hash to the receipt's after hash")
    v.add_argument("--public-key", help="trusted public key (a .pub file or its base64); default: --key's .pub")
    v.add_argument("--key", help="the ledger's signing key (its .pub beside it is trusted)")
    v.set_defaults(func=_verify)

    sv = subparsers.add_parser("serve", help="HTTP API and status page over the deletion ledger (FastAPI)")
    _db(sv)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--key", help="ed25519 signing key for receipts")
    sv.set_defaults(func=_serve)


def _db(p) -> None:
    p.add_argument("--db", default=os.environ.get("OBLIVIATE_DB", DEFAULT_DB),
                   help="sqlite:///PATH or postgresql://USER@HOST/DB (default $OBLIVIATE_DB or sqlite:///ledger.db)")


def _ledger(args):
    from .store import Ledger

    return Ledger(args.db)


def _submit(args) -> int:
    from obliviate.config import parse_sets
    from obliviate.errors import ConfigError

    from .execute import submit_approximate, submit_exact

    led = _ledger(args)
    if args.exact:
        if not (args.ids or args.items) or (args.ids and args.items):
            raise ConfigError("--exact needs exactly one of --ids or --items")
        from obliviate.exact.items import parse_ids, read_items_file

        ids = parse_ids(args.ids) if args.ids else read_items_file(args.items)
        rid = submit_exact(led, args.who, args.what, args.exact, ids, args.executor)
    else:
        if args.ids or args.items:
            raise ConfigError("--ids/--items name items of an exact request: add --exact FOLDER")
        spec = {k: v for k, v in {"model": args.model, "data": args.data, "forget": args.forget,
                                  "retain": args.retain, "method": args.method, "oracle": args.oracle,
                                  "oracle_results": args.oracle_results, "out": args.out,
                                  "overrides": parse_sets(args.set), "lora": args.lora}.items() if v}
        rid = submit_approximate(led, args.who, args.what, spec)
    req = led.request(rid)
    print(f"request {rid} submitted ({req['kind']}, {req['n_items']} items)")
    return 0


def _run(args) -> int:
    from .execute import run_request

    run_request(_ledger(args), args.id)
    return 0


def _list(args) -> int:
    rows = _ledger(args).list(args.status)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'id':>5}  {'status':<9} {'kind':<11} {'items':>5}  {'submitted':<25} who / what")
    for r in rows:
        state = r["status"] + ("*" if r["stale"] else "")
        print(f"{r['id']:>5}  {state:<9} {r['kind']:<11} {r['n_items']:>5}  {r['submitted_at']:<25} "
              f"{r['requester']} / {r['subject'][:60]}")
    if any(r["stale"] for r in rows):
        print("* its process is gone: `obliviate requests run ID` marks that run failed and runs it again")
    return 0


def _show(args) -> int:
    print(json.dumps(_ledger(args).show(args.id), indent=2))
    return 0


def _receipt(args) -> int:
    from .execute import write_receipt

    receipt = write_receipt(_ledger(args), args.id, args.out, args.key)
    print(f"receipt for request {args.id} (run {receipt['payload']['run']['id']}) -> {args.out}; key id "
          f"{receipt['key_id'][:16]}…")
    return 0


def _verify(args) -> int:
    from .receipts import read_receipt, trusted_public_key, verify

    payload = verify(read_receipt(args.receipt), args.model, trusted_public_key(args.public_key, args.key))
    what = f"model {args.model} matches its after hash" if args.model else "no --model given: weights not checked"
    print(f"OK: receipt for request {payload['request']['id']} (run {payload['run']['id']}) is signed by the "
          f"trusted key; {what}")
    return 0


def _serve(args) -> int:
    import uvicorn

    from .service import create_app

    uvicorn.run(create_app(args.db, key_file=args.key), host=args.host, port=args.port)
    return 0

"""Submitting and running deletion requests, and writing their receipts.

    rid = submit_exact(led, "dpo@example.org", "erase rows 3 and 17", "runs/sisa", [3, 17])
    rid = submit_approximate(led, who, what, {"model": "models/target", "data": "data/persons", "forget": "forget10",
                                              "method": "npo", "oracle": "models/oracle", "out": "runs/req-1"})
    run_request(led, rid)                   # exact: `exact delete`; approximate: unlearn + evaluate
    receipt = write_receipt(led, rid, "receipt.json")

`unlearn_and_evaluate(spec)` runs the approximate path through the run spec's `run()` (the one place that composes
unlearning and evaluation).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from obliviate._atomic import atomic_write_text
from obliviate.errors import ConfigError, DataError

from .hashing import model_sha256, record_text, text_sha256
from .store import Ledger, clean_json, iso

HEADLINE = ("forget_quality", "model_utility", "privleak", "verbmem", "knowmem_f", "knowmem_r")
APPROXIMATE_KEYS = {"model", "data", "forget", "retain", "method", "overrides", "lora", "oracle", "oracle_results",
                    "out"}


# ------------------------------------------------------------------ what a request names

def exact_items(folder: str | Path, ids: list[int]) -> tuple[list[str], dict[str, Any]]:
    """Hashes of training items `ids` of the exact-unlearning folder (text "<data sha256>:<id>") and the spec."""
    from obliviate.exact.api import manifest

    m = manifest(folder)
    n = m["data"]["train"]
    ids = sorted(set(ids))
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise DataError(f"unknown training item id (the ensemble has items 0..{n - 1})", field="--ids",
                        rule=f"0 <= id < {n}", value=bad[0])
    return ([text_sha256(f"{m['data']['sha256']}:{i}") for i in ids],
            {"ensemble": str(Path(folder).resolve()), "ids": ids, "format": m["format"]})


def forget_records(spec: dict[str, Any]) -> list[str]:
    """Texts of the forget set an approximate request names (QA records, or raw texts)."""
    from obliviate.data import load_splits

    splits = load_splits(spec["data"], forget=spec.get("forget", "forget10"), retain=spec.get("retain"))
    if splits.forget:
        return [record_text(r, where=f"{spec['forget']}[{i}]") for i, r in enumerate(splits.forget)]
    return list(splits.forget_texts or [])


def submit_exact(led: Ledger, who: str, what: str, folder: str | Path, ids: list[int],
                 executor: str = "process") -> int:
    hashes, spec = exact_items(folder, ids)
    return led.submit(who, what, "exact", hashes, {**spec, "executor": executor})


def submit_approximate(led: Ledger, who: str, what: str, spec: dict[str, Any]) -> int:
    unknown = sorted(set(spec) - APPROXIMATE_KEYS)
    if unknown:
        raise ConfigError(f"approximate request: unknown keys {unknown}; valid: {', '.join(sorted(APPROXIMATE_KEYS))}")
    for key in ("model", "data", "method", "out"):
        if not spec.get(key):
            raise ConfigError(f"approximate request: --{key} is required")
    if not spec.get("oracle") and not spec.get("oracle_results"):
        raise ConfigError("approximate request: pass --oracle MODEL_DIR or --oracle-results PATH: an approximate "
                          "deletion is judged against a model trained without the items")
    spec = {**spec, "model": str(Path(spec["model"]).resolve()), "out": str(Path(spec["out"]).resolve())}
    return led.submit(who, what, "approximate", [text_sha256(t) for t in forget_records(spec)], spec)


# ------------------------------------------------------------------ running

def unlearn_and_evaluate(spec: dict[str, Any]) -> dict[str, Any]:
    """Approximate unlearning of one request through the spine (`obliviate.run`): unlearn the forget set from
    spec["model"] with spec["method"], save to spec["out"]/model, evaluate against the oracle into
    spec["out"]/results.json. Resumes from the checkpoints a killed attempt left under spec["out"]. Returns model
    folder, metrics summary, cost, report."""
    from obliviate.run import run

    out = Path(spec["out"])
    resume = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    run_spec = {"name": f"request-{spec['method']}", "model": spec["model"], "data": spec["data"],
                "forget": spec.get("forget", "forget10"), "retain": spec.get("retain"), "method": spec["method"],
                "lora": spec.get("lora"), "out": str(out), "resume": resume,
                "eval": {"oracle": spec.get("oracle"), "oracle_results": spec.get("oracle_results"),
                         "curve_points": 0}}
    if isinstance(run_spec["lora"], str):  # the CLI's r=8,alpha=16,targets=... form
        from obliviate.engine.lora import parse_lora

        lora = parse_lora(run_spec["lora"])
        run_spec["lora"] = {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout, "targets": list(lora.targets)}
    results = run({k: v for k, v in run_spec.items() if v is not None}, sets=dict(spec.get("overrides") or {}))
    metrics = {k: results["metrics"][k]["value"] for k in HEADLINE if k in results["metrics"]}
    return {"model": str(out / "model"), "metrics": metrics, "cost": results["cost"],
            "report": str(out / "results.json"), "audit": results.get("audits")}


def exact_delete(spec: dict[str, Any]) -> dict[str, Any]:
    """Exact deletion of one request through `obliviate exact delete` (SISA or S3T)."""
    from obliviate.exact.api import delete

    report = delete(spec["ensemble"], spec["ids"], executor=spec.get("executor", "process"), say=lambda _: None)
    metrics = {"deleted": len(report["deleted"]), "already_deleted": len(report["already_deleted"])}
    if "retrained" in report:  # SISA
        metrics["shards_retrained"] = sorted(int(s) for s in report["retrained"])
    else:  # S3T
        metrics["shards_retrained"] = sorted(int(s) for s, r in report["shards"].items() if r["retrained"])
        metrics["adapters_removed"] = report["cost"].get("adapters_removed", 0)
    return {"model": spec["ensemble"], "metrics": metrics, "cost": report["cost"], "report": None, "audit": None}


def run_request(led: Ledger, request_id: int, say=print) -> dict[str, Any]:
    """Run one request (see `Ledger.claim` for which may run). Any failure, Ctrl-C included, marks it failed."""
    req = led.request(request_id)
    spec = req["spec"]
    if req["kind"] == "exact":
        method = "s3t-delete" if spec.get("format", "").startswith("obliviate-s3t") else "sisa-delete"
        kind, before, fn = "exact", spec["ensemble"], exact_delete
    else:
        kind, method, before, fn = "method", spec["method"], spec["model"], unlearn_and_evaluate
        _check_forget_unchanged(req)
    run_id = led.claim(request_id, kind, method, spec, model_before=before)
    try:
        before_sha = model_sha256(before)
        led.update_run(run_id, model_before_sha256=before_sha)
        res = fn(spec)
        after_sha = model_sha256(res["model"])
        led.finish(run_id, model_after=res["model"], model_after_sha256=after_sha, metrics=res["metrics"],
                   audit=res.get("audit"), cost=res["cost"], report=res["report"])
    except BaseException as e:
        led.fail(run_id, f"{type(e).__name__}: {e}")
        raise
    say(f"request {request_id}: done (run {run_id}, {method}); model after: {res['model']} "
        f"sha256 {after_sha[:16]}…")
    return {"run_id": run_id, **res, "model_before_sha256": before_sha, "model_after_sha256": after_sha}


def _check_forget_unchanged(req: dict) -> None:
    now = [text_sha256(t) for t in forget_records(req["spec"])]
    if now != req["items_sha256"]:
        raise DataError(f"request {req['id']}: the forget set changed since the request was submitted "
                        f"({len(now)} items now, {req['n_items']} then, or different texts)",
                        file=req["spec"]["data"], field="forget")


# ------------------------------------------------------------------ receipts

def receipt_payload(req: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "kind", "method", "spec", "model_before", "model_before_sha256", "model_after",
            "model_after_sha256", "metrics", "audit", "cost", "report", "started_at", "finished_at")
    return clean_json({
        "statement": "obliviate deletion receipt: the request below was run and produced the model whose weights "
                     "hash to run.model_after_sha256",
        "request": {k: req[k] for k in ("id", "requester", "subject", "kind", "items_sha256", "n_items",
                                        "submitted_at")},
        "run": {k: run[k] for k in keys},
        "issued_at": iso(dt.datetime.now(dt.timezone.utc)),
    })


def make_receipt(led: Ledger, request_id: int, key_file: str | Path | None = None) -> dict[str, Any]:
    """The signed receipt of the request's last finished run; signed once and stored, then returned as stored."""
    from .receipts import canonical, load_or_create_key, sign

    req = led.request(request_id)
    run = led.last_done_run(request_id)
    stored = led.receipt_for(run["id"])
    if stored is None:
        key = load_or_create_key(key_file)
        receipt = sign(receipt_payload(req, run), key)
        stored = led.add_receipt(request_id, run["id"], canonical(receipt["payload"]).decode("utf-8"),
                                 receipt["signature"], receipt["public_key"], receipt["key_id"])
    return {"receipt_version": 1, "algorithm": "ed25519", "key_id": stored["key_id"],
            "public_key": stored["public_key"], "signature": stored["signature"],
            "payload": json.loads(stored["payload"])}


def write_receipt(led: Ledger, request_id: int, out: str | Path, key_file: str | Path | None = None) -> dict:
    receipt = make_receipt(led, request_id, key_file)
    atomic_write_text(out, json.dumps(receipt, indent=2, ensure_ascii=False) + "\n")
    return receipt

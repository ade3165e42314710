"""`Ledger(url)`: the deletion ledger's operations, each one database transaction.

    led = Ledger("sqlite:///ledger.db")                 # or postgresql://user@host/db
    rid = led.submit("dpo@example.org", "erase my record", "exact", ["<sha256>", ...], {"ensemble": ...})
    run = led.claim(rid, kind="exact", method="sisa-delete", spec={...})   # request → running
    led.finish(run, model_after_sha256=..., metrics=..., cost=...)         # run and request → done, atomically
    led.fail(run, "why")                                                   # run and request → failed

A run that dies without `finish` or `fail` (killed) leaves its request `running`; the next `claim` of that request
checks whether the process is still alive (same host: by pid) and, if not, marks the old run failed
("interrupted") before starting a new one. So a request is `done` only if a run finished.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import socket
from typing import Any

import sqlalchemy as sa

from .schema import KINDS, REQUEST_STATUSES, LedgerError, connect, receipts, redact, requests, runs


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(value: dt.datetime | None) -> str | None:
    """ISO-8601 in UTC; SQLite hands back naive datetimes, which were written in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def clean_json(obj: Any) -> Any:
    """NaN and ±inf → None (JSON has no such numbers; PostgreSQL's jsonb refuses them)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj


def _row(row) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, dt.datetime) else v for k, v in row._mapping.items()}


def process_alive(host: str, pid: int) -> bool:
    """Whether the run's process still exists; another host's process cannot be checked and counts as alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    def __init__(self, url: str):
        self.url = url
        self.engine = connect(url)

    def __repr__(self) -> str:
        return f"Ledger({redact(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # -------------------------------------------------------------- requests

    def submit(self, requester: str, subject: str, kind: str, items_sha256: list[str], spec: dict) -> int:
        if kind not in KINDS:
            raise LedgerError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
        if not requester.strip() or not subject.strip():
            raise LedgerError("--who and --what must not be empty (who asked, and for what)")
        if not items_sha256:
            raise LedgerError("a request must name at least one item")
        t = now()
        with self.engine.begin() as c:
            res = c.execute(requests.insert().values(
                requester=requester.strip(), subject=subject.strip(), kind=kind, items_sha256=list(items_sha256),
                n_items=len(items_sha256), spec=clean_json(spec), status="submitted", submitted_at=t, updated_at=t))
            return int(res.inserted_primary_key[0])

    def request(self, request_id: int, conn=None) -> dict[str, Any]:
        q = sa.select(requests).where(requests.c.id == request_id)
        row = (conn.execute(q) if conn is not None else self._read(q)).first()
        if row is None:
            raise LedgerError(f"request {request_id}: no such request in {redact(self.url)}")
        return _row(row)

    def _read(self, query):
        with self.engine.begin() as c:
            return _Rows(c.execute(query).all())

    def show(self, request_id: int) -> dict[str, Any]:
        """The request with its runs (oldest first) and receipts."""
        with self.engine.begin() as c:
            out = self.request(request_id, c)
            out["runs"] = [_row(r) for r in c.execute(
                sa.select(runs).where(runs.c.request_id == request_id).order_by(runs.c.id)).all()]
            out["receipts"] = [_row(r) for r in c.execute(
                sa.select(receipts.c.id, receipts.c.run_id, receipts.c.key_id, receipts.c.created_at)
                .where(receipts.c.request_id == request_id).order_by(receipts.c.id)).all()]
        for run in out["runs"]:
            run["stale"] = run["status"] == "running" and not process_alive(run["host"], run["pid"])
        return out

    def list(self, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Requests, newest first, each with its latest run's id, status, report and staleness."""
        if status is not None and status not in REQUEST_STATUSES:
            raise LedgerError(f"--status: must be one of {', '.join(REQUEST_STATUSES)}, got {status!r}")
        q = sa.select(requests.c.id, requests.c.requester, requests.c.subject, requests.c.kind, requests.c.n_items,
                      requests.c.status, requests.c.submitted_at, requests.c.updated_at).order_by(requests.c.id.desc())
        if status:
            q = q.where(requests.c.status == status)
        if limit:
            q = q.limit(limit)
        with self.engine.begin() as c:
            rows = [_row(r) for r in c.execute(q).all()]
            last = {}
            if rows:
                latest = (sa.select(sa.func.max(runs.c.id)).where(runs.c.request_id.in_([r["id"] for r in rows]))
                          .group_by(runs.c.request_id))
                for r in c.execute(sa.select(runs).where(runs.c.id.in_(latest))).all():
                    last[r.request_id] = _row(r)
        for r in rows:
            run = last.get(r["id"])
            r["run"] = None if run is None else {k: run[k] for k in ("id", "status", "method", "report", "error",
                                                                    "finished_at")}
            r["stale"] = bool(run and run["status"] == "running" and not process_alive(run["host"], run["pid"]))
        return rows

    # -------------------------------------------------------------- runs

    def claim(self, request_id: int, kind: str, method: str, spec: dict, model_before: str | None = None) -> int:
        """Start a run of a submitted or failed request (or of a running one whose process is gone)."""
        with self.engine.begin() as c:
            req = c.execute(sa.select(requests).where(requests.c.id == request_id).with_for_update()).first()
            if req is None:
                raise LedgerError(f"request {request_id}: no such request in {redact(self.url)}")
            if req.status == "done":
                raise LedgerError(f"request {request_id} is already done; `obliviate requests receipt "
                                  f"{request_id}` writes its receipt")
            t = now()
            for old in c.execute(sa.select(runs).where(runs.c.request_id == request_id,
                                                       runs.c.status == "running")).all():
                if process_alive(old.host, old.pid):
                    raise LedgerError(f"request {request_id} is being run (run {old.id}, pid {old.pid} on "
                                      f"{old.host}, since {iso(old.started_at)})")
                c.execute(runs.update().where(runs.c.id == old.id).values(
                    status="failed", finished_at=t,
                    error=f"interrupted: process {old.pid} on {old.host} ended without finishing"))
            res = c.execute(runs.insert().values(
                request_id=request_id, kind=kind, method=method, spec=clean_json(spec), model_before=model_before,
                status="running", host=socket.gethostname(), pid=os.getpid(), started_at=t))
            c.execute(requests.update().where(requests.c.id == request_id).values(status="running", updated_at=t))
            return int(res.inserted_primary_key[0])

    def update_run(self, run_id: int, **fields) -> None:
        """Record fields of a running run (e.g. the before hash) without changing its status."""
        with self.engine.begin() as c:
            c.execute(runs.update().where(runs.c.id == run_id).values(**clean_json(fields)))

    def finish(self, run_id: int, *, model_after: str, model_after_sha256: str, metrics: dict | None = None,
               audit: dict | None = None, cost: dict | None = None, report: str | None = None,
               model_before_sha256: str | None = None) -> None:
        """The run and its request become done in one transaction, with the "after" hash."""
        t = now()
        with self.engine.begin() as c:
            run = c.execute(sa.select(runs).where(runs.c.id == run_id).with_for_update()).first()
            if run is None or run.status != "running":
                raise LedgerError(f"run {run_id}: not running (status {run.status if run else 'missing'})")
            values = {"status": "done", "finished_at": t, "model_after": model_after,
                      "model_after_sha256": model_after_sha256, "metrics": clean_json(metrics),
                      "audit": clean_json(audit), "cost": clean_json(cost), "report": report}
            if model_before_sha256:
                values["model_before_sha256"] = model_before_sha256
            c.execute(runs.update().where(runs.c.id == run_id).values(**values))
            c.execute(requests.update().where(requests.c.id == run.request_id).values(status="done", updated_at=t))

    def fail(self, run_id: int, error: str) -> None:
        t = now()
        with self.engine.begin() as c:
            run = c.execute(sa.select(runs).where(runs.c.id == run_id).with_for_update()).first()
            if run is None or run.status != "running":
                return
            c.execute(runs.update().where(runs.c.id == run_id).values(status="failed", finished_at=t,
                                                                      error=error[:4000]))
            c.execute(requests.update().where(requests.c.id == run.request_id).values(status="failed",
                                                                                      updated_at=t))

    def last_done_run(self, request_id: int) -> dict[str, Any]:
        req = self.request(request_id)
        row = self._read(sa.select(runs).where(runs.c.request_id == request_id, runs.c.status == "done")
                         .order_by(runs.c.id.desc()).limit(1)).first()
        if row is None:
            raise LedgerError(f"request {request_id} has no finished run (status {req['status']}): "
                              f"`obliviate requests run {request_id}` first")
        return _row(row)

    # -------------------------------------------------------------- receipts

    def receipt_for(self, run_id: int) -> dict[str, Any] | None:
        row = self._read(sa.select(receipts).where(receipts.c.run_id == run_id)).first()
        return None if row is None else _row(row)

    def add_receipt(self, request_id: int, run_id: int, payload: str, signature: str, public_key: str,
                    key_id: str) -> dict[str, Any]:
        """Store a run's receipt; if one exists already (a concurrent call won), return that one instead."""
        try:
            with self.engine.begin() as c:
                c.execute(receipts.insert().values(request_id=request_id, run_id=run_id, payload=payload,
                                                   signature=signature, public_key=public_key, key_id=key_id,
                                                   created_at=now()))
        except sa.exc.IntegrityError:
            pass
        return self.receipt_for(run_id)


class _Rows:
    """Rows fetched inside a finished transaction."""

    def __init__(self, rows):
        self.rows = rows

    def first(self):
        return self.rows[0] if self.rows else None

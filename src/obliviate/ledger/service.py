"""The ledger's HTTP API and status page (FastAPI). Run it with `obliviate serve --db URL [--port 8000]`.

    POST /requests                 submit: {"who", "what", "exact": FOLDER, "ids": [..]} or an approximate spec
                                   {"who", "what", "model", "data", "forget", "method", "oracle", "out", ...}
    GET  /requests[?status=done]   the requests, newest first, with their state (JSON)
    GET  /requests/{id}            one request with its runs and receipts (JSON)
    GET  /requests/{id}/receipt    its signed receipt (409 until the request is done)
    GET  /requests/{id}/report     the results.json its last run wrote (404 when none)
    GET  /                         the status page: every request, its state, links to receipts and reports

Requests are run by `obliviate requests run ID` (training does not belong in a web worker). Unknown ids answer
404 and bad input 422, each with a one-line `detail`.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from obliviate.errors import ObliviateError

from .schema import LedgerError
from .store import Ledger


class Submission(BaseModel):
    """One deletion request. Exact: `exact` (an `exact train` folder) and `ids`. Approximate: the other fields."""

    model_config = ConfigDict(extra="forbid")
    who: str = Field(min_length=1, max_length=200)
    what: str = Field(min_length=1)
    exact: str | None = None
    ids: list[int] | None = None
    executor: str = "process"
    model: str | None = None
    data: str | None = None
    forget: str = "forget10"
    retain: str | None = None
    method: str | None = None
    oracle: str | None = None
    oracle_results: str | None = None
    out: str | None = None
    overrides: dict[str, str] | None = None
    lora: str | None = None


def _fail(e: Exception) -> HTTPException:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, LedgerError) and "no such request" in text:
        return HTTPException(404, text)
    if isinstance(e, LedgerError) and "no finished run" in text:
        return HTTPException(409, text)
    return HTTPException(422, text)


def create_app(db: str, key_file: str | None = None) -> FastAPI:
    """The app over the ledger at `db`; receipts are signed with `key_file` (see ledger.receipts)."""
    led = Ledger(db)
    app = FastAPI(title="obliviate deletion ledger", version="1")

    @app.post("/requests", status_code=201)
    def submit(body: Submission) -> dict[str, Any]:
        from .execute import submit_approximate, submit_exact

        try:
            if body.exact:
                if not body.ids:
                    raise ObliviateError("an exact request needs `ids`: the training item indices to delete")
                rid = submit_exact(led, body.who, body.what, body.exact, body.ids, body.executor)
            else:
                keys = ("model", "data", "forget", "retain", "method", "oracle", "oracle_results", "out",
                        "overrides", "lora")
                spec = {k: getattr(body, k) for k in keys if getattr(body, k)}
                rid = submit_approximate(led, body.who, body.what, spec)
            req = led.request(rid)
        except (ObliviateError, OSError) as e:
            raise _fail(e) from None
        return {"id": rid, "status": req["status"], "kind": req["kind"], "n_items": req["n_items"]}

    @app.get("/requests")
    def list_requests(status: str | None = Query(None)) -> list[dict[str, Any]]:
        try:
            return led.list(status)
        except ObliviateError as e:
            raise _fail(e) from None

    @app.get("/requests/{request_id}")
    def show(request_id: int) -> dict[str, Any]:
        try:
            return led.show(request_id)
        except ObliviateError as e:
            raise _fail(e) from None

    @app.get("/requests/{request_id}/receipt")
    def receipt(request_id: int) -> dict[str, Any]:
        from .execute import make_receipt

        try:
            return make_receipt(led, request_id, key_file)
        except ObliviateError as e:
            raise _fail(e) from None

    @app.get("/requests/{request_id}/report")
    def report(request_id: int):
        try:
            run = led.last_done_run(request_id)
        except ObliviateError as e:
            raise _fail(e) from None
        path = Path(run["report"]) if run.get("report") else None
        if path is None or not path.is_file():
            raise HTTPException(404, f"request {request_id}: its run wrote no report")
        return FileResponse(path, media_type="application/json")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return status_page(led.list())

    return app


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#1d2330}
h1{font-size:1.5rem;margin-bottom:.2rem} p.sub{color:#5a6272;margin-top:0}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e6ec;
vertical-align:top} th{background:#f4f6f9;font-weight:600} td.num{text-align:right}
td.what{max-width:24rem;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;font-size:.85em;font-weight:600}
.submitted{background:#e8eefc;color:#1f4fbf} .running{background:#fff4d6;color:#8a5a00}
.done{background:#dcf5e3;color:#17663a} .failed{background:#fde2e1;color:#a3221b}
.counts span{margin-right:1rem} a{color:#1f4fbf} td.nowrap{white-space:nowrap}
"""


def _when(stamp: str | None) -> str:
    """'2026-12-01T06:19:34+00:00' → '2026-12-01 06:19 UTC' (the ledger stores UTC)."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp else ""


def status_page(rows: list[dict[str, Any]]) -> str:
    """The status page: counts by state, then one row per request (escaped: texts come from requesters)."""
    e = html.escape
    counts = {s: sum(r["status"] == s for r in rows) for s in ("submitted", "running", "done", "failed")}
    body = []
    for r in rows:
        run = r.get("run") or {}
        links = [f'<a href="/requests/{r["id"]}">status</a>']
        if r["status"] == "done":
            links.append(f'<a href="/requests/{r["id"]}/receipt">receipt</a>')
            if run.get("report"):
                links.append(f'<a href="/requests/{r["id"]}/report">report</a>')
        state = e(r["status"]) + (" (process gone)" if r.get("stale") else "")
        note = f'<br><small>{e(str(run.get("error") or ""))[:200]}</small>' if r["status"] == "failed" else ""
        body.append(
            f'<tr data-status="{e(r["status"])}"><td class="num">{r["id"]}</td>'
            f'<td><span class="badge {e(r["status"])}">{state}</span>{note}</td>'
            f'<td>{e(r["kind"])}</td><td class="num">{r["n_items"]}</td><td>{e(r["requester"])}</td>'
            f'<td class="what">{e(r["subject"])}</td><td class="nowrap">{e(_when(r["submitted_at"]))}</td>'
            f'<td class="nowrap">{e(run.get("method") or "")}</td><td>{" · ".join(links)}</td></tr>')
    empty = '<tr><td colspan="9">No requests yet.</td></tr>'
    count_html = "".join(f'<span><span class="badge {s}">{s}</span> {n}</span>' for s, n in counts.items())
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width,initial-scale=1'><title>obliviate deletion ledger</title>"
            f"<style>{STYLE}</style></head><body><h1>Deletion requests</h1>"
            f"<p class=sub>Every request and what was done about it; receipts are signed (ed25519).</p>"
            f"<p class=counts id=counts>{count_html}</p>"
            f"<table id=requests><thead><tr><th>id</th><th>state</th><th>kind</th><th>items</th><th>who</th>"
            f"<th>what</th><th>submitted</th><th>method</th><th>links</th></tr></thead>"
            f"<tbody>{''.join(body) or empty}</tbody></table></body></html>")

"""The deletion ledger on SQLite and PostgreSQL: request lifecycle, signed receipts and their verification,
concurrent submitters, killed runs, and bad input as one clear line."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obliviate.cli import main
from obliviate.ledger import Ledger, make_receipt, run_request, submit_exact, write_receipt
from obliviate.ledger.hashing import model_sha256, normalise, text_sha256
from obliviate.ledger.receipts import VerificationError, load_or_create_key, public_b64, read_receipt, verify
from obliviate.ledger.schema import LedgerError

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _quiet(_msg):
    pass


def test_normalised_item_hashes():
    assert normalise("  Ada\tVALE\n was  born ") == "ada vale was born"
    assert text_sha256("Ada Vale") == text_sha256(" ada   vale\n") != text_sha256("Ada Vales")


def test_exact_request_lifecycle_receipt_and_verify(db_url, ensemble, tmp_path):
    led = Ledger(db_url)
    before = model_sha256(ensemble)
    rid = submit_exact(led, "dpo@example.org", "erase items 5 and 9", ensemble, [9, 5], executor="serial")
    req = led.request(rid)
    assert req["status"] == "submitted" and req["n_items"] == 2 and len(req["items_sha256"][0]) == 64
    assert req["spec"]["ids"] == [5, 9]
    with pytest.raises(LedgerError, match="no finished run"):
        make_receipt(led, rid, tmp_path / "key.pem")

    res = run_request(led, rid, say=_quiet)
    shown = led.show(rid)
    assert shown["status"] == "done" and [r["status"] for r in shown["runs"]] == ["done"]
    run = shown["runs"][0]
    assert run["model_before_sha256"] == before != run["model_after_sha256"] == model_sha256(ensemble)
    assert run["metrics"]["deleted"] == 2 and run["cost"]["steps_retrained"] >= 1
    assert res["model_after_sha256"] == run["model_after_sha256"]
    with pytest.raises(LedgerError, match="already done"):
        run_request(led, rid, say=_quiet)

    key = tmp_path / "keys" / "receipt.pem"
    receipt = write_receipt(led, rid, tmp_path / "receipt.json", key)
    assert oct(key.stat().st_mode & 0o777) == "0o600" and (tmp_path / "keys" / "receipt.pem.pub").exists()
    on_disk = read_receipt(tmp_path / "receipt.json")
    assert on_disk == receipt and receipt["payload"]["request"]["items_sha256"] == req["items_sha256"]
    assert make_receipt(led, rid, key) == receipt  # signed once, then served as stored
    trusted = public_b64(load_or_create_key(key))
    payload = verify(on_disk, ensemble, trusted)
    assert payload["run"]["model_after_sha256"] == model_sha256(ensemble)
    assert [r["run_id"] for r in led.show(rid)["receipts"]] == [run["id"]]


def test_tampering_fails_verification_with_the_reason(db_url, ensemble, tmp_path):
    led = Ledger(db_url)
    rid = submit_exact(led, "a", "b", ensemble, [3], executor="serial")
    run_request(led, rid, say=_quiet)
    key = tmp_path / "k.pem"
    receipt = make_receipt(led, rid, key)
    trusted = public_b64(load_or_create_key(key))

    altered = json.loads(json.dumps(receipt))
    altered["payload"]["request"]["items_sha256"] = []
    with pytest.raises(VerificationError, match="altered after signing"):
        verify(altered, None, trusted)
    altered = json.loads(json.dumps(receipt))
    altered["signature"] = altered["signature"][:-4] + ("AAA=" if not altered["signature"].endswith("AAA=") else "BBB=")
    with pytest.raises(VerificationError, match="altered after signing"):
        verify(altered, None, trusted)
    other = load_or_create_key(tmp_path / "other.pem")  # a forger re-signs with their own key
    from obliviate.ledger.receipts import sign

    forged = sign(receipt["payload"] | {"run": receipt["payload"]["run"] | {"model_after_sha256": "0" * 64}}, other)
    with pytest.raises(VerificationError, match="untrusted key"):
        verify(forged, None, trusted)

    victim = sorted(ensemble.rglob("*.safetensors"))[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1  # one flipped bit in one weight file
    victim.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="does not match the receipt's after hash"):
        verify(receipt, ensemble, trusted)


def _submit_many(args):
    url, worker, n = args
    led = Ledger(url)
    ids = []
    for i in range(n):
        ids.append(led.submit(f"worker-{worker}", f"request {i}", "exact", [text_sha256(f"{worker}:{i}")],
                              {"ensemble": "/nowhere", "ids": [i]}))
    led.close()
    return ids


def test_concurrent_submitters_lose_nothing(db_url):
    Ledger(db_url).close()  # the schema exists before the writers start
    workers, per = 4, 15
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        got = pool.map(_submit_many, [(db_url, w, per) for w in range(workers)])
    ids = [i for chunk in got for i in chunk]
    assert len(ids) == len(set(ids)) == workers * per
    rows = Ledger(db_url).list()
    assert len(rows) == workers * per
    assert {(r["requester"], r["subject"]) for r in rows} == {(f"worker-{w}", f"request {i}") for w in range(workers)
                                                              for i in range(per)}


KILLED_RUN = """
import sys, time
from obliviate.ledger import execute
from obliviate.ledger.store import Ledger
def slow(spec):
    print("started", flush=True)
    time.sleep(600)
execute.exact_delete = slow
execute.run_request(Ledger(sys.argv[1]), int(sys.argv[2]))
"""


def test_a_killed_run_is_never_done_and_can_be_run_again(db_url, ensemble, tmp_path):
    led = Ledger(db_url)
    rid = submit_exact(led, "a", "b", ensemble, [1, 2], executor="serial")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, db_url, str(rid)], stdout=subprocess.PIPE, env=env,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        shown = led.show(rid)
        assert shown["status"] == "running" and not shown["runs"][0]["stale"]
        with pytest.raises(LedgerError, match="is being run"):
            run_request(led, rid, say=_quiet)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    shown = led.show(rid)
    assert shown["status"] == "running" and shown["runs"][0]["stale"]  # never done; the list flags it
    assert [r["stale"] for r in led.list()] == [True]
    run_request(led, rid, say=_quiet)  # resumable: the dead run is closed as interrupted, a new one runs
    runs = led.show(rid)["runs"]
    assert [r["status"] for r in runs] == ["failed", "done"] and "interrupted" in runs[0]["error"]
    assert led.request(rid)["status"] == "done"


def test_a_failing_run_marks_the_request_failed(db_url, ensemble, monkeypatch):
    from obliviate.ledger import execute

    led = Ledger(db_url)
    rid = submit_exact(led, "a", "b", ensemble, [1], executor="serial")

    def broken(spec):
        raise RuntimeError("disk full")

    monkeypatch.setattr(execute, "exact_delete", broken)
    with pytest.raises(RuntimeError):
        run_request(led, rid, say=_quiet)
    shown = led.show(rid)
    assert shown["status"] == "failed" and shown["runs"][0]["error"] == "RuntimeError: disk full"
    assert shown["runs"][0]["model_after_sha256"] is None


def test_cli_round_trip_and_bad_input(db_url, ensemble, tmp_path, capsys):
    key = str(tmp_path / "key.pem")
    items = tmp_path / "items.txt"
    items.write_text("4\n7\n")
    assert main(["requests", "submit", "--db", db_url, "--who", "w", "--what", "t", "--exact", str(ensemble),
                 "--items", str(items), "--executor", "serial"]) == 0
    assert main(["requests", "run", "1", "--db", db_url]) == 0
    assert main(["requests", "list", "--db", db_url, "--json"]) == 0
    capsys.readouterr()
    assert main(["requests", "show", "1", "--db", db_url]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "done"
    out = tmp_path / "r.json"
    assert main(["requests", "receipt", "1", "--db", db_url, "--out", str(out), "--key", key]) == 0
    assert main(["requests", "verify", str(out), "--model", str(ensemble), "--key", key]) == 0
    assert "OK: receipt for request 1" in capsys.readouterr().out

    items.write_text("4\nfour\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = [
        (["requests", "show", "99", "--db", db_url], "request 99: no such request"),
        (["requests", "run", "42", "--db", db_url], "request 42: no such request"),
        (["requests", "submit", "--db", db_url, "--who", "w", "--what", "t", "--exact", str(ensemble), "--items",
          str(items)], "items.txt:2: training item ids are non-negative integers (got 'four')"),
        (["requests", "submit", "--db", db_url, "--who", "w", "--what", "t", "--exact", str(ensemble), "--ids",
          "99999"], "unknown training item id"),
        (["requests", "list", "--db", "postgresql://nobody:secret@127.0.0.1:1/none"], "cannot connect"),
        (["requests", "list", "--db", "mysqlx://h/db"], "not a usable database URL"),
        (["requests", "verify", str(out), "--model", str(empty), "--key", key], "no *.safetensors file"),
        (["requests", "submit", "--db", db_url, "--who", "w", "--what", "t", "--model", "m", "--data", "d",
          "--method", "npo", "--out", "o"], "--oracle MODEL_DIR or --oracle-results"),
    ]
    for argv, message in bad:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, (argv, err)
        assert "secret" not in err


def test_signing_key_is_private_and_a_readable_one_is_refused(tmp_path):
    key = tmp_path / "k.pem"
    load_or_create_key(key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    first = public_b64(load_or_create_key(key))  # reused, not replaced
    assert first == (tmp_path / "k.pem.pub").read_text().strip()
    os.chmod(key, 0o644)
    with pytest.raises(Exception, match="readable by others"):
        load_or_create_key(key)


def test_list_reports_time_ordering(db_url):
    led = Ledger(db_url)
    a = led.submit("x", "first", "exact", ["0" * 64], {})
    time.sleep(0.01)
    b = led.submit("y", "second", "exact", ["1" * 64], {})
    assert [r["id"] for r in led.list()] == [b, a]
    assert [r["id"] for r in led.list("submitted", limit=1)] == [b]
    with pytest.raises(LedgerError, match="--status"):
        led.list("finished")

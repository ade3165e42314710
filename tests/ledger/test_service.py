"""`obliviate serve`: the HTTP API through FastAPI's TestClient (SQLite and PostgreSQL), and the status page as
headless Chromium draws it from a live server on 127.0.0.1 (DOM and a laptop-sized screenshot)."""
from __future__ import annotations

import html
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from obliviate.ledger import Ledger, run_request, submit_exact
from obliviate.ledger.receipts import load_or_create_key, public_b64, verify
from obliviate.ledger.service import create_app

XSS = "<script>alert('x')</script> erase me"


@pytest.fixture
def served(db_url, ensemble, tmp_path):
    """An app over a ledger holding one done, one failed and one submitted request (+ its key file)."""
    key = tmp_path / "k.pem"
    led = Ledger(db_url)
    done = submit_exact(led, "dpo@example.org", "erase items 5 and 9", ensemble, [5, 9], executor="serial")
    run_request(led, done, say=lambda _: None)
    failed = submit_exact(led, "ops", "erase 11", ensemble, [11], executor="serial")
    run_id = led.claim(failed, "exact", "sisa-delete", {})
    led.fail(run_id, "RuntimeError: disk full")
    waiting = submit_exact(led, "Ünïcode <b>person</b>", XSS, ensemble, [12], executor="serial")
    client = TestClient(create_app(db_url, key_file=str(key)))
    return client, {"done": done, "failed": failed, "waiting": waiting}, ensemble, key


def test_submit_status_receipt(served, tmp_path):
    client, ids, ensemble, key = served
    r = client.post("/requests", json={"who": "api", "what": "erase 20", "exact": str(ensemble), "ids": [20, 21]})
    assert r.status_code == 201 and r.json()["status"] == "submitted" and r.json()["n_items"] == 2
    new = r.json()["id"]
    assert client.get(f"/requests/{new}").json()["spec"]["ids"] == [20, 21]
    listed = client.get("/requests").json()
    assert [x["id"] for x in listed][:1] == [new] and len(listed) == 4
    assert [x["id"] for x in client.get("/requests", params={"status": "done"}).json()] == [ids["done"]]

    receipt = client.get(f"/requests/{ids['done']}/receipt")
    assert receipt.status_code == 200
    verify(receipt.json(), ensemble, public_b64(load_or_create_key(key)))
    assert client.get(f"/requests/{ids['done']}/receipt").json() == receipt.json()  # stored, not re-signed
    assert client.get(f"/requests/{ids['waiting']}/receipt").status_code == 409
    assert client.get(f"/requests/{ids['done']}/report").status_code == 404  # exact runs write no report


BAD = [
    ("get", "/requests/999", None, 404, "request 999: no such request"),
    ("get", "/requests/999/receipt", None, 404, "no such request"),
    ("get", "/requests?status=finished", None, 422, "--status: must be one of"),
    ("post", "/requests", {"who": "a", "what": "b", "exact": "/nowhere", "ids": [1]}, 422,
     "not an exact-unlearning folder"),
    ("post", "/requests", {"who": "a", "what": "b", "exact": "{ens}", "ids": [10 ** 6]}, 422, "unknown training"),
    ("post", "/requests", {"who": "a", "what": "b", "exact": "{ens}"}, 422, "needs `ids`"),
    ("post", "/requests", {"who": "a", "what": "b", "model": "m"}, 422, "--data is required"),
]


def test_bad_requests_answer_one_line(served):
    client, _, ensemble, _ = served
    for method, path, body, code, message in BAD:
        if body and body.get("exact") == "{ens}":
            body = {**body, "exact": str(ensemble)}
        r = getattr(client, method)(path, **({"json": body} if body else {}))
        assert r.status_code == code, (path, body, r.text)
        assert message in r.json()["detail"] and "\n" not in r.json()["detail"], (path, body, r.text)


def test_unknown_fields_are_refused(served):
    client, *_ = served
    r = client.post("/requests", json={"who": "a", "what": "b", "exact": "x", "ids": [1], "colour": "red"})
    assert r.status_code == 422 and "colour" in r.text


def test_status_page_lists_states_and_escapes_text(served):
    client, ids, *_ = served
    page = client.get("/").text
    rows = re.findall(r'<tr data-status="(\w+)">', page)
    assert rows == ["submitted", "failed", "done"]
    assert "<script>alert" not in page and html.escape(XSS) in page
    assert f'href="/requests/{ids["done"]}/receipt"' in page
    assert f'href="/requests/{ids["waiting"]}/receipt"' not in page
    assert "disk full" in page


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.fail("headless Chromium not found: `apt-get install -y chromium chromium-driver` (.ci/run does this)")


LAPTOP = (1366, 900)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         f"--window-size={LAPTOP[0]},{LAPTOP[1]}"]


def _browse(url: str, tmp: Path, *args: str) -> str:
    profile = tmp / f"profile-{args[0].strip('-').split('=')[0]}"
    done = subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", *args, url], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture
def live(served):
    """The app on a free 127.0.0.1 port, in a thread, for the browser."""
    import uvicorn

    client, ids, *_ = served
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", ids
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_status_page_in_headless_chromium(live, tmp_path):
    import matplotlib.image
    import numpy as np

    url, ids = live
    dom = _browse(url, tmp_path, "--dump-dom", "--virtual-time-budget=5000")
    assert re.findall(r'<tr data-status="(\w+)">', dom) == ["submitted", "failed", "done"]
    assert "Deletion requests" in dom and "&lt;script&gt;" in dom
    shot = tmp_path / "status.png"
    _browse(url, tmp_path, f"--screenshot={shot}")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (LAPTOP[1], LAPTOP[0])
    assert float(np.std(pixels[..., :3])) > 0.02, "the screenshot is blank"
    # the three state badges are drawn in their colours (done green, failed red, submitted blue)
    rgb = (pixels[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for colour in ((0xDC, 0xF5, 0xE3), (0xFD, 0xE2, 0xE1), (0xE8, 0xEE, 0xFC)):
        assert (np.abs(rgb - colour).sum(1) <= 6).sum() > 50, f"no badge of colour {colour} on the page"

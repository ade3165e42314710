"""Ledger fixtures: every `db_url` test runs twice, on SQLite and on a real PostgreSQL server.

PostgreSQL is a throwaway cluster this session starts (initdb + pg_ctl from Debian's `postgresql` package in a
temporary folder, as the `postgres` user when we are root: initdb refuses root) and removes at the end; each test
gets a fresh database in it. OBLIVIATE_TEST_POSTGRES_URL (a server you run, superuser) replaces the cluster.
`make test` installs the package when it is missing.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from obliviate.exact import sisa


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """postgresql://postgres@127.0.0.1:PORT (a superuser URL without a database)."""
    if os.environ.get("OBLIVIATE_TEST_POSTGRES_URL"):
        yield os.environ["OBLIVIATE_TEST_POSTGRES_URL"].rstrip("/")
        return
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found: `apt-get install -y postgresql` (`make test` does it)")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="obliviate-pg-"))
    if owner:
        shutil.chown(root, owner)
    data, port = root / "data", _free_port()
    run = lambda cmd: subprocess.run(_as_owner(cmd, owner), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
             f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    except subprocess.CalledProcessError as e:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a throwaway PostgreSQL: {e.stderr or e.stdout}\n{log[-2000:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    _admin(server, f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def ensemble_template(tmp_path_factory):
    """A tiny SISA ensemble on digits (2 shards x 2 slices, 2 epochs; ~1 s); tests copy it."""
    out = tmp_path_factory.mktemp("ledger-ens") / "ens"
    sisa.train(sisa.DataSpec("digits"), sisa.SisaConfig(shards=2, slices=2, epochs=2), out, executor="serial",
               say=lambda _: None)
    return out


@pytest.fixture
def ensemble(ensemble_template, tmp_path):
    dst = tmp_path / "ens"
    shutil.copytree(ensemble_template, dst)
    return dst

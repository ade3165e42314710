"""The ledger's tables (SQLAlchemy Core, one schema for SQLite and PostgreSQL) and `connect(url)`.

requests  one deletion request: who asked, what for, the kind (approximate | exact), the items as sha256 of their
          normalised text (never the text itself), the spec to run it, its status and timestamps.
runs      one attempt at a request: method or exact deletion, spec, model sha256 before and after (over the
          safetensors files), metrics summary, audit verdicts (when an audit ran), cost, status, error, pid/host.
receipts  the signed JSON receipt of a finished run: payload, ed25519 signature, public key, key id.

Status: requests go submitted → running → done | failed (failed and interrupted requests can be run again);
a request is `done` only in the transaction that records its run's "after" hash.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from obliviate.errors import ObliviateError

SCHEMA_VERSION = 1
REQUEST_STATUSES = ("submitted", "running", "done", "failed")
RUN_STATUSES = ("running", "done", "failed")
KINDS = ("approximate", "exact")

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
metadata = sa.MetaData()


def _now():
    return sa.func.now()


requests = sa.Table(
    "requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),  # what is asked, in the requester's words
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("items_sha256", JSON, nullable=False),  # [hex sha256 of each item's normalised text]
    sa.Column("n_items", sa.Integer, nullable=False),
    sa.Column("spec", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="submitted"),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"kind IN {KINDS}", name="requests_kind"),
    sa.CheckConstraint(f"status IN {REQUEST_STATUSES}", name="requests_status"),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("requests.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "method" | "exact"
    sa.Column("method", sa.String(64), nullable=False),  # e.g. npo, sisa-delete, s3t-delete
    sa.Column("spec", JSON, nullable=False),
    sa.Column("model_before", sa.Text),
    sa.Column("model_before_sha256", sa.String(64)),
    sa.Column("model_after", sa.Text),
    sa.Column("model_after_sha256", sa.String(64)),
    sa.Column("metrics", JSON),
    sa.Column("audit", JSON),
    sa.Column("cost", JSON),
    sa.Column("report", sa.Text),  # a results.json or report path, when the run wrote one
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"status IN {RUN_STATUSES}", name="runs_status"),
)

receipts = sa.Table(
    "receipts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("requests.id"), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, unique=True),
    sa.Column("payload", sa.Text, nullable=False),  # the canonical JSON that was signed
    sa.Column("signature", sa.String(128), nullable=False),  # base64 ed25519 signature
    sa.Column("public_key", sa.String(64), nullable=False),  # base64 raw 32-byte key
    sa.Column("key_id", sa.String(64), nullable=False),  # sha256 of the raw public key
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class LedgerError(ObliviateError):
    """A ledger operation refused: unknown id, a request in the wrong state, a database that cannot be reached."""


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _sqlite_setup(engine: sa.Engine) -> None:
    """SQLite: WAL (readers don't block the writer), a 30 s busy wait, and BEGIN IMMEDIATE so that a transaction
    that reads then writes holds the write lock from its start (no lost update between two runners)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # pysqlite must not issue its own BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def connect(url: str) -> sa.Engine:
    """An engine for `url` (sqlite:///PATH or postgresql://...; a plain path means SQLite), with the tables created.
    A URL that cannot be parsed or reached is a LedgerError of one line."""
    given = url
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not the psycopg2 default
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise LedgerError(f"--db {redact(given)}: not a usable database URL ({_first_line(e)}); "
                          "expected sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine)
    for attempt in range(2):
        try:
            metadata.create_all(engine)
            break
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt:  # two processes created the tables at once on an empty database: the second retries
                raise
        except sa.exc.SQLAlchemyError as e:
            raise LedgerError(f"--db {redact(given)}: cannot connect: {_first_line(e)}") from None
    return engine


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__

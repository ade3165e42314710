"""The deletion ledger: every request, what was done about it, and signed receipts; SQLite or PostgreSQL.

    from obliviate.ledger import Ledger, run_request, write_receipt
    led = Ledger("sqlite:///ledger.db")

CLI: `obliviate requests submit|run|list|show|receipt|verify` and `obliviate serve` (ledger/cli.py). Names load
lazily: importing this package imports neither SQLAlchemy nor torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"Ledger": "obliviate.ledger.store", "LedgerError": "obliviate.ledger.schema",
            "submit_exact": "obliviate.ledger.execute", "submit_approximate": "obliviate.ledger.execute",
            "run_request": "obliviate.ledger.execute", "write_receipt": "obliviate.ledger.execute",
            "make_receipt": "obliviate.ledger.execute", "verify": "obliviate.ledger.receipts",
            "model_sha256": "obliviate.ledger.hashing", "create_app": "obliviate.ledger.service"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'obliviate.ledger' has no attribute {name!r}")

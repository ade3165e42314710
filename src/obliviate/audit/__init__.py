"""Audits: is the forgetting real? Every attack runs on the unlearned model and on the oracle alike.

    from obliviate.audit import audit, merge_audit
    report = audit(model, tok, splits, oracle="models/oracle")          # audit.json content
    results = merge_audit(results, report)                              # results.json gains `audits`

CLI: `obliviate audit --model M --oracle O --data D --forget forget10 --out DIR` and `obliviate data leaks D`.
One module per attack (relearn, quantize, incontext, probes, parametric, utf, blind_mia, leaks), each with its
protocol and paper in its docstring; the verdict rule lives in `verdict.py`. Names load lazily, so the CLI's
`register` imports nothing heavy.
"""
from __future__ import annotations

import importlib
import sys
import types

_EXPORTS = {"audit": "runner", "ATTACKS": "runner", "AuditConfig": "base", "merge_audit": "merge"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"obliviate.audit.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'obliviate.audit' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """`obliviate.audit(...)` is the public API, but importing this package binds the name `obliviate.audit` to
    the package itself; calling the package therefore runs `audit(...)`."""

    def __call__(self, *args, **kwargs):
        return self.audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

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

from obliviate._lazy import callable_module, lazy_exports

_EXPORTS = {"audit": ".runner", "ATTACKS": ".runner", "AuditConfig": ".base", "merge_audit": ".merge"}
__all__ = list(_EXPORTS)

lazy_exports(__name__, _EXPORTS)
callable_module(__name__)  # `obliviate.audit(...)` runs audit(); `import obliviate.audit.runner` still works

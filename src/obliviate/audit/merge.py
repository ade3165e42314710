"""`merge_audit(results, audit)`: a results.json dict with the audit under `audits`, and the blind-MIA baseline
beside its membership-inference numbers.

    results = merge_audit(json.load(open("runs/npo/results.json")), json.load(open("runs/npo/audit/audit.json")))

`audits` holds the audit.json content unchanged. When the audit ran `blind_mia`, `metrics["mia/blind"]` gets the
blind AUC (value, CI, n, per-item out-of-fold scores), and when its CI lies above 0.5 every `mia/*` metric and
`privleak` gain `"unreliable": reason`: members and non-members differ in distribution, so those AUCs measure the
shift (Das et al. 2024). The report reads only results.json; this is how the audit reaches it.
"""
from __future__ import annotations

import copy


def merge_audit(results: dict, audit: dict) -> dict:
    """A copy of `results` with `audits` = `audit`, plus `mia/blind` and the unreliable flags (see the module)."""
    if not isinstance(audit, dict) or audit.get("kind") != "audit":
        raise ValueError("merge_audit: the second argument must be an audit (audit.json content, kind 'audit')")
    out = copy.deepcopy(results)
    out["audits"] = copy.deepcopy(audit)
    blind = ((audit.get("attacks") or {}).get("blind_mia") or {}).get("details", {}).get("blind")
    metrics = out.setdefault("metrics", {})
    if blind:
        metrics["mia/blind"] = {k: blind.get(k) for k in ("value", "ci_low", "ci_high", "n", "per_item",
                                                           "holdout_scores", "mia_unreliable")}
        if blind.get("mia_unreliable"):
            why = (f"a model-free classifier tells forget from holdout texts apart (blind AUC {blind['value']:.2f}, "
                   f"CI [{blind['ci_low']:.2f}, {blind['ci_high']:.2f}] above 0.5): this AUC measures that "
                   "difference of distribution, not membership")
            for name, entry in metrics.items():
                if (name.startswith("mia/") and name != "mia/blind") or name == "privleak":
                    entry["unreliable"] = why
    return out

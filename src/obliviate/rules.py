"""The thresholds results are judged by, one name per meaning, and the oracle-band test.

Imports nothing: the report, the demo's summary, the MUSE table and the sweeps all read their rules from here, so a
threshold cannot mean one thing in the table and another in the plot.
"""
from __future__ import annotations

# The oracle's band (TOFU-style): forgetting indistinguishable from the oracle's, with most of the target's utility.
BAND_FORGET_QUALITY = 0.05  # forget_quality (KS p-value vs the oracle) at or above: not told apart at the 5% level
BAND_UTILITY_KEEP = 0.9  # model_utility at or above this fraction of the target's counts as preserved

# MUSE's C4 (utility preservation): knowmem_r and model_utility each keep this fraction of the target's value.
MUSE_UTILITY_KEEP = 0.95


def in_band(forget_quality: float | None, utility: float | None, target_utility: float | None) -> bool | None:
    """forget_quality >= BAND_FORGET_QUALITY and utility >= BAND_UTILITY_KEEP × the target's; None when a number is
    missing (no verdict rather than a made-up one)."""
    if forget_quality is None or utility is None or target_utility is None:
        return None
    return forget_quality >= BAND_FORGET_QUALITY and utility >= BAND_UTILITY_KEEP * target_utility

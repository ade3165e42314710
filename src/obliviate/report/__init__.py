"""The HTML report: reads `results.json` files only, writes one self-contained page with tables and plots.

Python: `write_report(["runs/demo/npo/results.json", ...], "report.html")`.
CLI: `obliviate report runs/demo/*/results.json --out report.html [--title T]`.
Nothing here imports training or evaluation code (see DESIGN.md, "report"); numpy and matplotlib load when a page is
built, not for `obliviate report --help`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from obliviate._atomic import atomic_write_text
from obliviate._lazy import lazy_exports

__all__ = ["Run", "build_html", "load_results", "write_report"]
lazy_exports(__name__, {"Run": ".load", "load_results": ".load"})


def build_html(results: Sequence[Mapping[str, Any] | str | os.PathLike], title: str = "obliviate report") -> str:
    """The report page as a string; raises `DataError` (naming the file) on a file that is not results."""
    from .html import page
    from .load import arrange, load_results

    runs = load_results(results)
    return page(title, arrange(runs, "llm"), arrange(runs, "vision"), [r.source for r in runs],
                diffusion=arrange(runs, "diffusion"))


def write_report(results: Sequence[Mapping[str, Any] | str | os.PathLike], out: str | os.PathLike,
                 title: str = "obliviate report") -> Path:
    """Build the page and write it atomically to `out` (nothing is written when any input is invalid)."""
    text = build_html(results, title)
    out = Path(out)
    atomic_write_text(out, text)
    return out

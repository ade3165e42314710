"""The test tree itself: pytest imports test modules by their base name (no __init__.py files), so two test
files with the same name in different folders break collection of the whole suite."""
from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_module_names_are_unique():
    names = Counter(p.name for p in Path(__file__).resolve().parent.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []

"""One entry point over both exact-unlearning kinds: a folder is SISA (sisa.json) or S3T (s3t.json).

    kind(folder) -> "sisa" | "s3t";  manifest(folder);  delete(folder, ids, executor=...)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from obliviate.errors import DataError


def kind(folder: str | os.PathLike) -> str:
    folder = Path(folder)
    if (folder / "sisa.json").exists():
        return "sisa"
    if (folder / "s3t.json").exists():
        return "s3t"
    raise DataError("not an exact-unlearning folder (neither sisa.json nor s3t.json; create one with "
                    "`obliviate exact train`)", file=folder)


def manifest(folder: str | os.PathLike) -> dict[str, Any]:
    if kind(folder) == "sisa":
        from .sisa import read_manifest
    else:
        from .s3t import read_manifest
    return read_manifest(folder)


def delete(folder: str | os.PathLike, ids, **kw) -> dict[str, Any]:
    if kind(folder) == "sisa":
        from .sisa import delete as _delete
    else:
        from .s3t import delete as _delete
    return _delete(folder, ids, **kw)

"""Which training items a deletion names: `--ids 3,17,42` or `--items FILE` (one id per line; `#` starts a
comment; blank lines are skipped). Any other token is a DataError naming the file, the line and the token."""
from __future__ import annotations

from pathlib import Path

from obliviate.errors import DataError


def _as_id(token: str, where: dict) -> int:
    token = token.strip()
    if not token.isdigit():  # non-negative decimal integers only
        raise DataError("training item ids are non-negative integers", rule="0, 1, 2, ...", value=token, **where)
    return int(token)


def parse_ids(text: str) -> list[int]:
    """'3,17,42' → [3, 17, 42]; empty entries are errors."""
    ids = [_as_id(tok, {"field": "--ids"}) for tok in text.split(",")]
    if not ids:
        raise DataError("no ids given", field="--ids")
    return ids


def read_items_file(path: str | Path) -> list[int]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: items file not found")
    ids = []
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if text:
            ids.append(_as_id(text, {"file": path, "line": line}))
    if not ids:
        raise DataError("the items file names no item", file=path, rule="at least one id, one per line")
    return ids

"""Read and write record files: JSON Lines, JSON arrays, CSV and Parquet, with column mapping and clear errors.

`read_records("forget.csv", kind="auto", columns={"question": "prompt"})` returns a list of validated dicts (QA or
text records, see `obliviate.data.validate`); any broken line raises `DataError` naming the file, the line (JSON
Lines, `path:3`) or row (`path:row 3`, CSV and Parquet; `path:item 3`, JSON arrays), the field and the rule.
`write_records` / `write_jsonl` write through a temporary file and an atomic rename, so a failing writer (or a
failing record generator) leaves no file behind.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

from obliviate._atomic import atomic_write
from obliviate.data.validate import ALL_FIELDS, clean_records, resolve_kind
from obliviate.errors import DataError

# Suffix -> reader name. `.json` may be JSON Lines (TOFU's files are) or one JSON array of objects.
FORMATS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_BOM = b"\xef\xbb\xbf"

Located = list[tuple[object, dict]]  # (line number or "row N" / "item N", raw record)


def read_records(path: str | os.PathLike, kind: str = "auto", columns: dict[str, str] | None = None) -> list[dict]:
    """Read, map and validate every record of `path`.

    kind: "qa" (question/answer), "text" (text) or "auto" (whichever the first record has).
    columns: {our field: your column}, e.g. {"question": "prompt", "answer": "response"}.
    """
    return [rec for _, rec in read_located(path, kind, columns)]


def read_located(path: str | os.PathLike, kind: str = "auto", columns: dict[str, str] | None = None) -> Located:
    """As `read_records`, each record with where it is: its line (JSON Lines) or "row N" / "item N"."""
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise DataError("file not found (rule: exists)", file=path, rule="exists")
    located = _READERS[fmt](path)
    if not located:
        raise DataError("holds no records (rule: non-empty split)", file=path, rule="non-empty split")
    located = _map_columns(located, columns, path)
    kind = resolve_kind(located[0][1], kind, path, located[0][0], columns)
    cleaned = clean_records(located, kind, path, columns)
    return [(where, rec) for (where, _), rec in zip(located, cleaned, strict=True)]


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(f"unknown file extension; expected one of {known} (rule: known format)",
                        file=path, rule="known format", value=path.suffix)
    return fmt


def _decode(path: Path) -> str:
    """UTF-8 text of `path` (a leading BOM dropped); a bad byte is reported with its line and byte offset."""
    data = path.read_bytes()
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = skip + e.start  # byte offset in the file, 0-based
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1)  # byte offset within that line
        raise DataError(f"non-UTF-8 byte {data[offset:offset + 1].hex()!r} at byte offset {offset} "
                        f"(byte {column} of the line) (rule: utf-8)", file=path, line=line,
                        rule="utf-8", value=data[max(0, offset - 10):offset + 10]) from None


def _read_json(path: Path) -> Located:
    text = _decode(path)
    if text.lstrip().startswith("["):
        return _read_json_array(path, text)
    return _read_jsonl_text(path, text)


def _read_jsonl(path: Path) -> Located:
    return _read_jsonl_text(path, _decode(path))


def _read_jsonl_text(path: Path, text: str) -> Located:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines (e.g. a trailing newline) carry no record
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"malformed JSON at column {e.colno}: {e.msg} (rule: one JSON object per line)",
                            file=path, line=n, rule="json", value=line) from None
        if not isinstance(rec, dict):
            raise DataError(f"a JSON {type(rec).__name__}, not an object (rule: one JSON object per line)",
                            file=path, line=n, rule="json object", value=rec)
        out.append((n, rec))
    return out


def _read_json_array(path: Path, text: str) -> Located:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON at column {e.colno}: {e.msg} (rule: a JSON array of objects)",
                        file=path, line=e.lineno, rule="json") from None
    out = []
    for n, rec in enumerate(items, start=1):
        if not isinstance(rec, dict):
            raise DataError(f"a JSON {type(rec).__name__}, not an object (rule: a JSON array of objects)",
                            file=path, line=f"item {n}", rule="json object", value=rec)
        out.append((f"item {n}", rec))
    return out


def _read_csv(path: Path) -> Located:
    """Rows as dicts of strings; empty cells are dropped so that optional fields read as absent."""
    reader = csv.DictReader(io.StringIO(_decode(path), newline=""))
    out = []
    try:
        for n, row in enumerate(reader, start=1):
            if None in row:
                raise DataError(f"{len(row[None])} more cell(s) than the header's {len(reader.fieldnames)} "
                                "(rule: as many cells as header columns)", file=path, line=f"row {n}",
                                rule="csv shape", value=row[None])
            out.append((f"row {n}", {k: v for k, v in row.items() if v not in (None, "")}))
    except csv.Error as e:
        raise DataError(f"malformed CSV: {e} (rule: csv)", file=path, line=reader.line_num,
                        rule="csv") from None
    return out


def _read_parquet(path: Path) -> Located:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several unrelated types for a corrupt file
        raise DataError(f"not a readable Parquet file: {e} (rule: parquet)", file=path, rule="parquet") from None
    return [(f"row {n}", {k: v for k, v in r.items() if v is not None}) for n, r in enumerate(rows, start=1)]


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}


def _map_columns(located: Located, columns: dict[str, str] | None, path: Path) -> Located:
    """Rename your columns to ours: columns = {our field: your column}."""
    if not columns:
        return located
    for ours in columns:
        if ours not in ALL_FIELDS:
            raise DataError(f"column mapping names {ours!r}, not one of our fields {sorted(ALL_FIELDS)}; "
                            "map as {our field: your column}, e.g. {'question': 'prompt'} (rule: known field)",
                            file=path, field=ours, rule="known field", value=columns)
    mapped = []
    for where, rec in located:
        new = {k: v for k, v in rec.items() if k not in columns.values()}
        new.update({ours: rec[theirs] for ours, theirs in columns.items() if theirs in rec})
        mapped.append((where, new))
    return mapped


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write one JSON object per line, atomically: a failing `records` iterator leaves no file."""
    return atomic_write(path, lambda f: f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def write_records(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write records in the format named by the suffix (`.json` is written as JSON Lines, as TOFU's files are).

    CSV cells holding lists (perturbed_answer) are JSON-encoded; `read_records` decodes them back.
    """
    path = Path(path)
    fmt = _format(path)
    if fmt in ("jsonl", "json"):
        return write_jsonl(path, records)
    records = list(records)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(records)
        return atomic_write(path, lambda f: pq.write_table(table, f), binary=True)
    fields = list(dict.fromkeys(k for r in records for k in r))

    def write_csv(f):
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in records:
            w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for k, v in r.items()})

    return atomic_write(path, write_csv, newline="")

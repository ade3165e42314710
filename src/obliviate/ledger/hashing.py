"""What the ledger hashes: forgotten items (their normalised text) and models (their safetensors files).

normalise(text): Unicode NFKC, case-folded, every run of whitespace made one space, stripped; so "Ada  Vale\\n"
and "ada vale" hash alike. A QA record's text is its question, a newline, its answer; a raw-text record's is its
text. A classifier item has no text: its text is "<dataset sha256>:<training index>", which names one item of
one exact training set. The ledger stores only these hashes, never the text.

model_sha256(folder): sha256 over every *.safetensors file below `folder`, in sorted relative-path order, of
"<relative path>\\0<file sha256>\\n": renaming, adding, removing or editing any weight file changes it.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from obliviate.errors import DataError

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_sha256(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def record_text(record: dict, where: str = "record") -> str:
    """The text a forgotten record stands for: question + newline + answer, or its `text` field."""
    if isinstance(record.get("question"), str) and isinstance(record.get("answer"), str):
        return f"{record['question']}\n{record['answer']}"
    if isinstance(record.get("text"), str):
        return record["text"]
    raise DataError("a forgotten item needs string fields question and answer, or text", field=where,
                    value=sorted(record)[:6])


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_sha256(folder: str | os.PathLike) -> str:
    """Hash of a model folder's weights (see the module docstring); a folder with no safetensors is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: model folder not found")
    files = sorted(p for p in folder.rglob("*.safetensors") if p.is_file())
    if not files:
        raise DataError("no *.safetensors file in the model folder (rule: weights saved as safetensors)",
                        file=folder)
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.relative_to(folder).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()

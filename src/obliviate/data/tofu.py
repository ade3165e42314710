"""TOFU (Maini et al., 2024): load one config from the hub dataset `locuslab/TOFU` or a local folder in its layout.

`load_tofu("forget10", path="/path/to/TOFU")` reads `{path}/forget10.json`; without `path` it calls
`datasets.load_dataset("locuslab/TOFU", "forget10", split="train")`. Each record gets `id` ("forget10:17") and
`person`: the author index, i.e. the position in `full` // 20 (TOFU has 20 QA per author, in order). Forget sets
are the tail of `full` and retain sets its head; other configs are matched to `full` by question (None if absent).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from obliviate.data.records import read_records
from obliviate.data.validate import clean_records
from obliviate.errors import DataError

HUB_NAME = "locuslab/TOFU"
QA_PER_AUTHOR = 20


def load_tofu(config: str, path: str | os.PathLike | None = None) -> list[dict]:
    """QA records of one TOFU config (e.g. "full", "forget10", "retain90", "forget10_perturbed", "world_facts").

    path: a local folder in the hub layout, or None for the hub dataset (a hub name like "owner/TOFU" also works).
    """
    return _load(config, path, full=None)


def _load(config: str, path, full: list[dict] | None) -> list[dict]:
    records = _read(config, path)
    if config == "full":
        persons = [i // QA_PER_AUTHOR for i in range(len(records))]
    else:
        persons = person_ids(records, full if full is not None else _read("full", path))
    return [{**r, "person": p, "id": f"{config}:{i}"} for i, (r, p) in enumerate(zip(records, persons, strict=True))]


def person_ids(records: list[dict], full: list[dict]) -> list[int | None]:
    """Author index of each record: from its aligned position in `full` (tail for forget, head for retain sets,
    checked question by question), else from the first item of `full` with the same question, else None."""
    n = len(records)
    for offset in (len(full) - n, 0):
        if 0 <= offset and all(r["question"] == full[offset + i]["question"] for i, r in enumerate(records)):
            return [(offset + i) // QA_PER_AUTHOR for i in range(n)]
    first: dict[str, int] = {}
    for i, r in enumerate(full):
        first.setdefault(r["question"], i // QA_PER_AUTHOR)
    return [first.get(r["question"]) for r in records]


def is_hub_name(path) -> bool:
    """"owner/name" that is not an existing local path."""
    s = str(path)
    return not Path(s).exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", s) is not None and not s.startswith(".")


def config_available(config: str, path) -> bool:
    """True when a local folder has the config; always True for the hub (its standard configs all exist)."""
    return path is None or is_hub_name(path) or (Path(path) / f"{config}.json").is_file()


def _read(config: str, path) -> list[dict]:
    if path is None or is_hub_name(path):
        return _read_hub(config, HUB_NAME if path is None else str(path))
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("TOFU folder not found; pass a local folder in the hub layout (full.json, forget10.json, "
                        "...) or a hub name such as locuslab/TOFU (rule: exists)", file=folder, rule="exists")
    file = folder / f"{config}.json"
    if not file.is_file():
        have = sorted(p.stem for p in folder.glob("*.json"))
        raise DataError(f"TOFU config {config!r} not in this folder; it has {have} (rule: known config)",
                        file=file, field="config", rule="known config", value=config)
    return read_records(file, kind="qa")


def _read_hub(config: str, name: str) -> list[dict]:
    try:
        import datasets

        rows = list(datasets.load_dataset(name, config, split="train"))
    except Exception as e:  # offline, unknown config, hub errors: all become one actionable message
        raise DataError(f"could not load TOFU config {config!r} from the hub dataset {name!r} "
                        f"({type(e).__name__}: {str(e)[:200]}); without internet, pass a local folder in the "
                        "hub layout: load_tofu(config, path='/path/to/tofu') or --data tofu:/path/to/tofu "
                        "(rule: hub reachable)", file=f"hf://datasets/{name}", field="config",
                        rule="hub reachable", value=config) from None
    if not rows:
        raise DataError("holds no records (rule: non-empty split)", file=f"hf://datasets/{name}/{config}",
                        rule="non-empty split")
    # The hub unifies columns across rows, filling absent ones with None: drop those so they read as absent.
    located = ((f"row {i}", {k: v for k, v in r.items() if v is not None}) for i, r in enumerate(rows, start=1))
    return clean_records(located, "qa",
                         f"hf://datasets/{name}/{config}")

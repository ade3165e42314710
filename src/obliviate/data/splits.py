"""The `Splits` bundle (forget, retain, holdout, evaluation sets, texts) and `load_splits`, its one entry point.

    load_splits("corpus/")                                   # our persons corpus (a folder with manifest.json)
    load_splits("tofu:/path/to/TOFU", "forget05")   # TOFU from a local folder, or tofu:locuslab/TOFU
    load_splits("mydata/", forget="forget.csv", retain="retain.jsonl", columns={"question": "prompt"})

Every record gets `id = f"{split}:{i}"` (a user's own `id` is kept as `source_id`). Forget and retain must not
share an item unless `allow_overlap=True`; an empty forget set is an error.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from obliviate.data import tofu
from obliviate.data.records import FORMATS, read_records
from obliviate.data.validate import check_overlap
from obliviate.errors import ConfigError, DataError

Records = list[dict]


@dataclass(frozen=True)
class Splits:
    """QA lists (`forget`, `retain`, ...) and text lists (`*_texts`); None where the source has no such split."""

    name: str
    source: str
    forget: Records | None
    retain: Records | None
    holdout: Records | None = None
    forget_perturbed: Records | None = None
    retain_perturbed: Records | None = None
    holdout_perturbed: Records | None = None
    neighbours: Records | None = None
    real_authors: Records | None = None
    world_facts: Records | None = None
    forget_texts: Records | None = None
    retain_texts: Records | None = None
    holdout_texts: Records | None = None

    def counts(self) -> dict[str, int | None]:
        """Items per split (None where absent)."""
        return {f.name: None if (v := getattr(self, f.name)) is None else len(v)
                for f in dataclasses.fields(self) if f.name not in ("name", "source")}

    def describe(self) -> str:
        """One line: name, source and the count of every split present."""
        present = ", ".join(f"{k} {v}" for k, v in self.counts().items() if v is not None)
        return f"{self.name} ({self.source}): {present}"


def load_splits(data: str | os.PathLike, forget: str = "forget10", retain: str | None = None,
                allow_overlap: bool = False, columns: dict[str, str] | None = None) -> Splits:
    """Load the splits of `data`: a persons-corpus folder, `tofu:PATH_OR_HUB`, or a folder/file of your records.

    forget/retain: split names for the corpus and TOFU (retain defaults to the complement, forget10 -> retain90);
    file paths (or names inside the `data` folder) for your records, which may be QA or raw text (MUSE-style).
    columns: {our field: your column}, for your records only.
    """
    data = str(data)
    # Each builder also returns where forget and retain came from, for the overlap message.
    if data.startswith("tofu:"):
        _no_columns(columns, data)
        splits, names = _tofu_splits(data[len("tofu:"):], forget, retain)
    elif (Path(data) / "manifest.json").is_file():
        _no_columns(columns, data)
        splits, names = _corpus_splits(Path(data), _stem(forget), retain and _stem(retain))
    elif Path(data).exists():
        splits, names = _user_splits(Path(data), forget, retain, columns)
    else:
        raise DataError("data not found: expected a corpus folder (with manifest.json), tofu:PATH_OR_HUB, or a "
                        "folder or file of your records (rule: exists)", file=data, rule="exists")
    if not splits.forget and not splits.forget_texts:
        raise DataError("the forget set is empty (rule: non-empty split)", file=splits.source,
                        field="forget", rule="non-empty split", value=forget)
    for a, b in (("forget", "retain"), ("forget_texts", "retain_texts")):
        if getattr(splits, a) and getattr(splits, b):
            check_overlap(getattr(splits, a), getattr(splits, b), *names, allow=allow_overlap)
    return splits


def _no_columns(columns, data) -> None:
    if columns:
        raise ConfigError(f"{data}: column mapping applies to your own files only, not to the corpus or TOFU "
                          f"(got {columns!r})")


def _stem(name: str) -> str:
    return name[: -len(".json")] if name.endswith(".json") else name


def complement(forget: str) -> str:
    """retain(100-NN) for forgetNN, e.g. forget10 -> retain90."""
    m = re.fullmatch(r"forget(\d+)", forget)
    if not m:
        raise ConfigError(f"forget {forget!r}: cannot infer the retain split (only forgetNN has a complement, "
                          "retain(100-NN)); pass retain=... or --retain")
    return f"retain{100 - int(m.group(1)):02d}"


def with_ids(records: Records, split: str) -> Records:
    """Set `id` to f"{split}:{i}", keeping a different earlier id as `source_id`."""
    out = []
    for i, r in enumerate(records):
        new = {**r, "id": f"{split}:{i}"}
        if "id" in r and r["id"] != new["id"]:
            new["source_id"] = r["id"]
        out.append(new)
    return out


def _without_persons(records: Records | None, persons: set) -> Records | None:
    """Drop items of forget persons from an evaluation set meant to hold only retained knowledge."""
    return None if records is None else [r for r in records if r.get("person") not in persons]


def _persons(records: Records) -> set:
    return {r["person"] for r in records if r.get("person") is not None}


# --------------------------------------------------------------------------- our persons corpus

def _corpus_splits(folder: Path, forget: str, retain: str | None) -> tuple[Splits, tuple]:
    retain = retain or complement(forget)

    def qa(stem: str, required: bool = True) -> Records | None:
        file = folder / f"{stem}.json"
        if not required and not file.is_file():
            return None
        return with_ids(read_records(file, kind="qa"), stem)

    f, r = qa(forget), qa(retain)
    gone, kept = _persons(f), _persons(r)
    tag = forget[len("forget"):]
    bios = None
    if (folder / "bios.json").is_file():
        bios = with_ids(read_records(folder / "bios.json", kind="text"), "bios")
    splits = Splits(
        name=f"{folder.name}/{forget}", source=str(folder), forget=f, retain=r,
        holdout=qa("holdout", False), forget_perturbed=qa(f"{forget}_perturbed", False),
        retain_perturbed=_without_persons(qa("retain_perturbed", False), gone),
        holdout_perturbed=qa("holdout_perturbed", False),
        # neighbours<NN> are retain items of persons sharing a value with a forget<NN> person: only that file fits.
        neighbours=_without_persons(qa(f"neighbours{tag}", False), gone) if tag else None,
        forget_texts=None if bios is None else [b for b in bios if b.get("person") in gone],
        retain_texts=None if bios is None else [b for b in bios if b.get("person") in kept],
        holdout_texts=None if bios is None else [b for b in bios if b.get("split") == "holdout"],
    )
    return splits, (folder / f"{forget}.json", folder / f"{retain}.json")


# --------------------------------------------------------------------------- TOFU

def _tofu_splits(spec: str, forget: str, retain: str | None) -> tuple[Splits, tuple]:
    path = None if spec in ("", tofu.HUB_NAME) else spec
    forget, retain = _stem(forget), _stem(retain or complement(_stem(forget)))
    full = tofu._read("full", path)  # read once: every config's person ids come from positions in full

    def load(config: str, required: bool = True) -> Records | None:
        if not required and not tofu.config_available(config, path):
            return None
        return tofu._load(config, path, full)

    f = load(forget)
    splits = Splits(
        name=f"tofu/{forget}", source=f"tofu:{spec or tofu.HUB_NAME}", forget=f, retain=load(retain),
        forget_perturbed=load(f"{forget}_perturbed", False),
        retain_perturbed=_without_persons(load("retain_perturbed", False), _persons(f)),
        real_authors=_merge_perturbed(load, "real_authors"), world_facts=_merge_perturbed(load, "world_facts"),
    )
    where = f"hf://datasets/{path or tofu.HUB_NAME}" if path is None or tofu.is_hub_name(path) else path
    return splits, (f"{where}/{forget}.json", f"{where}/{retain}.json")


def _merge_perturbed(load, name: str) -> Records | None:
    """`{name}_perturbed` items (with perturbed answers) plus the multiple-choice options of `{name}` by question."""
    perturbed = load(f"{name}_perturbed", False)
    base = load(name, False)
    if perturbed is None:
        return base
    extra = {r["question"]: {k: v for k, v in r.items() if k.startswith("option")} for r in base or []}
    merged = [{**extra.get(p["question"], {}), **{k: v for k, v in p.items() if k != "id"}} for p in perturbed]
    return with_ids(merged, name)


# --------------------------------------------------------------------------- your own files

def _user_splits(base: Path, forget: str, retain: str | None, columns) -> tuple[Splits, tuple]:
    folder = base if base.is_dir() else base.parent
    forget_path = base if base.is_file() else _find(folder, forget)
    if retain is None and re.fullmatch(r"forget\d+", forget_path.stem):
        candidate = complement(forget_path.stem)
        retain = candidate if _find(folder, candidate, required=False) else None
    retain_path = _find(folder, retain) if retain else None

    def load(path: Path | None, split: str) -> tuple[Records | None, Records | None]:
        if path is None:
            return None, None
        recs = with_ids(read_records(path, kind="auto", columns=columns), split)
        return (recs, None) if "question" in recs[0] else (None, recs)

    (f, f_texts), (r, r_texts) = load(forget_path, "forget"), load(retain_path, "retain")
    splits = Splits(name=forget_path.stem, source=str(base), forget=f, retain=r,
                    forget_texts=f_texts, retain_texts=r_texts)
    return splits, (forget_path, retain_path)


def _find(folder: Path, name: str, required: bool = True) -> Path | None:
    """`name` as a path, or inside `folder`, or inside `folder` with a known suffix added."""
    tried = [Path(name), folder / name] + [folder / f"{name}{suffix}" for suffix in FORMATS]
    for p in tried:
        if p.is_file():
            return p
    if required:
        raise DataError(f"file not found; tried {[str(p) for p in tried]} (rule: exists)", file=name,
                        rule="exists")
    return None

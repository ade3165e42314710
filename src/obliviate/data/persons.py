"""The fictitious-persons corpus: seeded Faker people, their facts as QA items in TOFU's layout, and biographies.

Run `obliviate data persons --out DIR [--persons 200] [--facts 10] [--holdout 20] [--seed 0]`, or from Python
`generate(out, persons=200, facts=10, holdout=20, seed=0)`. The same arguments give byte-identical files (one
seeded Faker instance and one `random.Random`, never the global generators; sorted iteration everywhere).

Persons 0..persons-1 are trained on (`full.json`); the next `holdout` persons never are (same distribution, for
membership inference). forget01/05/10 are the last 1/5/10% of the trained persons (at least one each, nested),
retain99/95/90 their complements. Employers and birth places come from small pools so that persons share them:
`neighbours10.json` holds the retain90 items of persons sharing an employer or birth city with a forget10 person.
Question and answer phrasings live in `persons_templates.py` (QA: phrasing 0, paraphrases and perturbed answers:
phrasing 1, biographies: phrasing 2). `manifest.json` records the parameters, counts and sha256 of every file.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import faker
from faker import Faker

from obliviate._atomic import atomic_dir
from obliviate.data.persons_templates import ATTRIBUTES, Attribute, render
from obliviate.errors import DataError

GENERATOR_VERSION = "1"
FORGET_PERCENTS = (1, 5, 10)
N_PERTURBED = 5
MIN_PERSONS = 10
NEIGHBOUR_KEYS = ("birth_city", "employer")  # attributes drawn from small shared pools
_ATTR = {a.name: a for a in ATTRIBUTES}

Person = dict  # {"id": int, "name": str, <attribute name>: str for every attribute}


def generate(out: str | Path, persons: int = 200, facts: int = 10, holdout: int = 20, seed: int = 0) -> dict:
    """Write the corpus folder `out` atomically and return its manifest."""
    _check_args(out, persons, facts, holdout, seed)
    fk = Faker("en_US")
    fk.seed_instance(seed)
    rng = random.Random(seed)
    people = _draw_people(persons + holdout, pool_size(persons + holdout), fk, rng)
    attrs = ATTRIBUTES[:facts]
    rich = _qa_items(people, people[:persons], attrs, fk, rng)
    files, split_persons = _split_files(people, persons, rich, rng)
    files["bios.json"] = _bios(people, persons, split_persons["forget10"], attrs, rng)
    params = {"persons": persons, "facts": facts, "holdout": holdout, "seed": seed}
    with atomic_dir(out) as tmp:
        manifest = _write(tmp, files, params, [a.name for a in attrs], split_persons)
    return manifest


def pool_size(n_people: int) -> int:
    """Number of distinct employers and of birth places: each is held by ~3 persons on average.

    Smaller pools make nearly every retain person a neighbour of the forget set (pools of n/8 gave ~75% of retain90
    at 200 persons), which leaves nothing to contrast with retain; n/3 gives ~40%.
    """
    return max(8, n_people // 3)


def _check_args(out, persons, facts, holdout, seed) -> None:
    rules = (("persons", persons, MIN_PERSONS, None), ("facts", facts, 1, len(ATTRIBUTES)),
             ("holdout", holdout, 1, None), ("seed", seed, 0, None))
    for field, value, lo, hi in rules:
        rule = f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")
        if not isinstance(value, int) or isinstance(value, bool) or value < lo or (hi is not None and value > hi):
            raise DataError(f"{field} must be {rule}", field=field, rule=rule, value=value)
    if Path(out).exists() and not Path(out).is_dir():
        raise DataError("output path exists and is not a folder", file=out, rule="out is a folder", value=str(out))


def _distinct(make, n: int, taken: set[str] | None = None) -> list[str]:
    """`n` distinct values from `make()`, none in `taken` (which is updated)."""
    taken = set() if taken is None else taken
    values: list[str] = []
    for _ in range(1000 * n):
        if len(values) == n:
            return values
        value = make()
        if value not in taken:
            taken.add(value)
            values.append(value)
    if len(values) == n:
        return values
    raise RuntimeError(f"could not draw {n} distinct values (got {len(values)})")


def _draw_people(n: int, k: int, fk: Faker, rng: random.Random) -> list[Person]:
    """`n` persons with unique names (also distinct from every spouse); employers and birth places from pools of `k`."""
    employers = _distinct(lambda: _ATTR["employer"].make(fk, rng), k)
    cities = _distinct(lambda: _ATTR["birth_city"].make(fk, rng), k)
    places = [(city, _ATTR["birth_country"].make(fk, rng)) for city in cities]
    names: set[str] = set()
    people = []
    for pid in range(n):
        name = _distinct(lambda: _ATTR["spouse"].make(fk, rng), 1, names)[0]
        person: Person = {"id": pid, "name": name}
        city, country = rng.choice(places)
        for attr in ATTRIBUTES:
            if attr.name == "employer":
                person[attr.name] = rng.choice(employers)
            elif attr.name in ("birth_city", "birth_country"):
                person[attr.name] = city if attr.name == "birth_city" else country
            elif attr.name == "spouse":
                person[attr.name] = _distinct(lambda a=attr: a.make(fk, rng), 1, names)[0]
            else:
                person[attr.name] = attr.make(fk, rng)
        people.append(person)
    return people


def _perturbed_values(attr: Attribute, truth: str, pool: list[str], fk: Faker, rng: random.Random) -> list[str]:
    """N_PERTURBED distinct values other than `truth`: other trained persons' values, else fresh Faker values."""
    sample = rng.sample(pool, min(len(pool), N_PERTURBED + 1))
    values = [v for v in sample if v != truth][:N_PERTURBED]
    if len(values) < N_PERTURBED:
        values += _distinct(lambda: attr.make(fk, rng), N_PERTURBED - len(values), {truth, *values})
    return values


def _qa_items(people, trained, attrs, fk, rng) -> dict[int, list[dict]]:
    """Per person id, one item per attribute with every TOFU field (plain splits keep a subset)."""
    pools = {a.name: sorted({p[a.name] for p in trained}) for a in attrs}
    items: dict[int, list[dict]] = {}
    for p in people:
        items[p["id"]] = []
        for attr in attrs:
            truth, name = p[attr.name], p["name"]
            wrong = _perturbed_values(attr, truth, pools[attr.name], fk, rng)
            items[p["id"]].append({
                "question": attr.questions[0].format(name=name),
                "answer": render(attr.answers[0], name, truth),
                "paraphrased_question": attr.questions[1].format(name=name),
                "paraphrased_answer": render(attr.answers[1], name, truth),
                "perturbed_answer": [render(attr.answers[1], name, v) for v in wrong],
                "person": p["id"],
            })
    return items


def _plain(item: dict) -> dict:
    return {"question": item["question"], "answer": item["answer"], "person": item["person"]}


def _split_files(people, n_trained, rich, rng):
    """All QA files by name, and the person ids of each special split (for the manifest and the biographies)."""
    trained = list(range(n_trained))
    held = [p["id"] for p in people[n_trained:]]
    of = lambda ids: [item for pid in ids for item in rich[pid]]  # noqa: E731
    files = {"full.json": [_plain(i) for i in of(trained)]}
    split_persons: dict[str, list[int]] = {}
    for pct in FORGET_PERCENTS:
        n_forget = max(1, n_trained * pct // 100)
        forget, retain = trained[n_trained - n_forget:], trained[:n_trained - n_forget]
        split_persons[f"forget{pct:02d}"] = forget
        files[f"forget{pct:02d}.json"] = [_plain(i) for i in of(forget)]
        files[f"retain{100 - pct:02d}.json"] = [_plain(i) for i in of(retain)]
        files[f"forget{pct:02d}_perturbed.json"] = of(forget)
    forget10 = split_persons["forget10"]
    retain90 = trained[:n_trained - len(forget10)]
    sample = sorted(rng.sample(retain90, min(len(forget10), len(retain90))))
    split_persons["retain_perturbed"] = sample
    files["retain_perturbed.json"] = of(sample)
    split_persons["holdout"] = held
    files["holdout.json"] = [_plain(i) for i in of(held)]
    files["holdout_perturbed.json"] = of(held)
    shared = _neighbours(people, forget10, retain90)
    split_persons["neighbours10"] = sorted(shared)
    files["neighbours10.json"] = [{**i, "shared": shared[i["person"]]} for i in of(sorted(shared))]
    return files, split_persons


def _neighbours(people, forget, retain) -> dict[int, str]:
    """Retain person id -> the attributes (comma-joined, sorted) whose value it shares with some forget person."""
    forget_values = {key: {people[pid][key] for pid in forget} for key in NEIGHBOUR_KEYS}
    shared = {}
    for pid in retain:
        keys = [key for key in NEIGHBOUR_KEYS if people[pid][key] in forget_values[key]]
        if keys:
            shared[pid] = ",".join(keys)
    return shared


def _bios(people, n_trained, forget10, attrs, rng) -> list[dict]:
    """One biography per person: answer phrasing 2 of each fact, in a seeded order."""
    forget = set(forget10)
    bios = []
    for p in people:
        sentences = [render(a.answers[2], p["name"], p[a.name]) for a in attrs]
        rng.shuffle(sentences)
        split = "holdout" if p["id"] >= n_trained else "forget10" if p["id"] in forget else "retain"
        bios.append({"person": p["id"], "text": " ".join(sentences), "split": split})
    return bios


def _write(folder: Path, files: dict[str, list[dict]], params, attributes, split_persons) -> dict:
    """Write every file as JSON Lines (UTF-8, "\\n" endings), then the manifest with their sha256."""
    sha, counts = {}, {}
    for name, records in files.items():
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        (folder / name).write_bytes(data)
        sha[name], counts[name] = hashlib.sha256(data).hexdigest(), len(records)
    manifest = {
        "generator": "obliviate.data.persons", "generator_version": GENERATOR_VERSION,
        "faker_version": faker.VERSION, "seed": params["seed"], "parameters": params,
        "attributes": attributes, "shared_pool_size": pool_size(params["persons"] + params["holdout"]),
        "counts": counts, "sha256": sha, "split_persons": split_persons,
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    (folder / "manifest.json").write_bytes(text.encode("utf-8"))
    return manifest

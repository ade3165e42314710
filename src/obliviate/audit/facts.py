"""Facts: the QA items an audit asks about, with what the corpus's fields tell about each (name, attribute, value).

`build_facts(records, perturbed)` merges a split with its `*_perturbed` variant (by question) and, when the question
and answer follow the persons corpus's templates (`obliviate.data.persons_templates`), finds the person's name, the
attribute and the value inside the answer. For other data (TOFU, your own QA) name, attribute and value stay None:
the value is then the whole answer, and the probes that need a separable value (cloze, reverse, the linear probe)
report `n/a` naming the field they lack.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from obliviate.data.persons_templates import ATTRIBUTES


@dataclass(frozen=True)
class Fact:
    """One QA item. `prefix` + " " + `value` (+ a short tail) is the answer; prefix is "" when value is the answer."""

    id: str
    person: object
    question: str
    answer: str
    prefix: str  # answer text before the value, without its trailing space ("Ann Lee works for")
    value: str  # the attribute value, or the whole answer when it cannot be separated
    name: str | None = None
    attribute: str | None = None
    paraphrased_question: str | None = None
    paraphrased_answer: str | None = None
    cloze: str | None = None  # the paraphrased answer cut before the value ("Ann Lee is employed by")
    perturbed: tuple[str, ...] = ()

    @property
    def separable(self) -> bool:
        """True when the value is a part of the answer (persons corpus), not the whole answer."""
        return self.attribute is not None


def _pattern(template: str) -> re.Pattern:
    """A template such as "{name} works as {a_value}." as a regex with groups `name`, `article` and `value`."""
    out = re.escape(template)
    out = out.replace(re.escape("{name}"), r"(?P<name>.+?)", 1).replace(re.escape("{name}"), r"(?P=name)")
    out = out.replace(re.escape("{a_value}"), r"(?P<article>an?) (?P<value>.+)")
    out = out.replace(re.escape("{value}"), r"(?P<value>.+)")
    return re.compile(out)


@lru_cache(maxsize=1)
def _templates() -> list[tuple[str, re.Pattern, re.Pattern, re.Pattern]]:
    """(attribute, question 0, answer 0, answer 1) patterns of every attribute of the persons corpus."""
    return [(a.name, _pattern(a.questions[0]), _pattern(a.answers[0]), _pattern(a.answers[1])) for a in ATTRIBUTES]


def _split(text: str | None, pattern: re.Pattern, name: str) -> tuple[str, str] | None:
    """(text before the value, value) when `text` matches `pattern` for person `name`."""
    m = pattern.fullmatch(text or "")
    if not m or m.group("name") != name:
        return None
    return text[:m.start("value")].rstrip(), m.group("value")


def parse(question: str, answer: str, paraphrased_answer: str | None = None) -> dict | None:
    """name, attribute, prefix, value (and cloze) of a persons-corpus item; None for any other item."""
    for attribute, q0, a0, a1 in _templates():
        qm = q0.fullmatch(question)
        if not qm:
            continue
        name = qm.group("name")
        parts = _split(answer, a0, name)
        if parts is None:
            continue
        cloze = _split(paraphrased_answer, a1, name)
        if cloze is not None and cloze[1] != parts[1]:
            cloze = None
        return {"name": name, "attribute": attribute, "prefix": parts[0], "value": parts[1],
                "cloze": cloze[0] if cloze else None}
    return None


def build_facts(records: list[dict] | None, perturbed: list[dict] | None = None) -> list[Fact]:
    """Facts of a QA split; perturbed fields come from `perturbed` (matched by question) or the records themselves."""
    extra = {r["question"]: r for r in perturbed or []}
    facts = []
    for r in records or []:
        p = {**extra.get(r["question"], {}), **{k: v for k, v in r.items() if v is not None}}
        para = p.get("paraphrased_answer")
        parsed = parse(r["question"], r["answer"], para) or {"prefix": "", "value": r["answer"].strip()}
        pert = p.get("perturbed_answer") or ()
        facts.append(Fact(id=str(r.get("id", len(facts))), person=r.get("person"), question=r["question"],
                          answer=r["answer"], paraphrased_question=p.get("paraphrased_question"),
                          paraphrased_answer=para, perturbed=tuple(x for x in pert if isinstance(x, str)),
                          **parsed))
    return facts


def persons(facts: list[Fact]) -> list:
    """The distinct person ids of `facts`, in first-seen order (None excluded)."""
    return list(dict.fromkeys(f.person for f in facts if f.person is not None))

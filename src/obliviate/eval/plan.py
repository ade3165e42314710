"""The evaluation plan (`Plan`): which sequences to score and which prompts to generate from, per split, tokenized once.

`build_plan(tokenizer, splits, suite)` reads a `Splits` bundle and decides what the data supports (TOFU-style
QA metrics, MUSE's verbatim/knowledge memorization, membership inference), registering every sequence in one
`ScoreBook`. The same plan serves the model and the oracle (they must share a tokenizer).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from obliviate.errors import ConfigError, DataError
from obliviate.models import IGNORE, Encoded, encode_qa, encode_text, prompt_ids

from .scoring import ScoreBook

SUITES = ("all", "tofu", "muse", "mia")
QA_SPLITS = ("forget", "retain", "neighbours", "real_authors", "world_facts")
OPTION_SPLITS = ("real_authors", "world_facts")  # wrong options only: prob_norm is their probability
ROUGE_MAX_TOTAL = 200  # TOFU: prompt + generation ≤ 200 tokens
KNOWMEM_NEW = 32
VERBMEM_PROMPT, VERBMEM_NEW = 32, 128
MAX_POSITIONS = 512  # cap on a raw MIA text, BOS included: the presets' context; evaluate() passes the model's


@dataclass
class QAEval:
    split: str
    records: list[dict]
    answer: list[int]  # ScoreBook handles of (question, answer)
    prompts: list[list[int]] = field(default_factory=list)  # empty: no generation
    budgets: list[int] = field(default_factory=list)  # new tokens to generate per prompt


@dataclass
class TruthEval:
    split: str
    records: list[dict]
    true: list[int]  # handles of (question, answer)
    base: list[int]  # handles of (question, paraphrased answer or answer)
    perts: list[list[int]]  # handles of (question, perturbed answer i)


@dataclass
class MIAEval:
    kind: str  # "qa" (answer tokens given the question) or "text"
    member: list[int]
    nonmember: list[int]
    member_text: list[str]
    nonmember_text: list[str]


@dataclass
class VerbEval:
    prompts: list[list[int]]
    references: list[str]


@dataclass
class Plan:
    suite: str
    book: ScoreBook
    qa: dict[str, QAEval] = field(default_factory=dict)
    truth: dict[str, TruthEval] = field(default_factory=dict)
    mia: MIAEval | None = None
    verb: VerbEval | None = None
    tofu: bool = False  # prob / rouge / truth ratio / forget_quality / model_utility
    muse: bool = False  # verbmem / knowmem / privleak
    eos_id: int | None = None  # the tokenizer's EOS: exact memorization and extraction strength leave it out
    max_positions: int = MAX_POSITIONS  # a raw MIA text is scored whole up to this many positions (BOS included)
    notes: dict[str, str] = field(default_factory=dict)  # skipped parts and why


def build_plan(tokenizer, splits, suite: str = "all", generate: bool = True,
               max_positions: int = MAX_POSITIONS) -> Plan:
    """What to score and generate for `suite` on `splits`. generate=False: log-prob metrics only (eval hooks).

    max_positions: the model's context; raw MIA texts are scored whole up to it (BOS included).
    """
    if suite not in SUITES:
        raise ConfigError(f"suite {suite!r}: unknown; choose one of {', '.join(SUITES)}")
    forget = getattr(splits, "forget", None)
    plan = Plan(suite=suite, book=ScoreBook(), eos_id=tokenizer.eos_token_id, max_positions=max_positions)
    plan.tofu = suite in ("all", "tofu") and _want(plan, "tofu", bool(forget), "no forget QA items")
    plan.muse = suite in ("all", "muse")
    want_gen = generate and (plan.tofu or plan.muse)
    for name in QA_SPLITS:
        records = getattr(splits, name, None)
        if records and (plan.tofu or plan.muse or name == "forget"):  # "mia" alone scores forget + holdout
            _add_qa(plan, tokenizer, name, records, want_gen and (plan.tofu or name in ("forget", "retain")))
    holdout = getattr(splits, "holdout", None)
    if holdout:
        _add_qa(plan, tokenizer, "holdout", holdout, False)
    if plan.tofu:
        _add_truth_sets(plan, tokenizer, splits)
    if suite in ("all", "muse", "mia"):
        _add_mia(plan, tokenizer, splits)
    if plan.muse and generate:
        _add_verbmem(plan, tokenizer, getattr(splits, "forget_texts", None))
    return plan


def _want(plan: Plan, part: str, supported: bool, why: str) -> bool:
    """Asked for by name and unsupported: error. Implied by "all" and unsupported: skip with a note."""
    if supported:
        return True
    if plan.suite == part:
        raise DataError(f"suite {part!r} cannot run on this data: {why}", field="suite", rule="supported by data",
                        value=part)
    plan.notes[f"skipped_{part}"] = why
    return False


def _add_qa(plan: Plan, tok, name: str, records: list[dict], generate: bool) -> None:
    ev = QAEval(name, records, [plan.book.add(encode_qa(tok, r["question"], r["answer"])) for r in records])
    if generate:
        ev.prompts = [prompt_ids(tok, r["question"]) for r in records]
        rouge = plan.tofu
        ev.budgets = [max(KNOWMEM_NEW, ROUGE_MAX_TOTAL - len(p)) if rouge else KNOWMEM_NEW for p in ev.prompts]
    plan.qa[name] = ev


def perturbed_records(splits, name: str) -> list[dict] | None:
    """The split's items with perturbed answers: `{name}_perturbed` when the source has it, else the split itself
    when it carries them inline; None when the split has none at all. A partly perturbed set is an error."""
    separate = getattr(splits, f"{name}_perturbed", None)
    records = separate if separate is not None else getattr(splits, name, None)
    if not records:
        return None
    has = [bool(r.get("perturbed_answer")) and isinstance(r["perturbed_answer"], list) for r in records]
    if separate is None and not any(has):
        return None
    for i, ok in enumerate(has):
        if not ok:
            r = records[i]
            raise DataError(f"split {name!r} item {r.get('id', i)!r} has no perturbed answers; the truth ratio "
                            f"needs a non-empty list on every item", field="perturbed_answer",
                            rule="non-empty list of str", value=r.get("perturbed_answer"))
    return records


def _add_truth_sets(plan: Plan, tok, splits) -> None:
    for name in QA_SPLITS:
        if name not in plan.qa:
            continue
        records = perturbed_records(splits, name)
        if records is None:
            if name == "forget":
                _want(plan, "tofu", False, "the forget split has no perturbed answers: truth ratio and "
                      "forget_quality need them (provide forget_perturbed or 'perturbed_answer' on each item)")
            continue
        add = plan.book.add
        plan.truth[name] = TruthEval(
            name, records,
            true=[add(encode_qa(tok, r["question"], r["answer"])) for r in records],
            base=[add(encode_qa(tok, r["question"], r.get("paraphrased_answer") or r["answer"])) for r in records],
            perts=[[add(encode_qa(tok, r["question"], p)) for p in r["perturbed_answer"]] for r in records],
        )


def _mia_sources(plan: Plan, splits) -> tuple[list[dict], list[dict], str] | None:
    """(members, non-members, kind): forget against holdout as QA answers when both exist as QA, else raw texts;
    None (with a note) when the data has no holdout."""
    f_qa, h_qa = getattr(splits, "forget", None), getattr(splits, "holdout", None)
    f_tx, h_tx = getattr(splits, "forget_texts", None), getattr(splits, "holdout_texts", None)
    if (f_qa and h_qa is not None) or (not f_tx and h_qa is not None):
        members, nonmembers, kind = f_qa or [], h_qa, "qa"
    elif f_tx and h_tx is not None:
        members, nonmembers, kind = f_tx, h_tx, "text"
    else:
        if plan.suite == "mia":
            raise DataError("membership inference needs a holdout split (same distribution, never trained on); "
                            "this data has none", field="holdout", rule="present", value=None)
        plan.notes["skipped_mia"] = "no holdout split: membership inference and privleak not computed"
        return None
    if not nonmembers:
        raise DataError("the holdout split is empty; membership inference needs holdout items never trained on",
                        field="holdout", rule="non-empty split", value=[])
    if not members:
        raise DataError("membership inference needs forget items", field="forget", rule="non-empty", value=[])
    return members, nonmembers, kind


def _add_mia(plan: Plan, tok, splits) -> None:
    """Register the MIA items: QA answers given their question, or raw texts (no EOS, cut at the context)."""
    sources = _mia_sources(plan, splits)
    if sources is None:
        return
    members, nonmembers, kind = sources

    def item(r) -> tuple[Encoded, str]:  # (what is scored, the text zlib reads)
        if kind == "qa":
            return encode_qa(tok, r["question"], r["answer"]), r["answer"]
        return mia_text(tok, r["text"], plan.max_positions)

    m, h = [item(r) for r in members], [item(r) for r in nonmembers]
    plan.mia = MIAEval(kind, [plan.book.add(e) for e, _ in m], [plan.book.add(e) for e, _ in h],
                       [t for _, t in m], [t for _, t in h])
    cut = sum(t != r["text"] for (_, t), r in zip(m + h, members + nonmembers, strict=True)) if kind == "text" else 0
    if cut:
        plan.notes["mia_texts_cut"] = (f"{cut} of {len(m) + len(h)} MIA texts are longer than the model's "
                                       f"{plan.max_positions} positions: each is scored on its tokens up to "
                                       "them, zlib on the part scored")


def mia_text(tok, text: str, max_positions: int) -> tuple[Encoded, str]:
    """A raw MIA text as scored (BOS + its tokens up to `max_positions`, no EOS: external text data is scored as it
    is) and the text zlib reads: the text itself, or the decoded kept part when it was cut, so that both parts of
    the zlib score see the same text."""
    enc = encode_text(tok, text, max_length=max_positions, eos=False)
    kept = [t for t in enc.labels if t != IGNORE]
    whole = len(kept) == len(tok(text, add_special_tokens=False)["input_ids"])
    return enc, text if whole else tok.decode(kept)


def _add_verbmem(plan: Plan, tok, texts: list[dict] | None) -> None:
    if not texts:
        plan.notes["skipped_verbmem"] = "no forget texts: verbmem (C1) not computed"
        return
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    prompts, refs = [], []
    for r in texts:
        ids = tok(r["text"], add_special_tokens=False)["input_ids"]
        # metrics.md: the first 32 tokens are the prompt whenever a continuation is left; only a text of ≤ 32
        # tokens (nothing to continue) falls back to half prompt, half continuation.
        cut = VERBMEM_PROMPT if len(ids) > VERBMEM_PROMPT else max(1, len(ids) // 2)
        prompts.append(bos + ids[:cut])
        refs.append(tok.decode(ids[cut:cut + VERBMEM_NEW]))
    plan.verb = VerbEval(prompts, refs)

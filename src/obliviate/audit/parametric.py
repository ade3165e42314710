"""parametric: is the forgotten knowledge still readable from the inside? A linear probe on the hidden states at
the person's name, trained on retain persons and applied to forget persons; and a logit-lens rank of the true
answer's first token at every layer.

Papers: Hong et al., "Intrinsic Evaluation of Unlearning Using Parametric Knowledge Traces" (ConceptVectors,
arXiv:2406.11614): unlearning changes behaviour while the parameters that carry the knowledge barely move;
Patil et al., "Can Sensitive Information Be Deleted From LLMs? Objectives for Defending Against Extraction
Attacks" (ICLR 2024, arXiv:2309.17410): the answer stays recoverable from intermediate layers through the logit
lens (nostalgebraist, 2020) after editing hides it at the output.

Protocol. `linear_probe`: features = the mean hidden state over the name's tokens (prompt: bos + name, the way
biographies and answers start) at each layer; per attribute, a logistic regression (scikit-learn, standardised
features) learns value classes that at least two retain persons share, from retain persons only; per forget fact
whose value is such a class, the value is the probe's probability of the true value, the best over layers (the
same search on both sides). `logit_lens`: prompt = the question in the QA format and the answer up to the value;
at each layer ℓ the last position's hidden state goes through the final norm and the output head; the value is
the best reciprocal rank 1/(1 + rank) of the value's first token over layers (rank 0 = top). The layer-wise
accuracies and mean ranks are in `details`. TOFU-format data has no separable value: the probe is `n/a` there
(field 'answer'), the logit lens reads the answer's first token.
"""
from __future__ import annotations

import numpy as np
import torch

from obliviate.models.scoped import eval_mode
from obliviate.models.spread import spread

from .facts import Fact
from .measure import bos, ids, pad_id, qa_prompt, value_ids

NAME = "parametric"
PAPER = ("Hong et al. 2024, Intrinsic Evaluation of Unlearning Using Parametric Knowledge Traces "
         "(arXiv:2406.11614); Patil et al. 2024, Can Sensitive Information Be Deleted From LLMs? "
         "(arXiv:2309.17410)")


def requires(ctx) -> str | None:
    return None if ctx.facts["forget"] else "no forget QA items (field 'forget')"


@torch.no_grad()
def hidden_at_last(model, tok, prompts: list[list[int]], batch_size: int = 64) -> list[torch.Tensor]:
    """Per layer ℓ = 1..L, the hidden states (n, d) at each prompt's last position (left padding). Several
    processes: each runs its share of the batches (`spread`)."""
    device = next(model.parameters()).device

    def run(idx: list[int]) -> list[list[torch.Tensor]]:
        chunk = [prompts[i] for i in idx]
        width = max(len(p) for p in chunk)
        x = torch.full((len(chunk), width), pad_id(tok), dtype=torch.long)  # (B, T) left-padded
        mask = torch.zeros_like(x)
        for i, p in enumerate(chunk):
            x[i, width - len(p):], mask[i, width - len(p):] = torch.tensor(p), 1
        out = model(input_ids=x.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        hs = out.hidden_states[1:]  # L tensors (B, T, d); [0] is the embedding output
        return [[h[row, -1].float().cpu() for h in hs] for row in range(len(chunk))]

    batches = [list(range(start, min(start + batch_size, len(prompts))))
               for start in range(0, len(prompts), batch_size)]
    with eval_mode(model):
        rows = spread(batches, run, len(prompts), model)  # per prompt: L tensors (d,)
    return [torch.stack([r[layer] for r in rows]) for layer in range(len(rows[0]))] if rows else []


@torch.no_grad()
def name_features(model, tok, names: list[str]) -> list[np.ndarray]:
    """Per layer, (n, d): the mean hidden state over the name's tokens after bos (the name alone as prompt); one
    forward per name, shared out over processes (`spread`)."""
    device = next(model.parameters()).device

    def run(idx: list[int]) -> list[list[np.ndarray]]:
        body = ids(tok, names[idx[0]])
        x = torch.tensor([bos(tok) + body], device=device)
        hs = model(input_ids=x, output_hidden_states=True).hidden_states[1:]
        return [[h[0, -len(body):].float().mean(0).cpu().numpy() for h in hs]]

    with eval_mode(model):
        rows = spread([[i] for i in range(len(names))], run, len(names), model)  # per name: L arrays (d,)
    return [np.stack([r[layer] for r in rows]) for layer in range(len(rows[0]))] if rows else []


def probe_tasks(train: list[Fact], test: list[Fact]) -> dict[str, tuple[list[Fact], list[Fact]]]:
    """attribute -> (training facts with a shared value, test facts whose value is one of those classes)."""
    tasks = {}
    for attr in sorted({f.attribute for f in train if f.attribute}):
        counts: dict[str, int] = {}
        for f in train:
            if f.attribute == attr:
                counts[f.value] = counts.get(f.value, 0) + 1
        classes = {v for v, c in counts.items() if c >= 2}
        tr = [f for f in train if f.attribute == attr and f.value in classes]
        te = [f for f in test if f.attribute == attr and f.value in classes]
        if len(classes) >= 2 and te:
            tasks[attr] = (tr, te)
    return tasks


def probe_values(model, tok, tasks: dict, groups: tuple[str, ...], seed: int) -> tuple[dict, dict]:
    """Per group, the probe's probability of the true value for every test fact (best layer), in task order;
    and the per-layer accuracy of each group."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    values = {g: [] for g in groups}
    correct: dict[str, list[np.ndarray]] = {g: [] for g in groups}
    for train, tests in tasks.values():
        names = [f.name for f in train] + [f.name for g in groups for f in tests[g]]
        feats = name_features(model, tok, names)
        y = np.array([f.value for f in train])
        probs = {g: [] for g in groups}
        for layer_x in feats:
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
            clf.fit(layer_x[:len(train)], y)
            at, classes = len(train), list(clf.classes_)
            for g in groups:
                x = layer_x[at:at + len(tests[g])]
                at += len(tests[g])
                p = clf.predict_proba(x) if len(x) else np.zeros((0, len(classes)))
                truth = [classes.index(f.value) for f in tests[g]]
                probs[g].append((p[np.arange(len(truth)), truth], p.argmax(1) == np.array(truth, dtype=int)))
        for g in groups:
            if tests[g]:
                values[g].append(np.max(np.stack([v for v, _ in probs[g]]), axis=0))
                correct[g].append(np.stack([c for _, c in probs[g]]))  # (layers, n)
    flat = {g: np.concatenate(values[g]) if values[g] else np.array([]) for g in groups}
    acc = {g: np.concatenate(correct[g], axis=1).mean(1).tolist() if correct[g] else [] for g in groups}
    return flat, acc


@torch.no_grad()
def lens_ranks(model, tok, facts: list[Fact]) -> np.ndarray:
    """(layers, n): rank of the value's first token in the logit lens of each layer at the last prompt position."""
    prompts = [qa_prompt(tok, f.question, f.prefix) for f in facts]
    first = torch.tensor([value_ids(tok, f)[0] for f in facts])
    hidden = hidden_at_last(model, tok, prompts)
    norm, head = model.get_decoder().norm, model.get_output_embeddings()
    ranks = []
    for layer, h in enumerate(hidden):
        # The decoder's last hidden state already went through the final norm (transformers >= 5); the others
        # get it here, as the model would if the layers above were skipped.
        last = layer == len(hidden) - 1
        device = next(model.parameters()).device
        logits = head(h.to(device) if last else norm(h.to(device))).float().cpu()  # (n, V)
        true = logits.gather(1, first[:, None])
        ranks.append((logits > true).sum(1).numpy())
    return np.stack(ranks)


def run(ctx) -> dict:
    groups = ctx.groups
    tests = {g: ctx.facts[g] for g in groups}
    tasks_per = {g: probe_tasks(ctx.facts["retain"], tests[g]) for g in groups}
    attrs = sorted(set.intersection(*(set(t) for t in tasks_per.values())))
    tasks = {a: (tasks_per[groups[0]][a][0], {g: tasks_per[g][a][1] for g in groups}) for a in attrs}

    def measure(m):
        values, lens = {}, {}
        if tasks:
            values["linear_probe"], lens["probe_accuracy"] = probe_values(m, ctx.tok, tasks, groups, ctx.seed)
        ranks = {g: lens_ranks(m, ctx.tok, tests[g]) for g in groups}
        values["logit_lens"] = {g: (1.0 / (1.0 + r)).max(0) for g, r in ranks.items()}
        lens["lens_mean_rank"] = {g: r.mean(1).tolist() for g, r in ranks.items()}
        lens["lens_top1"] = {g: (r == 0).mean(1).tolist() for g, r in ranks.items()}
        return values, lens

    out = ctx.sides(measure)
    names = (["linear_probe"] if tasks else []) + ["logit_lens"]
    checks = ctx.checks({s: v[0] for s, v in out.items()}, names, "probe P(true value) / best reciprocal rank")
    if not tasks:
        checks["linear_probe"] = {"against": ctx.against, "verdict": "n/a", "reason": (
            "no attribute value is shared by two retain persons and a forget person, or values are not separable "
            "(field 'answer': the persons corpus's templates give the value)")}
    details = {"attributes": attrs, "probe_items": {g: sum(len(t[1][g]) for t in tasks.values()) for g in groups},
               "layers": {s: v[1] for s, v in out.items()}}
    return ctx.result(__name__, {n: checks[n] for n in ("linear_probe", "logit_lens")}, details)

"""Packed scoring: sequences that share a prompt are scored in one row, the prompt run once.

TOFU's truth ratio scores the answer, the paraphrase and five perturbed answers after the same question, and
those answers often start alike ("Ada Vale earns a living as ..."), so most tokens a plain pass reads were read
before. Here each group of sequences with the same prompt (the label-free prefix) becomes one row: the prompt, then
the members' suffixes as a token tree (a trie). A tree attention mask lets each token see only its ancestors, and
its position id is its depth, so every scored token has exactly the context and positions it has in its own padded
row (same values up to float rounding). Rows are sorted by length and batched with little padding.

`pack_rows(items)` builds the rows; `score_rows(model, rows, ...)` runs them and returns, per item, the scored
positions' logits in label order (`scoring.token_stats` reduces them). Switch: `OBLIVIATE_PACKED_SCORING=0`
(or `ScoreBook.run(..., packed=False)`) scores every sequence in its own padded row as before.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from obliviate.models import IGNORE, Encoded

PACK_ENV = "OBLIVIATE_PACKED_SCORING"
PACK_TOKENS = 384  # longest packed row: attention grows with the square of a row, so big groups are split
MIN_SHARED = 2  # a prompt shorter than this (a bare BOS before a raw text) is not worth a block mask


def packed_default() -> bool:
    """Packed scoring unless OBLIVIATE_PACKED_SCORING is 0/false/off/no."""
    return os.environ.get(PACK_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


@dataclass
class Row:
    """One packed row, a token tree: the shared prompt as a chain, then the members' suffixes as a trie (answers
    that start alike share their first tokens too). `parent[j]` is the row position of token j's predecessor
    (-1 for the first token); `scored[k]` = (row positions of the tokens that predict member k's labels, the
    labels) for member `items[k]`."""

    ids: list[int] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)  # position ids: the depth in the tree
    parent: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    scored: list[tuple[list[int], list[int]]] = field(default_factory=list)
    children: dict[tuple[int, int], int] = field(default_factory=dict)  # (parent position, token) -> position

    def __len__(self) -> int:
        return len(self.ids)

    def node(self, parent: int, token: int) -> int:
        """Row position of `token` after `parent`, added when new."""
        at = self.children.get((parent, token))
        if at is None:
            at = len(self.ids)
            self.ids.append(token)
            self.pos.append(self.pos[parent] + 1 if parent >= 0 else 0)
            self.parent.append(parent)
            self.children[(parent, token)] = at
        return at

    def new_nodes(self, prefix_end: int, suffix: list[int]) -> int:
        """How many tokens adding `suffix` after position `prefix_end` would add."""
        at = prefix_end
        for j, tok in enumerate(suffix):
            at = self.children.get((at, tok), -1)
            if at < 0:
                return len(suffix) - j
        return 0


def split_point(enc: Encoded) -> int:
    """Length of the shareable prompt: the leading label-free tokens, when every later token is its own label
    (QA items and texts are built this way); 0 when the encoding has another shape (scored alone)."""
    p = 0
    while p < len(enc.labels) and enc.labels[p] == IGNORE:
        p += 1
    if p < MIN_SHARED or p == len(enc) or list(enc.labels[p:]) != list(enc.input_ids[p:]):
        return 0
    return p


def _chain(ids: list[int]) -> Row:
    row = Row()
    at = -1
    for tok in ids:
        at = row.node(at, tok)
    return row


def _solo(i: int, enc: Encoded) -> Row:
    row = _chain(list(enc.input_ids))
    scored = [t for t in range(1, len(enc)) if enc.labels[t] != IGNORE]
    row.items.append(i)
    row.scored.append(([t - 1 for t in scored], [enc.labels[t] for t in scored]))
    return row


def _group_rows(prefix: list[int], members: list[tuple[int, list[int]]]) -> list[Row]:
    """Rows of `prefix` followed by a trie of as many suffixes as fit in PACK_TOKENS (at least one per row)."""
    rows: list[Row] = []
    row: Row | None = None
    end = len(prefix) - 1  # the prompt's last token predicts every suffix's first label
    for i, suffix in members:
        if row is None or len(row) + row.new_nodes(end, suffix) > PACK_TOKENS:
            row = _chain(prefix)
            rows.append(row)
        path, at = [], end
        for tok in suffix:
            path.append(at)  # the token that predicts `tok`
            at = row.node(at, tok)
        row.items.append(i)
        row.scored.append((path, list(suffix)))
    return rows


def pack_rows(items: list[Encoded]) -> list[Row]:
    """Every item in exactly one row; items with the same prompt share rows."""
    groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
    rows: list[Row] = []
    for i, enc in enumerate(items):
        p = split_point(enc)
        if p == 0:
            rows.append(_solo(i, enc))
        else:
            groups.setdefault(tuple(enc.input_ids[:p]), []).append((i, list(enc.input_ids[p:])))
    for prefix, members in groups.items():
        rows += _group_rows(list(prefix), members)
    return rows


def tree_mask(parents: list[list[int]], width: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, 1, T, T) additive mask from each row's parent list: 0 where query j may read key s (s is j or one of
    its ancestors), the dtype's minimum elsewhere; padding positions read themselves only (no fully masked row,
    which SDPA turns into NaN; their outputs are unused)."""
    par = torch.arange(width).repeat(len(parents), 1)  # (B, T): a root or padding is its own parent
    for b, p in enumerate(parents):
        par[b, :len(p)] = torch.tensor([q if q >= 0 else j for j, q in enumerate(p)])
    ok = torch.zeros((len(parents), width, width), dtype=torch.bool)
    cur = torch.arange(width).repeat(len(parents), 1)  # (B, T): each query's ancestor at the current step
    for _ in range(width):  # walk up one generation per step until every query has reached its root
        ok.scatter_(2, cur[..., None], True)
        up = par.gather(1, cur)
        if torch.equal(up, cur):
            break
        cur = up
    return torch.zeros(ok.shape, dtype=dtype).masked_fill_(~ok, torch.finfo(dtype).min)[:, None]


def row_batches(rows: list[Row], max_tokens: int, max_batch: int) -> list[list[int]]:
    """Row indices sorted by length, cut so that batch size × longest row stays within `max_tokens`."""
    from .scoring import length_batches

    return length_batches([len(r) for r in rows], max_tokens, max_batch)


@torch.no_grad()
def score_rows(model, rows: list[Row], pad_id: int):
    """One forward over a batch of rows: [(item index, n scored tokens)] in order, the logits at the distinct
    scored positions (U, V) float, and per scored token (members one after another, N in all) its label (N,) and
    the row of those logits that predicts it (N,): members that share a tree node share its logits."""
    param = next(model.parameters())
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r.ids)
        pos[b, :len(r)] = torch.tensor(r.pos)
    mask = tree_mask([r.parent for r in rows], width, param.dtype if param.dtype.is_floating_point else torch.float32)
    nodes: dict[tuple[int, int], int] = {}  # (row, position) -> index among the distinct scored positions
    index, labels, owners = [], [], []
    for b, r in enumerate(rows):
        for i, (at, lab) in zip(r.items, r.scored, strict=True):
            index += [nodes.setdefault((b, t), len(nodes)) for t in at]
            labels += lab
            owners.append((i, len(at)))
    flat = torch.tensor(list(nodes), dtype=torch.long, device=param.device).reshape(-1, 2)  # (U, 2)
    where = (flat[:, 0], flat[:, 1])
    with only_positions(model, where) as kept:
        logits = model(input_ids=ids.to(param.device), attention_mask=mask.to(param.device),
                       position_ids=pos.to(param.device)).logits
    sel = (logits[0] if kept else logits[where]).float()  # (U, V): each distinct scored position once
    device = sel.device
    return owners, sel, torch.tensor(labels, dtype=torch.long, device=device), torch.tensor(index, device=device)


@contextlib.contextmanager
def only_positions(model, where: tuple[torch.Tensor, torch.Tensor]) -> Iterator[bool]:
    """Inside the block the output head sees only the hidden states at `where` (batch, position indices): logits
    come back as (1, N, V) instead of (B, T, V), and the head's work on prompt tokens and padding is saved. Yields
    False (logits stay (B, T, V)) when the model exposes no output head module."""
    head = getattr(model, "module", model).get_output_embeddings()
    if head is None:
        yield False
        return

    def pick(_module, args):
        return (args[0][where][None],) + tuple(args[1:])  # (B, T, d) -> (1, N, d)

    handle = head.register_forward_pre_hook(pick)
    try:
        yield True
    finally:
        handle.remove()

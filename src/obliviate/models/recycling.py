"""Token Recycling: greedy decoding that drafts several tokens per forward and keeps exactly the greedy ones.

Speculative decoding without a draft model (Luo et al., "Turning Trash into Treasure", 2024). An adjacency matrix
`adj` (V, K) holds, for every token, the K tokens the model most recently ranked highest after it: each forward's
top-K candidates, which plain decoding throws away, are written back for every input token. A step builds a small
draft tree from the last token (node = the rank-r candidate of its parent's token), runs the whole tree in one
forward over the KV cache with a tree attention mask (a node sees the cache and its own ancestors; its position is
the sequence length plus its depth), then walks it greedily: the argmax at a node is the next token, and the walk
goes on while that token is one of the node's children. Every accepted token is the argmax the model gives with
exactly the context plain decoding would give it, so the output is plain greedy decoding's; only the KV entries of
the accepted path stay in the cache (other slots are masked), and finished rows leave the batch.

Floating point: the tree forward has other shapes than a one-token step, so logits may differ in the last bits.
Where the top-2 logit margin of any decided token is below TIE_MARGIN the row is handed back to plain decoding
(`generate_ids` regenerates it), so a near-tie can never change an output. Switch: OBLIVIATE_TOKEN_RECYCLING=0.
"""
from __future__ import annotations

import inspect
import os
import weakref
from dataclasses import dataclass

import torch

from .presets import n_params

RECYCLE_ENV = "OBLIVIATE_TOKEN_RECYCLING"
TOP_K = 4  # candidates kept per token (the trees use ranks 0-3)
TIE_MARGIN = 1e-3  # logits: far above the rounding differences between shapes (~1e-6 in float32)
# A forward's work worth its fixed overhead (~4 ms at ~30 GFLOP/s on one core). Measured on one AVX2 core: the
# 3.7M-parameter `small` preset gains 2.2x at batch 1 (wide tree) but loses at batch 4 (0.95x) and 16 (0.62x).
TREE_FLOPS = 1.4e8
SUPPORTED = ("llama",)  # decoders whose forward takes a 4D additive mask, explicit positions and the cache

# Draft trees as rank paths from the root; smaller trees for larger batches, where a forward is compute-bound
# and every draft token costs about what a plain step's token costs.
TREES = {
    "wide": [(0,), (1,), (2,), (3,), (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (3, 0), (0, 0, 0),
             (0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 0, 0, 0)],
    "medium": [(0,), (1,), (2,), (0, 0), (0, 1), (1, 0), (0, 0, 0), (0, 0, 0, 0)],
    "narrow": [(0,), (1,), (0, 0), (0, 0, 0)],
}

_ADJACENCY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (V, K) long, kept across calls


def recycling_default() -> bool:
    """On unless OBLIVIATE_TOKEN_RECYCLING is 0/false/off/no."""
    return os.environ.get(RECYCLE_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def supports(model) -> bool:
    """A plain HF model of a family whose attention takes our tree mask and position ids as given. Wrappers that
    act on each prompt's own forward (the ECO guard, O3's gate) expose the base model's config but are not one:
    they are run plainly (one prompt per row, no drafts)."""
    from transformers import PreTrainedModel

    return isinstance(model, PreTrainedModel) and getattr(model.config, "model_type", None) in SUPPORTED


@dataclass(frozen=True)
class Tree:
    parent: torch.Tensor  # (N,) node 0 is the root (parent 0)
    rank: torch.Tensor  # (N,) which candidate of the parent's token
    depth: torch.Tensor  # (N,)
    children: torch.Tensor  # (N, C) child nodes, -1 padded
    visible: torch.Tensor  # (N, N) bool: node i sees node j (j is i or an ancestor)
    levels: tuple[torch.Tensor, ...]  # the nodes of depth 1, 2, ...

    @property
    def bias(self) -> torch.Tensor:
        return _additive(self.visible, torch.float32)

    @staticmethod
    def build(paths: list[tuple[int, ...]]) -> Tree:
        index = {(): 0}
        parent, rank = [0], [0]
        for p in sorted(paths, key=len):
            index[p] = len(parent)
            parent.append(index[p[:-1]])
            rank.append(p[-1])
        n = len(parent)
        depth, kids = [0] * n, [[] for _ in range(n)]
        visible = torch.eye(n, dtype=torch.bool)
        for j in range(1, n):
            depth[j] = depth[parent[j]] + 1
            kids[parent[j]].append(j)
            visible[j] |= visible[parent[j]]
        width = max(len(k) for k in kids) or 1
        children = torch.tensor([k + [-1] * (width - len(k)) for k in kids])
        levels = tuple(torch.tensor([j for j in range(n) if depth[j] == d]) for d in range(1, max(depth) + 1))
        return Tree(torch.tensor(parent), torch.tensor(rank), torch.tensor(depth), children, visible, levels)

    def to(self, device) -> Tree:
        return Tree(*(t.to(device) for t in (self.parent, self.rank, self.depth, self.children, self.visible)),
                    tuple(t.to(device) for t in self.levels))


def tree_for(batch: int, params: int) -> Tree | None:
    """The largest tree whose forward stays within TREE_FLOPS (~2 x params per token); None when not even the
    narrow one does (plain decoding is faster there). On a CPU a forward costs a fixed overhead plus its tokens'
    work, and drafts pay only while the overhead dominates: a tiny model, or a small batch."""
    for name in ("wide", "medium", "narrow"):
        if batch * (len(TREES[name]) + 1) * 2 * params <= TREE_FLOPS:
            return _TREES[name]
    return None


_TREES = {name: Tree.build(paths) for name, paths in TREES.items()}


def adjacency(model, vocab: int, device) -> torch.Tensor:
    adj = _ADJACENCY.get(model)
    if adj is None or adj.shape[0] != vocab or adj.device != torch.device(device):
        adj = torch.zeros((vocab, TOP_K), dtype=torch.long, device=device)
        _ADJACENCY[model] = adj
    return adj


def _cache_kw(model) -> str:
    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"


def _additive(ok: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(ok.shape, dtype=dtype, device=ok.device).masked_fill_(~ok, torch.finfo(dtype).min)


@dataclass
class _State:
    rows: torch.Tensor  # (b,) original row of each live row
    cache: object  # the model's KV cache, (b, H, L, D) per layer
    bias: torch.Tensor  # (b, L) additive attention bias of the cache slots: 0 for a real token, min for the others
    length: torch.Tensor  # (b,) real tokens in the cache = position of the next input token
    last: torch.Tensor  # (b,) last decided token, not in the cache yet


@torch.no_grad()
def recycled_greedy(model, ids: torch.Tensor, mask: torch.Tensor, max_new: int, eos_id: int | None,
                    tree: Tree | None = None) -> tuple[list[list[int]], list[bool]]:
    """Greedy new tokens for a left-padded batch ids/mask (B, T): per row at most `max_new` of them (cut after
    the first EOS), and per row whether a near-tie handed it back to plain decoding (its tokens then unused)."""
    b = ids.shape[0]
    tree = tree or tree_for(b, n_params(model)) or _TREES["narrow"]
    dtype = next(model.parameters()).dtype
    dtype = dtype if dtype.is_floating_point else torch.float32
    kw = _cache_kw(model)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    # the prompt's last position only, as `model.generate` does: the head over every prompt token would cost more
    # than it teaches the adjacency
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    logits = out.logits  # (B, 1, V)
    adj = adjacency(model, logits.shape[-1], logits.device)
    top = logits.topk(TOP_K, dim=-1)
    keep = mask.bool()
    adj[ids[:, -1]] = top.indices[:, -1]
    margin = top.values[:, -1, 0] - top.values[:, -1, 1]
    gen: list[list[int]] = [[] for _ in range(b)]
    tie = (margin < TIE_MARGIN).tolist()
    cache = getattr(out, "cache", None) if kw == "cache" else out.past_key_values
    st = _State(torch.arange(b, device=ids.device), cache, _additive(keep, dtype), mask.sum(-1),
                top.indices[:, -1, 0])
    for r, t in enumerate(st.last.tolist()):
        gen[r].append(t)
    st = _drop(st, _finished(st, gen, tie, max_new, eos_id))
    tree = tree.to(ids.device)
    while st.rows.numel():
        new, ties = _step(model, st, tree, adj, dtype, kw)
        for r, toks, t in zip(st.rows.tolist(), new, ties, strict=True):
            gen[r] += toks
            tie[r] = tie[r] or t
        st = _drop(st, _finished(st, gen, tie, max_new, eos_id))
    return [_cut(g, max_new, eos_id) for g in gen], tie


def _cut(g: list[int], max_new: int, eos_id: int | None) -> list[int]:
    g = g[:max_new]
    return g[:g.index(eos_id) + 1] if eos_id is not None and eos_id in g else g


def _finished(st: _State, gen: list[list[int]], tie: list[bool], max_new: int, eos_id: int | None) -> torch.Tensor:
    done = [tie[r] or len(gen[r]) >= max_new or (eos_id is not None and eos_id in gen[r])
            for r in st.rows.tolist()]
    return torch.tensor(done, dtype=torch.bool, device=st.rows.device)


def _drop(st: _State, done: torch.Tensor) -> _State:
    """The rows still decoding; finished rows leave the batch and its cache."""
    if not done.any():
        return st
    live = ~done
    for layer in st.cache.layers:
        layer.keys, layer.values = layer.keys[live], layer.values[live]
    return _State(st.rows[live], st.cache, st.bias[live], st.length[live], st.last[live])


def _step(model, st: _State, tree: Tree, adj: torch.Tensor, dtype, kw: str) -> tuple[list[list[int]], list[bool]]:
    """One draft-tree forward and its greedy walk: per live row the accepted tokens and whether one was a tie."""
    b, n = st.last.shape[0], tree.parent.shape[0]
    tok = st.last[:, None].repeat(1, n)  # (b, N) node tokens, filled one depth at a time
    for nodes in tree.levels:
        tok[:, nodes] = adj[tok[:, tree.parent[nodes]], tree.rank[nodes]]
    bias = torch.cat([st.bias[:, None, :].expand(b, n, -1), tree.bias.to(dtype).expand(b, n, n)], dim=2)
    logits = model(input_ids=tok, attention_mask=bias[:, None],
                   position_ids=st.length[:, None] + tree.depth, use_cache=True, **{kw: st.cache}).logits
    top = logits.topk(TOP_K, dim=-1)  # (b, N, K)
    adj[tok.flatten()] = top.indices.flatten(0, 1)  # recycle every node's candidates
    pred, margin = top.indices[..., 0], top.values[..., 0] - top.values[..., 1]  # (b, N)
    path = _walk(tok, pred, tree)  # (b, D+1) nodes, -1 after the walk stopped
    taken = path >= 0
    at = path.clamp(min=0)
    new = pred.gather(1, at)
    tie = ((margin.gather(1, at) < TIE_MARGIN) & taken).any(1)
    _keep_path(st, at, taken, n)
    st.length += taken.sum(1)
    st.last = new.gather(1, (taken.sum(1) - 1)[:, None]).squeeze(1)
    counts = taken.sum(1).tolist()
    return [row[:c] for row, c in zip(new.tolist(), counts, strict=True)], tie.tolist()


def _walk(tok: torch.Tensor, pred: torch.Tensor, tree: Tree) -> torch.Tensor:
    """(b, D+1) the nodes of each row's greedy path from the root: the walk moves to the child whose token is the
    argmax at the current node, and stops (-1 from there) when no child has it."""
    b = tok.shape[0]
    node = torch.zeros(b, dtype=torch.long, device=tok.device)
    alive = torch.ones(b, dtype=torch.bool, device=tok.device)
    path = [node]
    for _ in range(int(tree.depth.max())):
        kids = tree.children[node]  # (b, C)
        hit = (tok.gather(1, kids.clamp(min=0)) == pred.gather(1, node[:, None])) & (kids >= 0)
        alive = alive & hit.any(1)
        node = torch.where(alive, kids.gather(1, hit.float().argmax(1, keepdim=True)).squeeze(1), node)
        path.append(torch.where(alive, node, -1))
    return torch.stack(path, 1)


def _keep_path(st: _State, at: torch.Tensor, taken: torch.Tensor, n: int) -> None:
    """Cut the tree's N cache slots down to the accepted path's (padded to the longest path, padding masked)."""
    width = int(taken.sum(1).max())
    at, taken = at[:, :width], taken[:, :width]
    for layer in st.cache.layers:
        k, v = layer.keys, layer.values  # (b, H, L + N, D)
        base = k.shape[2] - n
        idx = (base + at)[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3])
        k[:, :, base:base + width] = k.gather(2, idx)  # the path's slots moved to the front of the tree's
        v[:, :, base:base + width] = v.gather(2, idx)
        layer.keys, layer.values = k[:, :, :base + width], v[:, :, :base + width]
    st.bias = torch.cat([st.bias, _additive(taken, st.bias.dtype)], dim=1)

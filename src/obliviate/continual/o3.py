"""O3 (orthogonal LoRA + OOD detector): unlearning a stream of requests without retain data at inference.

    o3, log = fit_stream(model, tokenizer, [request1, request2, ...], overrides={"train.epochs": 10})
    o3(input_ids=ids, attention_mask=mask).logits          # y = base(x) + Σ_t w_t(prompt) · ΔLoRA_t(x)
    o3.save_pretrained("runs/o3/model"); o3 = load_o3("runs/o3/model")

Per request t: a new LoRA adapter (peft, through `engine.unlearn` with the method of choice, NPO by default, its
retain term off) trained on the request's forget items with the orthogonality penalty against adapters 1..t−1
(`orthogonal.py`), and an OOD detector fitted on the request's forget prompts only (`detector.py`). At inference
each prompt gets, per adapter, the weight w_t of its detector (features from the base model, one extra forward
pass at prefill), and the adapters' outputs are added to their modules' outputs scaled by w_t; a prompt all of
whose weights are 0 runs the base model bit-identically. Requests must not overlap (an item asked twice is refused).
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from obliviate.errors import DataError, ModelError

from .detector import Detector, fit_detector
from .orthogonal import add_orthogonality, lora_matrices, orthogonality_penalty

O3_DIR, O3_VERSION = "o3", 1


def item_hash(r: dict) -> str:
    """An item's fingerprint (kept with the adapters instead of the forgotten text itself)."""
    return hashlib.sha256(f"{r['question']}\n{r['answer']}".encode()).hexdigest()


def check_requests(requests: list[list[dict]], seen: dict[str, int] | None = None) -> dict[str, int]:
    """Every request non-empty; no item in two requests (nor in one already unlearned: `seen`, hash → request)."""
    seen = dict(seen or {})
    first = max(seen.values(), default=0)
    for t, req in enumerate(requests, first + 1):
        if not req:
            raise DataError("an empty request (rule: at least one forget item)", field=f"requests[{t}]", value=0)
        for r in req:
            k = item_hash(r)
            if k in seen:
                raise DataError(f"requests overlap: this item is in request {seen[k]} and request {t} (rule: a "
                                "stream's requests are disjoint)", field=f"requests[{t}]", value=r["question"])
            seen[k] = t
    return seen


class O3Model(torch.nn.Module):
    def __init__(self, model, tokenizer, adapters: list[dict], scalings: list[float], detectors: list[Detector],
                 layer: int):
        super().__init__()
        from obliviate.guard.model import template_parts

        self.model, self.tokenizer, self.layer = model, tokenizer, layer
        self.adapters, self.scalings, self.detectors = adapters, scalings, detectors
        self.head, self.tail = template_parts(tokenizer)
        self.special = set(tokenizer.all_special_ids)
        self._w: torch.Tensor | None = None  # (B, n_adapters) while a call runs
        self.stats = {"prompts": 0, "gated": 0, "detector_s": 0.0}
        self.items_seen: dict[str, int] = {}  # item hash → request number
        self._hooks: list = []
        self.attach()

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)

    def _add(self, key: str):
        def hook(module, inputs, output):
            if self._w is None:
                return None
            x, out = inputs[0], output
            for t, ad in enumerate(self.adapters):
                w = self._w[:, t]
                if key in ad and bool((w != 0).any()):
                    a, b = ad[key]
                    delta = (x @ a.T.to(x)) @ b.T.to(x) * self.scalings[t]  # (B, T, d_out)
                    out = out + w.to(x).view(-1, *([1] * (x.ndim - 1))) * delta
            return out
        return hook

    @torch.no_grad()
    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> np.ndarray:
        """(B, d): the base model's hidden state after layer `layer`, averaged over each row's question tokens."""
        from obliviate.guard.model import prompt_positions

        am = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        saved, self._w = self._w, None
        try:
            hs = self.model(input_ids=input_ids, attention_mask=am, output_hidden_states=True).hidden_states
        finally:
            self._w = saved
        h = hs[self.layer].float()  # (B, T, d)
        rows = []
        for b, (ids, m) in enumerate(zip(input_ids.tolist(), am.tolist(), strict=True)):
            real = [i for i, v in enumerate(m) if v]
            pos = [real[i] for i in prompt_positions([ids[i] for i in real], self.head, self.tail, self.special)]
            rows.append(h[b, pos or real].mean(dim=0))
        return torch.stack(rows).cpu().numpy()

    def gate(self, input_ids, attention_mask) -> torch.Tensor | None:
        """(B, n_adapters) weights; None when every weight is 0 (the base model runs untouched)."""
        t0 = time.perf_counter()
        if input_ids is None or input_ids.ndim != 2 or input_ids.shape[1] == 0:
            raise DataError("an O3 model reads a (batch, tokens) tensor of token ids", field="input_ids",
                            value=None if input_ids is None else tuple(input_ids.shape))
        f = self.features(input_ids, attention_mask)
        w = torch.tensor(np.stack([d.weights(f) for d in self.detectors], axis=1), dtype=torch.float32)
        self.stats["prompts"] += len(w)
        self.stats["gated"] += int((w > 0).any(dim=1).sum())
        self.stats["detector_s"] += time.perf_counter() - t0
        return w if bool((w != 0).any()) else None

    def _run(self, fn, input_ids, attention_mask, kwargs):
        w = self.gate(input_ids, attention_mask)
        if w is None:
            return fn(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        self._w = w
        try:
            return fn(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        finally:
            self._w = None

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return self._run(self.model, input_ids, attention_mask, kwargs)

    @torch.no_grad()
    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        return self._run(self.model.generate, input_ids, attention_mask, kwargs)

    def remove(self):
        """Detach the adapters' hooks: the model is then exactly the base model again."""
        for h in self._hooks:
            h.remove()
        self._hooks = []
        return self.model

    def attach(self):
        """(Re-)attach one forward hook per adapted module (after `remove`)."""
        if not self._hooks:
            keys = sorted({k for a in self.adapters for k in a})
            self._hooks = [self.model.get_submodule(k).register_forward_hook(self._add(k)) for k in keys]
        return self

    def save_pretrained(self, folder, **kwargs):
        """The base model as its save_pretrained writes it; adapters and detectors in FOLDER/o3/ (safetensors)."""
        from safetensors.torch import save_file

        from obliviate._atomic import atomic_write_json
        from obliviate.guard import vocab_sha256

        self.model.save_pretrained(folder, **kwargs)
        d = Path(folder) / O3_DIR
        d.mkdir(parents=True, exist_ok=True)
        tensors = {f"{t}/{k}/{ab}": m.detach().contiguous().cpu() for t, ad in enumerate(self.adapters)
                   for k, pair in ad.items() for ab, m in zip("AB", pair, strict=True)}
        for t, det in enumerate(self.detectors):
            tensors[f"{t}/detector/mean"] = torch.from_numpy(det.mean.copy())
            tensors[f"{t}/detector/precision"] = torch.from_numpy(det.precision.copy())
        save_file(tensors, str(d / "adapters.safetensors"))
        atomic_write_json(d / "o3.json", {
            "kind": "o3", "version": O3_VERSION, "layer": self.layer, "scalings": self.scalings,
            "modules": [sorted(a) for a in self.adapters], "tokenizer_sha256": vocab_sha256(self.tokenizer),
            "items": self.items_seen,
            "detectors": [{"tau": d.tau, "sharpness": d.sharpness, "floor": d.floor} for d in self.detectors]})


def load_o3(folder: str | Path, trust_remote_code: bool = False, device=None) -> tuple[O3Model, object]:
    """(O3Model, tokenizer) from a folder written by `O3Model.save_pretrained` (with the tokenizer beside it);
    device: where the base model goes (as `models.load`)."""
    from safetensors.torch import load_file

    from obliviate.guard import vocab_sha256
    from obliviate.models import load

    d = Path(folder) / O3_DIR
    if not (d / "o3.json").is_file():
        raise DataError("no o3/o3.json here (rule: a folder written by O3Model.save_pretrained)", file=folder)
    meta = json.loads((d / "o3.json").read_text())
    if meta.get("kind") != "o3" or meta.get("version") != O3_VERSION:
        raise DataError(f"not an O3 model (rule: kind 'o3', version {O3_VERSION})", file=d / "o3.json",
                        field="kind", value=meta.get("kind"))
    model, tok = load(str(folder), trust_remote_code=trust_remote_code, device=device)
    if vocab_sha256(tok) != meta["tokenizer_sha256"]:
        raise ModelError(f"{folder}: the O3 adapters were fitted with another tokenizer")
    t = load_file(str(d / "adapters.safetensors"))
    adapters = [{k: (t[f"{i}/{k}/A"], t[f"{i}/{k}/B"]) for k in mods} for i, mods in enumerate(meta["modules"])]
    dets = [Detector(t[f"{i}/detector/mean"].numpy(), t[f"{i}/detector/precision"].numpy(), float(m["tau"]),
                     float(m["sharpness"]), float(m["floor"])) for i, m in enumerate(meta["detectors"])]
    o3 = O3Model(model, tok, adapters, list(meta["scalings"]), dets, int(meta["layer"]))
    o3.items_seen = dict(meta.get("items") or {})
    return o3, tok


def fit_stream(model, tokenizer, requests: list[list[dict]], *, method: str = "npo", overrides: dict | None = None,
               lora: dict | None = None, orth_weight: float = 0.1, layer: int | None = None,
               previous: O3Model | None = None) -> tuple[O3Model, list[dict]]:
    """Fit one adapter and one detector per request, in order (continuing `previous`, which is consumed: its
    adapters move into the returned model)."""
    from obliviate.engine import unlearn
    from obliviate.engine.lora import parse_lora

    seen = check_requests(requests, previous.items_seen if previous else None)
    if previous is not None:
        previous.remove()  # its hooks leave the base model: the returned model carries all adapters
    spec = parse_lora(lora or {"r": 8, "alpha": 16, "targets": ["q_proj", "v_proj"]})
    layer = layer if layer is not None else (model.config.num_hidden_layers + 1) // 2
    adapters = list(previous.adapters) if previous else []
    detectors = list(previous.detectors) if previous else []
    scalings = list(previous.scalings) if previous else []
    logs = []
    for req in requests:
        t0 = time.perf_counter()
        work = copy.deepcopy(model)
        prev_a = [{k: a for k, (a, _) in ad.items()} for ad in adapters]
        ov = {**(overrides or {}), "engine.lora_merge": False}
        if method in ("npo", "ga", "simnpo"):
            ov.setdefault("method.retain", "none")  # O3 trains on the request alone: no retain data
        handle = add_orthogonality(work, prev_a, orth_weight, int(ov.get("train.grad_accum", 1)))
        try:
            trained, log = unlearn(work, tokenizer, req, [], method, ov, lora=spec)
        finally:
            handle.remove()
        a_t, b_t = lora_matrices(trained, "lora_A", False), lora_matrices(trained, "lora_B", False)
        adapters.append({k: (a_t[k].detach().clone(), b_t[k].detach().clone()) for k in a_t})
        scalings.append(spec.alpha / spec.r)
        o3 = O3Model(model, tokenizer, adapters[:-1], scalings[:-1], detectors, layer)
        detectors.append(fit_detector(request_features(o3, tokenizer, req)))
        o3.remove()
        penalty = float(orthogonality_penalty({k: a for k, (a, _) in adapters[-1].items()}, prev_a))
        logs.append({"request": len(adapters), "items": len(req), "wall_time_s": round(time.perf_counter() - t0, 3),
                     "steps": log["totals"]["steps"], "tokens": log["totals"]["tokens"],
                     "orthogonality": penalty, "detector_tau": detectors[-1].tau})
    out = O3Model(model, tokenizer, adapters, scalings, detectors, layer)
    out.items_seen = seen
    return out, logs


def request_features(o3: O3Model, tokenizer, records: list[dict], batch_size: int = 32) -> np.ndarray:
    """(N, d) detector features of the records' questions (prompts in the QA template)."""
    from obliviate.models import collate, encode_qa, pad_id

    out = []
    for i in range(0, len(records), batch_size):
        b = collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in records[i:i + batch_size]],
                    pad_id(tokenizer))
        out.append(o3.features(b["input_ids"], b["attention_mask"]))
    return np.concatenate(out)

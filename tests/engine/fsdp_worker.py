"""Worker for the FSDP test: npo with a gradient mask, grad_diff with LoRA and npo with a frozen reference copy
(sharded too), 3 steps each at global batch 4, with `engine.fsdp=true` (FSDP2 `fully_shard` over gloo); each rank
writes losses, how many modules it sharded, and its final weights. Then the npo reference cache of the forget
records and greedy generations, with the batches shared between the ranks.

Run: `torchrun --standalone --nproc_per_node 2 tests/engine/fsdp_worker.py OUT` → OUT.{rank}.json and
OUT.{case}.{rank}.safetensors. `cases()` is shared with the test, which runs the same cases in one process.
"""
import json
import sys

import torch

STEPS, BATCH = 3, 4


def setup():
    """(records, tokenizer, fresh model): the same on every process and in the test."""
    from obliviate.models import build_model, train_tokenizer

    records = [{"question": f"Where does Ada Vale{i} live?", "answer": f"Ada Vale{i} lives in town {i % 7}.",
                "id": f"r{i}"} for i in range(24)]
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in records] + ["Question: \nAnswer:"],
                          vocab_size=300)
    return records, tok, lambda: build_model("tiny", tok, seed=0)


def mask_for(model) -> dict[str, torch.Tensor]:
    """Freeze the first 5 rows of layer 0's up-projection (5 of them fall in rank 0's shard; with 176 rows, the
    mask crosses no shard boundary) and rows 30..33 of layer 1's q_proj (64 rows: the cut at 32 splits them)."""
    named = dict(model.named_parameters())
    up = torch.ones_like(named["model.layers.0.mlp.up_proj.weight"])
    up[:5] = 0
    q = torch.ones_like(named["model.layers.1.self_attn.q_proj.weight"])
    q[30:34] = 0
    return {"model.layers.0.mlp.up_proj.weight": up, "model.layers.1.self_attn.q_proj.weight": q}


def cases(model, accum: int, fsdp: bool) -> dict[str, dict]:
    """{case: keyword arguments of unlearn} for one process count."""
    base = {"train.max_steps": STEPS, "train.batch_size": BATCH, "train.grad_accum": accum,
            "engine.progress": False, "engine.fsdp": fsdp, "engine.eval_every": STEPS}
    return {"npo_mask": {"method": "npo", "overrides": base, "masks": mask_for(model)},
            "grad_diff_lora": {"method": "grad_diff", "overrides": base, "lora": "r=4,alpha=8,targets=q_proj,v_proj"},
            "npo_frozen_copy": {"method": "npo", "overrides": base | {"engine.ref_cache": False}}}


def ref_cache() -> tuple[dict[str, float], int]:
    """(the npo reference cache of the 8 forget records at batch 3, how many of them this process scored)."""
    from obliviate.engine.forward import build_ref_cache, encode_records, record_keys
    from obliviate.models import forward_logprobs, pad_id

    records, tok, fresh = setup()
    model, scored = fresh(), []

    class Counting:  # a Reference that counts the rows it scores
        def forward(self, batch):
            scored.append(len(batch["input_ids"]))
            return forward_logprobs(model, batch)

    forget = records[:8]
    enc = encode_records(tok, forget, "forget", 512)
    cache = build_ref_cache(model, Counting(), enc, record_keys(forget, "forget"), pad_id(tok), 3)
    return cache, sum(scored)


def generations() -> list[list[int]]:
    """Greedy ids for 8 prompts of varying length, batches of 3 (shared out between the ranks by `spread`)."""
    from obliviate.models import generate_ids, pad_id, prompt_ids

    records, tok, fresh = setup()
    prompts = [prompt_ids(tok, r["question"] + " and" * (i % 3)) for i, r in enumerate(records[:8])]
    return generate_ids(fresh(), prompts, [4 + i % 3 for i in range(8)], pad_id(tok), tok.eos_token_id, 3)


def run_case(name: str, accum: int, fsdp: bool):
    from obliviate.engine import unlearn

    records, tok, fresh = setup()
    model = fresh()
    kw = cases(model, accum, fsdp)[name]
    return unlearn(model, tok, records[:8], records[8:], **kw)


if __name__ == "__main__":
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    from obliviate.engine import sharding

    out = sys.argv[1]
    found, calls = {}, []
    original = sharding.shard
    sharding.shard = lambda model, device: calls.append(type(model).__name__) or original(model, device)
    for case in ("npo_mask", "grad_diff_lora", "npo_frozen_copy"):
        calls.clear()
        model, log = run_case(case, 1, True)
        rank = torch.distributed.get_rank()
        found[case] = {"losses": [e["loss"] for e in log["log"]], "grad_norms": [e["grad_norm"] for e in log["log"]],
                       "curve": log["curve"][-1]["metrics"], "processes": log["config"]["processes"],
                       "sharded": len(calls)}
        save_file({k: v.detach().clone() for k, v in model.named_parameters()}, f"{out}.{case}.{rank}.safetensors")
    cache, scored = ref_cache()
    found["ref_cache"] = {"cache": cache, "scored": scored}
    found["generations"] = generations()
    with open(f"{out}.{rank}.json", "w") as f:
        json.dump(found, f)

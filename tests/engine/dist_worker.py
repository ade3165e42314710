"""Worker for the distributed test: a 4-step npo run on a fixed tiny model; writes losses and retain draws as JSON.

Run: `torchrun --standalone --nproc_per_node 2 tests/engine/dist_worker.py OUT.json 1` (last arg: grad_accum).
"""
import json
import sys

import torch

from obliviate.engine import sampler as sampler_mod
from obliviate.engine import unlearn
from obliviate.models import build_model, train_tokenizer

torch.set_num_threads(1)
out, accum = sys.argv[1], int(sys.argv[2])
records = [{"question": f"Where does Ada Vale{i} live?", "answer": f"Ada Vale{i} lives in town {i % 7}.",
            "id": f"r{i}"} for i in range(24)]
tok = train_tokenizer([r["question"] + " " + r["answer"] for r in records] + ["Question: \nAnswer:"], vocab_size=300)
model = build_model("tiny", tok, seed=0)
drawn = []
original = sampler_mod.PairingSampler.local_batches


def spy(self, step):
    batches = original(self, step)
    drawn.append([r for _, rs in batches for r in rs])
    return batches


sampler_mod.PairingSampler.local_batches = spy
_, log = unlearn(model, tok, records[:8], records[8:], "npo",
                 {"train.max_steps": 4, "train.batch_size": 4, "train.grad_accum": accum, "engine.progress": False})
rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
with open(f"{out}.{rank}", "w") as f:
    json.dump({"losses": [e["loss"] for e in log["log"]], "drawn": drawn,
               "processes": log["config"]["processes"]}, f)

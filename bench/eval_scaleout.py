"""Speed-up of `obliviate eval` shared out over processes: the same evaluation under torchrun with 1 and with N
CPU processes (gloo), each with one torch thread; checks that the two results.json agree on every value.

Untrained `tiny` target and oracle on a persons corpus (no EOS, so every generation runs to its full budget: the
generation-bound worst case). Figures: evaluate()'s own seconds (`timing.total_s`, without start-up) and the
launch's wall seconds. A speed-up needs N free cores: on a shared machine it measures the contention too.
Run: OMP_NUM_THREADS=1 .venv/bin/python bench/eval_scaleout.py [--procs 2] [--persons 20] [--facts 4]
The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from obliviate.data.persons import generate
from obliviate.models import build_model, save, train_tokenizer
from obliviate.models.corpus import corpus_texts

SAME = ("config", "conventions", "metrics", "oracle", "muse")


def launch(nproc: int, root: Path, corpus: Path, out: Path) -> float:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", "-m", "obliviate.cli", "eval",
           "--model", str(root / "target"), "--oracle", str(root / "oracle"), "--data", str(corpus),
           "--forget", "forget10", "--out", str(out), "--batch-size", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--persons", type=int, default=20)
    ap.add_argument("--facts", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "persons"
        generate(corpus, persons=args.persons, facts=args.facts, holdout=4, seed=0)
        tok = train_tokenizer(corpus_texts(corpus), vocab_size=512)
        for name, seed in (("target", 0), ("oracle", 1)):
            save(build_model("tiny", tok, seed=seed), tok, root / name)
        rows = {}
        for n in (1, args.procs):
            wall = launch(n, root, corpus, root / f"r{n}.json")
            r = json.loads((root / f"r{n}.json").read_text())
            rows[n] = {"wall_s": round(wall, 1), "eval_s": round(r["timing"]["total_s"], 1), "results": r}
            print(f"{n} process(es): eval {rows[n]['eval_s']} s, launch wall {rows[n]['wall_s']} s")
        one, many = rows[1]["results"], rows[args.procs]["results"]
        same = all(one.get(k) == many.get(k) for k in SAME)
        speedup = rows[1]["eval_s"] / rows[args.procs]["eval_s"]
        print(f"speed-up of evaluate() with {args.procs} processes: {speedup:.2f}x; results identical: {same}")
        print(json.dumps({"procs": args.procs, "eval_s": {n: rows[n]["eval_s"] for n in rows},
                          "wall_s": {n: rows[n]["wall_s"] for n in rows}, "speedup": round(speedup, 2),
                          "identical": same, "sequences": one["timing"]["sequences"],
                          "generations": one["timing"]["generations"], "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

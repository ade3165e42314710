"""Issue 13's stream with per-step oracles, and the audit of the ECO and O3 models: a MUSE C6 stream of K requests
for O3, NPO applied sequentially (the shipped persons recipe) and ECO refitted per request, each step judged by an
oracle trained without every request so far (`--step-oracles`); then `obliviate audit` (every attack) of the model
behind an ECO guard fitted on the whole forget set and of an O3 folder unlearned over the same K requests.

    OMP_NUM_THREADS=1 .venv/bin/python bench/stream_audit.py --data CORPUS --model TARGET --oracle ORACLE \\
        --out runs/stream-audit --step-oracles train [--parts o3,npo,eco,audit-eco,audit-o3] [--collect]

Each part writes OUT/<part>...; parts can run in separate processes side by side; `--collect` reads what is there
and prints one JSON line: per method and step (forget quality, forget P̃, utility, detector / guard FPR on retain,
cost, the judging oracle) and per audited model its verdicts and the model each attack saw.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from obliviate.cli import main as cli

NPO = ["method.beta=0.1", "method.gamma=1.0", "method.alpha=1.0", "method.retain=nll", "train.epochs=8",
       "train.lr=5e-4", "train.batch_size=8", "train.max_grad_norm=1.0"]  # configs/persons/npo.yaml
O3 = ["train.epochs=10", "train.lr=2e-3"]  # bench/guard_o3.py's O3 settings (LoRA r 8 on q/v)
SETS = {"o3": O3, "npo": NPO, "eco": []}


def stream(a, method: str) -> None:
    sets = [x for s in SETS[method] for x in ("--set", s)]
    cli(["eval", "--model", a.model, "--oracle", a.oracle, "--data", a.data, "--suite", a.suite, "--protocol",
         "sustainability", "--requests", str(a.requests), "--method", method, "--step-oracles", a.step_oracles,
         *sets, "--out", str(Path(a.out) / f"c6-{method}.json")])


def audit_part(a, which: str) -> None:
    out = Path(a.out)
    common = ["--oracle", a.oracle, "--data", a.data]
    if which == "eco":
        cli(["guard", "fit", "--data", a.data, "--model", a.model, "--oracle", a.oracle, "--out", str(out / "guard")])
        cli(["audit", "--model", a.model, "--guard", str(out / "guard"), *common, "--out", str(out / "audit-eco")])
    else:
        sets = [x for s in O3 for x in ("--set", s)]
        cli(["unlearn", "--model", a.model, "--data", a.data, "--method", "o3", "--requests", str(a.requests),
             "--quiet", "--lora", "r=8,alpha=16,targets=q_proj,v_proj", *sets, "--out", str(out / "o3")])
        cli(["audit", "--model", str(out / "o3" / "model"), *common, "--out", str(out / "audit-o3")])


def step_row(out: Path, method: str, row: dict) -> dict:
    res = json.loads((out / f"c6-{method}.steps" / f"request-{row['request']}" / "results.json").read_text())
    block = res.get("guard") or res.get("o3") or {}
    rates = block.get("rates") or block.get("gate") or {}
    return {"request": row["request"], "items": row["forget_items"],
            **{k: row["metrics"].get(k) for k in ("forget_quality", "forget/prob", "model_utility")},
            "fpr_retain": (rates.get("fpr_retain") or {}).get("value"),
            "cost_s": row["cost"].get("wall_time_s"), "cost_ratio": row["cost"].get("cost_ratio"),
            "oracle": {k: row["oracle"].get(k) for k in ("path", "source", "check")}}


def collect(a) -> dict:
    out = Path(a.out)
    found = {"stream": {}, "audit": {}}
    for method in SETS:
        path = out / f"c6-{method}.json"
        if path.is_file():
            found["stream"][method] = [step_row(out, method, r) for r in json.loads(path.read_text())["protocol"]["steps"]]
    for which in ("eco", "o3"):
        path = out / f"audit-{which}" / "audit.json"
        if path.is_file():
            r = json.loads(path.read_text())
            found["audit"][which] = {"verdicts": r["verdicts"], "wrapper": r.get("wrapper"), "seconds": r["seconds"],
                                     "attack_s": {k: v.get("seconds") for k, v in r["attacks"].items()}}
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--data", "--model", "--oracle", "--out"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--step-oracles", default="train", help="train, or one oracle folder per request")
    ap.add_argument("--requests", type=int, default=4)
    ap.add_argument("--suite", default="tofu")
    ap.add_argument("--parts", default="o3,npo,eco,audit-eco,audit-o3")
    ap.add_argument("--collect", action="store_true", help="only read what the parts wrote")
    a = ap.parse_args()
    torch.set_num_threads(1)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    for part in [] if a.collect else a.parts.split(","):
        audit_part(a, part.removeprefix("audit-")) if part.startswith("audit-") else stream(a, part)
    print(json.dumps(collect(a)))


if __name__ == "__main__":
    main()

"""ECO guard and O3 next to NPO on one forget request (and optionally a MUSE C6 stream of K requests): forget
quality, utility, the guard's / detector's false-positive and false-negative rates, latency overhead per prompt,
and cost against retraining.

Needs a corpus, a trained target and oracle (the demo's: `obliviate demo --methods npo` caches them and writes
OUT/{target,oracle,npo}/results.json). Run:
    OMP_NUM_THREADS=1 .venv/bin/python bench/guard_o3.py --data runs/demo/corpus --model CACHE/small-full-* \\
        --oracle CACHE/small-retain90-* --demo runs/demo --out runs/guard-bench [--stream 4] [--suite tofu]
The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from obliviate.cli import main as cli


def metrics(path: Path) -> dict:
    r = json.loads(path.read_text())
    m = {k: r["metrics"][k]["value"] for k in ("forget_quality", "model_utility", "forget/prob", "retain/prob",
                                                "neighbours_utility", "privleak") if k in r["metrics"]}
    m["cost_s"] = (r.get("cost") or {}).get("wall_time_s")
    m["cost_ratio"] = (r.get("cost") or {}).get("cost_ratio")
    for block in ("guard", "o3"):
        if block in r:
            b = r[block]
            m[block] = {k: b[k] for k in ("rates", "gate", "latency_ms_per_prompt") if k in b}
    return m


def latency(model_dir: str, guard_dir: Path, o3_dir: Path, data: str, n: int = 64) -> dict:
    """ms per prompt of a prefill forward pass (batch 1) of retain questions: base, guarded, O3-gated."""
    from obliviate.continual import load_o3
    from obliviate.data import load_splits
    from obliviate.guard import load_guarded
    from obliviate.models import load, prompt_ids

    base, tok = load(model_dir)
    guarded, _ = load_guarded(model_dir, str(guard_dir))
    o3, _ = load_o3(str(o3_dir))
    qs = [r["question"] for r in load_splits(data).retain[:n]]
    out = {}
    for name, m in (("base", base), ("eco", guarded), ("o3", o3)):
        m.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            for q in qs:
                m(input_ids=torch.tensor([prompt_ids(tok, q)]), attention_mask=None)
        out[name] = 1000 * (time.perf_counter() - t0) / len(qs)
    return {"ms_per_prompt": out, "overhead_ms": {k: out[k] - out["base"] for k in ("eco", "o3")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--demo", default=None, help="demo folder with target/oracle/npo results.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--suite", default="all")
    ap.add_argument("--fpr", default="0.05")
    ap.add_argument("--o3-set", action="append", default=["train.epochs=10", "train.lr=2e-3"])
    ap.add_argument("--stream", type=int, default=0, help="also run C6 with this many requests (0: skip)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ev = ["--oracle", a.oracle, "--data", a.data, "--suite", a.suite]
    rows, t = {}, {}
    t0 = time.perf_counter()
    cli(["guard", "fit", "--data", a.data, "--model", a.model, "--oracle", a.oracle, "--fpr", a.fpr,
         "--out", str(out / "guard")])
    cli(["eval", "--model", a.model, "--guard", str(out / "guard"), *ev, "--out", str(out / "eco.json")])
    t["eco_s"] = time.perf_counter() - t0
    rows["eco"] = metrics(out / "eco.json")
    t0 = time.perf_counter()
    sets = [x for s in a.o3_set for x in ("--set", s)]
    cli(["unlearn", "--model", a.model, "--data", a.data, "--method", "o3", "--requests", "1", "--quiet",
         "--lora", "r=8,alpha=16,targets=q_proj,v_proj", *sets, "--out", str(out / "o3")])
    cli(["eval", "--model", str(out / "o3" / "model"), *ev, "--out", str(out / "o3.json")])
    t["o3_s"] = time.perf_counter() - t0
    rows["o3"] = metrics(out / "o3.json")
    for name in ("target", "oracle", "npo"):
        if a.demo and (Path(a.demo) / name / "results.json").is_file():
            rows[name] = metrics(Path(a.demo) / name / "results.json")
    lat = latency(a.model, out / "guard", out / "o3" / "model", a.data)
    stream = {}
    if a.stream:
        for method, extra in (("o3", sets), ("npo", []), ("eco", [])):
            path = out / f"c6-{method}.json"
            cli(["eval", "--model", a.model, *ev, "--protocol", "sustainability", "--requests", str(a.stream),
                 "--method", method, *extra, "--out", str(path)])
            r = json.loads(path.read_text())
            stream[method] = [{"request": s["request"], "items": s["forget_items"],
                               **{k: s["metrics"].get(k) for k in ("forget_quality", "model_utility")},
                               "cost_s": s["cost"].get("wall_time_s")} for s in r["protocol"]["steps"]]
    for name, r in rows.items():
        print(f"{name:7s} fq {r.get('forget_quality')!s:.8} mu {r.get('model_utility')!s:.6} "
              f"forget/prob {r.get('forget/prob')!s:.6} cost {r.get('cost_s')!s:.7} s")
    print(json.dumps({"rows": rows, "latency": lat, "stream": stream, "wall": t}))


if __name__ == "__main__":
    main()

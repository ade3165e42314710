"""The demo, stage by stage: corpus → target and oracle (cached) → their evaluation → every method → report.

    from obliviate.demo import run_demo
    outcome = run_demo("runs/demo", quick=True)     # outcome["rows"], outcome["errors"], outcome["timings"]

Training and the methods run in `jobs` spawn-context worker processes (one torch thread each); with jobs=1
everything runs in this process. A method that fails is recorded (OUT/<method>/error.txt) and the others go on.
With jobs > 1, call `run_demo` from a script under `if __name__ == "__main__":` (spawned workers re-import it).
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

from obliviate.errors import ObliviateError
from obliviate.run import train_cost

from . import summary
from .settings import DemoConfig, cache_key, method_fragment, select_methods
from .workers import quiet, run_method, start_pool, train_model


class Demo:
    """One demo run; `run()` returns {"rows", "errors", "timings", "out", "report", "cache"}."""

    def __init__(self, cfg: DemoConfig, log=print):
        cfg.check()
        self.cfg, self.log, self.out = cfg, log, Path(cfg.out)
        self.methods = select_methods(cfg.methods)
        self.timings: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.pool: ProcessPoolExecutor | None = None
        self.warming: list = []  # futures of the workers' `ready` answers (their start-up seconds)

    def run(self) -> dict:
        t0 = time.perf_counter()
        self.log(f"[demo] {self.cfg.mode} mode: {self.cfg.persons} persons x {self.cfg.facts} facts, preset "
                 f"{self.cfg.preset}, {len(self.methods)} methods, {self.cfg.jobs} jobs -> {self.out}")
        if self.cfg.jobs > 1:  # the workers start (and import) now, while this process builds the corpus
            self.pool, self.warming = start_pool(self.cfg.jobs)
        import torch

        threads = torch.get_num_threads()
        # One torch thread here too: parallelism comes from `jobs`; with other load on the cores, a 2-thread
        # evaluation of these small models measured ~20x slower than a 1-thread one (OpenMP threads spinning).
        # The caller's thread count is restored afterwards; warnings are quieted for the demo's own work only.
        torch.set_num_threads(1)
        try:
            with quiet():
                corpus = self._stage("corpus", self.corpus)
                models = self._stage("train", self.models, corpus)
                refs = self._stage("evaluate", self.reference_results, corpus, models)
                done = self._stage("methods", self.unlearn_all, corpus, models)
                report = self._stage("report", self.report, refs, done)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
            torch.set_num_threads(threads)
        self.timings["total"] = time.perf_counter() - t0
        started = [f.result() for f in self.warming if f.done() and not f.exception()]
        if started:  # seconds each worker spent importing, overlapped with the stages above (not on their path)
            self.timings["worker_imports"] = max(w["import_s"] for w in started)
        rows = self.rows(refs, done)
        self.log("\n" + summary.format_table(rows))
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items() if k not in ("total", "worker_imports"))
        self.log(f"\n[demo] total wall time {self.timings['total']:.1f} s ({stages}); report: {report or '-'}")
        outcome = {"rows": rows, "errors": self.errors, "timings": self.timings, "out": str(self.out),
                   "report": str(report) if report else None, "cache": models["status"],
                   "config": {**asdict(self.cfg), "out": str(self.cfg.out), "cache": str(self.cfg.cache_dir)}}
        from obliviate._atomic import atomic_write_json

        atomic_write_json(self.out / "summary.json", outcome)
        return outcome

    def _stage(self, name: str, fn, *args):
        t = time.perf_counter()
        result = fn(*args)
        self.timings[name] = time.perf_counter() - t
        return result

    def _map(self, stage: str, fn, jobs: list[dict]):
        """(job, result or exception) pairs, in completion order; in this process when there is no pool.

        A worker that dies (killed, out of memory) or outlives `job_timeout` seconds is reported as a
        `WorkerError` naming the stage and the job, never as a bare timeout of the caller.
        """
        if self.pool is None:
            for job in jobs:
                try:
                    yield job, fn(job)
                except Exception as e:
                    yield job, e
            return
        futures = {self.pool.submit(fn, job): job for job in jobs}
        try:
            for f in as_completed(futures, timeout=self.cfg.job_timeout):
                try:
                    yield futures[f], f.result()
                except BrokenProcessPool as e:  # a worker process died: the pool cannot run anything else
                    yield futures[f], WorkerError(f"{stage}: the worker running {_job_name(futures[f])} died "
                                                  f"({e}); the other jobs of this stage were lost with it")
                except Exception as e:
                    yield futures[f], e
        except TimeoutError:
            late = [job for f, job in futures.items() if not f.done()]
            self._stop_pool()
            for job in late:
                yield job, WorkerError(f"{stage}: {_job_name(job)} did not finish within {self.cfg.job_timeout:g} "
                                       "s (job_timeout): hung, or the machine is far slower than expected")

    def _stop_pool(self) -> None:
        """End the workers now (a hung one never returns on its own) and run what is left in this process."""
        for proc in list(getattr(self.pool, "_processes", {}).values()):  # no public API to kill a pool's workers
            proc.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = None

    def corpus(self) -> Path:
        from obliviate.data.persons import generate

        path = self.out / "corpus"
        manifest = generate(path, persons=self.cfg.persons, facts=self.cfg.facts, holdout=self.cfg.n_holdout,
                            seed=self.cfg.seed)
        self.log(f"[demo] corpus: {path} ({sum(manifest.get('counts', {}).values())} records)")
        return path

    def models(self, corpus: Path) -> dict:
        """Target (split full) and oracle (the forget split's complement): from the cache, or trained into it."""
        from obliviate.data.splits import complement
        from obliviate.models.corpus import corpus_digest, read_train_log, recipe
        from obliviate.models.train import memorisation_warning, training_summary

        overrides = self.cfg.train_recipe_overrides()
        resolved = asdict(recipe(self.cfg.preset, overrides))
        digest = corpus_digest(corpus)
        paths, status, jobs = {}, {}, []
        for role, split in (("target", "full"), ("oracle", complement(self.cfg.forget))):
            key = cache_key(digest, self.cfg.preset, resolved, self.cfg.seed, split)
            paths[role] = self.cfg.cache_dir / "models" / f"{self.cfg.preset}-{split}-{key}"
            if read_train_log(paths[role]) is not None:
                status[role] = "cached"
                self.log(f"[demo] {role}: cached ({paths[role]})")
            else:
                jobs.append({"role": role, "corpus": str(corpus), "split": split, "dest": str(paths[role]),
                             "preset": self.cfg.preset, "overrides": overrides})
        for job, res in self._map("train", train_model, jobs):
            if isinstance(res, Exception):
                raise ObliviateError(f"demo: training the {job['role']} failed: {type(res).__name__}: {res}")
            status[job["role"]] = "trained"
            self.log(f"[demo] {job['role']}: trained in {res['wall_time_s']:.1f} s (final loss "
                     f"{res['final_loss']:.4f}, exact answers {res['accuracy']}) -> {job['dest']}")
        logs = {role: read_train_log(p) for role, p in paths.items()}
        for role, log in logs.items():
            warning = memorisation_warning(log, role)
            if warning:
                self.log(f"[demo] {warning}")
        training = {role: training_summary(log) for role, log in logs.items()}
        return {"paths": {k: str(v) for k, v in paths.items()}, "status": status, "logs": logs, "training": training}

    def reference_results(self, corpus: Path, models: dict) -> dict:
        """The oracle against itself and the target against the oracle: OUT/{oracle,target}/results.json."""
        from obliviate.data import load_splits
        from obliviate.eval.suite import evaluate
        from obliviate.models import load
        from obliviate.results import write_results

        splits = load_splits(corpus, forget=self.cfg.forget)
        out = {}
        for role in ("oracle", "target"):
            model, tokenizer = load(models["paths"][role])
            log = models["logs"][role]
            cost = train_cost(log) | ({"cost_ratio": 1.0} if role == "oracle" else {})
            config = {"role": role, "model": models["paths"][role], "preset": self.cfg.preset,
                      "recipe": log.get("recipe"), "split": log.get("split"), "corpus": str(corpus),
                      "forget": self.cfg.forget, "cache": models["status"][role]}
            against = {"oracle": model} if role == "oracle" else {"oracle_results": out["oracle"]}
            out[role] = evaluate(model, tokenizer, splits, **against, config=config, cost=cost, name=role,
                                 seed=self.cfg.seed, training=models["training"])
            write_results(self.out / role / "results.json", out[role])
        self.log(f"[demo] evaluated oracle and target -> {self.out}/{{oracle,target}}/results.json")
        return out

    def unlearn_all(self, corpus: Path, models: dict) -> dict:
        jobs = []
        for method in self.methods:
            out = self.out / method
            for stale in ("results.json", "error.txt", "run.json"):  # a failure must not leave the last run's file
                (out / stale).unlink(missing_ok=True)
            try:
                spec = self.method_spec(method, corpus, models)
            except ObliviateError as e:  # a bad shipped setting: recorded like a failed run, the others go on
                out.mkdir(parents=True, exist_ok=True)
                (out / "error.txt").write_text(f"{type(e).__name__}: {e}\n")
                self._fail(method, f"{type(e).__name__}: {e}")
                continue
            jobs.append({"method": method, "spec": spec})
        done = {}
        for job, res in self._map("methods", run_method, jobs):
            if isinstance(res, Exception):
                res = {"method": job["method"], "error": f"{type(res).__name__}: {res}"}
            if res.get("error"):
                self._fail(job["method"], res["error"])
                continue
            done[job["method"]] = res
            s = res["summary"]
            self.log(f"[demo] {job['method']}: done in {res['seconds']:.1f} s (forget_quality "
                     f"{s.get('forget_quality', float('nan')):.3g}, model_utility "
                     f"{s.get('model_utility', float('nan')):.3g}"
                     + (f", stopped at step {res['stopped_at']} by the holdout rule" if res.get("stopped_at") else "")
                     + ")")
        return done

    def method_spec(self, method: str, corpus: Path, models: dict) -> dict:
        """The run spec of one method: its shipped fragment on the cached target, against the evaluated oracle;
        validated here, so that a bad shipped setting fails before any worker starts."""
        from obliviate.spec import load_spec

        fragment = method_fragment(method, self.cfg.quick)
        spec = {**fragment, "name": method, "model": models["paths"]["target"], "data": str(corpus),
                "forget": self.cfg.forget, "engine": {"progress": False, **fragment.get("engine", {})},
                "eval": {"oracle": models["paths"]["oracle"], "oracle_results": str(self.out / "oracle" / "results.json"),
                         "target_results": str(self.out / "target" / "results.json")},
                "out": str(self.out / method), "save_model": False, "seed": self.cfg.seed}
        if self.cfg.stop != "none":  # oracle-free early stop on the corpus's holdout persons (engine/stopping.py)
            spec["stop"] = {"rule": self.cfg.stop, "every": self.cfg.stop_every}
        load_spec(spec)
        return spec

    def _fail(self, method: str, error: str) -> None:
        self.errors[method] = error
        self.log(f"[demo] {method}: FAILED: {error}")

    def report(self, refs: dict, done: dict) -> Path | None:
        from obliviate.report import write_report

        paths = [self.out / "target" / "results.json", self.out / "oracle" / "results.json"]
        paths += [Path(done[m]["results"]) for m in self.methods if m in done]
        try:
            path = write_report(paths, self.out / "report.html", title=f"obliviate demo ({self.cfg.mode})")
        except Exception as e:  # the results files are written; say why the page is missing
            self._fail("report", f"{type(e).__name__}: {e}")
            return None
        self.log(f"[demo] report: {path}")
        return path

    def rows(self, refs: dict, done: dict) -> list[dict]:
        import json

        target_mu = summary.row("target", refs["target"], None)["model_utility"]
        rows = [summary.row(r, refs[r], target_mu) for r in ("target", "oracle")]
        for m in self.methods:
            results = json.loads(Path(done[m]["results"]).read_text()) if m in done else None
            rows.append(summary.row(m, results, target_mu, self.errors.get(m)))
        return rows


class WorkerError(ObliviateError):
    """A worker process died or outlived its time limit; the message names the stage and the job."""


def _job_name(job: dict) -> str:
    return f"{job.get('method') or job.get('role') or 'a job'!s}"


def run_demo(out: str | Path = "runs/demo", quick: bool = False, *, persons: int | None = None,
             facts: int | None = None, preset: str | None = None, methods=None, jobs: int | None = None,
             cache: str | Path | None = None, seed: int | None = None, job_timeout: float | None = None,
             stop: str | None = None, log=print) -> dict:
    """Run the whole demo (see the module docstring); None keeps the mode's default."""
    cfg = DemoConfig.for_mode(quick, out=Path(out), persons=persons, facts=facts, preset=preset,
                              methods=tuple(methods) if methods else None, jobs=jobs,
                              cache=Path(cache) if cache else None, seed=seed, job_timeout=job_timeout,
                              stop=stop)
    return Demo(cfg, log).run()


#!/usr/bin/env python3
"""Fits per minute of the simulation-study engine against a loop of `scripts/fit.py` calls.

All on the bundled cohort's design (SYNTHETIC), OS, headline model (weibull_ph_centre), the same
draws everywhere (default 2 chains x 500 draws after 500 tuning steps), the same 2 cores:
  * fit.py loop: `scripts/fit.py` run --loop times, one after another, each a fresh process
    (imports, compilation, sampling with its 2 chains on 2 cores, predictive draws, writing);
  * engine, 2 workers: a LocalCluster of 2 single-threaded processes, each compiling the model
    once (Refitter) and refitting it to every task's outcomes (chains one after another);
  * engine, 2 workers, no cache: the same, with a new compiled model for every task (what the
    compile-once reuse saves);
  * engine, 1 worker: how fits per minute grow with workers.
Each engine run counts its whole wall time: the cluster's start, every compilation, every fit.
A task's outcomes are the cohort's own times each multiplied by a unit exponential draw seeded
by the task (events kept): the point here is speed, not calibration. The machine's load
(`uptime`) is printed beside each figure: on a shared machine the figures move with it.

Usage: benchmarks/bench_study.py [--tasks 16] [--loop 4] [--draws 500] [--tune 500]
                                 [--chains 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nen_bayes.bayes.design import make_design  # noqa: E402
from nen_bayes.bayes.refit import Refitter  # noqa: E402
from nen_bayes.bayes.spec import in_time_unit, load_spec  # noqa: E402
from nen_bayes.cohorts.cohort import load_cohort  # noqa: E402
from nen_bayes.data import BUNDLED_COHORT  # noqa: E402
from nen_bayes.re_nen import RE_NEN  # noqa: E402
from nen_bayes.settings import Sampling  # noqa: E402
from nen_bayes.studies.engine import run_study, task_seed  # noqa: E402

MODEL = "weibull_ph_centre"


@dataclass(frozen=True)
class RefitKind:
    """A study kind for the benchmark: ``reps`` refits of the headline model to new outcomes."""

    spec: object
    cohort: object
    reps: int
    seed: int
    sampling: Sampling
    name: str = "bench"

    def plan(self) -> list[dict]:
        return [{"task": i, "seed": task_seed(self.seed, i)} for i in range(self.reps)]

    def model_key(self, task: dict) -> tuple:
        return ("bench", self.spec.hash, len(self.cohort))

    def make_fitter(self, key) -> Refitter:
        spec, _ = in_time_unit(self.spec, self.cohort.schema.time_unit)
        return Refitter(spec, make_design(spec, self.cohort, "os"), sampling=self.sampling)

    def run_task(self, task: dict, fitter: Refitter) -> dict:
        d = fitter.design
        rng = np.random.default_rng(task["seed"])
        tree = fitter.fit(d.time * rng.exponential(1.0, d.n), d.event, seed=task["seed"])
        return {"sampling_s": float(tree.attrs["sampling_s"]),
                "compile_s": float(fitter.compile_seconds), "fits_by_fitter": fitter.n_fits}

    def summarise(self, table):
        return table


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime: not available"


def fit_loop(n: int, s: Sampling, tmp: str) -> float:
    """Seconds for ``n`` runs of scripts/fit.py, one after another."""
    cmd = [sys.executable, "scripts/fit.py", "--data", str(BUNDLED_COHORT), "--endpoint", "os",
           "--model", f"models/{MODEL}", "--draws", str(s.draws), "--tune", str(s.tune),
           "--chains", str(s.chains), "--quiet", "--formats", "png"]
    t0 = time.perf_counter()
    for i in range(n):
        subprocess.run([*cmd, "--seed", str(i + 1), "--out", f"{tmp}/fit{i}"], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def engine(kind: RefitKind, workers: int, reuse: bool, out: str) -> dict:
    t0 = time.perf_counter()
    run = run_study(kind, out, workers=workers, reuse_models=reuse, progress=False)
    wall = time.perf_counter() - t0
    t = run.table
    ok = t[t["status"] == "ok"]
    warm = ok[ok["fits_by_fitter"] > 1] if reuse else ok.iloc[:0]
    return {"wall_s": round(wall, 2), "fits": len(ok), "failed": int(len(t) - len(ok)),
            "fits_per_min": round(60 * len(ok) / wall, 2),
            "mean_compile_s": round(float(ok["compile_s"].mean()), 2),
            "compiles": int(ok["worker"].nunique() if reuse else len(ok)),
            "mean_sampling_s": round(float(ok["sampling_s"].mean()), 3),
            # once every worker has compiled: a task's whole time (data swap, sampling, row)
            "steady_fits_per_min_per_worker": round(60 / float(warm["seconds"].mean()), 2)
            if len(warm) else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=16, help="fits of each engine run (16)")
    parser.add_argument("--loop", type=int, default=4, help="fit.py runs of the loop (4)")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    s = Sampling(draws=args.draws, tune=args.tune, chains=args.chains, cores=1)
    spec = load_spec(MODEL)
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    figures: dict = {"settings": f"{args.chains} chains x {args.draws} draws after {args.tune} "
                                 f"tuning steps, bundled cohort (SYNTHETIC), OS, {MODEL}"}
    print(figures["settings"])
    with tempfile.TemporaryDirectory() as tmp:
        rows = []

        def record(name, res, before):
            res = {"run": name, **res, "load_before": before, "load_after": uptime()}
            rows.append(res)
            print(json.dumps(res), flush=True)

        before = uptime()
        wall = fit_loop(args.loop, s, tmp)
        record("fit.py loop (2 chains on 2 cores)",
               {"wall_s": round(wall, 2), "fits": args.loop,
                "fits_per_min": round(60 * args.loop / wall, 2)}, before)
        kind = RefitKind(spec, cohort, args.tasks, 1, s)
        for name, workers, reuse, n in (("engine, 2 workers", 2, True, args.tasks),
                                        ("engine, 2 workers, no cache", 2, False,
                                         max(args.tasks // 2, 2)),
                                        ("engine, 1 worker", 1, True, max(args.tasks // 2, 2))):
            before = uptime()
            k = RefitKind(spec, cohort, n, 1, s) if n != kind.reps else kind
            record(name, engine(k, workers, reuse, f"{tmp}/{len(rows)}"), before)
    by = {r["run"]: r for r in rows}
    loop = by["fit.py loop (2 chains on 2 cores)"]["fits_per_min"]
    two, nocache = by["engine, 2 workers"], by["engine, 2 workers, no cache"]
    one = by["engine, 1 worker"]
    figures.update({"runs": rows,
                    "speedup_vs_fit_loop": round(two["fits_per_min"] / loop, 2),
                    "cache_speedup": round(two["fits_per_min"] / nocache["fits_per_min"], 2),
                    "two_vs_one_worker": round(two["fits_per_min"] / one["fits_per_min"], 2)})
    print(f"\nengine (2 workers) / fit.py loop: {figures['speedup_vs_fit_loop']:.1f}x "
          f"(target >= 4x)")
    print(f"compile-once reuse: {figures['cache_speedup']:.1f}x the fits per minute of a new "
          f"compilation per task (mean compile {nocache['mean_compile_s']:.1f} s, mean "
          f"sampling {two['mean_sampling_s']:.2f} s per fit)")
    print(f"2 workers / 1 worker: {figures['two_vs_one_worker']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

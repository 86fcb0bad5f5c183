#!/usr/bin/env python3
"""Wall time of the main job (`make run`: scripts/reanalyse.py on the bundled cohort) against
its 5-minute target, and against one headline fit measured in the same run as the reference.

Each is run in a fresh child process, as a user runs them, so that imports and compilation
count. Reported: the job's wall time, the ratio to the 300 s target, the ratio to the single
fit (the job fits 15 models and does everything else), the step timings from the job's
run.json, and the child processes' peak resident memory.

Usage: benchmarks/bench_reanalyse.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "nen_bayes/data/synthetic_cohort.csv"
TARGET_S = 300.0


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        single = timed([py, "scripts/fit.py", "--data", str(DATA), "--model",
                        "models/weibull_ph_centre", "--endpoint", "os", "--quiet",
                        "--out", f"{tmp}/fit"])
        job = timed([py, "scripts/reanalyse.py", "--data", str(DATA), "--out",
                     f"{tmp}/results"])
        run = json.loads(Path(f"{tmp}/results/run.json").read_text())
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("SYNTHETIC DATA (bundled cohort); 2-core figures are in the README")
    print(f"reference: one headline fit (fit.py, OS)   {single:7.1f} s")
    print(f"main job (reanalyse.py: 3 endpoints x 5 models, diagnostics, comparison, "
          f"contrasts, prior grids, report) {job:7.1f} s")
    print(f"  / 300 s target: {job / TARGET_S:.2f}   / one fit: {job / single:.1f}x   "
          f"peak child RSS {peak_mb:.0f} MB")
    print("step timings (s):")
    for step, s in run["timings_s"].items():
        print(f"  {step:<62} {s:6.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"single_fit_s": single, "job_s": job,
                                               "target_s": TARGET_S, "peak_rss_mb": peak_mb,
                                               "steps": run["timings_s"]}, indent=1))
    return 0 if job <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Wall time and peak memory of the main job (`make run`: scripts/reanalyse.py) against one
headline fit (scripts/fit.py) measured in the same run as the reference.

Each is run in a fresh child process, as a user runs them, so that imports and compilation
count. Reported: the job's wall time, CPU time and peak resident memory, the same for the
single fit, their ratios (target: the job in at most 7 times one fit), the step timings from
the job's run.json, and the machine's load average before and after each run (the figures
depend on it).

``--n N`` simulates a cohort of N units first (scripts/simulate.py, the bundled calibration,
``--seed``); the job's targets at 3,000 units are 120 s and 2 GB.

Usage: benchmarks/bench_reanalyse.py [--n N] [--seed S] [--no-single] [--json FILE]
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "nen_bayes/data/synthetic_cohort.csv"
RATIO_TARGET = 7.0


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_child(cmd: list[str]) -> dict:
    """Wall seconds, CPU seconds (user + system, all threads) and peak RSS (MB) of one child
    process (its own rusage, via wait4), with the load average before and after. On a shared
    machine the CPU seconds move less with the load than the wall time does."""
    before = load()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "load_before": before, "load_after": load()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, help="simulate a cohort of N units (default: the "
                        "bundled cohort)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed with --n")
    parser.add_argument("--no-single", action="store_true", help="skip the single fit")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        data = DATA
        if args.n:
            data = Path(tmp) / f"sim_{args.n}.csv"
            subprocess.run([py, "scripts/simulate.py", "--out", str(data), "--n", str(args.n),
                            "--seed", str(args.seed)], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
        single = None
        if not args.no_single:
            single = run_child([py, "scripts/fit.py", "--data", str(data), "--model",
                                "models/weibull_ph_centre", "--endpoint", "os", "--quiet",
                                "--out", f"{tmp}/fit"])
        job = run_child([py, "scripts/reanalyse.py", "--data", str(data), "--out",
                         f"{tmp}/results"])
        run = json.loads(Path(f"{tmp}/results/run.json").read_text())
    cohort = f"simulated, {args.n} units, seed {args.seed}" if args.n else "bundled cohort"
    print(f"SYNTHETIC DATA ({cohort}); {os.cpu_count()} cores")
    if single:
        print(f"reference: one headline fit (fit.py, OS)  {single['wall_s']:7.1f} s  "
              f"cpu {single['cpu_s']:6.1f} s  peak {single['peak_rss_mb']:6.0f} MB  "
              f"load {single['load_before']} -> {single['load_after']}")
    print(f"main job (reanalyse.py)                    {job['wall_s']:7.1f} s  "
          f"cpu {job['cpu_s']:6.1f} s  peak {job['peak_rss_mb']:6.0f} MB  "
          f"load {job['load_before']} -> {job['load_after']}")
    if single:
        ratio = job["wall_s"] / single["wall_s"]
        print(f"  job / one fit: {ratio:.1f}x wall (target <= {RATIO_TARGET:g}x), "
              f"{job['cpu_s'] / single['cpu_s']:.1f}x cpu, "
              f"{job['peak_rss_mb'] / single['peak_rss_mb']:.1f}x peak memory")
    print("step timings (s):")
    for step, s in run["timings_s"].items():
        print(f"  {step:<62} {s:6.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cohort": cohort, "single": single, "job": job,
                                               "ratio_target": RATIO_TARGET,
                                               "steps": run["timings_s"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

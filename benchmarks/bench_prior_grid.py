#!/usr/bin/env python3
"""The 9-prior grid against one fit: target <= 3x the wall time of one fit.

Three timings on the bundled cohort (SYNTHETIC), OS, headline model, 4 x 1000 draws after 1000
tuning steps, each in a fresh child process so that imports and compilation count:
  * reference: one fit, `scripts/fit.py` (posterior, prior draws, log-likelihood, predictive);
  * the grid: `scripts/sensitivity.py` (one compiled model, prior mean and SD as data; the
    9 grid priors plus the model file's own prior = 10 refits);
  * the naive grid: 9 separate `scripts/fit.py` runs, each with the prior written into the
    model file (a recompilation per prior), for comparison.

Usage: benchmarks/bench_prior_grid.py [--skip-naive] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "nen_bayes/data/synthetic_cohort.csv"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-naive", action="store_true", help="skip the 9 separate fits")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    py = sys.executable
    common = ["--data", str(DATA), "--endpoint", "os"]
    with tempfile.TemporaryDirectory() as tmp:
        one = timed([py, "scripts/fit.py", *common, "--model", "models/weibull_ph_centre",
                     "--quiet", "--out", f"{tmp}/one"])
        grid = timed([py, "scripts/sensitivity.py", *common, "--out", f"{tmp}/grid"])
        naive = None
        if not args.skip_naive:
            spec_text = (ROOT / "models/weibull_ph_centre.toml").read_text()
            naive = 0.0
            for f in sorted((ROOT / "models/priors/line").glob("*.toml")):
                pr = tomllib.loads(f.read_text())["prior"]
                # the prior is on log HR(second_line vs salvage) = -beta[line[salvage]]
                extra = (f'\n[priors.coefficient_line]\ndist = "Normal"\nmu = {-pr["mu"]!r}\n'
                         f'sigma = {pr["sigma"]!r}\nreason = "grid prior {pr["name"]}"\n')
                spec = Path(tmp) / f"{pr['name']}.toml"
                spec.write_text(spec_text + extra)
                naive += timed([py, "scripts/fit.py", *common, "--model", str(spec), "--quiet",
                                "--out", f"{tmp}/naive_{pr['name']}"])
    print("SYNTHETIC DATA (bundled cohort), OS, headline model, 4 x 1000 draws")
    print(f"reference: one fit (fit.py)                          {one:7.1f} s")
    print(f"grid: 9 priors + the model's own, one compilation      {grid:7.1f} s   "
          f"{grid / one:.2f}x one fit (target <= 3x)")
    if naive is not None:
        print(f"naive grid: 9 separate fits, one compilation each     {naive:7.1f} s   "
              f"{naive / one:.2f}x one fit; the grid is {naive / grid:.1f}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps({"one_fit_s": one, "grid_s": grid,
                                               "naive_grid_s": naive}, indent=1))
    return 0 if grid <= 3 * one else 1


if __name__ == "__main__":
    sys.exit(main())

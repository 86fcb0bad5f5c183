"""A fit from the command line as an installed user runs it: the bundled cohort by its alias, a
shipped model by name, too few draws for the convergence checks. It is written, ends with exit
code 3, names the libraries that computed it with their versions, and leaves nothing in
$TMPDIR (15 s measured on the 2-core machine: one compilation and two short chains)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

from conftest import ROOT

from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import EXIT_CHECKS_FAILED


def test_a_fit_that_misses_its_checks_exits_3_names_its_libraries_and_leaves_no_temp_files(
        tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "fit"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}
    r = subprocess.run([sys.executable, "-m", "nen_bayes", "fit", "--data", "bundled",
                        "--model", "weibull_ph_centre", "--endpoint", "os", "--draws", "20",
                        "--tune", "20", "--chains", "2", "--prior-draws", "50", "--quiet",
                        "--formats", "png", "--out", str(out)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                       timeout=600)
    assert r.returncode == EXIT_CHECKS_FAILED, r.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["converged"] is False and run["convergence"]["failed"]
    assert "checks failed" in r.stderr and run["convergence"]["failed"][0] in r.stderr
    assert "NOT CONVERGED" in (out / "summary.txt").read_text()
    assert run["source"] == str(BUNDLED_COHORT) and run["synthetic"] is True
    assert run["model"] == "weibull_ph_centre"
    for package in ("lifelines", "scipy", "formulae", "matplotlib", "dask", "distributed",
                    "pymc", "nutpie"):
        assert run["versions"][package] == version(package), package
    # the compiled model's generated sources lived in the run's scratch directory
    assert sorted(p.name for p in tmp.iterdir()) == []

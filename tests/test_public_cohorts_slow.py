"""Acceptance on public cohorts other than the bundled one, as a new user brings them: one
``reanalyse.py --formula`` call, no model file, only the columns the formula uses.

1. R's ``lung`` (NCCTG; 18 institutions, numeric and categorical covariates), written by
   ``examples/lung/make_lung.py`` from lifelines' copy.
2. The GBSG2 trial (lifelines' ``load_gbsg2``; single centre, categorical and numeric covariates).

Every step and the report must complete; the frequentist numbers are checked against lifelines
(log-rank and Cox fitted independently here) and against R's published output for ``lung``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from lifelines import CoxPHFitter
from lifelines.datasets import load_gbsg2
from lifelines.statistics import logrank_test

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "scripts/reanalyse.py"
# few draws: the pipeline is what is checked here, so an unconverged headline is reported
SAMPLING = ("--draws", "300", "--tune", "300", "--chains", "2", "--accept-unconverged")


def run(data, out, *args):
    r = subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out),
                        *SAMPLING, *args], capture_output=True, text=True, check=False,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def check_job(out, endpoint):
    for rel in ("report.html", "summary.txt", "run.json", "describe.txt", "baseline/effects.csv",
                f"compare/{endpoint}/loo.csv", "line_effects/effects.csv",
                f"line_effects/curves_{endpoint}.csv", f"sensitivity/{endpoint}/grid.csv"):
        assert (out / rel).exists(), rel
    summary = (out / "summary.txt").read_text()
    assert "nan" not in summary.replace("nan_", "")
    return summary, json.loads((out / "run.json").read_text())


def test_lung_multicentre_with_a_formula(tmp_path):
    sys.path.insert(0, str(ROOT / "examples/lung"))
    from make_lung import lung_frame

    frame = lung_frame()
    data = tmp_path / "lung.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "lung"
    r = run(data, out, "--time", "time", "--event", "status", "--centre", "inst", "--row-ids",
            "--time-unit", "days", "--missing", "drop",
            "--formula", "time ~ sex + age + ecog + (1 | inst)",
            "--term", "sex", "--level", "female", "--versus", "male",
            "--horizon", "365", "--horizon", "730")
    summary, run_json = check_job(out, "time")
    assert "SYNTHETIC" not in summary and "SYNTHETIC" not in r.stdout
    used = pd.read_csv(data).dropna(subset=["inst", "ecog"])  # --missing drop
    assert f"time: {len(used)} units, {int(used['status'].sum())} events" in summary
    # log-rank and univariable Cox, refitted here with lifelines on the same rows
    f, m = used[used["sex"] == "female"], used[used["sex"] == "male"]
    p_lr = logrank_test(f["time"], m["time"], f["status"], m["status"]).p_value
    cox = CoxPHFitter().fit(used.assign(female=(used["sex"] == "female").astype(float))
                            [["time", "status", "female"]], "time", "status")
    freq = run_json["summary"]["endpoints"]["time"]["frequentist"]
    assert freq["logrank_p"] == pytest.approx(p_lr, rel=1e-6)
    assert freq["cox_hr"] == pytest.approx(float(np.exp(cox.params_["female"])), rel=1e-6)
    # the multivariable Cox of the baselines: R, coxph(Surv(time, status) ~ age + sex +
    # ph.ecog, lung) on its 227 complete rows gives HR 1.011 (age), 0.575 (sex female vs
    # male), 1.590 (ph.ecog); here one row more is dropped (missing institution), so compare
    # with lifelines on the same rows and with R's figures to two decimals
    eff = pd.read_csv(out / "baseline/effects.csv")
    multi = eff[(eff["quantity"] == "hazard_ratio") & eff["method"].str.contains("multivariable")
                & ~eff["method"].str.contains("stratified")]
    ref = CoxPHFitter().fit(used.assign(female=(used["sex"] == "female").astype(float))
                            [["time", "status", "female", "age", "ecog"]], "time", "status")
    got = dict(zip(multi["term"], multi["estimate"], strict=True))
    assert got["sex"] == pytest.approx(float(np.exp(ref.params_["female"])), rel=1e-5)
    assert got["age"] == pytest.approx(float(np.exp(ref.params_["age"])), rel=1e-5)
    assert got["ecog"] == pytest.approx(float(np.exp(ref.params_["ecog"])), rel=1e-5)
    assert round(got["sex"], 2) == pytest.approx(0.575, abs=0.02)
    assert round(got["ecog"], 2) == pytest.approx(1.59, abs=0.03)
    assert "female vs male" in (out / "report.html").read_text()


def test_gbsg2_single_centre_with_a_formula(tmp_path):
    frame = load_gbsg2()[["time", "cens", "horTh", "age", "tgrade", "pnodes"]]
    data = tmp_path / "gbsg2.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "gbsg2"
    run(data, out, "--time", "time", "--event", "cens", "--no-centre", "--row-ids",
        "--time-unit", "days", "--formula", "time ~ horTh + age + tgrade + pnodes",
        "--term", "horTh", "--level", "yes", "--versus", "no",
        "--horizon", "1825", "--no-prior-grid")
    summary, run_json = check_job_no_grid(out)
    y, n = frame[frame["horTh"] == "yes"], frame[frame["horTh"] == "no"]
    p_lr = logrank_test(y["time"], n["time"], y["cens"], n["cens"]).p_value
    freq = run_json["summary"]["endpoints"]["time"]["frequentist"]
    # R: survdiff(Surv(time, cens) ~ horTh, GBSG2): Chisq = 8.6 on 1 df, p = 0.003
    assert freq["logrank_p"] == pytest.approx(p_lr, rel=1e-6)
    assert round(freq["logrank_p"], 3) == 0.003
    # R: coxph(Surv(time, cens) ~ horTh, GBSG2): exp(coef) 0.695 (0.544-0.888)
    assert freq["cox_hr"] == pytest.approx(0.695, abs=0.002)
    assert "between-" not in summary  # a single-centre model has no centre SD


def check_job_no_grid(out):
    for rel in ("report.html", "summary.txt", "run.json", "baseline/effects.csv",
                "compare/time/loo.csv", "line_effects/curves_time.csv"):
        assert (out / rel).exists(), rel
    assert not (out / "sensitivity").exists()
    summary = (out / "summary.txt").read_text()
    assert "nan" not in summary
    return summary, json.loads((out / "run.json").read_text())

"""Leave-one-centre-out cross-validation by refits (slow tier): zero weights are the fit without
the centre, and on simulated cohorts whose truth is known the comparison picks the model that
matches it, and only then."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.model import UNIT_WEIGHTS, build_model
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.posterior.crossval import centre_cv, compare_cv
from nen_bayes.re_nen import RE_NEN
from nen_bayes.re_nen.simulate import load_calibration, simulate_cohort

pytestmark = pytest.mark.slow

MODELS = ROOT / "models"


def test_zero_weights_give_the_log_density_of_the_other_centres(tmp_path):
    # the weighted model with centre C1's weights at 0 against the model built on the data
    # without C1: the same log density at the same parameter values (pooled Weibull)
    spec = load_spec(MODELS / "weibull_ph_pooled.toml")
    full = load_cohort(BUNDLED_COHORT, RE_NEN)
    rest_csv = tmp_path / "rest.csv"
    raw = full.data
    keep = raw["centre"].astype(str) != "C1"
    frame = pd.read_csv(BUNDLED_COHORT, dtype=str, keep_default_na=False)
    frame[keep.to_numpy()].to_csv(rest_csv, index=False)
    rest = load_cohort(rest_csv, RE_NEN)
    weighted = build_model(spec, make_design(spec, full, "os"), unit_weights=True)
    weighted[UNIT_WEIGHTS].set_value(keep.to_numpy().astype(float))
    plain = build_model(spec, make_design(spec, rest, "os"))
    point = {"beta": np.array([0.3, 0.5, 0.9, 0.2, -0.1, 0.4])[:len(plain.coords["covariate"])],
             "shape_log__": np.log(1.3), "scale_log__": np.log(40.0)}
    assert float(weighted.compile_logp()(point)) == pytest.approx(
        float(plain.compile_logp()(point)), rel=1e-10)


def _simulated(tmp_path, sd: float, seed: int):
    # 16 centres of 25 units from the bundled generator, between-centre SD of the log hazard
    # sd. The SE of a difference is over centres, so the test's power grows with their number:
    # with 16 centres and sd 1 the difference was 2.5-2.7 SEs on each of seeds 1, 2 and 3
    # (with 12 centres, 2.3), and it is decided by the seeded centre effects, not by the
    # sampler (Monte Carlo SE of each sum < 0.3 against a difference of about 50)
    cal = load_calibration()
    cal["centres"] = {**cal["centres"], "labels": [f"K{i:02d}" for i in range(16)],
                      "sizes": [25] * 16, "sd_log_hazard": sd}
    cal["scans"] = {**cal["scans"], "interval_months": [3.0] * 16}  # one protocol a centre
    sim = simulate_cohort(cal, seed=seed, n=400)
    path = tmp_path / f"sim_{seed}.csv"
    sim.data.to_csv(path, index=False)
    return load_cohort(path, RE_NEN)


def _compare(cohort):
    results = {}
    for name in ("weibull_ph_centre", "weibull_ph_pooled"):
        results[name] = centre_cv(load_spec(MODELS / f"{name}.toml"), cohort, draws=400,
                                  tune=400, chains=2, seed=3)
    return compare_cv(results)


def test_strong_between_centre_variation_prefers_the_hierarchical_model(tmp_path):
    # truth: centre log-hazard offsets with SD 1 (centre HRs of 0.14-7 around the typical one);
    # a model without centre intercepts predicts a new centre as a typical one and misses
    cmp = _compare(_simulated(tmp_path, sd=1.0, seed=1))
    assert cmp.verdict == ("weibull_ph_centre", ()), cmp.to_text()
    # the Monte Carlo error is small beside the difference that decides
    assert cmp.table["mcse"].max() < 0.25 * abs(cmp.table["elpd_diff"].min())


def test_without_between_centre_variation_the_hierarchical_model_is_not_preferred(tmp_path):
    # truth: no centre effect; the centre model can at best tie (its sd shrinks to 0)
    cmp = _compare(_simulated(tmp_path, sd=0.0, seed=12))
    assert cmp.verdict[0] != "weibull_ph_centre", cmp.to_text()


def test_script_writes_the_comparison_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "cv"
    args = [sys.executable, str(ROOT / "scripts" / "crossval.py"), "--data", str(BUNDLED_COHORT),
            "--endpoint", "os", "--model", str(MODELS / "weibull_ph_pooled.toml"),
            "--model", str(MODELS / "exponential_ph_centre.toml"), "--draws", "100",
            "--tune", "100", "--chains", "2", "--quiet", "--out", str(out)]
    r = subprocess.run(args, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC DATA" in (out / "crossval.txt").read_text()
    cv = pd.read_csv(out / "cv.csv")
    centres = pd.read_csv(out / "cv_centres.csv")
    assert set(cv["model"]) == {"weibull_ph_pooled", "exponential_ph_centre"}
    assert len(centres) == 7  # the bundled cohort's centres
    for m in cv["model"]:  # the total is the sum of the per-centre contributions
        assert cv.set_index("model").loc[m, "elpd_lococv"] == pytest.approx(centres[m].sum())
    again = subprocess.run(args, capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "--force" in again.stderr + again.stdout


# a subprocess that imports the sampling stack: about 15 s, so in the slow tier
def test_script_refuses_a_model_with_a_centre_varying_effect_and_writes_nothing(tmp_path):
    out = tmp_path / "cv"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "crossval.py"), "--data",
                        str(BUNDLED_COHORT), "--endpoint", "os", "--model",
                        str(MODELS / "weibull_ph_centre.toml"), "--model",
                        str(MODELS / "weibull_ph_centre_line.toml"), "--out", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2, r.stderr
    assert "group-varying coefficients" in r.stderr + r.stdout
    assert not out.exists()


def test_the_main_job_runs_the_cross_validation_when_asked(tmp_path):
    # reanalyse.py --cv centre: a model whose new centre is more than an intercept is left
    # out of the cross-validation with a note, the others are scored; the report has the section
    out = tmp_path / "results"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "reanalyse.py"), "--data",
                        str(BUNDLED_COHORT), "--endpoint", "os", "--model",
                        str(MODELS / "weibull_ph_centre.toml"), "--model",
                        str(MODELS / "weibull_ph_pooled.toml"), "--model",
                        str(MODELS / "weibull_ph_centre_line.toml"), "--draws", "60",
                        "--tune", "60", "--chains", "2", "--no-prior-grid",
                        "--no-study-summary", "--cv", "centre", "--out", str(out)],
                       capture_output=True, text=True, check=False, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    cv = pd.read_csv(out / "crossval" / "os" / "cv.csv")
    assert set(cv["model"]) == {"weibull_ph_centre", "weibull_ph_pooled"}
    text = (out / "crossval" / "os" / "crossval.txt").read_text()
    assert "weibull_ph_centre_line is left out" in text
    html = (out / "report.html").read_text()
    assert "os: leave-one-centre-out cross-validation" in html
    assert "weibull_ph_centre_line is left out" in html
    assert json.loads((out / "run.json").read_text())["settings"]["centre_cv"] is True

"""The families a survival analyst expects, each against an independent maximum-likelihood fit
of the same family on a public cohort in weeks (lifelines' ``rossi`` recidivism data: 432
released prisoners, 114 arrests within 52 weeks; covariates financial aid, age, prior
convictions).

With weak priors (Normal(0, 1) on each coefficient, data-placed baseline) the posterior mean of
each log time ratio of an AFT family lies within 0.3 SE of lifelines' MLE
(LogNormalAFTFitter, LogLogisticAFTFitter, WeibullAFTFitter), its posterior SD within 20% of
the MLE's SE, and the fit reports time ratios and no hazard ratio; the Gompertz PH fit's log
hazard ratios lie within half an SE of the Cox partial-likelihood estimate (CoxPHFitter). The
Monte Carlo SE of a posterior mean here is about 0.02 SE (3,000 draws)."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import (
    CoxPHFitter,
    GeneralizedGammaRegressionFitter,
    LogLogisticAFTFitter,
    LogNormalAFTFitter,
    WeibullAFTFitter,
)
from lifelines.datasets import load_rossi

from nen_bayes import load_cohort
from nen_bayes.bayes.formula import spec_from_formula
from nen_bayes.bayes.inference import fit
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.posterior.summary import posterior_effects

pytestmark = pytest.mark.slow

COVARIATES = ["fin", "age", "prio"]


@pytest.fixture(scope="module")
def rossi():
    frame = load_rossi()[["week", "arrest", *COVARIATES]]
    cohort = load_cohort(frame.astype({"week": float}), CohortSchema.custom(
        {"arrest": ("week", "arrest")}, numerics=COVARIATES, time_unit="weeks"))
    return frame, cohort


def _posterior(cohort, family):
    spec = spec_from_formula("arrest ~ fin + age + prio", cohort, family=family)
    f = fit(spec, cohort, draws=1500, tune=1000, chains=2, seed=3, progressbar=False)
    return f, f.tree["posterior"]["beta"].to_numpy().reshape(-1, len(COVARIATES))


@pytest.mark.parametrize("family, fitter", [("lognormal", LogNormalAFTFitter),
                                            ("loglogistic", LogLogisticAFTFitter),
                                            ("weibull_aft", WeibullAFTFitter)])
def test_an_aft_family_agrees_with_the_mle_and_reports_time_ratios(rossi, family, fitter):
    frame, cohort = rossi
    mle = fitter().fit(frame, "week", "arrest")
    key = next(k for k in mle.params_.index.levels[0] if k in ("mu_", "alpha_", "lambda_"))
    est = mle.params_.loc[key][COVARIATES].to_numpy()
    se = mle.standard_errors_.loc[key][COVARIATES].to_numpy()
    f, beta = _posterior(cohort, family)
    assert np.all(np.abs(beta.mean(axis=0) - est) < 0.3 * se), (beta.mean(axis=0), est, se)
    assert np.all(np.abs(beta.std(axis=0) / se - 1.0) < 0.2)
    eff = posterior_effects(f.tree)
    assert "hazard_ratio" not in set(eff["quantity"])
    tr = eff[eff["quantity"] == "time_ratio"].set_index("term")["estimate"]
    np.testing.assert_allclose(tr[COVARIATES].to_numpy(), np.exp(np.median(beta, axis=0)),
                               rtol=1e-6)  # the median of exp(beta) by interpolation
    benefit = eff[eff["quantity"] == "prob_tr_above_1"].set_index("term")["estimate"]
    np.testing.assert_allclose(benefit[COVARIATES].to_numpy(), np.mean(beta > 0, axis=0))


def test_the_generalised_gamma_agrees_with_its_mle(rossi):
    """lifelines' GeneralizedGammaRegressionFitter with the covariates on mu (its log time
    location, as Prentice's and flexsurv's): log time ratios within 0.3 SE."""
    frame, cohort = rossi
    data = frame.assign(Intercept=1.0)
    mle = GeneralizedGammaRegressionFitter(penalizer=0.0).fit(
        data, "week", "arrest", regressors={"mu_": "fin + age + prio", "sigma_": "1",
                                           "lambda_": "1"})
    est = mle.params_.loc["mu_"][COVARIATES].to_numpy()
    se = mle.standard_errors_.loc["mu_"][COVARIATES].to_numpy()
    f, beta = _posterior(cohort, "gengamma")
    assert np.all(np.abs(beta.mean(axis=0) - est) < 0.3 * se), (beta.mean(axis=0), est, se)
    assert "hazard_ratio" not in set(posterior_effects(f.tree)["quantity"])


def test_a_gompertz_fit_agrees_with_cox(rossi):
    frame, cohort = rossi
    cox = CoxPHFitter().fit(frame, "week", "arrest")
    _, beta = _posterior(cohort, "gompertz")
    est, se = cox.params_[COVARIATES].to_numpy(), cox.standard_errors_[COVARIATES].to_numpy()
    assert np.all(np.abs(beta.mean(axis=0) - est) < 0.5 * se), (beta.mean(axis=0), est, se)


def test_the_main_job_with_three_families_writes_model_averaged_rows(tmp_path):
    """reanalyse with one formula and three families: the comparison's stacking weights
    average the three fits' cohort survival, median and RMST (averaged.csv, effects rows
    'model-averaged (stacking)') and draw the extrapolation figure."""
    import subprocess
    import sys

    import pandas as pd
    from conftest import ROOT

    out = tmp_path / "job"
    r = subprocess.run([sys.executable, str(ROOT / "scripts/reanalyse.py"), "--data",
                        "bundled", "--endpoint", "os", "--formula",
                        "os ~ line + grade + (1 | centre)", "--family", "weibull", "--family",
                        "exponential", "--family", "gompertz", "--draws", "300", "--tune",
                        "300", "--chains", "2", "--no-prior-grid", "--quiet", "--out",
                        str(out)], capture_output=True, text=True, check=False, cwd=ROOT,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    d = out / "compare" / "os"
    avg = pd.read_csv(d / "averaged.csv")
    models = {"weibull_ph_formula", "exponential_ph_formula", "gompertz_ph_formula"}
    assert set(avg["model"]) == {*models, "model-averaged (stacking)"}
    eff = pd.read_csv(d / "averaged_effects.csv")
    averaged = eff[eff["method"].str.startswith("model-averaged (stacking) over")]
    assert set(averaged["quantity"]) == {"standardised_median", "standardised_survival",
                                         "standardised_rmst"}
    loo = pd.read_csv(d / "loo.csv")
    assert set(loo["model"]) == models and abs(loo["weight"].sum() - 1) < 1e-6
    assert (d / "extrapolation.png").stat().st_size > 0
    assert "the model-averaged curve (stacking weights:" in (out / "report.html").read_text()

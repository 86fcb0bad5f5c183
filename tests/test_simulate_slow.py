"""Seeded statistical tier for the simulator: the generator's truth is what it claims.

Reference: the truth dict returned by simulate_cohort (a simulation with known truth), checked by
independent estimators from lifelines on a large cohort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, WeibullAFTFitter

from nen_bayes import simulate_cohort
from nen_bayes.re_nen.calibration import calibration_summary
from nen_bayes.re_nen.simulate import COVARIATES, load_calibration

pytestmark = pytest.mark.slow

N_LARGE = 20_000


@pytest.fixture(scope="module")
def large():
    return simulate_cohort(load_calibration(), seed=2024, n=N_LARGE)


def _design(d: pd.DataFrame, truth: dict, centre_dummies: bool) -> tuple[pd.DataFrame, dict]:
    from nen_bayes.re_nen.contract import RE_NEN

    x = pd.DataFrame({"T": d["os_months"], "E": d["os_event"]})
    beta = {}
    for fac in COVARIATES:
        for level in RE_NEN.factor(fac).levels[1:]:
            name = f"{fac}={level}"
            x[name] = (d[fac] == level).astype(float)
            beta[name] = truth["processes"]["death"]["log_hr"].get(fac, {}).get(level, 0.0)
    if centre_dummies:
        u = truth["centres"]["effects"]
        ref = truth["centres"]["labels"][0]
        for lab in truth["centres"]["labels"][1:]:
            x[f"centre={lab}"] = (d["centre"] == lab).astype(float)
            beta[f"centre={lab}"] = u[lab] - u[ref]
    else:
        x["centre"] = d["centre"]
    return x, beta


def test_cox_stratified_by_centre_recovers_os_log_hazard_ratios(large):
    x, beta = _design(large.data, large.truth, centre_dummies=False)
    cph = CoxPHFitter().fit(x, "T", "E", strata=["centre"])
    z = (cph.params_[list(beta)] - pd.Series(beta)) / cph.standard_errors_[list(beta)]
    assert np.all(np.abs(z) < 4), z.round(2).to_dict()


def test_weibull_fit_recovers_shape_scale_and_centre_effects(large):
    """PH <-> AFT: S = exp(-(t/lambda)^rho) with log lambda = a0 + a'x gives log HR = -rho a."""
    x, beta = _design(large.data, large.truth, centre_dummies=True)
    truth = large.truth
    k, sigma = (truth["processes"]["death"][p] for p in ("shape", "scale_months"))
    wf = WeibullAFTFitter().fit(x, "T", "E")
    rho = float(np.exp(wf.params_.loc[("rho_", "Intercept")]))
    a = wf.params_.loc["lambda_"]
    se_a = wf.standard_errors_.loc["lambda_"]
    assert rho == pytest.approx(k, rel=0.03)
    log_hr = -rho * a[list(beta)]
    z = (log_hr - pd.Series(beta)) / (rho * se_a[list(beta)])
    assert np.all(np.abs(z) < 4), z.round(2).to_dict()
    # baseline scale at the reference centre C1: sigma * exp(-u_C1 / k)
    u_ref = truth["centres"]["effects"][truth["centres"]["labels"][0]]
    expected = np.log(sigma) - u_ref / k
    assert abs(a["Intercept"] - expected) < 4 * se_a["Intercept"]


def test_calibration_holds_in_expectation_not_only_for_the_bundled_seed():
    """Medians over 25 fresh seeds (not the bundled one) sit near the published figures."""
    cal = load_calibration()
    rows = [calibration_summary(simulate_cohort(cal, seed=10_000 + s).data) for s in range(25)]
    med = pd.DataFrame(rows).median()
    assert abs(med["dcr_3m"] - 0.835) < 0.04 and abs(med["dcr_12m"] - 0.509) < 0.06
    assert abs(med["os_mean"] - 38.9) < 4 and abs(med["os_sd"] - 33.0) < 4
    assert 0.02 < med["p_line_os"] < 0.25
    assert med["p_line_hpfs"] < 0.05 and med["p_line_pfs"] < 0.05
    assert med["p_grade_os"] < 0.006 and med["p_burden_os"] < 0.01
    assert med["p_extrahepatic_os"] > 0.1 and med["p_vascularisation_os"] > 0.1
    assert med["os_mean_second_line"] > med["os_mean_salvage"]

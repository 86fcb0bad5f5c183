"""Seeded statistical tier for the prior grid: the MCMC refits under each prior agree with the
conjugate normal prediction made from the refit under the model's own (weak) prior."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT
from scipy.stats import norm

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.re_nen import RE_NEN
from nen_bayes.sensitivity.grid import load_prior_grid
from nen_bayes.sensitivity.refits import prior_grid_fit
from nen_bayes.settings import Contrast

pytestmark = pytest.mark.slow


def test_grid_posteriors_match_the_normal_approximation():
    """Under the file's N(0, 1) prior the posterior of log HR is close to normal, N(m1, s1^2),
    so the data carry a likelihood N(y, se^2) with 1/se^2 = 1/s1^2 - 1 and y = m1 se^2 / s1^2.
    Each grid prior N(m0, s0^2) should then give the conjugate posterior (closed form).

    Tolerances come from the errors of both sides, measured in the same run, never from values
    once observed: the refit's Monte Carlo error (binomial, at its smallest bulk ESS), the
    reference's Monte Carlo error (the SE of m1 propagated through the closed form), and the
    normal approximation's own error (how far the reference posterior's P(HR < 1) from its draws
    is from Phi(-m1/s1)); 4 combined SEs plus that approximation error."""
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    res = prior_grid_fit(load_spec(ROOT / "models/weibull_ph_centre.toml"), cohort,
                         load_prior_grid(ROOT / "models/priors/line"),
                         Contrast("line", "second_line", "salvage"), endpoint="os", seed=8)
    base = np.log(res.draws["model_prior"])
    m1, s1 = base.mean(), base.std()
    prec_l = 1 / s1**2 - 1.0
    y = m1 / s1**2 / prec_l
    t = res.table.set_index("prior")
    ess0 = t.loc["model_prior", "min_ess_bulk"]
    approx = abs(float(np.mean(base < 0)) - norm.cdf(-m1 / s1))
    worst = 0.0
    for pr in res.priors[1:]:
        prec = 1 / pr.sigma**2 + prec_l
        mu = (pr.mu / pr.sigma**2 + y * prec_l) / prec
        z = -mu * math.sqrt(prec)
        p_pred = norm.cdf(z)
        got = t.loc[pr.name, "P(HR < 1)"]
        se_refit = math.sqrt(max(p_pred * (1 - p_pred), 1e-4) / t.loc[pr.name, "min_ess_bulk"])
        se_ref = norm.pdf(z) / (s1**2 * math.sqrt(prec)) * s1 / math.sqrt(ess0)
        tol = 4 * math.hypot(se_refit, se_ref) + approx
        assert abs(got - p_pred) < tol, (pr.name, got, p_pred, tol)
        # the median's log: MC SE of a posterior median ~ 1.25 sd / sqrt(ESS), plus the mean's
        sd_post = 1 / math.sqrt(prec)
        tol_log = 4 * math.hypot(1.25 * sd_post / math.sqrt(t.loc[pr.name, "min_ess_bulk"]),
                                 (prec_l / prec) / (s1**2 * prec_l) * s1 / math.sqrt(ess0)) \
            + abs(float(np.median(base)) - m1)
        assert abs(math.log(t.loc[pr.name, "median"]) - mu) < tol_log, pr.name
        worst = max(worst, abs(got - p_pred))
        assert t.loc[pr.name, "divergences"] == 0 and t.loc[pr.name, "max_rhat"] < 1.01
    print(f"\nprior grid vs conjugate prediction: max |dP(HR<1)| = {worst:.4f}")

"""Seeded statistical tier for the prior grid: the MCMC refits under each prior agree with the
conjugate normal prediction made from the refit under the model's own (weak) prior."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT
from scipy.stats import norm

from nen_bayes import load_cohort
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.priorgrid import load_prior_grid
from nen_bayes.sensitivity import prior_grid_fit
from nen_bayes.spec import load_spec

pytestmark = pytest.mark.slow


def test_grid_posteriors_match_the_normal_approximation():
    """Under the file's N(0, 1) prior the posterior of log HR is close to normal, N(m1, s1^2),
    so the data carry a likelihood N(y, se^2) with 1/se^2 = 1/s1^2 - 1 and y = m1 se^2 / s1^2.
    Each grid prior N(m0, s0^2) should then give the conjugate posterior; the MCMC refits must
    agree on the median HR within 3% and on P(HR < 1) within 0.03 (Monte Carlo error of a
    probability from ~1,500 effective draws is about 0.01)."""
    cohort = load_cohort(BUNDLED_COHORT)
    res = prior_grid_fit(load_spec(ROOT / "models/weibull_ph_centre.toml"), cohort,
                         load_prior_grid(ROOT / "models/priors/line"), endpoint="os", seed=8)
    base = np.log(res.draws["model_prior"])
    m1, s1 = base.mean(), base.std()
    prec_l = 1 / s1**2 - 1.0
    y = m1 / s1**2 / prec_l
    t = res.table.set_index("prior")
    worst = 0.0
    for pr in res.priors[1:]:
        prec = 1 / pr.sigma**2 + prec_l
        mu = (pr.mu / pr.sigma**2 + y * prec_l) / prec
        p_pred = norm.cdf(-mu * math.sqrt(prec))
        assert t.loc[pr.name, "median"] == pytest.approx(math.exp(mu), rel=0.03), pr.name
        assert abs(t.loc[pr.name, "P(HR < 1)"] - p_pred) < 0.03, pr.name
        worst = max(worst, abs(t.loc[pr.name, "P(HR < 1)"] - p_pred))
        assert t.loc[pr.name, "divergences"] == 0 and t.loc[pr.name, "max_rhat"] < 1.01
    print(f"\nprior grid vs conjugate prediction: max |dP(HR<1)| = {worst:.4f}")

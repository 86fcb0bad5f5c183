"""Seeded statistical tier for the prior grid: the MCMC refits under each prior, and the
importance-reweighted draws under the model's own prior, agree with the conjugate normal
prediction made from the fit under the model's own (weak) prior."""

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


def reweighted(theta: np.ndarray, ess: float, mu: float, sigma: float):
    """The reference posterior's draws of theta = log HR (fitted under the file's N(0, 1)
    prior on theta) reweighted to the prior N(mu, sigma^2): w = N(theta; mu, sigma) / N(theta;
    0, 1). Only theta's prior differs between the two fits, so the reweighted draws are the
    grid posterior exactly, up to Monte Carlo error: no normal approximation.

    Returns P(theta < 0) with its Monte Carlo SE (self-normalised importance sampling,
    sqrt(sum w~^2 (1{theta < 0} - p)^2), inflated by sqrt(draws / ESS) for autocorrelation),
    the weighted median of theta, and the effective number of draws behind it (Kish's
    (sum w)^2 / sum w^2 scaled by ESS / draws)."""
    logw = -0.5 * ((theta - mu) / sigma) ** 2 - math.log(sigma) + 0.5 * theta**2
    w = np.exp(logw - logw.max())
    w /= w.sum()
    below = (theta < 0).astype(float)
    p = float(np.sum(w * below))
    inflation = math.sqrt(len(theta) / ess)
    se = math.sqrt(float(np.sum(w**2 * (below - p) ** 2))) * inflation
    order = np.argsort(theta)
    median = float(theta[order][np.searchsorted(np.cumsum(w[order]), 0.5)])
    return p, se, median, ess / len(theta) / float(np.sum(w**2))


GRID_ARGS = dict(endpoint="os", seed=8)


@pytest.fixture(scope="module")
def grids():
    """The grid on OS by refits under every prior and by reweighting (the default), with the
    same seed: the same fit under the model's own prior, independent refits of the others."""
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    priors = load_prior_grid(ROOT / "models/priors/line")
    contrast = Contrast("line", "second_line", "salvage")
    return {m: prior_grid_fit(spec, cohort, priors, contrast, method=m, **GRID_ARGS)
            for m in ("refit", "reweight")}


def test_grid_posteriors_match_the_normal_approximation(grids):
    """Under the file's N(0, 1) prior the posterior of log HR is close to normal, N(m1, s1^2),
    so the data carry a likelihood N(y, se^2) with 1/se^2 = 1/s1^2 - 1 and y = m1 se^2 / s1^2.
    Each grid prior N(m0, s0^2) should then give the conjugate posterior N(mu, 1/prec) and
    P(HR < 1) = Phi(-mu sqrt(prec)) (closed form).

    Tolerance, derived per prior (nothing picked from an observed value, so it holds on any
    processor): |refit - conjugate| <= |refit - exact| + |exact - conjugate|, where "exact" is
    the grid posterior itself, obtained without approximation by reweighting the reference's
    draws (:func:`reweighted`).
    - |refit - exact|: 4 SEs of the difference of two independent Monte Carlo estimates, the
      refit's (binomial, sqrt(p(1 - p) / ESS) at its smallest bulk ESS, p shrunk by half a
      draw so that it never vanishes) and the reweighted reference's (importance-sampling SE);
    - |exact - conjugate|: the normal approximation's own error for this prior, estimated by
      the reweighted reference (its Monte Carlo error is in the term above).
    The same for the posterior median of log HR (MC SE of a median: 1.2533 sd / sqrt(ESS)).
    The check can fail: a refit that ignored its grid prior (the reference's own P(HR < 1) in
    its place) is rejected for every prior that moves the conjugate prediction by more than
    twice the tolerance (its error is then at least one tolerance), and there are such priors
    in the grid."""
    res = grids["refit"]
    assert (res.table["method"] == "sampled").all()
    base = np.log(res.draws["model_prior"])
    m1, s1 = base.mean(), base.std()
    prec_l = 1 / s1**2 - 1.0
    y = m1 / s1**2 / prec_l
    t = res.table.set_index("prior")
    ess0 = t.loc["model_prior", "min_ess_bulk"]

    def tolerance(got: float, ess: float, se_exact: float, approx: float) -> float:
        p = (got * ess + 0.5) / (ess + 1)
        return 4 * math.hypot(math.sqrt(p * (1 - p) / ess), se_exact) + approx

    worst, ignored = 0.0, []
    for pr in res.priors[1:]:
        prec = 1 / pr.sigma**2 + prec_l
        mu = (pr.mu / pr.sigma**2 + y * prec_l) / prec
        p_pred = norm.cdf(-mu * math.sqrt(prec))
        p_exact, se_exact, med_exact, ess_exact = reweighted(base, ess0, pr.mu, pr.sigma)
        got, ess = t.loc[pr.name, "P(HR < 1)"], t.loc[pr.name, "min_ess_bulk"]
        tol = tolerance(got, ess, se_exact, abs(p_exact - p_pred))
        assert abs(got - p_pred) < tol, (pr.name, got, p_pred, p_exact, tol)
        sd_post = 1 / math.sqrt(prec)
        tol_log = 4 * 1.2533 * sd_post * math.hypot(1 / math.sqrt(ess),
                                                    1 / math.sqrt(ess_exact)) + \
            abs(med_exact - mu)
        assert abs(math.log(t.loc[pr.name, "median"]) - mu) < tol_log, pr.name
        assert t.loc[pr.name, "divergences"] == 0 and t.loc[pr.name, "max_rhat"] < 1.01
        worst = max(worst, abs(got - p_pred))
        # the broken variant: the reference's P(HR < 1) reported for this prior
        got_ref = t.loc["model_prior", "P(HR < 1)"]
        tol_ref = tolerance(got_ref, ess0, se_exact, abs(p_exact - p_pred))
        shift = abs(p_pred - norm.cdf(-m1 / s1))  # how far this prior moves the prediction
        ignored.append((pr.name, shift > 2 * tol_ref, abs(got_ref - p_pred) >= tol_ref))
    print(f"\nprior grid vs conjugate prediction: max |dP(HR<1)| = {worst:.4f}; a refit "
          f"that ignored its prior is rejected for {[n for n, _, r in ignored if r]}")
    # every prior that moves the prediction by more than twice the tolerance must be caught
    assert any(moved for _, moved, _ in ignored), ignored
    assert all(rejected for _, moved, rejected in ignored if moved), ignored


def test_reweighted_grid_agrees_with_independent_refits(grids):
    """Each prior the default grid reweights against the refit under that prior (an
    independent MCMC run): P(HR < 1) within 4 SEs of the difference (binomial SEs at the
    refit's bulk ESS and at the weights' effective draws) and the median log HR within 4 SEs
    (1.2533 sd / sqrt(ESS) each). The check can fail: the draws under the model's own prior
    left unweighted are rejected for every prior that moves P(HR < 1) by more than twice the
    tolerance, and there are such priors in the grid."""
    ref = grids["refit"].table.set_index("prior")
    rw = grids["reweight"].table.set_index("prior")
    assert rw.loc["model_prior", "P(HR < 1)"] == ref.loc["model_prior", "P(HR < 1)"]
    reweighted = rw.index[rw["method"] == "reweighted"]
    assert len(reweighted) >= 5, rw["method"]
    caught = []
    for name in reweighted:
        ess_a, ess_b = ref.loc[name, "min_ess_bulk"], rw.loc[name, "ess_importance"]
        p = ref.loc[name, "P(HR < 1)"]
        p_s = (p * ess_a + 0.5) / (ess_a + 1)  # never 0 or 1
        tol = 4 * math.sqrt(p_s * (1 - p_s) * (1 / ess_a + 1 / ess_b))
        assert abs(rw.loc[name, "P(HR < 1)"] - p) < tol, (name, rw.loc[name], ref.loc[name])
        draws = np.log(grids["refit"].draws[name])
        tol_med = 4 * 1.2533 * draws.std() * math.sqrt(1 / ess_a + 1 / ess_b)
        assert abs(math.log(rw.loc[name, "median"]) - np.median(draws)) < tol_med, name
        unweighted = rw.loc["model_prior", "P(HR < 1)"]
        moved = abs(unweighted - p) > 2 * tol
        caught.append((name, moved, abs(unweighted - p) >= tol))
    assert any(m for _, m, _ in caught), caught
    assert all(c for _, m, c in caught if m), caught

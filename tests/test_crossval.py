"""Leave-one-centre-out cross-validation: the new-centre predictive density against numerical
integration, the comparison's arithmetic, and the refusals (no sampling here; the refits are in
test_crossval_slow.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy import integrate, stats

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import ComparisonError, ModelDataError
from nen_bayes.posterior.crossval import CentreCV, centre_cv, compare_cv, fold_log_density
from nen_bayes.re_nen import RE_NEN

# a held-out centre of five units, two of them censored, one binary covariate
T = np.array([3.0, 10.0, 25.0, 7.0, 40.0])
D = np.array([1, 1, 0, 1, 0])
X = np.array([0.0, 1.0, 1.0, 0.0, 1.0])


def _quad_reference(log_density_of_units, sd: float) -> float:
    """log of integral prod_i p(t_i, d_i | u) N(u | 0, sd) du by adaptive quadrature (scipy)."""
    val, _ = integrate.quad(lambda u: np.exp(log_density_of_units(u)) * stats.norm.pdf(u, 0, sd),
                            -15 * sd, 15 * sd, epsabs=0, epsrel=1e-11, limit=200)
    return float(np.log(val))


@pytest.mark.parametrize(("scale", "beta", "sd"), [(30.0, 0.5, 0.7), (5.0, -1.0, 0.1),
                                                   (200.0, 0.3, 2.0)])
def test_exponential_new_centre_density_matches_numerical_integration(scale, beta, sd):
    # exponential PH with known parameters: p(t, d | u) = (exp(eta + u) / scale)^d
    # * exp(-t exp(eta + u) / scale), the centre's intercept u ~ N(0, sd) shared by its units
    def units(u):
        eta = beta * X + u
        return np.sum(D * (eta - np.log(scale)) - T * np.exp(eta) / scale)

    got = fold_log_density("exponential", T, D, (beta * X)[None, :],
                           {"scale": np.array([scale])}, sd=np.array([sd]))
    assert got.shape == (1,)
    assert got[0] == pytest.approx(_quad_reference(units, sd), abs=1e-7)


def test_weibull_new_centre_density_per_draw_matches_numerical_integration():
    shapes, scales, sds = np.array([0.7, 1.6]), np.array([20.0, 45.0]), np.array([0.4, 1.2])
    betas = np.array([0.2, -0.6])
    got = fold_log_density("weibull", T, D, betas[:, None] * X[None, :],
                           {"shape": shapes, "scale": scales}, sd=sds)
    for s in range(2):
        a, sc, b = shapes[s], scales[s], betas[s]

        def units(u, a=a, sc=sc, b=b):
            eta = b * X + u
            log_h = np.log(a / sc) + (a - 1) * np.log(T / sc) + eta
            return np.sum(D * log_h - (T / sc) ** a * np.exp(eta))

        assert got[s] == pytest.approx(_quad_reference(units, sds[s]), abs=1e-7)


def test_a_tiny_centre_sd_gives_the_pooled_joint_density():
    # sd -> 0: the new centre is the typical one; closed form sum_i d log h - H
    scale, beta = 30.0, 0.5
    eta = beta * X
    closed = np.sum(D * (eta - np.log(scale)) - T * np.exp(eta) / scale)
    pooled = fold_log_density("exponential", T, D, eta[None, :], {"scale": np.array([scale])})
    tiny = fold_log_density("exponential", T, D, eta[None, :], {"scale": np.array([scale])},
                            sd=np.array([1e-6]))
    assert pooled[0] == pytest.approx(closed, abs=1e-12)
    assert tiny[0] == pytest.approx(closed, abs=1e-5)


def test_piecewise_fold_density_is_the_sum_of_the_units_log_likelihoods():
    # without centre intercepts the units are independent given the draw: the sum of
    # h^d S by hand (hazards 0.05 on [0, 6), 0.02 on [6, 24), 0.04 after)
    cuts = np.array([6.0, 24.0])
    lam = np.array([0.05, 0.02, 0.04])
    H = np.array([0.05 * 3, 0.05 * 6 + 0.02 * 4, 0.05 * 6 + 0.02 * 18 + 0.04 * 1,
                  0.05 * 6 + 0.02 * 1, 0.05 * 6 + 0.02 * 18 + 0.04 * 16])
    h = np.array([0.05, 0.02, 0.04, 0.02, 0.04])
    eta = 0.3 * X
    by_hand = np.sum(D * (np.log(h) + eta) - H * np.exp(eta))
    got = fold_log_density("piecewise", T, D, eta[None, :],
                           {"log_hazard": np.log(lam)[None, :]}, cuts=cuts)
    assert got[0] == pytest.approx(by_hand, abs=1e-12)


def _cv(name: str, elpds, centres=("A", "B", "C", "D")) -> CentreCV:
    table = pd.DataFrame({"centre": list(centres), "n": 10, "events": 5,
                          "elpd": np.asarray(elpds, float), "mcse": 0.1, "max_rhat": 1.0,
                          "min_ess_bulk": 400.0, "divergences": 0})
    return CentreCV(name, "os", "centre", table, {"compile_s": 0.0, "sampling_s": 0.0},
                    {"data_hash": "sha256:x", "synthetic": False})


def test_comparison_uses_the_spread_of_per_centre_differences():
    # differences -2, -3, -2.5, -2.5: sum -10, SE sqrt(4 var) = sqrt(4 * 1/6) = 0.816
    good, bad = _cv("hier", [-50, -40, -30, -20]), _cv("pooled", [-52, -43, -32.5, -22.5])
    cmp = compare_cv({"pooled": bad, "hier": good})
    assert list(cmp.table["model"]) == ["hier", "pooled"]
    row = cmp.table.set_index("model").loc["pooled"]
    assert row["elpd_diff"] == pytest.approx(-10.0)
    assert row["dse"] == pytest.approx(np.sqrt(4 / 6))
    assert cmp.verdict == ("hier", ())
    assert cmp.centres["pooled - hier"].tolist() == [-2, -3, -2.5, -2.5]
    # the same total difference, but spread over centres of both signs: indistinguishable
    mixed = _cv("pooled", [-40, -50, -20, -40])
    assert compare_cv({"hier": good, "pooled": mixed}).verdict == (None, ("hier", "pooled"))
    assert "no model preferred" in compare_cv({"hier": good, "pooled": mixed}).to_text()


def test_comparison_refuses_different_folds():
    with pytest.raises(ComparisonError, match="centres"):
        compare_cv({"a": _cv("a", [1, 2, 3, 4]),
                    "b": _cv("b", [1, 2, 3, 4], centres=("A", "B", "C", "E"))})


def test_models_whose_new_centre_is_more_than_an_intercept_are_refused():
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(ROOT / "models" / "weibull_ph_centre_line.toml")
    with pytest.raises(ModelDataError, match="group-varying coefficients"):
        centre_cv(spec, cohort, draws=10, tune=10, chains=1)



def test_refits_with_divergences_or_high_rhat_are_named():
    ok = _cv("hier", [-50, -40, -30, -20])
    bad = _cv("pooled", [-52, -43, -32.5, -22.5])
    bad.table.loc[1, "divergences"] = 3
    bad.table.loc[2, "max_rhat"] = 1.05
    text = compare_cv({"hier": ok, "pooled": bad}).to_text()
    assert "caution: pooled: the refit(s) without B, C had divergences (3)" in text
    assert text.count("caution:") == 1  # the model whose refits were clean is not named


@pytest.mark.parametrize("sd", [0.3, 1.5])
def test_interval_censored_and_late_entry_units_are_scored_by_their_own_terms(sd):
    """A held-out centre with an exact event, a censored unit, two events known only to lie
    in (lower, upper] (one in (0, upper]) and late entry: the new-centre density equals the
    integral over u of prod_i [S(L)-S(U) | h(t)^d S(t)] / S(entry), written out for a Weibull
    (shape 1.4, scale 20, log HR 0.4) and integrated by quadrature."""
    a, s, b = 1.4, 20.0, 0.4
    t = np.array([5.0, 12.0, 0.0, 9.0, 30.0])        # lower bound for the interval units
    up = np.array([5.0, 12.0, 6.0, 15.0, 30.0])      # upper > time: an interval-censored event
    d = np.array([1, 0, 1, 1, 1])
    entry = np.array([0.0, 4.0, 0.0, 2.0, 10.0])
    x = np.array([0.0, 1.0, 1.0, 0.0, 1.0])

    def surv(tt, u):
        return np.exp(-(tt / s) ** a * np.exp(b * x + u))

    def units(u):
        inside = (d == 1) & (up > t)
        dens = (a / s) * (t / s) ** (a - 1) * np.exp(b * x + u) * surv(t, u)
        lik = np.where(inside, surv(t, u) - surv(up, u), np.where(d == 1, dens, surv(t, u)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = np.sum(np.log(lik) - np.log(surv(entry, u)))
        return ll if np.isfinite(ll) else -np.inf  # far in u's tails a survival underflows

    got = fold_log_density("weibull", t, d, (b * x)[None, :],
                           {"shape": np.array([a]), "scale": np.array([s])}, sd=np.array([sd]),
                           entry=entry, upper=up)
    assert got[0] == pytest.approx(_quad_reference(units, sd), abs=1e-7)
    pooled = fold_log_density("weibull", t, d, (b * x)[None, :],
                              {"shape": np.array([a]), "scale": np.array([s])}, entry=entry,
                              upper=up)
    assert pooled[0] == pytest.approx(units(0.0), abs=1e-10)

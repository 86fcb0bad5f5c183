"""Cohort averages over the distinct units (covariate pattern x groups, weighted by their
shares) against the plain mean over every unit, computed here unit by unit: the standardised
curves, medians and RMSTs of the contrast do not depend on how many units share a pattern."""

from __future__ import annotations

import math

import numpy as np
from fakes import fake_tree
from scipy.integrate import quad
from scipy.optimize import brentq

from nen_bayes.bayes.predict import standardised_survival, survival_quantile, unit_patterns
from nen_bayes.posterior.contrast import contrast_effects
from nen_bayes.settings import Contrast

SALVAGE = Contrast("line", "salvage", "second_line")


def test_patterns_are_the_distinct_units_with_their_shares():
    """Each unit's (covariates, groups) is one of the patterns, and each pattern's weight is
    the share of units that have it (counted here with a dictionary)."""
    rng = np.random.default_rng(3)
    n = 500
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 3, n) == 1]).astype(float)
    groups = {"centre": rng.integers(0, 4, n), "site": rng.integers(0, 2, n)}
    Xp, gp, w = unit_patterns(X, groups)
    keys = [(*X[i], groups["centre"][i], groups["site"][i]) for i in range(n)]
    counts: dict = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    got = {(*Xp[j], gp["centre"][j], gp["site"][j]): w[j] for j in range(len(w))}
    assert len(got) == len(counts) <= 2 * 2 * 4 * 2
    for k, c in counts.items():
        assert math.isclose(got[k], c / n, rel_tol=1e-15)
    # in the order of each pattern's first unit
    first = list(dict.fromkeys(keys))
    assert list(got) == first
    # no grouping level and no covariate: one pattern holding every unit
    Xe, ge, we = unit_patterns(np.zeros((7, 0)), {})
    assert Xe.shape == (1, 0) and ge == {} and np.allclose(we, [1.0])


def _every_unit(tree):
    """S(t) of draw s at level x: every unit's Weibull curve with its own centre effect,
    averaged over all the units (no grouping of equal units)."""
    post = tree["posterior"].dataset
    shape = post["shape"].values.ravel()
    scale = post["scale"].values.ravel()
    beta = post["beta"].values.reshape(-1)
    u = post["u_centre"].values.reshape(len(shape), -1)
    centre = tree["constant_data"]["centre_index"].values

    def surv(s: int, x: float, t) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, float))
        r = np.exp(beta[s] * x + u[s, centre])  # (n,)
        return np.exp(-np.outer((t / scale[s]) ** shape[s], r)).mean(axis=1)
    return surv, len(shape)


def test_standardised_curves_medians_and_rmst_equal_the_mean_over_every_unit():
    """Weibull fit with 900 units in 2 lines x 3 centres (six patterns of unequal sizes),
    parameters varying by
    draw: the contrast's curves, medians and RMSTs are those of the mean over every unit (the
    medians by root finding on that mean)."""
    chains, draws = 2, 15
    rng = np.random.default_rng(11)
    shp = (chains, draws)
    tree = fake_tree(family="weibull", n_units=900, chains=chains, draws=draws,
                     beta=rng.normal(0.3, 0.2, shp), shape=np.exp(rng.normal(0.2, 0.1, shp)),
                     scale=np.exp(rng.normal(3.0, 0.1, shp)),
                     sd_centre=np.full(shp, 0.5), u_centre=rng.normal(0, 0.5, (*shp, 3)),
                     line=rng.integers(0, 2, 900))
    # centres of unequal sizes (about 540, 270 and 90 units), so that the patterns' weights differ
    tree["constant_data"] = tree["constant_data"].dataset.assign(
        centre_index=("patient", rng.choice(3, 900, p=[0.6, 0.3, 0.1])))
    r = contrast_effects(tree, SALVAGE, horizons=(12.0, 36.0), grid_points=60)
    surv, n_draws = _every_unit(tree)
    q = [0.025, 0.5, 0.975]
    for lv, x in (("second_line", 0.0), ("salvage", 1.0)):
        c = r.curves[r.curves["level"] == lv]
        grid = c["time"].to_numpy()
        ref = np.array([surv(s, x, grid) for s in range(n_draws)])
        lo, mid, hi = np.quantile(ref, q, axis=0)
        np.testing.assert_allclose(c["estimate"], mid, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c["lower"], lo, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c["upper"], hi, rtol=1e-12, atol=1e-14)
        for tau in (12.0, 36.0):
            k = grid <= tau
            area = np.trapezoid(ref[:, k], grid[k], axis=1)
            got = r.rmst[(r.rmst["group"] == lv) & (r.rmst["horizon"] == tau)]["estimate"]
            assert math.isclose(float(got.iloc[0]), float(np.median(area)), rel_tol=1e-12)
        meds = [brentq(lambda t, s=s, x=x: surv(s, x, t)[0] - 0.5, 1e-6, 1e4, xtol=1e-12,
                       rtol=1e-13) for s in range(n_draws)]
        got = r.medians.set_index("group").loc[lv, "estimate"]
        assert math.isclose(got, float(np.median(meds)), rel_tol=1e-9)


def _tv_hazard(t, x, eta, shape, scale, effect):
    """A unit's hazard written from the model files' definitions: line HR by interval
    (x 2 in [4, 8), x 0.5 from 8) or line shape (shape x exp(0.3) for x = 1)."""
    if effect == "hazard_ratio":
        k = np.searchsorted([4.0, 8.0], t, side="right")
        return shape / scale * (t / scale) ** (shape - 1) * math.exp(eta) * (
            [1.0, 2.0, 0.5][k] if x else 1.0)
    a = shape * math.exp(0.3 * x)
    return a / scale * (t / scale) ** (a - 1) * math.exp(eta)


def test_time_varying_curves_and_median_over_patterns_equal_every_unit_by_integration():
    """A line HR by interval and a line shape, 10 units in 4 patterns of 3, 3, 3 and 1 units
    (line x centre) under two draws: the standardised survival and median over the weighted
    patterns equal the mean over all 10 units of exp(-integral of each unit's hazard)
    (numerical integration)."""
    line = np.array([1, 0, 1, 0, 1, 1, 0, 1, 1, 0])
    centre = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1, 0])
    u = np.array([[0.2, -0.3], [0.0, 0.4]])  # (draw, centre)
    shape, scale = np.array([1.5, 0.9]), np.array([10.0, 14.0])
    grid = np.array([1.0, 5.0, 9.0, 20.0])
    Xp, gp, w = unit_patterns(line[:, None].astype(float), {"centre": centre})
    assert len(w) == 4
    eta_all = u[:, centre]
    eta_p = u[:, gp["centre"]]
    for effect, extra in (("hazard_ratio", {"hr_change": np.log([[[2.0, 0.5]]] * 2)}),
                          ("shape", {"shape_change": np.full((2, 1), 0.3)})):
        tv = {"effect": effect, "x": Xp, **({"cuts": np.array([4.0, 8.0])}
                                             if effect == "hazard_ratio" else {})}
        params = {"shape": shape, "scale": scale, **extra}
        got = standardised_survival("weibull", grid, params, eta_p, tv=tv, weights=w)
        med = survival_quantile("weibull", params, eta_p, tv=tv, weights=w)

        def mean_surv(t, s, eff=effect):
            return np.mean([math.exp(-quad(_tv_hazard, 0, t, args=(
                line[i], eta_all[s, i], shape[s], scale[s], eff), points=[4.0, 8.0],
                limit=200)[0]) for i in range(len(line))])
        for s in range(2):
            ref = [mean_surv(t, s) for t in grid]
            np.testing.assert_allclose(got[s], ref, rtol=1e-7)
            ref_med = brentq(lambda t, s=s: mean_surv(t, s) - 0.5, 0.1, 200, xtol=1e-10)
            assert math.isclose(med[s], ref_med, rel_tol=1e-7)

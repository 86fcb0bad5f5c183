"""A covariate effect that changes with time ([time_varying] of a model file): a line HR that
differs by time interval and a Weibull shape per line. Closed forms of the cumulative hazard
and log-likelihood (by hand and by numerical integration of the hazard), the PyMC graph against
the NumPy formulas, predictive draws against the survival function, contrasts that never
report a single HR for such a model, and recovery of a known non-proportional truth."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fakes import HAND_PRIORS
from scipy.integrate import quad
from scipy.stats import weibull_min

from nen_bayes import load_cohort
from nen_bayes.bayes import families
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import fit, log_likelihood, pointwise_log_likelihood
from nen_bayes.bayes.model import OUTCOME_DATA, build_model
from nen_bayes.bayes.predict import standardised_survival
from nen_bayes.bayes.spec import in_time_unit, spec_from_dict
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.errors import SpecError

CHANGE_PRIORS = {"hr_change": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
                 "shape_change": {"dist": "Normal", "mu": 0.0, "sigma": 0.5}}


def tv_spec(effect: str, cuts=(4.0, 8.0), family="weibull", **extra):
    return spec_from_dict(tv_dict(effect, cuts, family, **extra))


def tv_dict(effect: str, cuts=(4.0, 8.0), family="weibull", **extra) -> dict:
    params = ["shape", "scale"] if family == "weibull" else ["scale"]
    tv = {"covariate": "x", "effect": effect, **({"cuts": list(cuts)} if effect ==
                                                  "hazard_ratio" else {})}
    prior = "hr_change" if effect == "hazard_ratio" else "shape_change"
    d = {"model": {"name": f"tv_{effect}", "family": family, **extra},
         "covariates": [{"column": "x", "reference": "a"}],
         "time_varying": tv,
         "priors": {**{k: HAND_PRIORS[k] for k in ["coefficient", *params]},
                    prior: CHANGE_PRIORS[prior]}}
    return d


def hand_cohort(times, events, xs, entries=None):
    frame = pd.DataFrame({"t": times, "e": events, "x": xs})
    entries_map = None
    if entries is not None:
        frame["a"] = entries
        entries_map = {"ep": "a"}
    schema = CohortSchema.custom({"ep": ("t", "e")}, factors=[Factor("x", ("a", "b"))],
                                 **({"entries": entries_map} if entries_map else {}))
    return load_cohort(frame, schema)


def one_draw(params: dict, log_hr: float, design) -> xr.Dataset:
    """One posterior draw: beta = log_hr, the baseline and the change parameter (values)."""
    post = {"beta": (("chain", "draw", "covariate"), [[[log_hr]]])}
    for k, v in params.items():
        dims = {"hr_change": ("covariate_tv", "interval_tv_change"),
                "shape_change": ("covariate_tv",)}.get(k, ())
        post[k] = (("chain", "draw", *dims), np.asarray(v, float)[None, None])
    coords = {k: v for k, v in design.coords().items()
              if k in ("covariate", "covariate_tv", "interval_tv_change")}
    return xr.Dataset(post, coords=coords)


# -- closed forms ------------------------------------------------------------------------------
# Weibull shape 2, scale 10, cuts 4 and 8, line log-HR log 3 in [0, 4), log 3 + log 2 in
# [4, 8), log 3 + log 0.5 beyond 8. Unit b (line) with an event at 10:
#   H0 increments (4/10)^2 = 0.16, (8/10)^2 - 0.16 = 0.48, 1 - 0.64 = 0.36
#   H = 3 (0.16 + 2 x 0.48 + 0.5 x 0.36) = 3.9
#   log h(10) = log(2 / 10 (10/10)^1) + log 3 + log 0.5 = log 0.3 = -1.2039728
#   log-likelihood -1.2039728 - 3.9 = -5.1039728
# unit a (reference, HR 1 throughout) censored at 6: H = 0.36 -> -0.36.
# unit b entering at 5, event at 6: log h(6) = log(0.2 x 0.6 x 6) = log 0.72;
#   H(6) - H(5) = 3 x 2 x (0.36 - 0.25) = 0.66 -> log 0.72 - 0.66 = -0.9885061
HR_PARAMS = {"shape": 2.0, "scale": 10.0, "hr_change": [[math.log(2.0), math.log(0.5)]]}


def test_piecewise_hr_cumulative_hazard_is_the_integral_of_the_hazard():
    tv = {"effect": "hazard_ratio", "cuts": np.array([4.0, 8.0]), "x": np.array([[1.0]])}
    off = families.tv_offsets(tv, {"hr_change": np.array(HR_PARAMS["hr_change"])[None]})
    p = {"shape": 2.0, "scale": 10.0}
    h = families.tv_cumulative_hazard("weibull", 10.0, p, math.log(3.0), tv, off[0, 0])
    assert h == pytest.approx(3.9, rel=1e-12)

    def hazard(t):  # by numerical integration of h(t) = h0(t) x 3 x HR change of t's interval
        k = np.searchsorted([4.0, 8.0], t, side="right")
        return 2 / 10 * (t / 10) * 3.0 * [1.0, 2.0, 0.5][k]
    for t in (2.5, 4.0, 7.3, 12.0, 31.0):
        ref = sum(quad(hazard, a, b)[0] for a, b in ((0, min(t, 4)), (min(t, 4), min(t, 8)),
                                                     (min(t, 8), t)))
        got = families.tv_cumulative_hazard("weibull", t, p, math.log(3.0), tv, off[0, 0])
        assert got == pytest.approx(ref, rel=1e-9)


def test_piecewise_hr_log_likelihood_hand_computed_in_graph_and_numpy():
    cohort = hand_cohort([10.0, 6.0, 6.0], [1, 0, 1], ["b", "a", "b"], [0.0, 0.0, 5.0])
    spec = tv_spec("hazard_ratio")
    design = make_design(spec, cohort, "ep")
    draw = one_draw(HR_PARAMS, math.log(3.0), design)
    expected = [-5.1039728, -0.36, math.log(0.72) - 0.66]
    graph = log_likelihood(build_model(spec, design), draw, design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(graph, expected, rtol=1e-5, atol=1e-5)  # float32 storage
    numpy = pointwise_log_likelihood(draw, "weibull", design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(numpy, expected, rtol=1e-5, atol=1e-5)


def test_line_shape_log_likelihood_equals_scipy_weibull():
    # unit b: shape 1.5 x exp(0.4), scale 20, HR exp(0.3): a Weibull with scale
    # 20 exp(-0.3 / shape_b) (scipy), event at 12; unit a: shape 1.5, censored at 30
    cohort = hand_cohort([12.0, 30.0], [1, 0], ["b", "a"])
    spec = tv_spec("shape")
    design = make_design(spec, cohort, "ep")
    params = {"shape": 1.5, "scale": 20.0, "shape_change": [0.4]}
    draw = one_draw(params, 0.3, design)
    a_b = 1.5 * math.exp(0.4)
    expected = [weibull_min(a_b, scale=20.0 * math.exp(-0.3 / a_b)).logpdf(12.0),
                weibull_min(1.5, scale=20.0).logsf(30.0)]
    graph = log_likelihood(build_model(spec, design), draw, design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(graph, expected, rtol=1e-5, atol=1e-5)
    numpy = pointwise_log_likelihood(draw, "weibull", design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(numpy, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("effect", ["hazard_ratio", "shape"])
def test_predictive_draws_follow_the_survival_function(effect):
    # 40 000 draws of one unit (line b, eta 0.2), late entry at 3: the share surviving past t
    # given survival to 3 is S(t) / S(3); tolerance 4 binomial standard errors.
    n = 40_000
    tv = {"effect": effect, "x": np.ones((n, 1)), **({"cuts": np.array([4.0, 8.0])}
                                                    if effect == "hazard_ratio" else {})}
    params = {"shape": np.array([1.3]), "scale": np.array([9.0])}
    params.update({"hr_change": np.array([[[0.7, -0.9]]])} if effect == "hazard_ratio" else
                  {"shape_change": np.array([[0.5]])})
    eta = np.full((1, n), 0.2)
    entry = np.full(n, 3.0)
    log_t = families.tv_log_random_times("weibull", params, eta, np.random.default_rng(4), tv,
                                         entry)
    t = np.exp(log_t[0])
    assert np.all(t > 3.0)
    off = families.tv_offsets({**tv, "x": np.ones((1, 1))}, params)[0, 0]
    p = {"shape": 1.3, "scale": 9.0}

    def surv(u):
        return math.exp(-families.tv_cumulative_hazard("weibull", u, p, 0.2, tv, off))
    for u in (3.5, 5.0, 7.0, 9.0, 14.0):
        s = surv(u) / surv(3.0)
        assert abs(np.mean(t > u) - s) < 4 * math.sqrt(s * (1 - s) / n), u


def test_standardised_survival_averages_the_units_curves():
    # two units (x = 1 and 0) under one draw: the standardised curve is the mean of
    # exp(-H(t | unit)), H by numerical integration of each unit's hazard
    tv = {"effect": "hazard_ratio", "cuts": np.array([4.0, 8.0]),
          "x": np.array([[1.0], [0.0]])}
    params = {"shape": np.array([2.0]), "scale": np.array([10.0]),
              "hr_change": np.array(HR_PARAMS["hr_change"])[None]}
    eta = np.array([[math.log(3.0), 0.1]])
    grid = np.array([1.0, 5.0, 9.0])
    got = standardised_survival("weibull", grid, params, eta, tv=tv)[0]

    def h(t, unit):
        k = np.searchsorted([4.0, 8.0], t, side="right")
        hr = [1.0, 2.0, 0.5][k] if unit == 0 else 1.0
        return 2 / 10 * (t / 10) * math.exp(eta[0, unit]) * hr
    ref = [np.mean([math.exp(-quad(h, 0, t, args=(u,), points=[4.0, 8.0])[0])
                    for u in (0, 1)]) for t in grid]
    np.testing.assert_allclose(got, ref, rtol=1e-8)


def test_time_varying_keys_are_checked_and_cuts_converted():
    with pytest.raises(SpecError, match=r"\[time_varying\].*effect 'slope'"):
        spec_from_dict({**tv_dict("shape"),
                        "time_varying": {"covariate": "x", "effect": "slope"}})
    with pytest.raises(SpecError, match="needs family weibull"):
        tv_spec("shape", family="exponential")
    with pytest.raises(SpecError, match="must be a treatment-coded factor"):
        spec_from_dict({**tv_dict("shape"),
                        "time_varying": {"covariate": "y", "effect": "shape"}})
    bad = tv_dict("hazard_ratio")
    del bad["priors"]["hr_change"]
    with pytest.raises(SpecError, match="hr_change"):
        spec_from_dict(bad)
    spec = tv_spec("hazard_ratio", time_unit="months")
    days, note = in_time_unit(spec, "days")
    assert days.time_varying.cuts == pytest.approx((4 * 30.4375, 8 * 30.4375))
    assert "HR's cuts" in note


# -- recovery of a known non-proportional truth --------------------------------------------------
# Truth (months): Weibull baseline shape 1.2, scale 20; x = b vs a.
#   line HR by interval: cuts 5 and 15, log-HR 0.8 in [0, 5), 0 in [5, 15), -0.8 beyond 15
#   (beta 0.8, hr_change (-0.8, -1.6)); under PH truth the changes are 0.
#   shape per line: shape 1.2 for a, 1.2 x 1.8 for b (shape_change log 1.8), log-HR 0.3.
# Censoring uniform on (10, 60).
HR_TRUTH = {"shape": 1.2, "scale": 20.0, "beta": 0.8, "hr_change": (-0.8, -1.6)}
SHAPE_TRUTH = {"shape": 1.2, "scale": 20.0, "beta": 0.3, "shape_change": math.log(1.8)}
PRIOR_TEXT = {"dist": "Normal", "mu": 0.0, "sigma": 1.0}


def simulate(effect: str, n: int, rng, truth: dict) -> pd.DataFrame:
    """A cohort drawn from ``truth`` by inversion of its cumulative hazard (the closed forms
    are checked above against numerical integration)."""
    xb = rng.integers(0, 2, n)
    tv = {"effect": effect, "x": xb[:, None].astype(float),
          **({"cuts": np.array([5.0, 15.0])} if effect == "hazard_ratio" else {})}
    params = {"shape": np.array([truth["shape"]]), "scale": np.array([truth["scale"]])}
    if effect == "hazard_ratio":
        params["hr_change"] = np.array(truth["hr_change"])[None, None, :]
    else:
        params["shape_change"] = np.array([[truth["shape_change"]]])
    eta = truth["beta"] * xb[None, :].astype(float)
    t = np.exp(families.tv_log_random_times("weibull", params, eta, rng, tv)[0])
    c = rng.uniform(10, 60, n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int),
                         "x": np.where(xb == 1, "b", "a")})


def fit_simulated(effect: str, frame: pd.DataFrame, draws=300, tune=300, seed=1):
    spec = tv_spec(effect, cuts=(5.0, 15.0))
    schema = CohortSchema.custom({"ep": ("t", "e")}, id_column=None, centre_column=None,
                                 factors=[Factor("x", ("a", "b"))])
    return fit(spec, load_cohort(frame, schema), endpoint="ep", draws=draws, tune=tune,
               chains=2, seed=seed, progressbar=False, predictive=False, log_lik=False,
               prior_draws=10)


def _inside(draws: np.ndarray, value: float, level: float) -> bool:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return bool(lo <= value <= hi)


@pytest.mark.parametrize("effect", ["hazard_ratio", "shape"])
def test_non_proportional_truth_is_recovered(effect):
    # 400 units, 2 x 200 draws; each parameter's truth inside its 99% CrI (a false alarm
    # about 1 in 100 per parameter for a calibrated posterior; seeded, so the outcome is fixed)
    truth = HR_TRUTH if effect == "hazard_ratio" else SHAPE_TRUTH
    frame = simulate(effect, 400, np.random.default_rng(11), truth)
    tree = fit_simulated(effect, frame, draws=200, tune=200).tree
    post = tree["posterior"].dataset
    assert _inside(post["beta"].values.ravel(), truth["beta"], 0.99)
    assert _inside(post["shape"].values.ravel(), truth["shape"], 0.99)
    if effect == "hazard_ratio":
        ch = post["hr_change"].values.reshape(-1, 2)
        for k in range(2):
            assert _inside(ch[:, k], truth["hr_change"][k], 0.99), k
        # the interval HRs are stored: exp(beta + change)
        hr = post["hr_interval"].values.reshape(-1, 3)
        np.testing.assert_allclose(np.log(hr[:, 2]), post["beta"].values.ravel() + ch[:, 1],
                                   rtol=1e-10)
    else:
        assert _inside(post["shape_change"].values.ravel(), truth["shape_change"], 0.99)
    _check_no_single_hr(tree, effect)


def _check_no_single_hr(tree, effect):
    """Such a fit never reports one HR for x: its contrast gives the HR by interval or at each
    horizon, the latter equal to the ratio of the two levels' hazards (numerical derivatives
    of their cumulative hazards), and its effects table has no hazard_ratio row for x."""
    from nen_bayes.bayes.predict import baseline_params, time_varying_of
    from nen_bayes.posterior.contrast import contrast_effects
    from nen_bayes.posterior.summary import posterior_effects
    from nen_bayes.settings import Contrast

    con = contrast_effects(tree, Contrast("x"), horizons=(10.0, 30.0), max_draws=100)
    assert not con.proportional and np.isnan(con.hr[0]) and con.probabilities.empty
    eff = con.effects
    assert "hazard_ratio" not in set(eff["quantity"])
    assert len(con.medians) == 3 and len(con.rmst) == 6
    want = "interval_hazard_ratio" if effect == "hazard_ratio" else "hazard_ratio_at_time"
    assert set(con.time_hrs["quantity"]) == {want}
    assert len(con.time_hrs) == (3 if effect == "hazard_ratio" else 2)
    pe = posterior_effects(tree)
    assert not ((pe["quantity"] == "hazard_ratio") & (pe["term"] == "x")).any()
    if effect == "shape":  # HR(t) = h_b(t) / h_a(t) at the posterior draws, by differences
        post = tree["posterior"].dataset
        params = baseline_params(tree)
        tv = time_varying_of(tree, np.array([[0.0], [1.0]]))
        beta = post["beta"].values.reshape(-1)
        off = families.tv_offsets(tv, params)
        p = {k: params[k][:, None] for k in ("shape", "scale")}
        t, dt = 10.0, 1e-4
        eta = np.stack([np.zeros_like(beta), beta], axis=1)

        def h_at(u):
            return families.tv_cumulative_hazard("weibull", u, p, eta, tv, off)
        ratio = (h_at(t + dt) - h_at(t - dt))[:, 1] / (h_at(t + dt) - h_at(t - dt))[:, 0]
        row = con.time_hrs.iloc[0]
        assert row["estimate"] == pytest.approx(float(np.median(ratio)), rel=1e-4)


def test_a_headline_model_without_a_single_hr_is_refused_before_any_fit(tmp_path):
    from conftest import ROOT

    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.errors import ModelDataError
    from nen_bayes.pipeline.reanalysis import reanalyse
    from nen_bayes.pipeline.settings import ReanalysisSettings
    from nen_bayes.re_nen import LINE_CONTRAST, RE_NEN

    specs = (load_spec(ROOT / "models/weibull_line_shape_centre.toml"),
             load_spec(ROOT / "models/weibull_ph_centre.toml"))
    said = []
    with pytest.raises(ModelDataError, match="no single HR to answer with"):
        reanalyse(load_cohort(BUNDLED_COHORT, RE_NEN), tmp_path / "out",
                  ReanalysisSettings(specs=specs, contrast=LINE_CONTRAST), say=said.append)
    assert not (tmp_path / "out").exists()


def test_centre_cross_validation_refuses_a_time_varying_model_by_name():
    from conftest import ROOT

    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.errors import ModelDataError
    from nen_bayes.posterior.crossval import centre_cv
    from nen_bayes.re_nen import RE_NEN

    spec = load_spec(ROOT / "models/weibull_line_hr_by_time_centre.toml")
    with pytest.raises(ModelDataError, match=r"weibull_line_hr_by_time_centre.*changes with"):
        centre_cv(spec, load_cohort(BUNDLED_COHORT, RE_NEN), endpoint="os")


# -- interval-censored event times ---------------------------------------------------------------
# An event known to lie in (L, U] contributes log(S(L) - S(U)) = log(exp(-H(L)) - exp(-H(U)));
# the references below take H from numerical integration of the hazard (scipy quad) for the
# line HR by interval, and S from scipy's Weibull for the shape per line, at fixed parameters.
# The units mix events in an interval (one from 0, one across two cuts), an exact event and a
# right-censored time.
def interval_design(spec, lower, upper, events, xs):
    """The design of a hand cohort with ``time`` = lower bound and ``upper`` set: an event with
    upper > lower lies in (lower, upper], upper = lower is exact, an infinite upper censored."""
    cohort = hand_cohort([max(t, 1.0) for t in lower], events, xs)
    return replace(make_design(spec, cohort, "ep"), time=np.asarray(lower, float),
                   upper=np.asarray(upper, float))


def _both_log_likelihoods(spec, design, draw, gradient=False):
    """The graph's and the NumPy pointwise log-likelihoods at ``draw``; with ``gradient`` also
    checks that the graph's gradient is finite at its initial point (NUTS needs it)."""
    model = build_model(spec, design)
    if gradient:
        assert np.all(np.isfinite(model.compile_dlogp()(model.initial_point())))
    graph = log_likelihood(model, draw, design)["time"].to_numpy()[0, 0]
    numpy = pointwise_log_likelihood(draw, "weibull", design)["time"].to_numpy()[0, 0]
    return graph, numpy


HR_INTERVALS = ([0.0, 5.0, 2.0, 10.0, 6.0], [3.0, 9.0, 6.0, 10.0, np.inf], [1, 1, 1, 1, 0],
                ["b", "b", "a", "b", "a"])  # lower, upper, event, line of five units


def _hr_interval_expected(lower, upper, events, xs) -> list[float]:
    """The log-likelihood of each unit under HR_PARAMS (line log-HR log 3), by numerical
    integration of the hazard: log(S(L) - S(U)) inside an interval, log h - H for an exact
    event, -H for a censored unit."""
    def hazard(t, line):  # h0(t) x 3 x the change of t's interval for b; h0(t) for a
        k = np.searchsorted([4.0, 8.0], t, side="right")
        return 2 / 10 * (t / 10) * ((3.0 * [1.0, 2.0, 0.5][k]) if line == "b" else 1.0)

    def cum(t, line):
        pts = [0.0, *[c for c in (4.0, 8.0) if c < t], t]
        return sum(quad(hazard, a, b, args=(line,))[0] for a, b in pairwise(pts))
    expected = []
    for lo, up, d, x in zip(lower, upper, events, xs, strict=True):
        if d and up > lo:
            expected.append(math.log(math.exp(-cum(lo, x)) - math.exp(-cum(up, x))))
        elif d:
            expected.append(math.log(hazard(lo, x)) - cum(lo, x))
        else:
            expected.append(-cum(lo, x))
    return expected


def test_piecewise_hr_interval_censored_log_likelihood_equals_integrated_hazard():
    lower, upper, events, xs = HR_INTERVALS
    spec = tv_spec("hazard_ratio")
    design = interval_design(spec, lower, upper, events, xs)
    draw = one_draw(HR_PARAMS, math.log(3.0), design)
    expected = _hr_interval_expected(lower, upper, events, xs)
    graph, numpy = _both_log_likelihoods(spec, design, draw, gradient=True)
    np.testing.assert_allclose(graph, expected, rtol=1e-5, atol=1e-5)  # float32 storage
    np.testing.assert_allclose(numpy, expected, rtol=1e-5, atol=1e-5)


def _swapped(model, time, event, entry=None, upper=None):
    """``model`` (built with the outcomes as data) given other outcomes."""
    model.set_data(OUTCOME_DATA[0], np.asarray(time, float))
    model.set_data(OUTCOME_DATA[1], np.asarray(event, float))
    if entry is not None:
        model.set_data(OUTCOME_DATA[2], np.asarray(entry, float))
    if upper is not None:
        model.set_data(OUTCOME_DATA[3], np.asarray(upper, float))
    return model


def test_time_varying_outcomes_as_data_give_the_likelihood_of_new_outcomes():
    """Time-varying models compiled once and refitted to other outcomes (the main job's
    endpoints, simulation studies): built on one set of outcomes with the outcomes as data,
    then given the hand-checked ones above, the graph gives their closed forms (the integrated
    hazard with late entry, scipy's Weibull, and both with interval-censored events), so
    nothing the likelihood takes from the times is left from the first outcomes."""
    # HR by time, late entry: the three units of the hand computation
    cohort = hand_cohort([20.0, 3.0, 15.0], [0, 1, 0], ["b", "a", "b"], [0.0, 1.0, 2.0])
    spec = tv_spec("hazard_ratio")
    design = make_design(spec, cohort, "ep")
    model = _swapped(build_model(spec, design, outcome_data=True), [10.0, 6.0, 6.0],
                     [1, 0, 1], entry=[0.0, 0.0, 5.0])
    graph = log_likelihood(model, one_draw(HR_PARAMS, math.log(3.0), design),
                           design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(graph, [-5.1039728, -0.36, math.log(0.72) - 0.66],
                               rtol=1e-5, atol=1e-5)
    # HR by time and a shape per line, built on exact times with bounds as data, then given
    # interval-censored outcomes
    lower, upper, events, xs = HR_INTERVALS
    design = make_design(spec, hand_cohort([7.0, 1.0, 9.0, 3.0, 12.0], [0, 1, 0, 1, 1], xs),
                         "ep")
    model = _swapped(build_model(spec, design, outcome_data=True, interval_data=True),
                     lower, events, upper=upper)
    graph = log_likelihood(model, one_draw(HR_PARAMS, math.log(3.0), design),
                           design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(graph, _hr_interval_expected(lower, upper, events, xs),
                               rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(model.compile_dlogp()(model.initial_point())))
    spec = tv_spec("shape")
    design = make_design(spec, hand_cohort([2.0, 9.0], [0, 1], ["b", "a"]), "ep")
    model = _swapped(build_model(spec, design, outcome_data=True, interval_data=True),
                     [4.0, 30.0], [1, 0], upper=[15.0, np.inf])
    graph = log_likelihood(model, one_draw({"shape": 1.5, "scale": 20.0, "shape_change": [0.4]},
                                           0.3, design), design)["time"].to_numpy()[0, 0]
    a_b = 1.5 * math.exp(0.4)
    b = weibull_min(a_b, scale=20.0 * math.exp(-0.3 / a_b))
    np.testing.assert_allclose(graph, [math.log(b.sf(4.0) - b.sf(15.0)),
                                       weibull_min(1.5, scale=20.0).logsf(30.0)],
                               rtol=1e-5, atol=1e-5)


def test_line_shape_interval_censored_log_likelihood_equals_scipy_weibull():
    # unit b: shape 1.5 x exp(0.4), scale 20 exp(-0.3 / shape_b) (HR exp(0.3)); unit a: shape
    # 1.5, scale 20 (see test_line_shape_log_likelihood_equals_scipy_weibull)
    lower, upper = [4.0, 0.0, 12.0, 30.0], [15.0, 7.0, 12.0, np.inf]
    events, xs = [1, 1, 1, 0], ["b", "a", "b", "a"]
    spec = tv_spec("shape")
    design = interval_design(spec, lower, upper, events, xs)
    draw = one_draw({"shape": 1.5, "scale": 20.0, "shape_change": [0.4]}, 0.3, design)
    a_b = 1.5 * math.exp(0.4)
    dist = {"b": weibull_min(a_b, scale=20.0 * math.exp(-0.3 / a_b)),
            "a": weibull_min(1.5, scale=20.0)}
    expected = [math.log(dist["b"].sf(4.0) - dist["b"].sf(15.0)),
                math.log(dist["a"].sf(0.0) - dist["a"].sf(7.0)),
                dist["b"].logpdf(12.0), dist["a"].logsf(30.0)]
    graph, numpy = _both_log_likelihoods(spec, design, draw)
    np.testing.assert_allclose(graph, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(numpy, expected, rtol=1e-5, atol=1e-5)


def test_interval_censoring_with_time_varying_effect_and_late_entry_is_refused():
    spec = tv_spec("shape")
    design = replace(interval_design(spec, [0.0, 5.0], [3.0, 5.0], [1, 1], ["b", "a"]),
                     entry=np.array([0.0, 1.0]))
    with pytest.raises(SpecError, match="late entry"):
        build_model(spec, design)


@pytest.mark.parametrize("effect", ["hazard_ratio", "shape"])
def test_interval_censored_time_varying_fit_runs(effect):
    """A tiny fit on a cohort seen at scans every 6 months (times drawn from the truth above,
    censoring uniform on (10, 60)): it samples, and its pointwise log-likelihood (PSIS-LOO
    input) is finite for every unit."""
    rng = np.random.default_rng(5)
    truth = HR_TRUTH if effect == "hazard_ratio" else SHAPE_TRUTH
    frame = simulate(effect, 120, rng, truth)
    t = np.where(frame["e"] == 1, frame["t"], np.inf)  # the event time (inf: none seen)
    first = 6.0 * rng.random(len(t))
    k = np.floor((t - first) / 6.0)
    seen = np.isfinite(t)
    lower = np.where(~seen, frame["t"], np.where(t < first, 0.0, first + k * 6.0))
    upper = np.where(seen, np.where(t < first, first, first + (k + 1) * 6.0), np.nan)
    scans = pd.DataFrame({"lo": np.round(lower, 3), "up": np.round(upper, 3), "x": frame["x"]})
    schema = CohortSchema.custom({}, id_column=None, centre_column=None,
                                 factors=[Factor("x", ("a", "b"))],
                                 intervals={"ep": ("lo", "up")})
    cohort = load_cohort(scans, schema)
    spec = tv_spec(effect, cuts=(5.0, 15.0))
    design = make_design(spec, cohort, "ep")
    assert ((design.event == 1) & (design.upper > design.time)).sum() > 30
    tree = fit(spec, cohort, endpoint="ep", draws=30, tune=30, chains=1, seed=2,
               progressbar=False, predictive=False, log_lik=True, prior_draws=10).tree
    assert np.all(np.isfinite(tree["log_likelihood"]["time"].values))

"""One test matrix over the family registry: every family x outcome kind x centring.

For each registered family (:data:`nen_bayes.bayes.families.REGISTRY`), each outcome kind
(exact and right-censored times; interval-censored events (L, U]; late entry) and each way the
model is built (internal centring on or off, centre intercepts centred around the baseline or
non-centred), the model graph's log density of the observed times, evaluated at a random
point, equals a density written out independently at the parameters the model reports at that
point: scipy's ``weibull_min`` and ``expon`` survival functions and densities, and the
piecewise-constant hazard integrated by hand. The pointwise log-likelihood of stored draws
(:func:`nen_bayes.bayes.inference.pointwise_log_likelihood`) gives the same terms, so it sums
to the joint likelihood. A family added to the registry without a reference here fails
:func:`test_every_registered_family_has_an_independent_reference`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from nen_bayes import load_cohort
from nen_bayes.bayes import families
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import pointwise_log_likelihood
from nen_bayes.bayes.model import build_model
from nen_bayes.bayes.spec import spec_from_dict
from nen_bayes.cohorts.schema import CohortSchema, Factor

CUTS = [6.0, 15.0]


def _piecewise_logpdf_logsf(t, log_hazard, eta):
    """By hand: hazard exp(lambda_k + eta) on [0, 6), [6, 15), [15, inf)."""
    edges = [0.0, *CUTS, np.inf]
    t = np.asarray(t, float)
    h_cum = np.zeros_like(t)
    log_h = np.empty_like(t)
    for k in range(3):
        span = np.clip(np.minimum(t, edges[k + 1]) - edges[k], 0.0, None)
        h_cum += np.exp(log_hazard[k]) * span
        inside = (t >= edges[k]) & (t < edges[k + 1])
        log_h[inside] = log_hazard[k]
    logsf = -h_cum * np.exp(eta)
    return log_h + eta + logsf, logsf


def _weibull(t, p, eta):
    d = stats.weibull_min(c=p["shape"], scale=p["scale"] * np.exp(-eta / p["shape"]))
    return d.logpdf(t), d.logsf(t)


def _exponential(t, p, eta):
    d = stats.expon(scale=p["scale"] * np.exp(-eta))
    return d.logpdf(t), d.logsf(t)


def _piecewise(t, p, eta):
    return _piecewise_logpdf_logsf(t, p["log_hazard"], eta)


def _aft(dist):
    """An AFT family: the unit's time scale is the baseline's times exp(eta)."""
    def ref(t, p, eta):
        d = dist(p, p["scale"] * np.exp(eta))
        return d.logpdf(t), d.logsf(t)
    return ref


def _gompertz(t, p, eta):
    # by hand (scipy's gompertz logsf underflows to -inf at extreme points): with
    # h(t) = a exp(b t + eta), H(t) = (a / b) (exp(b t) - 1) exp(eta)
    a, b = p["rate"], p["shape"]
    t = np.asarray(t, float)
    log_sf = -(a / b) * np.expm1(b * t) * np.exp(eta)
    return np.log(a) + b * t + eta + log_sf, log_sf


#: Independent log density and log survival of each family (eta: the unit's linear predictor).
REFERENCE = {
    "weibull": _weibull, "exponential": _exponential, "piecewise": _piecewise,
    "weibull_aft": _aft(lambda p, s: stats.weibull_min(c=p["shape"], scale=s)),
    "lognormal": _aft(lambda p, s: stats.lognorm(s=p["sigma"], scale=s)),
    "loglogistic": _aft(lambda p, s: stats.fisk(c=p["shape"], scale=s)),
    "gompertz": _gompertz,
    # Prentice's generalised gamma is scipy's gengamma(a = 1/Q^2, c = Q/sigma) at scale
    # s (1/Q^2)^(-sigma/Q): u = (T/s')^c ~ Gamma(1/Q^2)
    "gengamma": _aft(lambda p, s: stats.gengamma(
        a=1.0 / p["Q"] ** 2, c=p["Q"] / p["sigma"],
        scale=s * (1.0 / p["Q"] ** 2) ** (-p["sigma"] / p["Q"]))),
}

PRIORS = {"coefficient": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
          "shape": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5},
          "scale": {"dist": "LogNormal", "mu": 3.0, "sigma": 1.0},
          "log_hazard": {"dist": "Normal", "mu": -3.0, "sigma": 1.5},
          "sigma": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5},
          "rate": {"dist": "LogNormal", "mu": -3.0, "sigma": 1.0},
          "Q": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
          "group_sd": {"dist": "HalfNormal", "sigma": 0.5}}


def _frame(kind: str, rng: np.random.Generator) -> tuple[pd.DataFrame, CohortSchema]:
    n = 48
    t = rng.weibull(1.3, n) * 20 + 0.5
    e = (rng.uniform(size=n) < 0.7).astype(int)
    frame = pd.DataFrame({"t": t.round(3), "e": e, "x": rng.choice(["a", "b"], n),
                          "age": rng.normal(6, 1, n).round(2),
                          "centre": np.repeat(["c1", "c2", "c3", "c4"], n // 4)})
    factors = [Factor("x", ("a", "b"))]
    if kind == "entry":
        frame["a"] = (t * rng.uniform(0, 0.8, n) * (rng.uniform(size=n) < 0.5)).round(3)
        return frame, CohortSchema.custom({"ep": ("t", "e")}, factors=factors,
                                          numerics=["age"], centre_column="centre",
                                          entries={"ep": "a"})
    if kind == "interval":
        lower = np.where(rng.uniform(size=n) < 0.2, 0.0, (t * 0.6).round(3))
        inside = (e == 1) & (rng.uniform(size=n) < 0.6)
        frame["lo"] = np.where(inside, lower, t.round(3))
        frame["up"] = np.where(e == 1, t.round(3), np.nan)
        frame = frame.drop(columns=["t", "e"])
        return frame, CohortSchema.custom({}, factors=factors, numerics=["age"],
                                          centre_column="centre",
                                          intervals={"ep": ("lo", "up")})
    return frame, CohortSchema.custom({"ep": ("t", "e")}, factors=factors, numerics=["age"],
                                      centre_column="centre")


def _spec(family: str, centered: bool):
    fam = families.get_family(family)
    d = {"model": {"name": f"{family}_registry", "family": family},
         "covariates": [{"column": "x", "reference": "a"},
                        {"column": "age", "type": "numeric", "center": False}],
         "groups": [{"name": "centre", "column": "centre", "centered": centered}],
         "priors": {k: PRIORS[k] for k in ["coefficient", "group_sd"]}}
    for par in fam.parameters:  # a real per-time parameter (the Gompertz shape) is small
        d["priors"][par.name] = (PRIORS[par.name] if par.time != "per_time" else
                                 {"dist": "Normal", "mu": 0.0, "sigma": 0.05})
    if fam.needs_cuts:
        d["baseline"] = {"cuts": CUTS}
    return spec_from_dict(d)


def _reference_terms(family, design, p, eta):
    """The independent log-likelihood term of every unit."""
    ref = REFERENCE[family]
    t, d = design.time, design.event
    inside = (np.zeros(design.n, bool) if design.upper is None
              else (d == 1) & (design.upper > t))
    lp, ls = ref(t, p, eta)
    out = np.where(d == 1, lp, ls)
    if inside.any():
        lo, up, e = t[inside], design.upper[inside], eta[inside]
        ls_lo = np.where(lo > 0, ref(np.where(lo > 0, lo, 1.0), p, e)[1], 0.0)
        ls_up = ref(up, p, e)[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            # log(S(L) - S(U)) from the survival side, or, where S(L) > 1/2, from the
            # distribution function's side (an early interval: both S near 1)
            via_sf = ls_lo + np.log1p(-np.exp(ls_up - ls_lo))
            lf_lo, lf_up = np.log(-np.expm1(ls_lo)), np.log(-np.expm1(ls_up))
            via_cdf = lf_up + np.log1p(-np.exp(lf_lo - lf_up))
        out[inside] = np.where(ls_lo > np.log(0.5), via_cdf, via_sf)
    if design.entry is not None:
        out = out - ref(design.entry, p, eta)[1]
    return out


def test_every_registered_family_has_an_independent_reference():
    assert set(families.REGISTRY) == set(REFERENCE)


@pytest.mark.parametrize("centre", [True, False], ids=["centring", "as-written"])
@pytest.mark.parametrize("centered", [True, False], ids=["centred", "non-centred"])
@pytest.mark.parametrize("kind", ["exact", "interval", "entry"])
@pytest.mark.parametrize("family", list(families.REGISTRY))
def test_model_log_density_equals_the_independent_density(family, kind, centered, centre):
    from pymc.model.transform.conditioning import remove_value_transforms

    rng = np.random.default_rng([7, len(family), len(kind)])
    frame, schema = _frame(kind, rng)
    spec = _spec(family, centered)
    design = make_design(spec, load_cohort(frame, schema), "ep")
    if kind == "interval":
        assert ((design.event == 1) & (design.upper > design.time)).sum() > 5
    model = remove_value_transforms(build_model(spec, design, centre=centre))
    fam = families.get_family(family)
    names = [*fam.parameter_names, "beta", "u_centre"]
    fn = model.compile_fn(inputs=model.value_vars,
                          outs=[model.logp(vars=[model["time"]], sum=False)[0],
                                *model.replace_rvs_by_values([model[n] for n in names])],
                          on_unused_input="ignore",
                          mode="FAST_COMPILE")
    base = fam.baseline_parameter
    point = {}
    for v in model.value_vars:  # a random point on the data's scale (times of 0.5 to 60)
        rv = model.values_to_rvs[v]
        shape = tuple(int(k) for k in rv.shape.eval())
        if rv.name == "scale_centred_log":  # the log of the baseline at the covariate means
            point[v.name] = np.asarray(rng.normal(-3.0 if base.time == "rate" else 2.5, 0.2))
        elif rv.name in ("scale", "rate"):
            point[v.name] = np.asarray(rng.uniform(10.0, 30.0) if rv.name == "scale"
                                       else rng.uniform(0.02, 0.1))
        elif rv.name == "shape" and family == "gompertz":
            point[v.name] = np.asarray(abs(rng.normal(0.0, 0.03)))
        elif rv.name == "Q":  # away from 0, where the log-normal limit takes over
            point[v.name] = np.asarray(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0))
        elif rv.name == "sigma" and family == "gengamma":  # scipy's tails stay resolved
            point[v.name] = np.asarray(rng.uniform(0.4, 0.9))
        elif rv.name.startswith(("sd_", "shape", "sigma")):
            point[v.name] = rng.uniform(0.5, 2.0, shape)
        else:
            point[v.name] = rng.normal(-2.0 if "hazard" in rv.name else 0.0, 0.3, shape)
    ll, *values = fn(point)
    p = dict(zip(names, values, strict=True))
    eta = design.X @ p["beta"] + p["u_centre"][design.groups[0].index]
    expected = _reference_terms(family, design, p, eta)
    np.testing.assert_allclose(ll, expected, rtol=1e-7, atol=1e-7)  # PyMC's normal lccdf
    # the stored draws' pointwise log-likelihood: the same terms, summing to the joint one
    post = xr.Dataset({n: (("chain", "draw", *model.named_vars_to_dims.get(n, ())),
                           np.asarray(p[n])[None, None]) for n in names},
                      coords={k: list(v) for k, v in model.coords.items()})
    stored = pointwise_log_likelihood(post, family, design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(stored, expected, rtol=2e-6, atol=2e-5)  # float32 storage
    assert stored.sum() == pytest.approx(expected.sum(), rel=1e-5)


#: One parameter set per family (time scale about 10) for the closed-form checks below.
POINT = {"weibull": {"shape": 1.5, "scale": 10.0}, "weibull_aft": {"shape": 0.8, "scale": 10.0},
         "exponential": {"scale": 10.0}, "lognormal": {"scale": 10.0, "sigma": 0.8},
         "loglogistic": {"shape": 2.5, "scale": 10.0},
         "gompertz": {"rate": 0.05, "shape": 0.02},
         "piecewise": {"log_hazard": np.log([0.1, 0.05, 0.08])},
         "gengamma": {"scale": 10.0, "sigma": 0.7, "Q": 0.6}}


def test_every_registered_family_has_a_parameter_point():
    assert set(families.REGISTRY) == set(POINT)


@pytest.mark.parametrize("family", list(families.REGISTRY))
def test_median_rmst_mean_and_draws_follow_the_independent_survival(family):
    """The family's median solves S = 1/2, its RMST and mean equal scipy's quadrature of the
    independent survival function, and its random draws (also given survival to an entry
    time) follow that law (Kolmogorov-Smirnov, 4,000 draws: a correct law fails with
    probability 1e-4)."""
    from scipy import integrate

    fam = families.get_family(family)
    p = {k: np.asarray(v) for k, v in POINT[family].items()}
    eta = 0.4

    def surv(t, e=0.0):
        return np.exp(REFERENCE[family](np.atleast_1d(t), p, e)[1])[0]

    med = float(fam.median(p, CUTS))
    assert surv(med) == pytest.approx(0.5, abs=1e-10)
    for tau in (5.0, 12.0, 40.0):
        ref = integrate.quad(lambda t: surv(t, eta), 0, tau, points=CUTS, limit=200)[0]
        assert float(fam.rmst(tau, p, eta, CUTS)) == pytest.approx(ref, rel=1e-8)
    ref_mean = integrate.quad(surv, 0, np.inf, limit=400)[0]
    assert float(fam.mean(p, CUTS)) == pytest.approx(ref_mean, rel=1e-6)
    rng = np.random.default_rng([5, len(family)])
    e = np.full(4000, eta)
    t = np.exp(fam.log_random_times(p, e, rng, CUTS))
    cdf = np.vectorize(lambda x: 1.0 - surv(x, eta))
    assert stats.kstest(t, cdf).pvalue > 1e-4
    entry = 6.0  # given survival to 6: S(t | T > 6) = S(t) / S(6)
    t = np.exp(fam.log_random_times(p, e, rng, CUTS, entry=np.full(4000, entry)))
    assert t.min() > entry
    s_entry = surv(entry, eta)
    assert stats.kstest(t, np.vectorize(lambda x: 1.0 - surv(x, eta) / s_entry)).pvalue > 1e-4


def test_hazard_ratio_analyses_refuse_an_aft_family():
    """The prior grid (priors on a log HR) and the main job's contrast refuse a time-ratio
    model with a message naming the family, before any sampling."""
    from nen_bayes.errors import ModelDataError
    from nen_bayes.sensitivity.refits import check_grid_contrast
    from nen_bayes.settings import Contrast

    rng = np.random.default_rng(3)
    frame, schema = _frame("exact", rng)
    cohort = load_cohort(frame, schema)
    for family, fam in families.REGISTRY.items():
        spec = _spec(family, False)
        if fam.proportional:
            check_grid_contrast(spec, cohort, Contrast("x", "b", "a"), "ep")
        else:
            with pytest.raises(ModelDataError, match=f"accelerated-failure-time family "
                                                     f"'{family}'.*log time ratios"):
                check_grid_contrast(spec, cohort, Contrast("x", "b", "a"), "ep")

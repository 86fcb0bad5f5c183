"""Cox models and the Schoenfeld test: R golden values, an independent derivative check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung

from nen_bayes import cox_fit
from nen_bayes.errors import BaselineError, BaselineWarning
from nen_bayes.frequentist.cox import Term, cox_zph


@pytest.fixture(scope="module")
def lung():
    return load_lung()


def test_lung_age_sex_matches_r_coxph(lung):
    """R: coxph(Surv(time, status) ~ age + sex, data = lung)
    age coef 0.017045 se 0.009223; sex coef -0.513219 se 0.167458, exp(coef) 0.598566."""
    r = cox_fit(lung, "time", "status", [Term("age"), Term("sex")])
    t = r.table.set_index("term")
    assert t.loc["age", "coef"] == pytest.approx(0.017045, abs=2e-6)
    assert t.loc["sex", "coef"] == pytest.approx(-0.513219, abs=5e-6)
    assert t.loc["age", "se"] == pytest.approx(0.009223, abs=2e-6)
    assert t.loc["sex", "se"] == pytest.approx(0.167458, abs=2e-6)
    assert t.loc["sex", "hr"] == pytest.approx(0.598566, abs=5e-6)
    assert (r.n, r.events) == (228, 165)


def test_lung_rows_with_institution_give_the_published_coefficient(lung):
    """The 227 rows with a known institution (the analysis set of a centre-clustered model):
    coxph(Surv(time, status) ~ age + sex, data = lung, cluster = inst) gives coefficients
    0.0170 and -0.5117."""
    d = lung.dropna(subset=["inst"])
    r = cox_fit(d, "time", "status", [Term("age"), Term("sex")], cluster="inst")
    t = r.table.set_index("term")
    assert round(t.loc["age", "coef"], 4) == 0.0170
    assert round(t.loc["sex", "coef"], 4) == -0.5117
    plain = cox_fit(d, "time", "status", [Term("age"), Term("sex")]).table.set_index("term")
    assert t.loc["sex", "coef"] == pytest.approx(plain.loc["sex", "coef"], rel=1e-8)
    assert t.loc["sex", "se"] != pytest.approx(plain.loc["sex", "se"], rel=1e-3)
    assert "cluster-robust SE by inst (18 clusters)" in r.method
    assert any("anti-conservative" in n for n in r.notes)


def test_lung_schoenfeld_test_matches_r_cox_zph(lung):
    """R (survival >= 3.0): cox.zph(coxph(Surv(time, status) ~ age + sex, data = lung))
    age chisq 0.209 (p 0.65); sex 2.608 (p 0.11); GLOBAL 2.771 on 2 df (p 0.25)."""
    z = cox_fit(lung, "time", "status", [Term("age"), Term("sex")]).zph.set_index("term")
    assert round(z.loc["age", "chisq"], 3) == 0.209
    assert round(z.loc["sex", "chisq"], 3) == 2.608
    assert round(z.loc["GLOBAL", "chisq"], 3) == 2.771
    assert z.loc["GLOBAL", "df"] == 2 and round(z.loc["GLOBAL", "p"], 2) == 0.25


def _efron_loglik(time, event, linear_predictor):
    """Efron partial log-likelihood written out one event time at a time (no shared code).
    ``linear_predictor(t)`` gives every unit's linear predictor at time t (time-varying)."""
    ll = 0.0
    for t in np.unique(time[event == 1]):
        dead = (time == t) & (event == 1)
        risk = time >= t
        Z = linear_predictor(t)
        r = np.exp(Z)
        d = dead.sum()
        ll += Z[dead].sum()
        for k in range(d):
            ll -= np.log(r[risk].sum() - k / d * r[dead].sum())
    return ll


def test_schoenfeld_score_test_equals_numerical_derivatives():
    """The score test for gamma in the model x*beta + x*g(t)*gamma, from finite-difference
    gradient and Hessian of an independently coded Efron partial likelihood, at (beta_hat, 0)."""
    rng = np.random.default_rng(3)
    n = 80
    x = rng.normal(size=(n, 2))
    t = np.round(rng.exponential(1 / np.exp(x @ [0.5, -0.3])), 1) + 0.1  # ties included
    c = np.round(rng.exponential(3.0, n), 1) + 0.1
    time, event = np.minimum(t, c), (t <= c).astype(int)
    df = pd.DataFrame({"time": time, "event": event, "a": x[:, 0], "b": x[:, 1]})
    fit = cox_fit(df, "time", "event", [Term("a"), Term("b")])
    beta = fit.table["coef"].to_numpy()
    z = cox_zph(time, event, x, beta, transform="identity",
                groups={"a": [0], "b": [1]}).set_index("term")
    centre = time[event == 1].mean()

    def ll(theta):
        return _efron_loglik(time, event,
                             lambda t: x @ theta[:2] + (t - centre) * (x @ theta[2:]))

    theta0 = np.r_[beta, 0.0, 0.0]
    h = 1e-4
    grad = np.array([(ll(theta0 + h * e) - ll(theta0 - h * e)) / (2 * h) for e in np.eye(4)])
    hess = np.array([[(ll(theta0 + h * (ei + ej)) - ll(theta0 + h * (ei - ej))
                       - ll(theta0 - h * (ei - ej)) + ll(theta0 - h * (ei + ej))) / (4 * h * h)
                      for ej in np.eye(4)] for ei in np.eye(4)])
    info = -hess
    u = np.r_[0.0, 0.0, grad[2:]]
    assert abs(grad[:2]).max() < 1e-3  # beta_hat is the maximum
    assert z.loc["GLOBAL", "chisq"] == pytest.approx(u @ np.linalg.solve(info, u), rel=1e-4)
    kk = [0, 1, 2]
    ua = np.r_[0.0, 0.0, grad[2]]
    assert z.loc["a", "chisq"] == pytest.approx(
        ua @ np.linalg.solve(info[np.ix_(kk, kk)], ua), rel=1e-4)


def test_factor_level_without_events_is_nan_with_warning():
    df = pd.DataFrame({"time": [1, 3, 5, 2, 4, 6, 7, 8, 9], "event": [1, 1, 0, 1, 0, 1, 0, 0, 0],
                       "g": list("aaabbbccc")})
    with pytest.warns(BaselineWarning, match=r"no events .*\{'g': \['c'\]\}"):
        r = cox_fit(df, "time", "event", [Term("g", ("a", "b", "c"))], zph=False)
    t = r.table.set_index("level")
    assert np.isnan(t.loc["c", "hr"]) and np.isfinite(t.loc["b", "hr"])
    assert r.n == 6


@pytest.mark.parametrize(
    ("frame", "terms", "match"),
    [
        ({"time": [1, 2], "event": [0, 0], "g": ["a", "b"]}, [Term("g", ("a", "b"))],
         "no events"),
        ({"time": [1, 2], "event": [1, 1], "g": ["a", "a"]}, [Term("g", ("a", "b"))],
         r"only the level\(s\) \['a'\]"),
        ({"time": [1, 2], "event": [1, 1], "g": ["a", "b"]}, [Term("grade", ("a", "b"))],
         "covariate 'grade' is not a column"),
    ],
)
def test_bad_models_are_clear_errors(frame, terms, match):
    with pytest.raises(BaselineError, match=match):
        cox_fit(pd.DataFrame(frame), "time", "event", terms)

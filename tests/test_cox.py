"""Cox models and the Schoenfeld test: R golden values, an independent derivative check."""

from __future__ import annotations

import io

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


# -- aliased coefficients (R coxph: NA and "X matrix deemed to be singular") ------------------
# R survival's `kidney` data (McGilchrist & Aisbett 1991): recurrence times of infection at the
# catheter insertion point, two per patient. Columns id, time, status, age, sex, disease (frail
# left out); copied from R's data set (Rdatasets csv/survival/kidney.csv).
KIDNEY_CSV = """\
id,time,status,age,sex,disease
1,8,1,28,1,Other
1,16,1,28,1,Other
2,23,1,48,2,GN
2,13,0,48,2,GN
3,22,1,32,1,Other
3,28,1,32,1,Other
4,447,1,31,2,Other
4,318,1,32,2,Other
5,30,1,10,1,Other
5,12,1,10,1,Other
6,24,1,16,2,Other
6,245,1,17,2,Other
7,7,1,51,1,GN
7,9,1,51,1,GN
8,511,1,55,2,GN
8,30,1,56,2,GN
9,53,1,69,2,AN
9,196,1,69,2,AN
10,15,1,51,1,GN
10,154,1,52,1,GN
11,7,1,44,2,AN
11,333,1,44,2,AN
12,141,1,34,2,Other
12,8,0,34,2,Other
13,96,1,35,2,AN
13,38,1,35,2,AN
14,149,0,42,2,AN
14,70,0,42,2,AN
15,536,1,17,2,Other
15,25,0,17,2,Other
16,17,1,60,1,AN
16,4,0,60,1,AN
17,185,1,60,2,Other
17,177,1,60,2,Other
18,292,1,43,2,Other
18,114,1,44,2,Other
19,22,0,53,2,GN
19,159,0,53,2,GN
20,15,1,44,2,Other
20,108,0,44,2,Other
21,152,1,46,1,PKD
21,562,1,47,1,PKD
22,402,1,30,2,Other
22,24,0,30,2,Other
23,13,1,62,2,AN
23,66,1,63,2,AN
24,39,1,42,2,AN
24,46,0,43,2,AN
25,12,1,43,1,AN
25,40,1,43,1,AN
26,113,0,57,2,AN
26,201,1,58,2,AN
27,132,1,10,2,GN
27,156,1,10,2,GN
28,34,1,52,2,AN
28,30,1,52,2,AN
29,2,1,53,1,GN
29,25,1,53,1,GN
30,130,1,54,2,GN
30,26,1,54,2,GN
31,27,1,56,2,AN
31,58,1,56,2,AN
32,5,0,50,2,AN
32,43,1,51,2,AN
33,152,1,57,2,PKD
33,30,1,57,2,PKD
34,190,1,44,2,GN
34,5,0,45,2,GN
35,119,1,22,2,Other
35,8,1,22,2,Other
36,54,0,42,2,Other
36,16,0,42,2,Other
37,6,0,52,2,PKD
37,78,1,52,2,PKD
38,63,1,60,1,PKD
38,8,0,60,1,PKD
"""


def kidney_frame() -> pd.DataFrame:
    """R's ``kidney`` (76 rows, 38 patients), sex as text (1 male, 2 female), id as text."""
    d = pd.read_csv(io.StringIO(KIDNEY_CSV))
    d["sex"] = d["sex"].map({1: "male", 2: "female"})
    d["id"] = "P" + d["id"].astype(str)
    return d


def _lifelines_coef(frame: pd.DataFrame, columns: list[str], **kw) -> pd.Series:
    """lifelines' CoxPHFitter (Efron ties) on the given numeric columns: the reference fit."""
    from lifelines import CoxPHFitter

    cols = [*columns, "time", "status", *kw.get("strata", [])]
    return CoxPHFitter().fit(frame[cols], "time", "status", **kw).params_


def test_covariates_constant_within_every_stratum_are_aliased_as_in_r():
    """R: coxph(Surv(time, status) ~ sex + disease + age + strata(id), kidney) reports NA for
    sex and the three disease coefficients, each constant within every patient, with the
    warning "X matrix deemed to be singular; variable 1 2 3 4", and estimates age alone (it
    changes within some patients). The age coefficient is that of the fit without the aliased
    columns (lifelines with strata=id, computed here)."""
    d = kidney_frame()
    terms = [Term("sex", ("female", "male")), Term("disease", ("AN", "GN", "Other", "PKD")),
             Term("age")]
    with pytest.warns(BaselineWarning,
                      match=r"'sex', 'disease' are constant within every stratum of 'id'"):
        r = cox_fit(d, "time", "status", terms, strata="id")
    t = r.table.set_index("column")
    aliased = ["sex=male", "disease=GN", "disease=Other", "disease=PKD"]
    assert t.loc[aliased, ["coef", "se", "hr", "lower", "upper", "p"]].isna().all().all()
    ref = _lifelines_coef(d, ["age"], strata=["id"])
    assert t.loc["age", "coef"] == pytest.approx(ref["age"], abs=1e-8)
    assert np.isfinite(t.loc["age", "se"])
    assert any("'sex', 'disease'" in n and "no hazard ratio is estimated" in n for n in r.notes)
    assert list(r.zph["term"]) == ["age", "GLOBAL"]  # the PH test of the estimated terms


def test_a_collinear_column_is_aliased_in_a_plain_fit(lung):
    """R: coxph(Surv(time, status) ~ age + sex + age2, lung) with age2 = 2 * age + 3 gives
    NA for age2 ("X matrix deemed to be singular; variable 3") and the coefficients of
    coxph(Surv(time, status) ~ age + sex, lung): age 0.017045, sex -0.513219."""
    d = lung.assign(age2=2 * lung["age"] + 3)
    with pytest.warns(BaselineWarning, match=r"'age2' is a linear combination"):
        r = cox_fit(d, "time", "status", [Term("age"), Term("sex"), Term("age2")])
    t = r.table.set_index("term")
    assert np.isnan(t.loc["age2", "hr"]) and np.isnan(t.loc["age2", "p"])
    ref = _lifelines_coef(d, ["age", "sex"])
    assert t.loc["age", "coef"] == pytest.approx(ref["age"], abs=1e-8)
    assert t.loc["sex", "coef"] == pytest.approx(ref["sex"], abs=1e-8)
    assert t.loc["sex", "coef"] == pytest.approx(-0.513219, abs=5e-6)
    assert t.loc["age", "se"] == pytest.approx(0.009223, abs=2e-6)


def test_a_duplicated_factor_column_is_aliased_level_by_level():
    """Two codings of one grouping: the second factor's column adds nothing (R gives NA for
    it); the first keeps the estimate of the fit without it."""
    d = kidney_frame()
    d["sex_again"] = d["sex"].map({"male": "m", "female": "f"})
    with pytest.warns(BaselineWarning, match=r"'sex_again'"):
        r = cox_fit(d, "time", "status", [Term("sex", ("female", "male")), Term("age"),
                                          Term("sex_again", ("f", "m"))])
    t = r.table.set_index("column")
    assert np.isnan(t.loc["sex_again=m", "hr"])
    ref = _lifelines_coef(d.assign(male=(d["sex"] == "male").astype(float)), ["male", "age"])
    assert t.loc["sex=male", "coef"] == pytest.approx(ref["male"], abs=1e-8)
    assert t.loc["age", "coef"] == pytest.approx(ref["age"], abs=1e-8)


def test_a_model_with_every_column_aliased_has_rows_without_estimates():
    d = kidney_frame()
    with pytest.warns(BaselineWarning, match="constant within every stratum"):
        r = cox_fit(d, "time", "status", [Term("sex", ("female", "male"))], strata="id")
    assert r.table["hr"].isna().all() and r.zph is None
    assert (r.n, r.events) == (76, 58)

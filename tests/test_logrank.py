"""Log-rank family: R survdiff golden values, lifelines agreement, closed forms, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.datasets import load_lung
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test

from nen_bayes import logrank_test
from nen_bayes.errors import BaselineError, BaselineWarning


@pytest.fixture(scope="module")
def lung():
    return load_lung()


def test_two_group_matches_r_survdiff(lung):
    """R: survdiff(Surv(time, status) ~ sex, data = lung)
    sex=1 N 138 O 112 E 91.5817; sex=2 N 90 O 53 E 73.4183; Chisq = 10.3267 on 1 df,
    p = 0.00131116."""
    r = logrank_test(lung["time"], lung["status"], lung["sex"])
    assert r.table["n"].tolist() == [138, 90]
    assert r.table["observed"].tolist() == [112, 53]
    np.testing.assert_allclose(r.table["expected"], [91.5817, 73.4183], atol=5e-5)
    assert r.statistic == pytest.approx(10.3267, abs=5e-5)
    assert r.df == 1
    assert r.p_value == pytest.approx(0.00131116, rel=1e-5)


def test_stratified_matches_r_survdiff(lung):
    """R: survdiff(Surv(time, status) ~ pat.karno + strata(inst), data = lung)
    (rows with missing pat.karno or inst dropped): Chisq = 21.4 on 7 df, p = 0.00326; expected
    0.692, 1.10, 1.17, 16.3, 26.4, 41.9, 47.2, 26.2 for pat.karno 30..100."""
    d = lung.dropna(subset=["pat.karno", "inst"])
    levels = [str(v) for v in (30, 40, 50, 60, 70, 80, 90, 100)]
    r = logrank_test(d["time"], d["status"], d["pat.karno"].astype(int), strata=d["inst"],
                     levels=levels, name="pat.karno")
    assert r.df == 7 and round(r.statistic, 1) == 21.4
    assert round(r.p_value, 5) == 0.00326
    assert r.table["n"].tolist() == [2, 2, 4, 30, 41, 50, 60, 35]
    assert r.table["observed"].tolist() == [1, 1, 4, 27, 31, 38, 38, 21]
    np.testing.assert_allclose(r.table["expected"],
                               [0.692, 1.10, 1.17, 16.3, 26.4, 41.9, 47.2, 26.2], rtol=5e-3)
    assert "stratified" in r.method


def test_k_group_equals_lifelines(lung):
    d = lung.dropna(subset=["ph.ecog"])
    r = logrank_test(d["time"], d["status"], d["ph.ecog"].astype(int))
    ref = multivariate_logrank_test(d["time"], d["ph.ecog"], d["status"])
    assert r.df == 3
    assert r.statistic == pytest.approx(ref.test_statistic, rel=1e-9)
    assert r.table["expected"].sum() == pytest.approx(r.table["observed"].sum())


def test_fleming_harrington_rho1_equals_lifelines(lung):
    m = lung["sex"] == 1
    r = logrank_test(lung["time"], lung["status"], lung["sex"], rho=1)
    ref = lifelines_logrank(lung["time"][m], lung["time"][~m], lung["status"][m],
                            lung["status"][~m], weightings="fleming-harrington", p=1, q=0)
    assert r.statistic == pytest.approx(ref.test_statistic, rel=1e-9)


def test_trend_with_two_groups_is_the_log_rank(lung):
    r = logrank_test(lung["time"], lung["status"], lung["sex"], trend=True)
    assert r.trend_statistic == pytest.approx(r.statistic, rel=1e-12)


def test_trend_equals_cox_score_test_without_ties():
    """Without tied times the trend statistic is the Cox partial-likelihood score test of the
    scores at beta = 0: U = sum over events (c_i - mean c in risk set), I = sum of risk-set
    variances (Collett 2015, sec. 3.13). Computed here directly, one risk set at a time."""
    rng = np.random.default_rng(11)
    n = 150
    g = rng.integers(0, 3, n)
    t = rng.exponential(1 / np.exp(0.3 * g)) + rng.permutation(n) * 1e-9  # no ties
    cens = rng.exponential(2.0, n)
    time = np.minimum(t, cens)
    event = (t <= cens).astype(int)
    scores = np.array([1.0, 2.0, 4.0])
    c = scores[g]
    u = info = 0.0
    for i in np.nonzero(event)[0]:
        risk = c[time >= time[i]]
        u += c[i] - risk.mean()
        info += risk.var()
    r = logrank_test(time, event, g, levels=["0", "1", "2"], trend=True, scores=scores)
    assert r.trend_statistic == pytest.approx(u * u / info, rel=1e-9)


def test_single_level_factor_is_an_error():
    with pytest.raises(BaselineError, match=r"by 'line': the data hold only the level\(s\) "
                                            r"\['salvage'\]"):
        logrank_test([1, 2, 3], [1, 0, 1], ["salvage"] * 3, name="line")


def test_all_censored_is_an_error():
    with pytest.raises(BaselineError, match="no events in any group"):
        logrank_test([1, 2, 3, 4], [0, 0, 0, 0], ["a", "a", "b", "b"])


def test_group_without_events_warns_but_tests():
    with pytest.warns(BaselineWarning, match="group 'b' has no events"):
        r = logrank_test([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0], list("aaabbb"))
    assert r.table["observed"].tolist() == [3, 0] and np.isfinite(r.p_value)


def test_stratum_with_one_unit_warns_and_contributes_nothing():
    time = [1, 2, 3, 4, 5, 6, 7]
    event = [1, 1, 0, 1, 1, 0, 1]
    group = [*"ababab", "a"]
    strata = ["c1"] * 6 + ["c2"]
    with pytest.warns(BaselineWarning, match=r"stratum/strata \['c2'\] hold a single unit"):
        r = logrank_test(time, event, group, strata=strata)
    plain = logrank_test(time[:6], event[:6], group[:6])
    assert r.statistic == pytest.approx(plain.statistic, rel=1e-12)

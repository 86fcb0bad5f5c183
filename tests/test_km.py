"""Kaplan-Meier: golden values against R survival on lung, closed forms, and lifelines."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung

from nen_bayes import kaplan_meier
from nen_bayes.errors import BaselineWarning


@pytest.fixture(scope="module")
def lung():
    return load_lung()


def test_lung_median_and_log_ci_match_r(lung):
    """R: print(survfit(Surv(time, status) ~ 1, data = lung))
    n = 228, events = 165, median = 310, 0.95LCL = 285, 0.95UCL = 363 (conf.type = "log")."""
    km = kaplan_meier(lung["time"], lung["status"])
    assert km.conf_type == "log"
    assert (km.n, km.events) == (228, 165)
    assert km.median() == (310.0, 285.0, 363.0)


def test_lung_medians_by_sex_match_r(lung):
    """R: survfit(Surv(time, status) ~ sex, data = lung)
    sex=1: n 138, events 112, median 270 (212, 310);
    sex=2: n 90, events 53, median 426 (348, 550)."""
    expected = {1: (138, 112, (270.0, 212.0, 310.0)), 2: (90, 53, (426.0, 348.0, 550.0))}
    for sex, (n, d, med) in expected.items():
        m = lung["sex"] == sex
        km = kaplan_meier(lung["time"][m], lung["status"][m])
        assert (km.n, km.events) == (n, d)
        assert km.median() == med


def test_log_log_interval_equals_lifelines(lung):
    """lifelines' KaplanMeierFitter uses the log(-log) ('exponential Greenwood') interval."""
    km = kaplan_meier(lung["time"], lung["status"], conf_type="log-log")
    ref = KaplanMeierFitter().fit(lung["time"], lung["status"])
    ci = ref.confidence_interval_survival_function_
    tab = km.table.set_index("time")
    common = [t for t in tab.index if t in ci.index and 0 < tab.loc[t, "surv"] < 1]
    assert len(common) > 150
    np.testing.assert_allclose(tab.loc[common, "surv"], ref.survival_function_.loc[common]
                               .iloc[:, 0], rtol=1e-12)
    np.testing.assert_allclose(tab.loc[common, "lower"], ci.loc[common].iloc[:, 0], rtol=1e-9)
    np.testing.assert_allclose(tab.loc[common, "upper"], ci.loc[common].iloc[:, 1], rtol=1e-9)


def test_hand_computed_greenwood():
    """Times 1,2,2+,3,4 with events 1,1,0,1,0: S = 4/5, 3/5 at t=2, 3/5*1/2 at t=3.
    Greenwood var(log S) at t=3: 1/(5*4) + 1/(4*3) + 1/(2*1)."""
    km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    tab = km.table.set_index("time")
    assert tab.loc[3.0, "surv"] == pytest.approx(0.3)
    assert tab.loc[3.0, "std_err"] == pytest.approx(np.sqrt(1 / 20 + 1 / 12 + 1 / 2))
    assert list(tab["n_risk"]) == [5, 4, 2, 1]
    lo, hi = tab.loc[3.0, ["lower", "upper"]]
    se = np.sqrt(1 / 20 + 1 / 12 + 1 / 2)
    assert lo == pytest.approx(0.3 * np.exp(-1.959963984540054 * se))
    assert hi == pytest.approx(min(1.0, 0.3 * np.exp(1.959963984540054 * se)))


def test_median_midpoint_rule_when_curve_rests_on_half():
    """R quantile.survfit: S = 0.75, 0.5, 0.25, 0 at 1..4, so the median is (2 + 3) / 2."""
    km = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])
    assert km.median()[0] == 2.5


def test_median_not_reached_is_nan():
    km = kaplan_meier([1, 2, 3, 4, 5, 6], [1, 0, 0, 0, 0, 0])
    assert np.isnan(km.median()).all()


def test_horizon_beyond_follow_up_is_nan_with_warning():
    km = kaplan_meier([1, 2, 3, 4], [1, 0, 1, 0], label="demo")
    with pytest.warns(BaselineWarning, match=r"demo: horizon\(s\) 10 lie beyond .* 4"):
        at = km.survival_at([2, 10])
    assert at["surv"].iloc[0] == pytest.approx(0.75)
    assert np.isnan(at["surv"].iloc[1]) and at["n_risk"].tolist() == [3, 0]


def test_number_at_risk_counts_units_still_observed():
    km = kaplan_meier([1, 2, 2, 5], [1, 0, 1, 0])
    assert [km.n_at(t) for t in (0, 2, 3, 6)] == [4, 3, 1, 0]


def test_bad_conf_type_is_rejected():
    with pytest.raises(ValueError, match="conf_type 'arcsin'"):
        kaplan_meier([1, 2], [1, 1], conf_type="arcsin")

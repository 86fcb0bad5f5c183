"""An interval-censored endpoint's Kaplan-Meier, log-rank and Cox analyses all run on the
detection times (each event at the upper bound of its interval), whatever time column the
cohort gives, say so in their method and text, and stand beside the analyses that respect the
intervals (Turnbull survival at the horizons, the interval-censored Weibull HR)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nen_bayes import load_cohort
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.frequentist.baselines import DETECTION_NOTE, ON_DETECTION_TIMES, run_baselines
from nen_bayes.frequentist.interval import FINKELSTEIN_METHOD, TURNBULL_METHOD
from nen_bayes.pipeline.summary import frequentist_contrast


def _scanned(seed: int = 4, n: int = 240) -> pd.DataFrame:
    """Weibull PH times (shape 1.3, scale 14 months, HR 2 for x = b), seen at each unit's scans
    (every 2, 3 or 6 months, whole months) up to 36, six centres; the time column of an event
    lies a tenth of the way into its interval (allowed: within [lower, upper]; a Cox model
    depends on the order of the times, which this changes), of a censored unit its last
    scan."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    t = 14.0 * (-np.log(rng.random(n)) / np.exp(np.log(2.0) * x)) ** (1 / 1.3)
    w = rng.choice([2.0, 3.0, 6.0], n)
    k = np.floor(t / w)
    seen = w * (k + 1) <= 36.0
    lo = np.where(seen, w * k, np.floor(36.0 / w) * w)
    up = np.where(seen, w * (k + 1), np.nan)
    return pd.DataFrame({"id": np.arange(n), "centre": [f"c{i % 6}" for i in range(n)],
                         "x": np.where(x == 1, "b", "a"), "e": seen.astype(int),
                         "t": np.where(seen, lo + (up - lo) / 10, lo), "lo": lo, "up": up})


@pytest.fixture(scope="module")
def report():
    frame = _scanned()
    schema = CohortSchema.custom({"pfs": ("t", "e")}, id_column="id", centre_column="centre",
                                 factors=["x"], intervals={"pfs": ("lo", "up")})
    return frame, run_baselines(load_cohort(frame, schema), "pfs", ["x"])


def _detection(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["e"] == 1, frame["up"], frame["t"])


def test_cox_logrank_and_km_are_those_of_the_detection_times(report):
    """lifelines on the detection times (upper bound of each event's interval), fitted here
    independently, gives the baselines' Cox HR, log-rank statistic and median; the recorded
    times give another HR, so the comparison tells them apart."""
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    frame, rep = report
    det = _detection(frame)
    xb = (frame["x"] == "b").astype(float)
    fit = CoxPHFitter().fit(pd.DataFrame({"T": det, "E": frame["e"], "b": xb}), "T", "E")
    mid = CoxPHFitter().fit(pd.DataFrame({"T": frame["t"], "E": frame["e"], "b": xb}), "T", "E")
    row = rep.cox_univariable["x"].table.iloc[0]
    assert row["hr"] == pytest.approx(float(np.exp(fit.params_["b"])), rel=1e-5)
    assert abs(float(mid.params_["b"]) - float(fit.params_["b"])) > 1e-3
    m = frame["x"] == "b"
    lr = logrank_test(det[m], det[~m], frame["e"][m], frame["e"][~m])
    assert rep.logrank["x"].statistic == pytest.approx(lr.test_statistic, rel=1e-6)
    km = KaplanMeierFitter().fit(det, frame["e"])
    assert rep.overall.median()[0] == pytest.approx(km.median_survival_time_)


def test_every_detection_time_analysis_says_so_beside_the_interval_ones(report):
    _, rep = report
    eff = rep.effects
    turnbull = eff["method"].str.startswith(TURNBULL_METHOD)
    interval = eff["quantity"].str.startswith("interval_") | (eff["method"] == FINKELSTEIN_METHOD)
    timed = eff[~turnbull & ~interval & (eff["quantity"] != "dcr")]
    assert len(timed) > 10 and timed["method"].str.endswith(ON_DETECTION_TIMES).all()
    assert not eff[turnbull | interval]["method"].str.contains("detection").any()
    surv = eff[turnbull]
    assert set(zip(surv["term"], surv["group"], strict=True)) == {("all", "all"), ("x", "a"),
                                                                  ("x", "b")}
    assert sorted(set(surv["horizon"])) == [12.0, 24.0, 36.0, 60.0]
    assert (eff["quantity"] == "interval_hazard_ratio").sum() == 1
    assert (eff["method"] == FINKELSTEIN_METHOD).sum() == 1
    text = rep.to_text()
    assert DETECTION_NOTE in text and "Finkelstein score test of x" in text
    assert "interval-censored Weibull, respects the intervals" in text


def test_the_summary_names_the_times_and_gives_the_interval_hr(report):
    """The summary's frequentist line says the tests are on detection times and gives the
    interval-censored Weibull HR of the contrast (true HR 2) beside them."""
    _, rep = report
    fq = frequentist_contrast(rep, "x", "b", "a")
    assert "(on detection times)" in fq.to_text(0.95)
    assert "(univariable, on detection times)" in fq.to_text(0.95)
    hr, lo, hi, _ = fq.interval_hr
    assert lo < 2.0 < hi and lo < hr < hi
    assert fq.interval_text(0.95).startswith(f"interval-censored Weibull HR {hr:.2f}")
    assert "Finkelstein score test p " in fq.interval_text(0.95)
    assert fq.interval_text(0.95).endswith("(respecting the intervals)")
    rev = frequentist_contrast(rep, "x", "a", "b").interval_hr
    assert rev[0] == pytest.approx(1 / hr) and rev[1] == pytest.approx(1 / hi)
    assert fq.to_dict()["times"] == "on detection times"


def test_the_report_puts_the_interval_hr_beside_the_detection_time_tests(report):
    """The report's contrast table: the interval-censored Weibull HR row and the row saying
    that no log-rank-type test respecting the intervals is offered; none for an endpoint
    without intervals."""
    from nen_bayes.formatting import format_p
    from nen_bayes.pipeline.sections import _interval_rows
    from nen_bayes.pipeline.summary import FrequentistContrast

    _, rep = report
    fq = frequentist_contrast(rep, "x", "b", "a")
    weibull, test = _interval_rows(fq, "b vs a", "95%")
    assert weibull["analysis"] == "interval-censored Weibull, HR b vs a (respects the intervals)"
    assert weibull["estimate"] == f"{fq.interval_hr[0]:.2f}"
    assert test["analysis"].startswith("Finkelstein score test")
    assert test["p / probability"] == format_p(fq.interval_logrank_p)
    assert _interval_rows(FrequentistContrast(), "b vs a", "95%") == []

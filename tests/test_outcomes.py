"""One outcome object for every analysis (:mod:`nen_bayes.cohorts.outcomes`): the kinds of
each unit, and the detection time that every right-censored analysis of an interval-censored
endpoint takes (the upper bound of an event's interval, whatever the time column holds)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.outcomes import Outcomes as LikelihoodOutcomes
from nen_bayes.bayes.spec import spec_from_dict
from nen_bayes.cohorts.outcomes import Outcomes
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.frequentist.baselines import detection_times


def _cohort():
    # visits every 3 months; the time column holds the interval's midpoint for an event
    frame = pd.DataFrame({
        "t": [1.5, 4.5, 10.0, 7.5, 2.0, 12.0],
        "e": [1, 1, 1, 1, 0, 0],
        "lo": [0.0, 3.0, 10.0, 6.0, 2.0, 12.0],
        "up": [3.0, 6.0, 10.0, 9.0, np.nan, np.nan]})
    schema = CohortSchema.custom({"ep": ("t", "e")}, intervals={"ep": ("lo", "up")})
    return load_cohort(frame, schema)


def test_the_kinds_and_the_detection_time_of_each_unit():
    out = _cohort().outcomes("ep")
    assert list(out.kinds) == [2, 2, 0, 2, 1, 1]  # interval, interval, exact, interval, right
    assert out.counts() == {"exact": 1, "right": 2, "interval": 3, "late_entry": 0}
    np.testing.assert_array_equal(out.time, [0.0, 3.0, 10.0, 6.0, 2.0, 12.0])
    np.testing.assert_array_equal(out.detection_time, [3.0, 6.0, 10.0, 9.0, 2.0, 12.0])
    sub = out.subset(out.interval)
    assert isinstance(sub, Outcomes) and sub.n == 3 and sub.interval.all()


def test_every_right_censored_analysis_takes_the_same_detection_times():
    """The frequentist baselines and the Bayesian detection-time refit (the cohort's
    detection-time form) put each event at its upper bound, not at the time column's
    midpoint: one definition."""
    cohort = _cohort()
    expected = [3.0, 6.0, 10.0, 9.0, 2.0, 12.0]
    np.testing.assert_array_equal(detection_times(cohort, "ep"), expected)
    flat = cohort.detection_times()
    np.testing.assert_array_equal(flat.time("ep"), expected)
    assert flat.interval("ep") is None
    np.testing.assert_array_equal(flat.event("ep"), cohort.event("ep"))


def test_a_design_keeps_the_lower_bounds_and_its_outcomes_the_same_kinds():
    cohort = _cohort()
    spec = spec_from_dict({"model": {"name": "e", "family": "exponential"},
                           "priors": {"scale": {"dist": "LogNormal", "mu": 2.0, "sigma": 1.0}}})
    design = make_design(spec, cohort, "ep")
    out = LikelihoodOutcomes.of(design)
    np.testing.assert_array_equal(out.kinds, cohort.outcomes("ep").kinds)
    np.testing.assert_array_equal(out.detection_time, cohort.outcomes("ep").detection_time)

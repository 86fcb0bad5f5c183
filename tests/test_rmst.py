"""RMST and RMST difference: R survRM2 golden values and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.datasets import load_lung

from nen_bayes import rmst_difference
from nen_bayes.errors import BaselineError
from nen_bayes.frequentist.rmst import rmst


def test_lung_rmst_by_sex_matches_survrm2():
    """R: survRM2::rmst2(lung$time, lung$status - 1, lung$sex - 1, tau = 965)
    RMST arm 1 (female) 455.90, arm 0 (male) 324.05; difference 131.86 with SE 39.76."""
    d = load_lung()
    r = rmst_difference(d["time"], d["status"], d["sex"], 965, reference=1, level=2)
    assert r.group.estimate == pytest.approx(455.90, abs=0.005)
    assert r.reference.estimate == pytest.approx(324.05, abs=0.005)
    assert r.estimate == pytest.approx(131.86, abs=0.005)
    assert r.se == pytest.approx(39.76, abs=0.005)
    assert r.lower == pytest.approx(r.estimate - 1.959964 * r.se, rel=1e-6)
    assert 0 < r.p_value < 0.001


def test_without_censoring_rmst_is_the_sample_mean_and_se_its_plugin_se():
    """No censoring: the KM area is mean(min(T, tau)) and the Greenwood-type variance is the
    plug-in variance of a mean, sum((x - mean)^2) / n^2 (a closed form)."""
    rng = np.random.default_rng(7)
    t = np.round(rng.exponential(10, 200), 3) + 0.001
    x = np.minimum(t, 15.0)
    r = rmst(t, np.ones_like(t), 15.0)
    assert r.estimate == pytest.approx(x.mean(), rel=1e-12)
    assert r.se == pytest.approx(np.sqrt(np.sum((x - x.mean()) ** 2)) / len(x), rel=1e-9)


def test_hand_computed_area():
    """S = 1 on [0,1), 0.75 on [1,3), 0.5 on [3,4]: area to 4 = 1 + 1.5 + 0.5 = 3."""
    r = rmst([1, 3, 5, 6], [1, 1, 0, 0], 4.0)
    assert r.estimate == pytest.approx(3.0)


def test_horizon_beyond_follow_up_is_an_error_naming_the_limit():
    with pytest.raises(BaselineError, match=r"tau = 10 lies beyond .*Allowed: tau <= 6"):
        rmst([1, 3, 5, 6], [1, 1, 0, 0], 10.0)
    with pytest.raises(BaselineError, match=r"shorter of the two groups' follow-up \(3\)"):
        rmst_difference([1, 3, 5, 6], [1, 1, 0, 0], ["a", "a", "b", "b"], 4.0,
                        reference="a", level="b")

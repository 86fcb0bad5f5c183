"""Disease control rate and the Wilson interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nen_bayes.frequentist.response import disease_control, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718), (29, 29, 0.8830, 1.0)],
)
def test_wilson_matches_newcombe_1998(k, n, lower, upper):
    """Newcombe RG, Stat Med 1998;17:857-872, Table I, method 3 (score interval, no
    continuity correction)."""
    lo, hi = wilson_interval(k, n)
    assert (round(lo, 4), round(hi, 4)) == (lower, upper)


def test_empty_denominator_is_nan_and_bad_counts_raise():
    assert np.isnan(wilson_interval(0, 0)).all()
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(5, 3)


def test_dcr_counts_assessed_units_only_overall_and_by_group():
    recist = pd.Series(["CR", "PR", "SD", "PD", None, "PD", "SD", None])
    group = pd.Series(pd.Categorical(list("aaaabbbb"), categories=["a", "b"]))
    tab = disease_control(recist, group).set_index("group")
    assert tab.loc["all", ["assessed", "controlled", "missing"]].tolist() == [6, 4, 2]
    assert tab.loc["a", "dcr"] == pytest.approx(0.75)
    assert tab.loc["b", ["assessed", "controlled"]].tolist() == [2, 1]
    assert tab.loc["b", "lower"] == pytest.approx(wilson_interval(1, 2)[0])

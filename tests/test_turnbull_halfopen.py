"""The Turnbull estimate of events in half-open intervals (lower, upper]: against R's
``survfit(Surv(lower, upper, type = "interval2"))`` on the breast cosmesis data (monthly visits,
one patient's upper bound often another's lower bound), against hand-worked NPMLEs where an
interval ends where another starts, held to the optimality condition, and the stretches where
the NPMLE is not unique reported as such (the curve, the effects table)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nen_bayes.errors import BaselineError
from nen_bayes.frequentist.interval import (
    TURNBULL_METHOD,
    interval_baselines,
    turnbull_at,
    turnbull_masses,
    turnbull_npmle,
    turnbull_undetermined,
)

DATA = Path(__file__).parent / "data" / "bcdeter.csv"

# R 4.2.2, survival 3.5.3:
#   d <- read.csv("tests/data/bcdeter.csv")
#   f <- survfit(Surv(lower, upper, type = "interval2") ~ 1, data = d[d$treat == g, ])
#   cat(f$time); cat(round(f$surv, 5))
# (R places each drop at a time inside its Turnbull interval; the curve is compared where the
# NPMLE determines it, outside those intervals)
R_SURVFIT = {
    "all": ([4.5, 6.5, 7.5, 8.5, 10.5, 11, 11.5, 12.5, 13, 13.5, 14.5, 15, 15.5, 16.5, 17, 17.5,
             18, 18.5, 19.5, 21, 21.5, 22, 22.5, 23, 23.5, 24, 24.5, 25.5, 26.5, 28.5, 30.5, 31,
             31.5, 32, 33, 34, 34.5, 35, 35.5, 36, 36.5, 37, 38, 38.5, 40, 42, 45, 46, 48],
            [0.95554, 0.9327, 0.8779, 0.87789, 0.87789, 0.87789, 0.79913, 0.79913, 0.79913,
             0.79913, 0.79616, 0.79616, 0.79616, 0.74528, 0.74528, 0.74527, 0.74527, 0.68481,
             0.58231, 0.58231, 0.58231, 0.58231, 0.58227, 0.58227, 0.58227, 0.58227, 0.51618,
             0.51615, 0.51615, 0.51614, 0.4874, 0.4874, 0.4874, 0.4874, 0.4874, 0.40734,
             0.40734, 0.40734, 0.40734, 0.40734, 0.40734, 0.40734, 0.40734, 0.30019, 0.30019,
             0.30019, 0.30019, 0.30019, 0]),
    "1": ([4.5, 6.5, 7.5, 11.5, 15, 15.5, 17, 17.5, 18, 22, 24, 24.5, 25.5, 32, 33, 33.5, 34,
           34.5, 36, 36.5, 37, 38, 39, 40, 42, 45, 46, 47],
          [0.95366, 0.92027, 0.83162, 0.76088, 0.76088, 0.76088, 0.76088, 0.76086, 0.76086,
           0.76086, 0.76086, 0.66823, 0.66823, 0.66823, 0.66823, 0.58642, 0.58642, 0.58642,
           0.58642, 0.58641, 0.58641, 0.58641, 0.46586, 0.46586, 0.46554, 0.46554, 0.46554, 0]),
    "2": ([4.5, 6.5, 8.5, 11, 11.5, 12.5, 13, 16.5, 18.5, 19.5, 21, 21.5, 22.5, 23, 23.5, 24.5,
           30.5, 31, 31.5, 32, 34, 34.5, 35, 35.5, 48],
          [0.95758, 0.91516, 0.91516, 0.91516, 0.84781, 0.84781, 0.84781, 0.70275, 0.58754,
           0.45998, 0.45998, 0.45998, 0.45998, 0.45998, 0.45998, 0.33021, 0.32936, 0.32936,
           0.32936, 0.32936, 0.22916, 0.22916, 0.22916, 0.10762, 0]),
}
GRID = np.arange(0.0, 60.01, 0.25)


def _cosmesis(group: str = "all") -> tuple[np.ndarray, np.ndarray]:
    d = pd.read_csv(DATA)
    if group != "all":
        d = d[d["treat"] == int(group)]
    return d["lower"].to_numpy(float), d["upper"].fillna(np.inf).to_numpy(float)


def _r_curve(group: str, times) -> np.ndarray:
    t, s = R_SURVFIT[group]
    k = np.searchsorted(t, times, side="right") - 1
    return np.where(k < 0, 1.0, np.asarray(s)[np.maximum(k, 0)])


def _identified(curve) -> tuple[np.ndarray, np.ndarray]:
    """The grid times where the NPMLE determines S, and S there."""
    low, high = turnbull_at(curve, GRID)
    fixed = np.isclose(low, high, rtol=0, atol=1e-6)
    return GRID[fixed], low[fixed]


@pytest.mark.parametrize("group", ["all", "1", "2"])
def test_turnbull_equals_r_interval2_on_breast_cosmesis(group):
    """Wherever the NPMLE determines S (at least 150 of the 241 grid times 0, 0.25, ..., 60),
    the curve equals R's within 0.01 (measured: within 0.0013; R's EM stops at its own
    tolerance)."""
    times, ours = _identified(turnbull_npmle(*_cosmesis(group)))
    assert len(times) >= 150
    np.testing.assert_allclose(ours, _r_curve(group, times), atol=0.01)


def test_closed_intervals_miss_r_on_the_same_data():
    """The same data taken as closed intervals [lower, upper] (lifelines'
    ``fit_interval_censoring``) is 0.1 or more away from R's curve where the half-open NPMLE
    is determined: the comparison above tells the two conventions apart."""
    from lifelines import KaplanMeierFitter

    lo, up = _cosmesis("2")
    times, _ = _identified(turnbull_npmle(lo, up))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = KaplanMeierFitter().fit_interval_censoring(lo, up)
    sf = km.survival_function_
    k = np.minimum(np.searchsorted(sf.index.to_numpy(), times, side="left"), len(sf) - 1)
    closed = sf.iloc[:, 1].to_numpy()[k]
    assert np.abs(closed - _r_curve("2", times)).max() > 0.1


def test_an_interval_ending_where_another_starts():
    """(0, 1], (1, 2], (1, 2]: disjoint half-open intervals, the Turnbull intervals are (0, 1]
    and (1, 2] and the likelihood p1 p2^2 (p1 + p2 = 1) is largest at p1 = 1/3, so S(1) = 2/3
    (worked by hand; as closed intervals all three would share the point 1)."""
    curve = turnbull_npmle([0, 1, 1], [1, 2, 2])
    low, high = turnbull_at(curve, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(low, [1.0, 2 / 3, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(high, low)
    low, high = turnbull_at(curve, [0.5, 1.5])  # inside: not unique
    np.testing.assert_allclose(low, [2 / 3, 0.0], atol=1e-5)
    np.testing.assert_allclose(high, [1.0, 2 / 3], atol=1e-5)


def test_an_exact_time_at_another_units_lower_bound():
    """An exact event at 2, (1, 2] and (2, 3]: the Turnbull intervals are the point {2}
    (held by the exact time and by (1, 2], since 1 < 2 <= 2) and (2, 3] (held by (2, 3]
    alone: 2 is not in it); the likelihood p1 p1 p2 is largest at p1 = 2/3, so S = 1 before
    2, S(2) = 1/3, S(3) = 0 (worked by hand)."""
    left, right, p = turnbull_masses([2, 1, 2], [2, 2, 3])
    np.testing.assert_array_equal(left, [2.0, 2.0])
    np.testing.assert_array_equal(right, [2.0, 3.0])
    np.testing.assert_allclose(p, [2 / 3, 1 / 3], atol=1e-5)
    curve = turnbull_npmle([2, 1, 2], [2, 2, 3])
    low, high = turnbull_at(curve, [1.5, 1.999, 2.0, 3.0])
    np.testing.assert_allclose(low, [1.0, 1.0, 1 / 3, 0.0], atol=1e-5)
    np.testing.assert_allclose(high, low, atol=1e-5)


def test_the_npmle_meets_the_optimality_condition_on_breast_cosmesis():
    """Gentleman and Geyer (1994): every Turnbull interval's self-consistency ratio
    sum_i inside_ij / (N sum_k inside_ik p_k) is at most 1, and 1 where it carries mass, with
    the matrix built element by element from half-open intervals."""
    lo, up = _cosmesis()
    left, right, p = turnbull_masses(lo, up)

    def holds(a, b, lj, rj):
        if a == b:
            return lj == rj == a
        return (a < lj if lj == rj else a <= lj) and rj <= b

    inside = np.array([[holds(a, b, lj, rj) for lj, rj in zip(left, right, strict=True)]
                       for a, b in zip(lo, up, strict=True)], float)
    ratio = inside.T @ (1 / (inside @ p)) / len(lo)
    assert ratio.max() <= 1 + 1e-5
    np.testing.assert_allclose(ratio[p > 1e-4], 1.0, atol=1e-4)


def test_the_non_unique_stretches_are_reported_not_a_midpoint():
    """Inside the Turnbull interval (4, 5] the NPMLE puts S anywhere between 1 and S(5):
    the curve gives both bounds, the list of undetermined stretches names it, and the effects
    table has no estimate at a horizon there (its bounds instead), while a horizon outside
    every Turnbull interval (12, 24 months) has R's value as its estimate."""
    lo, up = _cosmesis()
    curve = turnbull_npmle(lo, up)
    low, high = turnbull_at(curve, [4.5])
    assert high[0] == pytest.approx(1.0) and low[0] == pytest.approx(_r_curve("all", [5])[0],
                                                                     abs=0.01)
    stretches = turnbull_undetermined(curve)
    assert ((stretches["start"] == 4) & (stretches["end"] == 5)).any()
    res = interval_baselines(lo, up, endpoint="cosmesis", horizons=(4.5, 12.0, 24.0))
    rows = res.effects.query("quantity == 'survival'").set_index("horizon")
    assert rows["method"].str.startswith(TURNBULL_METHOD).all()
    assert np.isnan(rows.loc[4.5, "estimate"]) and "not unique" in rows.loc[4.5, "method"]
    assert rows.loc[4.5, "lower"] == pytest.approx(low[0])
    assert rows.loc[4.5, "upper"] == pytest.approx(1.0)
    for h in (12.0, 24.0):
        assert rows.loc[h, "estimate"] == pytest.approx(_r_curve("all", [h])[0], abs=0.01)
    assert "Turnbull S(4.5) all units: not unique" in res.to_text()


def test_bounds_that_break_the_contract_are_refused_with_their_rows():
    with pytest.raises(BaselineError, match=r"upper < lower \(rows 2\)"):
        turnbull_npmle([0, 3, 1], [2, 2, np.inf])
    with pytest.raises(BaselineError, match=r"missing bound \(rows 1\)"):
        turnbull_npmle([np.nan, 3], [2, 4])


def test_the_figure_draws_the_non_unique_stretches_as_boxes_without_a_line():
    """The Turnbull figure: one shaded box per stretch where the NPMLE is not unique, spanning
    S's two end values, and no segment of the curve's line across it."""
    from nen_bayes.plotting import plot_turnbull

    curve = turnbull_npmle(*_cosmesis())
    stretches = turnbull_undetermined(curve)
    fig = plot_turnbull({"all": curve})
    ax = fig.axes[0]
    boxes = [c.get_paths()[0].vertices for c in ax.collections]
    assert len(boxes) == len(stretches) > 5
    for box, s in zip(boxes, stretches.itertuples(), strict=True):
        assert box[:, 0].min() == pytest.approx(s.start)
        assert box[:, 0].max() == pytest.approx(s.end)
        assert box[:, 1].min() == pytest.approx(s.lower)
        assert box[:, 1].max() == pytest.approx(s.upper)
    (line,) = ax.lines
    x = line.get_xdata()
    x0, x1 = x[:-1], x[1:]
    seg = np.isfinite(x0) & np.isfinite(x1)
    for s in stretches.itertuples():
        assert not np.any(seg & (x0 <= s.start) & (x1 >= s.end)), (s.start, s.end)

"""The Cox models beside an interval-censored fit take each event at its detection time, and
fits whose outcomes are represented differently are not compared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fakes import fake_tree
from lifelines import CoxPHFitter

from nen_bayes.errors import ComparisonError
from nen_bayes.posterior.compare import check_comparable, cox_effects


def _interval_tree(seed: int = 3, **kw):
    """A fake fit whose events are seen at visits every 6 months: (lower, upper]."""
    tree = fake_tree(seed=seed, n_units=120, **kw)
    rng = np.random.default_rng(seed)
    const = tree["constant_data"].to_dataset()
    obs = tree["observed_data"].to_dataset()
    event = const["time"].values.astype(int)
    line = const["X"].values[:, 0]
    t = rng.exponential(np.where(line == 1, 20.0, 35.0))
    lower = np.where(event == 1, np.floor(t / 6.0) * 6.0, t)
    upper = np.where(event == 1, lower + 6.0, np.inf)
    const["upper"] = ("patient", upper)
    obs["time"] = ("patient", lower)
    tree["constant_data"] = xr.DataTree(const)
    tree["observed_data"] = xr.DataTree(obs)
    tree.attrs["interval_censored"] = int(((event == 1) & (upper > lower)).sum())
    return tree, lower, upper, event, line


def test_cox_beside_an_interval_fit_is_on_detection_times_as_lifelines_fits_them():
    tree, lower, upper, event, line = _interval_tree()
    eff = cox_effects(tree)
    plain = eff[~eff["method"].str.contains("stratified")].iloc[0]
    detection = np.where((event == 1) & (upper > lower), upper, lower)
    df = pd.DataFrame({"T": detection, "E": event, "x": line})
    ref = CoxPHFitter().fit(df, "T", "E")  # Efron ties, as R's coxph
    assert plain["estimate"] == pytest.approx(float(np.exp(ref.params_["x"])), rel=1e-5)
    assert "on detection times" in plain["method"]
    # the lower bounds would give another estimate: the test can tell them apart
    on_lower = CoxPHFitter().fit(pd.DataFrame({"T": np.maximum(lower, 1e-9), "E": event,
                                               "x": line}), "T", "E")
    assert abs(np.exp(on_lower.params_["x"]) - plain["estimate"]) > 1e-3


def test_a_fit_without_intervals_says_nothing_of_detection_times():
    eff = cox_effects(fake_tree(seed=1))
    assert not eff["method"].str.contains("detection").any()


def test_an_interval_fit_and_a_detection_time_fit_are_not_compared():
    interval, *_ = _interval_tree(model="interval_fit")
    plain = fake_tree(seed=3, n_units=120, model="detection_fit")
    with pytest.raises(ComparisonError, match=r"interval_a: interval likelihood .*"
                                              r"detection_b: exact and right-censored"):
        check_comparable({"interval_a": interval, "detection_b": plain})


def test_the_wide_table_is_written_in_the_contrasts_coding():
    from nen_bayes.posterior.compare import format_side_by_side, oriented_wide, side_by_side

    tree = fake_tree(seed=4, model="m")
    wide, _ = side_by_side({"m": tree})
    orient = ("line", "second_line", "salvage")  # the model codes salvage vs second_line
    turned = oriented_wide(wide, ["m"], orient)
    row, orig = turned.iloc[0], wide.iloc[0]
    assert row["contrast"] == "second_line vs salvage"
    assert row["cox_hr"] == pytest.approx(1 / orig["cox_hr"])
    assert row["cox_lower"] == pytest.approx(1 / orig["cox_upper"])
    assert row["m_hr"] == pytest.approx(1 / orig["m_hr"])
    assert row["m_p_hr_below_1"] == pytest.approx(1 - orig["m_p_hr_below_1"])
    assert row["cox_p"] == pytest.approx(orig["cox_p"])
    # the text says the same numbers
    text = format_side_by_side(wide, ["m"], orient=orient).iloc[0]
    assert text["contrast"] == row["contrast"]
    assert text["Cox HR (95% CI)"].startswith(f"{row['cox_hr']:.2f}")

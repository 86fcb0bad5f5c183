"""Round trips of the Kaplan-Meier reconstruction on real patient data, over 50 digitiser
seeds per dataset (lifelines' gbsg2, lung, waltons and rossi; nen_bayes.reconstruction.roundtrip).

The reference is the real patients themselves: their number, event counts, Kaplan-Meier median
and curve, and Cox hazard ratio between the arms. Targets (the README's): units exactly the
number randomised, events within 2%, median within two event times, max |dS| <= 0.03 where at
least 20 are at risk, Cox HR within 5% (not on rossi, whose unarrested are all censored at week
52); with published totals, each met or the difference explained. The same round trips with
the at-risk table over half the curve, without and with the totals; and the traps a digitised
figure sets, on the same public datasets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nen_bayes.reconstruction.guyot import FAR, ReconstructionError, reconstruct
from nen_bayes.reconstruction.roundtrip import (
    at_risk,
    digitise,
    load_dataset,
    round_trip_study,
    summarise_study,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study():
    return round_trip_study(seeds=range(50))


def test_every_target_holds_on_datasets_without_heavy_ties(study):
    for name in ("gbsg2", "lung"):
        g = study[study["dataset"] == name]
        assert len(g) == 100                                   # 50 seeds x 2 arms
        assert (g["events_rel_err"].abs() <= 0.02).all(), name
        assert (g["median_steps"] <= 2).all(), name
        assert g["max_abs_diff"].quantile(0.95) <= 0.03, name
        assert (g["max_abs_diff"] <= 0.03).mean() >= 0.95, name
        assert (g["hr_rel_err"].abs() <= 0.05).all(), name


def test_heavy_ties_keep_curve_median_and_hr_but_not_every_event(study):
    """waltons: deaths tied in whole days, 12 of the last 14 at risk at one time. The curve,
    median and HR hold; the split of the last interval into events and censorings does not
    always (documented in the README with the share of round trips within 2%)."""
    g = study[study["dataset"] == "waltons"]
    assert (g["median_steps"] <= 2).all()
    assert (g["max_abs_diff"] <= 0.03).all()
    assert (g["hr_rel_err"].abs() <= 0.05).all()
    assert g["events_rel_err"].abs().median() <= 0.02
    assert g["events_rel_err"].abs().max() <= 0.08


def test_administrative_cut_off(study):
    """rossi: curve and median hold; the HR is not checked (ties at week 52)."""
    g = study[study["dataset"] == "rossi"]
    assert (g["median_steps"] <= 2).all()
    assert (g["max_abs_diff"] <= 0.03).all()
    assert g["events_rel_err"].abs().max() <= 0.025


def test_the_departures_from_the_literal_reading_pay(study):
    """The same round trips without the corner swaps and the moved drops (the paper as
    written) have larger event and curve errors on the tied dataset."""
    literal = round_trip_study(["waltons"], range(20), swap_window=0.0, snap=0.0)
    ours = summarise_study(study[study["dataset"] == "waltons"]).iloc[0]
    theirs = summarise_study(literal).iloc[0]
    assert theirs["max_diff_p95"] > 3 * ours["max_diff_p95"]
    assert theirs["events_err_median"] > ours["events_err_median"] + 0.05


def test_units_are_never_invented_and_clean_figures_never_look_far(study):
    """Every arm of every round trip has exactly as many units as the real arm; the accuracy
    report's distance over every point stays below the threshold at which the command stops
    (a table that does not fit its curve)."""
    assert (study["n_rec"] == study["n"]).all()
    assert (study["max_abs_diff_points"] < FAR).all()


@pytest.fixture(scope="module")
def configurations():
    """gbsg2 and lung, 50 seeds, in the three other configurations: the full table with the
    published totals, and a table over the first half of the curve without and with them."""
    return {(until, ev): round_trip_study(["gbsg2", "lung"], range(50), risk_until=until,
                                          with_events=ev)
            for until, ev in ((1.0, True), (0.5, False), (0.5, True))}


def test_full_table_with_published_totals(configurations):
    g = configurations[(1.0, True)]
    assert (g["n_rec"] == g["n"]).all()
    assert g["events_explained"].all()
    assert (g["events_rel_err"].abs() <= 0.02).all()
    assert (g["median_steps"] <= 2).all()
    assert g["max_abs_diff"].quantile(0.95) <= 0.03
    assert (g["hr_rel_err"].abs() <= 0.05).all()


def test_short_table_keeps_units_curve_median_and_hr(configurations):
    """Half a table: the tail's split into events and censorings is not identified without the
    totals, so every such round trip warns and recommends --events; with them each total is met
    or the difference explained. Units, median and HR keep their targets either way."""
    for (until, ev), g in configurations.items():
        if until == 1.0:
            continue
        assert (g["n_rec"] == g["n"]).all(), ev
        assert (g["max_abs_diff_points"] < FAR).all(), ev
        assert (g["median_steps"] <= 2).all(), ev
        assert g["max_abs_diff"].quantile(0.95) <= 0.03, ev
        assert (g["hr_rel_err"].abs() <= 0.05).all(), ev
        if ev:
            assert g["events_explained"].all()
        else:
            assert g["warnings"].str.contains("--events").all()
    # the totals help: events no further from the truth than without them, on average
    with_ev = configurations[(0.5, True)]["events_rel_err"].abs().mean()
    without = configurations[(0.5, False)]["events_rel_err"].abs().mean()
    assert with_ev < without


# -- the traps, on public datasets (the real patients are the reference) -------------------------
def figure(name: str, seed: int = 0):
    """(points, at-risk table) of a dataset's figure, both arms, as the round trips read it."""
    spec, frame = load_dataset(name)
    rng = np.random.default_rng(seed)
    points, risk = [], []
    for arm in sorted(frame["arm"].unique()):
        sub = frame[frame["arm"] == arm]
        points.append(digitise(sub["time"], sub["event"], rng).assign(arm=arm))
        times = np.arange(0.0, sub["time"].max(), spec.risk_step)
        risk.append(pd.DataFrame({"arm": arm, "time": times,
                                  "n_risk": at_risk(sub["time"], times)}))
    return frame, pd.concat(points, ignore_index=True), pd.concat(risk, ignore_index=True)


# a table in the next unit up, beside the curve (days -> months, weeks -> months)
TO_MONTHS = {"gbsg2": 30.4375, "lung": 30.4375, "rossi": 4.348}


@pytest.mark.parametrize("name", list(TO_MONTHS))
def test_traps_on_public_datasets(name):
    frame, points, risk = figure(name)
    truth_n = frame.groupby("arm").size().to_dict()
    # a clean figure passes with the real number of units per arm
    rec = reconstruct(points, risk)
    assert {a.arm: len(a.data) for a in rec.arms} == truth_n
    # 1. one value a little above 1: refused, not read as percent
    bad = points.copy()
    bad.loc[5, "survival"] = 1.05
    with pytest.raises(ReconstructionError, match="fits neither"):
        reconstruct(bad, risk)
    # 3. the table in another time unit, both ways round: refused, or (a months table beside
    # a weeks curve with few events and no censoring before week 52, rossi) a table that
    # reproduces the curve, flagged in a warning
    for table, curve in ((1 / TO_MONTHS[name], 1.0), (1.0, 1 / TO_MONTHS[name])):
        try:
            rec = reconstruct(points.assign(time=points["time"] * curve),
                              risk.assign(time=risk["time"] * table))
        except ReconstructionError as e:
            assert "another time unit" in str(e)
        else:
            assert name == "rossi" and table < 1
            assert all(any("another time unit" in w for w in a.warnings) for a in rec.arms)
    # 4. N alone: the assumption named, and the units still the real ones
    rec = reconstruct(points, risk[risk["time"] == 0])
    assert all(any("no censoring" in w for w in a.warnings) for a in rec.arms)
    assert {a.arm: len(a.data) for a in rec.arms} == truth_n
    # 5. a start read 0.05 low
    low = pd.concat([pd.DataFrame({"arm": sorted(truth_n), "time": 0.0, "survival": 0.95}),
                     points], ignore_index=True)
    with pytest.raises(ReconstructionError, match=r"starts at 0\.95"):
        reconstruct(low, risk)
    # 6. a wild percentage
    pct = points.assign(survival=100 * points["survival"])
    pct.loc[5, "survival"] = 950.0
    with pytest.raises(ReconstructionError, match="above 100% at rows 7"):
        reconstruct(pct, risk)
    # 7. published totals: met, or the difference explained
    events = frame.groupby("arm")["event"].sum().to_dict()
    rec = reconstruct(points, risk, events=events)
    for a in rec.arms:
        assert a.events == events[a.arm] or any(
            f"published {events[a.arm]} events" in w for w in a.warnings)

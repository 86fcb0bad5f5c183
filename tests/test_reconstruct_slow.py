"""Round trips of the Kaplan-Meier reconstruction on real patient data, over 50 digitiser
seeds per dataset (lifelines' gbsg2, lung, waltons and rossi; nen_bayes.reconstruction.roundtrip).

The reference is the real patients themselves: their event counts, Kaplan-Meier median and
curve, and Cox hazard ratio between the arms. Targets: events within 2%, median within two
event times, max |dS| <= 0.03 where at least 20 are at risk, Cox HR within 5% (not on rossi,
whose unarrested are all censored at week 52). The figures asserted are those in the README.
"""

from __future__ import annotations

import pytest

from nen_bayes.reconstruction.roundtrip import round_trip_study, summarise_study

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

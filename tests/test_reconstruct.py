"""Kaplan-Meier reconstruction (Guyot et al. 2012): input checks, the algorithm against closed
forms, round trips on real data (lifelines' datasets) and the command."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from nen_bayes.frequentist.km import kaplan_meier
from nen_bayes.reconstruction.guyot import (
    ReconstructionError,
    check_risk_table,
    clean_curve,
    reconstruct,
    reconstruct_arm,
)
from nen_bayes.reconstruction.roundtrip import at_risk, digitise, load_dataset, round_trip_study


def corners(time, event):
    """The exact corners of a Kaplan-Meier curve, as a noise-free digitiser reads them."""
    return digitise(time, event, np.random.default_rng(0), time_sd=0.0, surv_sd=0.0)


# -- input checks ------------------------------------------------------------------------------
def test_percentages_are_recognised_and_converted():
    c = clean_curve([0, 1, 2, 3], [100, 90, 90, 75])
    assert c.scale == "percent"
    assert c.surv.tolist() == [1.0, 0.9, 0.9, 0.75]


def test_a_mix_of_percent_and_probability_is_an_error_naming_the_rows():
    with pytest.raises(ReconstructionError) as e:
        clean_curve([0, 1, 2, 3, 4], [100, 0.9, 85, 80, 0.7], source="fig2.csv",
                    rows=[2, 3, 4, 5, 6])
    msg = str(e.value)
    assert "fig2.csv" in msg and "mixes percentages and probabilities" in msg
    assert "rows 3" in msg and "6" not in msg.split("rows")[1].split("hold")[0]


def test_survival_above_one_as_probability_is_an_error():
    with pytest.raises(ReconstructionError, match=r"survival above 1 at rows 3"):
        clean_curve([0, 1, 2], [1.0, 0.9, 1.5], scale="probability")


def test_negative_survival_and_times_are_errors():
    with pytest.raises(ReconstructionError, match="survival below 0 at rows 3"):
        clean_curve([0, 1, 2], [1.0, 0.5, -0.2])
    with pytest.raises(ReconstructionError, match="times below 0 at rows 2"):
        clean_curve([0, -5, 10], [1.0, 0.9, 0.8])
    with pytest.raises(ReconstructionError, match="finite numbers; rows 2"):
        clean_curve([0, "x", 10], [1.0, 0.9, 0.8])


def test_corrections_are_made_and_listed():
    # unsorted points, a slight overshoot at the start, no (0, 1), survival rising once
    c = clean_curve([5, 1, 3, 8, 9], [0.80, 1.004, 0.90, 0.70, 0.72], swap_window=0.0)
    text = " ".join(c.corrections)
    assert "clipped" in text and "sorted" in text and "(0, 1) added" in text
    assert "isotonic" in text
    assert c.time.tolist() == [0, 1, 3, 5, 8, 9]
    assert np.all(np.diff(c.surv) <= 0) and c.surv[0] == 1.0
    # isotonic regression pools the rising pair 0.70, 0.72 into their mean
    assert c.surv[-2:] == pytest.approx([0.71, 0.71])


def test_swapped_corners_keep_the_whole_drop_at_the_step():
    # a drop from 0.9 to 0.6 at t=50, its lower corner read just before the upper one
    c = clean_curve([0, 10, 49.8, 50.2, 90, 100], [1.0, 0.9, 0.6, 0.9, 0.6, 0.6])
    assert c.at([49.0, 50.5]).tolist() == [0.9, 0.6]
    plain = clean_curve([0, 10, 49.8, 50.2, 90, 100], [1.0, 0.9, 0.6, 0.9, 0.6, 0.6],
                        swap_window=0.0)
    assert plain.at([50.5])[0] == pytest.approx(0.75)   # isotonic alone halves the drop


@pytest.mark.parametrize(("times", "counts", "message"), [
    ([0, 10, 10], [50, 40, 30], r"times must increase strictly; rows 3"),
    ([0, 10, 20], [50, 52, 30], r"increase at rows 2 \(50 -> 52\)"),
    ([5, 10, 20], [50, 40, 30], r"starts at time 5, not 0"),
    ([0, 10, 20], [50, 40.5, 30], r"whole numbers >= 0; rows 2"),
    ([0, 10, 20], [50, -1, 0], r"whole numbers >= 0; rows 2"),
])
def test_at_risk_table_errors(times, counts, message):
    with pytest.raises(ReconstructionError, match=message):
        check_risk_table(times, counts, source="risk.csv")


def test_at_risk_rows_beyond_the_curve_are_dropped_and_listed():
    curve = clean_curve([0, 10, 20], [1.0, 0.8, 0.6])
    risk = check_risk_table([0, 10, 20, 30], [10, 8, 6, 2], curve=curve)
    assert risk.time.tolist() == [0, 10, 20]
    assert "rows 4" in risk.corrections[0] and "dropped" in risk.corrections[0]


def test_arms_must_match_between_files():
    pts = pd.DataFrame({"arm": ["a", "a", "b", "b"], "time": [0, 5, 0, 5],
                        "survival": [1, 0.5, 1, 0.5]})
    risk = pd.DataFrame({"arm": ["a", "c"], "time": [0, 0], "n_risk": [10, 10]})
    with pytest.raises(ReconstructionError, match=r"the arms differ: .*\['a', 'b'\].*\['a', 'c'\]"):
        reconstruct(pts, risk)


# -- the algorithm against closed forms ---------------------------------------------------------
def test_without_censoring_every_drop_is_its_events():
    """10 units, no censoring, events 1, 2, 3 and 4 at times 1, 2, 3, 4: the curve's corners
    and the at-risk table 10, 9, 7, 4 must give back exactly those events (closed form)."""
    time = np.array([1, 2, 2, 3, 3, 3, 4, 4, 4, 4], float)
    event = np.ones(10, int)
    pts = corners(time, event)
    curve = clean_curve(pts["time"], pts["survival"])
    risk = check_risk_table([0, 1.5, 2.5, 3.5], [10, 9, 7, 4], curve=curve)
    rec = reconstruct_arm(curve, risk, snap=0.0)
    assert rec.data["event"].tolist() == [1] * 10
    assert rec.data["time"].tolist() == time.tolist()


def test_noise_free_round_trip_matches_every_published_count():
    """Exact corners of GBSG2's curves: every published number at risk is met, the events are
    within 2% and the survival at each original step where 20 or more are at risk within
    0.01."""
    _, data = load_dataset("gbsg2")
    for arm, sub in data.groupby("arm"):
        pts = corners(sub["time"], sub["event"])
        curve = clean_curve(pts["time"], pts["survival"])
        times = np.arange(0.0, curve.time[-1], 250)
        risk = check_risk_table(times, at_risk(sub["time"], times), curve=curve)
        rec = reconstruct_arm(curve, risk, arm=arm)
        km = kaplan_meier(rec.data["time"], rec.data["event"])
        assert [km.n_at(t) for t in times] == risk.n_risk.tolist()
        assert abs(rec.events / sub["event"].sum() - 1) <= 0.02
        ko = kaplan_meier(sub["time"], sub["event"])
        steps = ko.table[(ko.table["n_event"] > 0) & (ko.table["n_risk"] >= 20)]
        got = km.survival_at(steps["time"])["surv"].to_numpy()
        assert np.abs(got - steps["surv"].to_numpy()).max() <= 0.01


def test_published_total_of_events_is_met():
    """With the at-risk table stopping at half the follow-up, the tail is settled by the
    published total (GBSG2, no hormone therapy: 205 events)."""
    _, data = load_dataset("gbsg2")
    sub = data[data["arm"] == "no"]
    pts = digitise(sub["time"], sub["event"], np.random.default_rng(3))
    curve = clean_curve(pts["time"], pts["survival"])
    times = np.arange(0.0, 0.5 * curve.time[-1], 250)
    risk = check_risk_table(times, at_risk(sub["time"], times), curve=curve)
    free = reconstruct_arm(curve, risk)
    fixed = reconstruct_arm(curve, risk, total_events=205)
    assert free.events != 205
    assert fixed.events == 205
    with pytest.raises(ReconstructionError, match="441 events published for 440"):
        reconstruct_arm(curve, risk, total_events=441)


# -- round trips on real data (a few seeds here; 50 in the slow tier) ---------------------------
def test_round_trips_meet_the_targets_on_a_few_seeds():
    study = round_trip_study(["gbsg2", "lung"], range(5))
    assert len(study) == 20
    assert (study["events_rel_err"].abs() <= 0.02).all()
    assert (study["median_steps"] <= 2).all()
    assert (study["max_abs_diff"] <= 0.03).mean() >= 0.9
    assert (study["hr_rel_err"].abs() <= 0.05).all()


# -- the command --------------------------------------------------------------------------------
def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          check=False)


EXAMPLE = ROOT / "examples" / "gbsg2"


def test_reconstruct_script_writes_the_ipd_and_the_report(tmp_path):
    out = tmp_path / "ipd"
    r = run(ROOT / "scripts/reconstruct.py", "--points", EXAMPLE / "points.csv", "--at-risk",
            EXAMPLE / "at_risk.csv", "--events", "yes=94", "--time-unit", "days",
            "--formats", "png", "--out", out)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.csv", "at_risk.csv", "ipd.csv", "reconstruct.json", "reconstruction.png",
        "report.txt"]
    ipd = pd.read_csv(out / "ipd.csv")
    assert list(ipd.columns) == ["id", "time", "event", "arm"]
    # GBSG2 as published: 440 and 246 patients, 205 and 94 events
    assert ipd.groupby("arm").size().to_dict() == {"no": 440, "yes": 246}
    events = ipd.groupby("arm")["event"].sum()
    assert events["yes"] == 94 and abs(events["no"] / 205 - 1) <= 0.02
    acc = pd.read_csv(out / "accuracy.csv")
    assert (acc["max_risk_diff"] == 0).all() and (acc["max_abs_diff"] < 0.03).all()
    assert "Corrections to the inputs" in r.stdout
    again = run(ROOT / "scripts/reconstruct.py", "--points", EXAMPLE / "points.csv",
                "--at-risk", EXAMPLE / "at_risk.csv", "--out", out)
    assert again.returncode == 2 and "--force" in again.stderr


def test_reconstruct_script_bad_input_exits_2_and_writes_nothing(tmp_path):
    risk = pd.read_csv(EXAMPLE / "at_risk.csv")
    risk.loc[3, "n_risk"] = 999
    bad = tmp_path / "bad_risk.csv"
    risk.to_csv(bad, index=False)
    out = tmp_path / "ipd"
    r = run(ROOT / "scripts/reconstruct.py", "--points", EXAMPLE / "points.csv", "--at-risk",
            bad, "--out", out)
    assert r.returncode == 2
    assert "bad_risk.csv" in r.stderr and "rows 5" in r.stderr and "increase" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    assert not list(tmp_path.glob(".ipd*"))


def test_example_end_to_end_points_to_bayesian_fit(tmp_path):
    """Digitised points -> reconstruct -> baseline.py -> fit.py (few draws) on GBSG2: the
    reconstructed trial gives the original's hazard ratio of hormone therapy (Cox, Efron:
    0.695 on the real patients, computed here) within 5%, and the fit stores the arm effect."""
    from lifelines import CoxPHFitter

    ipd = tmp_path / "ipd"
    assert run(ROOT / "scripts/reconstruct.py", "--points", EXAMPLE / "points.csv",
               "--at-risk", EXAMPLE / "at_risk.csv", "--no-figure", "--out",
               ipd).returncode == 0
    cohort = ["--data", ipd / "ipd.csv", "--endpoint", "rfs=time:event", "--no-centre",
              "--id", "id", "--factor", "arm", "--levels", "arm=no,yes", "--time-unit", "days"]
    b = run(ROOT / "scripts/baseline.py", *cohort, "--no-figures", "--out", tmp_path / "base")
    assert b.returncode == 0, b.stderr
    eff = pd.read_csv(tmp_path / "base" / "effects.csv")
    cox = eff[(eff["quantity"] == "hazard_ratio") & (eff["method"].str.contains("Cox"))
              & (eff["term"] == "arm")].iloc[0]
    _, data = load_dataset("gbsg2")
    x = data.assign(g=(data["arm"] == "yes").astype(float))[["time", "event", "g"]]
    hr0 = float(np.exp(CoxPHFitter().fit(x, "time", "event").params_["g"]))
    assert abs(cox["estimate"] / hr0 - 1) <= 0.05
    f = run(ROOT / "scripts/fit.py", *cohort, "--model", EXAMPLE / "weibull_ph_arm.toml",
            "--draws", "100", "--tune", "200", "--chains", "2", "--prior-draws", "50",
            "--quiet", "--out", tmp_path / "fit")
    assert f.returncode == 0, f.stderr
    assert "hazard_ratio" in f.stdout and "yes vs no" in f.stdout

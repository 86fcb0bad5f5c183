"""Round trips that validate the reconstruction on real patient data.

Take a dataset's patients, draw each arm's Kaplan-Meier curve, read it as a digitiser would (the
two corners of every step, with a little reading noise in time and survival, so the corners of
one step can swap order), print the numbers at risk at regular times, reconstruct, and compare
the reconstruction with the original patients:

* the number of units, per arm (it must equal the number randomised: never more units than
  were at risk at time 0, and none lost);
* events, per arm (relative difference), and with ``with_events`` whether the published total
  was met or the difference explained in a warning;
* the median, in units of the original's distinct event times;
* the largest |S_reconstructed(t) - S_original(t)| where at least 20 original patients are still
  at risk, measured between the original's steps (at the midpoints between consecutive distinct
  event times): reading noise moves a step a fraction of a time unit, which a comparison at the
  step itself would count as a survival error as large as the step;
* the Cox hazard ratio between the arms (relative difference);
* the accuracy report's own largest distance from the points to the reconstructed curve
  (``max_abs_diff_points``, every point), and the warnings the reconstruction gave.

Each round trip is repeated over many digitiser seeds; :func:`round_trip_study` gives the whole
distribution.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nen_bayes.frequentist.km import kaplan_meier
from nen_bayes.reconstruction.guyot import (
    accuracy_table,
    check_risk_table,
    clean_curve,
    reconstruct_arm,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "at_risk",
    "digitise",
    "load_dataset",
    "round_trip",
    "round_trip_study",
    "summarise_study",
]


@dataclass(frozen=True)
class Dataset:
    """A public two-arm dataset shipped with lifelines, and how its figure would be printed."""

    name: str
    loader: str                 # lifelines.datasets function
    time: str
    event: str
    arm: str
    reference: str              # level of ``arm`` used as the Cox reference
    risk_step: float            # spacing of the printed at-risk table
    time_unit: str
    description: str
    admin_ties: bool = False    # heavy ties at an administrative cut-off (HR check not applied)


DATASETS = {
    "gbsg2": Dataset("gbsg2", "load_gbsg2", "time", "cens", "horTh", "no", 250, "days",
                     "German Breast Cancer Study Group 2: recurrence-free survival by hormone "
                     "therapy (686 patients)"),
    "lung": Dataset("lung", "load_lung", "time", "status", "sex", "1", 100, "days",
                    "NCCTG advanced lung cancer: overall survival by sex (228 patients)"),
    "waltons": Dataset("waltons", "load_waltons", "T", "E", "group", "control", 10, "days",
                       "Waltons: lifespans of flies by genotype (163; heavy ties at integer "
                       "days)"),
    "rossi": Dataset("rossi", "load_rossi", "week", "arrest", "fin", "0", 10, "weeks",
                     "Rossi recidivism: time to re-arrest by financial aid (432; everyone "
                     "unarrested is censored at week 52)", admin_ties=True),
}


def load_dataset(name: str) -> tuple[Dataset, pd.DataFrame]:
    """The dataset as (time, event, arm) with ``arm`` as strings."""
    import lifelines.datasets as lds

    spec = DATASETS[name]
    raw = getattr(lds, spec.loader)()
    frame = pd.DataFrame({
        "time": raw[spec.time].astype(float),
        "event": raw[spec.event].astype(int),
        "arm": raw[spec.arm].astype(str),
    })
    return spec, frame[frame["time"] > 0].reset_index(drop=True)


def digitise(time, event, rng: np.random.Generator, *, time_sd: float = 0.0025,
             surv_sd: float = 0.0025) -> pd.DataFrame:
    """Points a digitiser would read off the Kaplan-Meier curve of (time, event).

    The two corners of every step (before and after the drop), plus the end of the curve, each
    read with normal noise: SD ``time_sd`` times the length of the time axis in time and
    ``surv_sd`` in survival. Returned in reading order (by true time), unsorted after noise.
    """
    km = kaplan_meier(time, event)
    tab = km.table
    steps = tab[tab["n_event"] > 0]
    prev = np.r_[1.0, steps["surv"].to_numpy()[:-1]]
    t = np.r_[np.repeat(steps["time"].to_numpy(), 2), tab["time"].iloc[-1]]
    s = np.r_[np.column_stack([prev, steps["surv"].to_numpy()]).ravel(), tab["surv"].iloc[-1]]
    span = float(tab["time"].iloc[-1])
    t = t + rng.normal(0.0, time_sd * span, len(t))
    s = s + rng.normal(0.0, surv_sd, len(s))
    return pd.DataFrame({"time": np.clip(t, 0.0, None), "survival": s})


def at_risk(time, times) -> np.ndarray:
    time = np.asarray(time, float)
    return np.array([(time >= x).sum() for x in times], np.int64)


def _cox_log_hr(frame: pd.DataFrame, reference: str) -> float:
    from lifelines import CoxPHFitter

    x = pd.DataFrame({"time": frame["time"], "event": frame["event"],
                      "g": (frame["arm"] != reference).astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(CoxPHFitter().fit(x, "time", "event").params_["g"])


def _km_between_steps(orig_time, orig_event, rec: pd.DataFrame, min_at_risk: int) -> float:
    ko = kaplan_meier(orig_time, orig_event)
    kr = kaplan_meier(rec["time"], rec["event"])
    et = np.unique(np.asarray(orig_time)[np.asarray(orig_event) == 1])
    grid = np.r_[et[0] / 2, (et[:-1] + et[1:]) / 2] if len(et) else np.array([])
    grid = grid[[ko.n_at(g) >= min_at_risk for g in grid]]
    if not len(grid):
        return float("nan")

    def at(k, g):
        tt, ss = k.table["time"].to_numpy(), k.table["surv"].to_numpy()
        i = np.searchsorted(tt, g, side="right") - 1
        return np.where(i >= 0, ss[np.clip(i, 0, None)], 1.0)

    return float(np.abs(at(ko, grid) - at(kr, grid)).max())


def _median_in_event_times(orig_time, orig_event, rec_median: float) -> float:
    """How many distinct original event times separate the two medians (0: same step)."""
    ko = kaplan_meier(orig_time, orig_event)
    m0 = ko.median()[0]
    if np.isnan(m0) or np.isnan(rec_median):
        return 0.0 if np.isnan(m0) and np.isnan(rec_median) else float("inf")
    et = np.unique(np.asarray(orig_time)[np.asarray(orig_event) == 1])
    lo, hi = sorted((m0, rec_median))
    # event times in (lo, hi]: the steps crossed going from one median to the other
    return float(((et > lo) & (et <= hi)).sum())


def round_trip(name: str, seed: int, *, time_sd: float = 0.0025, surv_sd: float = 0.0025,
               last_interval: str = "guyot", snap: float | None = None,
               min_at_risk: int = 20, with_events: bool = False, risk_until: float = 1.0,
               swap_window: float = 0.01) -> pd.DataFrame:
    """One round trip of one dataset: a row per arm plus the hazard-ratio comparison."""
    spec, frame = load_dataset(name)
    rng = np.random.default_rng(seed)
    recs = []
    rows = []
    for arm in sorted(frame["arm"].unique()):
        sub = frame[frame["arm"] == arm]
        pts = digitise(sub["time"], sub["event"], rng, time_sd=time_sd, surv_sd=surv_sd)
        curve = clean_curve(pts["time"], pts["survival"], scale="probability",
                            swap_window=swap_window)
        times = np.arange(0.0, risk_until * curve.time[-1], spec.risk_step)
        risk = check_risk_table(times, at_risk(sub["time"], times), curve=curve)
        rec = reconstruct_arm(curve, risk, arm=arm, last_interval=last_interval, snap=snap,
                              total_events=int(sub["event"].sum()) if with_events else None)
        recs.append(rec.data)
        kr = rec.km
        n_events = int(sub["event"].sum())
        rows.append({
            "dataset": name, "seed": seed, "arm": arm, "n": len(sub), "n_rec": len(rec.data),
            "risk_until": risk_until, "with_events": with_events,
            "events": n_events, "events_rec": rec.events,
            "events_rel_err": rec.events / sub["event"].sum() - 1,
            "events_explained": rec.events == n_events or any(
                f"published {n_events} events" in w for w in rec.warnings),
            "median_steps": _median_in_event_times(sub["time"], sub["event"], kr.median()[0]),
            "max_abs_diff": _km_between_steps(sub["time"], sub["event"], rec.data, min_at_risk),
            "max_abs_diff_points": accuracy_table(rec)["max_abs_diff"],
            "warnings": " | ".join(rec.warnings),
        })
    out = pd.DataFrame(rows)
    hr0 = np.exp(_cox_log_hr(frame, spec.reference))
    hr1 = np.exp(_cox_log_hr(pd.concat(recs), spec.reference))
    out["hr"] = hr0
    out["hr_rec"] = hr1
    out["hr_rel_err"] = hr1 / hr0 - 1
    return out


def round_trip_study(names=tuple(DATASETS), seeds=range(50), **kwargs) -> pd.DataFrame:
    """Every dataset over every seed: one row per dataset, seed and arm."""
    return pd.concat([round_trip(n, s, **kwargs) for n in names for s in seeds],
                     ignore_index=True)


def summarise_study(study: pd.DataFrame) -> pd.DataFrame:
    """The distribution per dataset: medians, 95th percentiles and maxima over seeds and arms,
    and the share of round trips meeting each target."""
    rows = []
    for name, g in study.groupby("dataset", sort=False):
        hr = g.drop_duplicates("seed")["hr_rel_err"].abs()
        ev = g["events_rel_err"].abs()
        rows.append({
            "dataset": name,
            "seeds": g["seed"].nunique(),
            "units_ok": (g["n_rec"] == g["n"]).mean(),
            "units_excess_max": int((g["n_rec"] - g["n"]).max()),
            "events_err_median": ev.median(), "events_err_p95": ev.quantile(0.95),
            "events_err_max": ev.max(), "events_ok": (ev <= 0.02).mean(),
            "median_steps_max": g["median_steps"].max(),
            "median_ok": (g["median_steps"] <= 2).mean(),
            "max_diff_median": g["max_abs_diff"].median(),
            "max_diff_p95": g["max_abs_diff"].quantile(0.95),
            "max_diff_max": g["max_abs_diff"].max(),
            "max_diff_ok": (g["max_abs_diff"] <= 0.03).mean(),
            "hr": g["hr"].iloc[0],
            "hr_err_median": hr.median(), "hr_err_max": hr.max(),
            "hr_ok": (hr <= 0.05).mean(),
            "hr_checked": not DATASETS[name].admin_ties,
            "events_met_or_explained": g["events_explained"].mean(),
            "warned": (g["warnings"] != "").mean(),
            "max_diff_points_max": g["max_abs_diff_points"].max(),
        })
    return pd.DataFrame(rows)

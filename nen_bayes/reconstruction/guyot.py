"""Reconstruct individual patient data from a published Kaplan-Meier curve.

The algorithm of Guyot, Ades, Ouwens and Welton (BMC Med Res Methodol 2012;12:9). Inputs per
arm: points read off the published curve (time, survival), the numbers-at-risk table printed
under it and, when published, the total number of events. Within each interval of the at-risk
table the number censored is chosen so that the reconstructed number at risk at the next table
time equals the published one; at each digitised point the number of events is the one that
reproduces the digitised survival given the units then at risk; censorings are spread evenly
over the interval.

One choice and two departures from a literal reading of the paper, each measured by the round
trips of :mod:`nen_bayes.reconstruction.roundtrip` and each switchable:

* ``last_interval``: after the last at-risk time the paper censors at the average *count* per
  unit time of the earlier intervals (``"guyot"``, the default). ``"rate"`` uses the earlier
  intervals' censorings per unit at risk and time, ``"recent"`` those of the last interval
  only. When the table stops well before the end of the curve no rule is right for every
  dataset (the round trips measure each); the published total of events (``total_events``)
  settles the tail.
* Drops read a hair before an at-risk time (``snap``, default up to 0.5% of the time axis):
  the published count at a time includes the units whose event is at that time, so a drop read
  just early makes the interval before it unable to reach the published count even with no
  censoring. Only then is the latest drop before that time moved onto it, one at a time, until
  the interval can.
* Corners read in swapped order (``swap_window``, default 1% of the axis, in
  :func:`clean_curve`): with reading noise in time, the lower corner of a step can be read
  before the upper one. Isotonic regression alone would average the two and move half of the
  drop to the next step; their survival values are exchanged first.

Input points are cleaned first (:func:`clean_curve`): sorted by time, percentages turned into
probabilities (the scale decided from the whole arm), overshoots within reading noise clipped,
non-monotone stretches corrected by isotonic regression, the point (0, 1) added. Every
correction is listed in the result. Inputs that cannot be read as a survival curve or an
at-risk table raise :class:`ReconstructionError`, naming the source, the rows and what is
allowed; so does an at-risk table that does not fit its curve (:func:`check_fit`, most often
another time unit). What the reconstruction had to assume, and every published figure it does
not meet, is a warning of the arm. No arm ever has more units than were at risk at time 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from nen_bayes.cohorts.validate import parse_numeric
from nen_bayes.errors import CohortError
from nen_bayes.frequentist.km import kaplan_meier

__all__ = [
    "LAST_INTERVAL_RULES",
    "ArmReconstruction",
    "CleanCurve",
    "Reconstruction",
    "ReconstructionError",
    "RiskTable",
    "accuracy_table",
    "check_fit",
    "check_risk_table",
    "clean_curve",
    "digitised_median",
    "read_inputs",
    "reconstruct",
    "reconstruct_arm",
]

LAST_INTERVAL_RULES = ("rate", "recent", "guyot")
SCALES = ("auto", "probability", "percent")
# survival read a little above 1 (or 100%) is reading noise and clipped; beyond this, an error
OVERSHOOT = 0.02
# times read a little below 0 are reading noise and set to 0; beyond this share of the axis, error
NEGATIVE_TIME = 0.01
# reading noise in time, as a share of the axis: a point this close to a step may sit on either
# side of it in the accuracy report (the default snap)
TIME_NOISE = 0.005
# a reconstructed curve this far from a digitised point does not fit its at-risk table: more
# than three times the 0.03 that the round trips on real patients meet (README), five times the
# reading noise
FAR = 0.10
# a tail after the last at-risk time longer than this share of the axis is "a short table"
SHORT_TABLE = 0.25
# the ratios between the time units of published figures, to name a likely mismatch
UNIT_RATIOS = {"days and weeks": 7.0, "weeks and months": 4.35, "months and years": 12.0,
               "days and months": 30.44, "weeks and years": 52.18, "days and years": 365.25}


class ReconstructionError(CohortError):
    """Digitised points or an at-risk table that cannot be used, with what is wrong."""


def _rows(index, limit: int = 8) -> str:
    rows = [str(int(i)) for i in index]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(rows[:limit]) + more


@dataclass(frozen=True)
class CleanCurve:
    """Digitised points ready for reconstruction: times increasing from 0, survival a
    non-increasing probability starting at 1."""

    time: np.ndarray
    surv: np.ndarray
    scale: str                                   # "probability" or "percent" (as read)
    corrections: tuple[str, ...] = ()

    def at(self, times) -> np.ndarray:
        """The digitised curve as a step function (value of the last point at or before t)."""
        idx = np.searchsorted(self.time, np.asarray(times, float), side="right") - 1
        return self.surv[np.clip(idx, 0, None)]


@dataclass(frozen=True)
class RiskTable:
    time: np.ndarray
    n_risk: np.ndarray
    corrections: tuple[str, ...] = ()


def _as_float(values, what: str, source: str, rows, decimal_comma: bool = False) -> np.ndarray:
    """Numbers as the cohort loader reads them (a decimal comma where the file allows it)."""
    out, _, _ = parse_numeric(pd.Series(list(values), dtype=object), decimal_comma)
    bad = ~np.isfinite(out)
    if bad.any():
        raise ReconstructionError(
            f"{source}: {what} must be finite numbers; rows {_rows(np.asarray(rows)[bad])} "
            f"hold {[values[i] for i in np.flatnonzero(bad)[:5]]}.")
    return out


def clean_curve(time, surv, *, scale: str = "auto", source: str = "digitised points",
                rows=None, swap_window: float = 0.01, rescale_start: bool = False,
                decimal_comma: bool = False) -> CleanCurve:
    """Check and clean points read off a Kaplan-Meier figure.

    Parameters
    ----------
    time, surv
        The points as read, in any order. Survival is a probability or a percentage.
    scale
        ``"auto"``, ``"probability"`` or ``"percent"``. ``"auto"`` decides from the whole
        curve: probability when no value exceeds 1 + 2% (reading noise), percent when most
        values do; a curve with a few values above 1.02 and the rest at or below 1 fits
        neither reading and is refused.
    swap_window
        Points closer in time than this share of the time axis whose survival rises are taken
        as the two corners of one step read in swapped order, and their survival values are
        exchanged (default 1%: four times a reading noise of a quarter of a percent).
    rescale_start
        A curve read below 1 - 2% at time 0 is refused unless this is set; then every value
        is divided by the value read at time 0 (a y-axis whose 1 was calibrated off, its 0
        right).
    decimal_comma
        Read ``"72,5"`` as 72.5 (semicolon- or tab-separated files, as the cohort loader).
    source, rows
        File name and row numbers used in messages (rows default to 1, 2, ...).

    Errors: non-numeric values, times below 0 (beyond reading noise), survival below 0 or above
    1 (100%) beyond reading noise, a curve fitting neither scale, a mix of percentages and
    probabilities, and a start below 1 beyond reading noise (without ``rescale_start``).
    Corrections (listed in ``corrections``): points sorted by time, overshoots clipped, a
    (0, 1) point added or the points at time 0 set to 1 (or the curve rescaled), and isotonic
    regression where survival rises.
    """
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r}: allowed {list(SCALES)}")
    time = list(time)
    surv = list(surv)
    if len(time) != len(surv):
        raise ValueError("time and surv differ in length")
    rows = np.arange(1, len(time) + 1) if rows is None else np.asarray(rows)
    if len(time) < 2:
        raise ReconstructionError(f"{source}: {len(time)} point(s); a curve needs at least 2.")
    t = _as_float(time, "times", source, rows, decimal_comma)
    s = _as_float(surv, "survival values", source, rows, decimal_comma)
    corrections: list[str] = []
    t = _nonnegative_times(t, rows, source, corrections)
    s, scale = _probabilities(t, s, rows, scale, source, corrections)
    t, s, rows = _sorted(t, s, rows, corrections)
    t, s = _anchored(t, s, rows, corrections, source, rescale_start)
    s = _unswapped_corners(t, s, swap_window, corrections)
    s = _non_increasing(s, corrections)
    return CleanCurve(t, s, scale, tuple(corrections))


def _nonnegative_times(t: np.ndarray, rows: np.ndarray, source: str,
                       corrections: list[str]) -> np.ndarray:
    """Times read slightly below 0 set to 0; further below is an error."""
    span = float(t.max())
    if span <= 0:
        raise ReconstructionError(f"{source}: every time is 0 or below; the time axis is empty.")
    neg = t < 0
    if (t < -NEGATIVE_TIME * span).any():
        far = t < -NEGATIVE_TIME * span
        raise ReconstructionError(
            f"{source}: times below 0 at rows {_rows(rows[far])} (values "
            f"{np.round(t[far][:5], 4).tolist()}); times start at 0.")
    if neg.any():
        corrections.append(f"{int(neg.sum())} time(s) read slightly below 0 set to 0 "
                           f"(rows {_rows(rows[neg])}).")
        t = np.where(neg, 0.0, t)
    return t


def _probabilities(t: np.ndarray, s: np.ndarray, rows: np.ndarray, scale: str, source: str,
                   corrections: list[str]) -> tuple[np.ndarray, str]:
    """Survival as probabilities in [0, 1] (percentages divided by 100, never a mix;
    overshoots clipped) and the scale it was read in."""
    order = np.argsort(t, kind="stable")
    top = float(s.max())
    if scale == "auto":
        scale = _scale_of(s, rows, source)
    if scale == "percent":
        st = s[order]
        later_max = np.maximum.accumulate(st[::-1])[::-1]
        later_max = np.r_[later_max[1:], -np.inf]
        mixed = (st <= 1.0) & (later_max > 2.0)
        if mixed.any():
            bad = rows[order][mixed]
            raise ReconstructionError(
                f"{source}: survival mixes percentages and probabilities: rows {_rows(bad)} "
                f"hold values <= 1 (e.g. {st[mixed][:3].round(4).tolist()}) before later points "
                "above 2. Give every value in one scale (--scale percent or probability).")
        s = s / 100.0
        over = s > 1 + OVERSHOOT
        if over.any():
            raise ReconstructionError(
                f"{source}: survival above 100% at rows {_rows(rows[over])} (values "
                f"{(100 * s[over])[:5].round(2).tolist()}) in a curve read in percent; "
                "allowed 0 to 100 (up to 102 is taken as reading noise).")
    elif top > 1 + OVERSHOOT:
        over = s > 1 + OVERSHOOT
        raise ReconstructionError(
            f"{source}: survival above 1 at rows {_rows(rows[over])} (values "
            f"{s[over][:5].round(4).tolist()}) with --scale probability; give probabilities in "
            "[0, 1] or use --scale percent.")
    low = s < -OVERSHOOT
    if low.any():
        raise ReconstructionError(
            f"{source}: survival below 0 at rows {_rows(rows[low])} (values "
            f"{(s[low] * (100 if scale == 'percent' else 1))[:5].round(4).tolist()}); allowed "
            f"0 to {'100' if scale == 'percent' else '1'}.")
    clip = (s > 1) | (s < 0)
    if clip.any():
        corrections.append(f"{int(clip.sum())} survival value(s) read slightly outside [0, 1] "
                           f"clipped (rows {_rows(rows[clip])}).")
        s = np.clip(s, 0.0, 1.0)
    return s, scale


def _scale_of(s: np.ndarray, rows: np.ndarray, source: str) -> str:
    """The scale of a whole curve: probability when no value exceeds 1 + 2%, percent when
    most do; anything else fits neither reading."""
    above = s > 1 + OVERSHOOT
    if not above.any():
        return "probability"
    if above.sum() > len(s) / 2:
        return "percent"
    raise ReconstructionError(
        f"{source}: survival fits neither scale: rows {_rows(rows[above])} hold values above "
        f"1.02 ({s[above][:5].round(4).tolist()}) while the other {int((~above).sum())} of "
        f"{len(s)} values are at most 1.02. A curve in probabilities has no value above 1 "
        "(+2% reading noise); a curve in percent has most of its values above 1. Correct "
        "those rows, or name the scale with --scale.")


def _sorted(t: np.ndarray, s: np.ndarray, rows: np.ndarray, corrections: list[str]):
    """Points by time, and within one time from high to low (the two corners of a step)."""
    order = np.lexsort((-s, t))
    if (np.diff(order) < 0).any():
        moved = int((order != np.arange(len(order))).sum())
        corrections.append(f"{moved} point(s) out of time order sorted (reading noise can "
                           "swap the corners of a step).")
    return t[order], s[order], rows[order]


def _anchored(t: np.ndarray, s: np.ndarray, rows: np.ndarray, corrections: list[str],
              source: str = "digitised points", rescale_start: bool = False):
    """The curve starting at (0, 1): points at time 0 replaced by it, or it added. A start
    read below 1 beyond reading noise is refused, or on request the curve is rescaled."""
    at0 = t == 0
    if at0.any():
        start = float(s[at0].max())
        if start < 1 - OVERSHOOT and not rescale_start:
            raise ReconstructionError(
                f"{source}: the curve starts at {start:.4g} (rows {_rows(rows[at0])}, time 0), "
                f"more than the reading noise of {OVERSHOOT:g} below 1. A Kaplan-Meier curve "
                "starts at 1: check the y-axis calibration. If its 1 was set off (and its 0 "
                "right), --rescale-start divides every value of the arm by the value read at "
                "time 0.")
        if start < 1 - OVERSHOOT:
            if start <= 0:
                raise ReconstructionError(
                    f"{source}: the curve starts at {start:g} (rows {_rows(rows[at0])}); "
                    "it cannot be rescaled to start at 1.")
            s = np.minimum(s / start, 1.0)
            corrections.append(
                f"the curve starts at {start:.4g} at time 0 (rows {_rows(rows[at0])}): every "
                f"survival value rescaled (divided by {start:.4g}) on request.")
        elif (np.abs(s[at0] - 1) > 1e-12).any():
            corrections.append(f"point(s) at time 0 (rows {_rows(rows[at0])}) read at "
                               f"{start:.4g} set to survival 1 (within reading noise).")
        keep = ~at0
        return np.r_[0.0, t[keep]], np.r_[1.0, s[keep]]
    corrections.append("point (0, 1) added: the curve starts at survival 1.")
    return np.r_[0.0, t], np.r_[1.0, s]


def _unswapped_corners(t: np.ndarray, s: np.ndarray, swap_window: float,
                       corrections: list[str]) -> np.ndarray:
    """Corners of one step read in swapped order: points closer in time than the window are
    put in descending order of survival (their times stay)."""
    window = swap_window * t[-1]
    if window <= 0:
        return s
    s = s.copy()
    before = s.copy()
    while True:
        k = np.flatnonzero((np.diff(s) > 0) & (np.diff(t) <= window))
        if not len(k):
            break
        k = k[np.r_[True, np.diff(k) > 1]]      # disjoint pairs per pass
        s[k], s[k + 1] = s[k + 1].copy(), s[k].copy()
    moved = int((s != before).sum())
    if moved:
        corrections.append(
            f"{moved} point(s) took the survival of a neighbour less than {window:.4g} "
            "away in time: where survival rose within that window, the values were put "
            "in descending order (the corners of a step read in swapped order, or "
            "reading noise in a flat stretch).")
    return s


def _non_increasing(s: np.ndarray, corrections: list[str]) -> np.ndarray:
    """Isotonic (least-squares non-increasing) fit where survival rises; survival 1 at 0."""
    if not (np.diff(s) > 0).any():
        return s
    fit = isotonic_regression(s, increasing=False).x
    changed = np.abs(fit - s) > 1e-12
    corrections.append(
        f"survival rose between neighbouring points; {int(changed.sum())} point(s) replaced "
        f"by the isotonic (non-increasing least-squares) fit, largest change "
        f"{np.abs(fit - s).max():.4f}.")
    fit[0] = 1.0
    return fit


def check_risk_table(time, n_risk, *, curve: CleanCurve | None = None,
                     source: str = "at-risk table", rows=None,
                     decimal_comma: bool = False) -> RiskTable:
    """Check a numbers-at-risk table.

    Errors: non-numeric or negative counts, counts that are not whole numbers, times not
    strictly increasing, counts that increase, a table that does not start at time 0, and
    (with ``curve``) a table most of whose rows lie beyond the last digitised point, the mark
    of a table in another time unit than the curve. Correction (listed): a few rows beyond
    the last digitised point are dropped, since the curve gives no drops there.
    """
    time, n_risk = list(time), list(n_risk)
    rows = np.arange(1, len(time) + 1) if rows is None else np.asarray(rows)
    if len(time) == 0:
        raise ReconstructionError(f"{source}: no rows; the at-risk table needs at least the "
                                  "number at time 0.")
    t = _as_float(time, "times", source, rows, decimal_comma)
    n = _as_float(n_risk, "numbers at risk", source, rows, decimal_comma)
    bad = (n < 0) | (np.abs(n - np.round(n)) > 1e-9)
    if bad.any():
        raise ReconstructionError(
            f"{source}: numbers at risk must be whole numbers >= 0; rows {_rows(rows[bad])} "
            f"hold {n[bad][:5].tolist()}.")
    n = np.round(n).astype(np.int64)
    back = np.flatnonzero(np.diff(t) <= 0)
    if len(back):
        raise ReconstructionError(
            f"{source}: times must increase strictly; rows {_rows(rows[back + 1])} (times "
            f"{t[back + 1][:5].tolist()}) do not follow the row before.")
    if t[0] != 0:
        raise ReconstructionError(
            f"{source}: the table starts at time {t[0]:g}, not 0; the reconstruction needs the "
            "number randomised (at risk at time 0). Add a row for time 0.")
    up = np.flatnonzero(np.diff(n) > 0)
    if len(up):
        raise ReconstructionError(
            f"{source}: numbers at risk increase at rows {_rows(rows[up + 1])} "
            f"({', '.join(f'{n[i]} -> {n[i + 1]}' for i in up[:5])}); they can only stay or "
            "fall.")
    if n[0] == 0:
        raise ReconstructionError(f"{source}: 0 at risk at time 0.")
    corrections = []
    if curve is not None:
        beyond = t > curve.time[-1]
        if beyond.sum() >= 2 and beyond.sum() > (len(t) - 1) / 2:
            raise ReconstructionError(
                f"{source}: rows {_rows(rows[beyond])} ({int(beyond.sum())} of the "
                f"{len(t) - 1} after time 0) lie beyond the last digitised point "
                f"({curve.time[-1]:g}). {_unit_hint(t[-1], curve.time[-1])}")
        if beyond.any():
            corrections.append(
                f"at-risk rows {_rows(rows[beyond])} (times {t[beyond][:5].tolist()}) lie "
                f"beyond the last digitised point ({curve.time[-1]:g}) and were dropped.")
            t, n = t[~beyond], n[~beyond]
    return RiskTable(t, n, tuple(corrections))


def _unit_hint(table_end: float, curve_end: float) -> str:
    """What a table ending at ``table_end`` beside a curve ending at ``curve_end`` suggests."""
    ratio = max(table_end, curve_end) / max(min(table_end, curve_end), 1e-300)
    where = (f"The table's times reach {table_end:g}, the curve's {curve_end:g}")
    if ratio < 3:
        return (f"{where}: check that the table belongs to this curve, and that both are in "
                "the same time unit.")
    pair = min(UNIT_RATIOS, key=lambda k: abs(np.log(ratio / UNIT_RATIOS[k])))
    return (f"{where}, about {ratio:.3g} times {'more' if table_end > curve_end else 'less'}: "
            f"the at-risk table is likely in another time unit than the curve (the nearest "
            f"pair is {pair}, x{UNIT_RATIOS[pair]:g}). Give both in one unit.")


@dataclass(frozen=True)
class ArmReconstruction:
    """Reconstructed units of one arm and how well they reproduce the inputs."""

    arm: str
    data: pd.DataFrame              # time, event, arm
    curve: CleanCurve
    risk: RiskTable
    published_events: int | None
    corrections: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    how: str = ""                   # how the censoring after the last at-risk time was set

    @property
    def events(self) -> int:
        return int(self.data["event"].sum())

    @cached_property
    def km(self):
        """Kaplan-Meier fit of the reconstructed units (computed once)."""
        return kaplan_meier(self.data["time"], self.data["event"])


def _drops_before(curve: CleanCurve, tau: float, window: float) -> np.ndarray:
    """Indices of the points in [tau - window, tau) where the digitised curve drops."""
    t, s = curve.time, curve.surv
    prev = np.r_[1.0, s[:-1]]
    return np.flatnonzero((t >= tau - window) & (t < tau) & (s < prev))


def _step_points(curve: CleanCurve, risk_t: np.ndarray, moved: dict[int, int], window: float):
    """The points, with one added at every table time (so no interval is empty), and for each
    table time ``i`` in ``moved`` the last ``moved[i]`` drops read before it moved onto it."""
    t, s = curve.time.copy(), curve.surv.copy()
    for i, count in moved.items():
        tau = risk_t[i]
        drops = _drops_before(curve, tau, window)[-count:]
        first = drops[0]
        level = s[first - 1]
        stay = (t >= t[first]) & (t < tau)
        stay[drops] = False
        s[stay] = np.maximum(s[stay], level)
        t[drops] = tau
    order = np.lexsort((-s, t))
    t, s = t[order], np.minimum.accumulate(s[order])
    idx = np.searchsorted(t, risk_t, side="left") - 1     # the level just before each time
    at = s[np.clip(idx, 0, None)]
    at[0] = 1.0
    t, s = np.r_[t, risk_t], np.r_[s, at]
    order = np.lexsort((-s, t))
    t, s = t[order], s[order]
    s = np.minimum.accumulate(s)
    return t, s


class _Arm:
    """State of Guyot's algorithm on one arm (indices follow the paper's notation)."""

    def __init__(self, t, s):
        self.t, self.s = t, s
        n = len(t)
        self.d = np.zeros(n, np.int64)       # events at each point
        self.cen = np.zeros(n, np.int64)     # censorings in [t_k, t_k+1)
        self.nhat = np.zeros(n + 1)          # at risk just before each point
        self.km = np.ones(n)
        self.censor_times: dict[int, np.ndarray] = {}

    def censor(self, i, n_c, t_lo, t_hi, lo, hi):
        self.cen[lo:hi + 1] = 0
        n_c = max(int(n_c), 0)
        ct = t_lo + np.arange(1, n_c + 1) * (t_hi - t_lo) / (n_c + 1)
        self.censor_times[i] = ct
        if n_c:
            k = np.searchsorted(self.t[lo:hi + 1], ct, side="right") - 1
            np.add.at(self.cen, lo + np.clip(k, 0, None), 1)

    def events(self, lo, hi, n_start, last) -> int:
        s, d, km, nhat, cen = self.s, self.d, self.km, self.nhat, self.cen
        nhat[lo] = n_start
        for k in range(lo, hi + 1):
            if k == 0:
                d[k], km[k] = 0, 1.0
            elif nhat[k] <= 0 or km[last] <= 0:
                d[k], km[k] = 0, km[last]
            else:
                d[k] = min(max(round(float(nhat[k] * (1 - s[k] / km[last]))), 0), int(nhat[k]))
                km[k] = km[last] * (1 - d[k] / nhat[k])
            nhat[k + 1] = nhat[k] - d[k] - cen[k]
            if d[k]:
                last = k
        return last


def reconstruct_arm(curve: CleanCurve, risk: RiskTable, *, total_events: int | None = None,
                    arm: str = "arm", last_interval: str = "guyot",
                    snap: float | None = None) -> ArmReconstruction:
    """Guyot's algorithm for one arm.

    Parameters
    ----------
    curve, risk
        Cleaned points (:func:`clean_curve`) and a checked at-risk table
        (:func:`check_risk_table`).
    total_events
        The published number of events, when known: the censoring after the last table time is
        then set so that the events add up to it; where no allowed number of censorings does,
        the nearest is kept and a warning says why.
    last_interval
        Censoring after the last table time when ``total_events`` is not given: ``"guyot"``
        (the earlier intervals' average count per unit time, the paper's rule), ``"rate"``
        (their censorings per unit at risk and time) or ``"recent"`` (those of the last
        interval).
    snap
        Drops read at most this long before an at-risk time are moved onto it; default 0.5%
        of the time axis.

    The arm has exactly as many units as were at risk at time 0. ``warnings`` of the result
    list what was assumed (no censoring with only the time-0 row; a rule for a short table)
    and every published figure not met, with why.
    """
    if last_interval not in LAST_INTERVAL_RULES:
        raise ValueError(f"last_interval {last_interval!r}: allowed {list(LAST_INTERVAL_RULES)}")
    n_start = float(risk.n_risk[0])
    if total_events is not None and not 0 <= total_events <= n_start:
        raise ReconstructionError(
            f"arm {arm}: {total_events} events published for {int(n_start)} units at risk at "
            "time 0; allowed 0 to the number at time 0.")
    snap = 0.005 * curve.time[-1] if snap is None else float(snap)
    a, t, lower, upper, reached, n_risk, n_censored, last = _search_with_moves(curve, risk, snap)
    # after the last table time
    i = len(risk.time) - 1
    lo, hi = lower[i], upper[i]
    n_c = _last_censoring(a.s, t, lo, hi, risk.time.astype(float), n_risk, reached, n_censored,
                          last_interval)
    tail = _Tail(a, i, lo, hi, n_risk[i], last)
    warnings: list[str] = []
    warnings += _tail_warnings(risk, t, lo, hi, last_interval, total_events is not None)
    if total_events is None:
        tail.settle(n_c)
        how = (f"no censoring assumed after time {t[lo]:g}" if len(risk.time) == 1
               else f"censoring after time {t[lo]:g} by rule '{last_interval}'")
    else:
        _, note = tail.meet(total_events)
        how = f"censoring after time {t[lo]:g} set to meet the published {total_events} events"
        if note:
            warnings.append(note)
    data = _units(a, t, hi, t[hi], arm)
    if len(data) != int(n_start):
        raise ReconstructionError(
            f"arm {arm}: the reconstruction produced {len(data)} units for {int(n_start)} at "
            "risk at time 0; it stopped rather than invent or lose units. Check the at-risk "
            "table against the curve.")
    warnings += _unmet_risk(data, risk)
    return ArmReconstruction(arm, data, curve, risk, total_events,
                             curve.corrections + risk.corrections, tuple(warnings), how)


class _Tail:
    """The interval after the last at-risk time: ``n_c`` censorings spread evenly over it,
    the events at its points following from them. A number censored is allowed when it leaves
    no unit count below 0 (so the arm never has more units than were at risk at time 0) and a
    unit at risk at every drop of the curve (so the curve is still reproduced)."""

    def __init__(self, a: _Arm, i: int, lo: int, hi: int, n_at: float, start: int):
        self.a, self.i, self.lo, self.hi, self.n_at, self.start = a, i, lo, hi, n_at, start
        s = a.s[lo:hi + 1]
        self.drops = lo + 1 + np.flatnonzero(s[1:] < s[:-1])

    def run(self, n_c: int) -> tuple[int, float]:
        """(total events of the arm, units left at the end) with ``n_c`` censored."""
        a, t = self.a, self.a.t
        a.censor(self.i, n_c, t[self.lo], t[self.hi], self.lo, self.hi)
        a.events(self.lo, self.hi, self.n_at, self.start)
        return int(a.d[:self.hi + 1].sum()), float(a.nhat[self.hi + 1])

    def allowed(self, n_c: int) -> bool:
        _, left = self.run(n_c)
        return left >= 0 and bool((self.a.nhat[self.drops] >= 1).all())

    def settle(self, n_c: int) -> int:
        """Run ``n_c``, or the most allowed when it is not allowed."""
        n_c = max(int(n_c), 0)
        if not self.allowed(n_c):
            n_c = min(n_c, self.most_censored())
            while n_c > 0 and not self.allowed(n_c):
                n_c -= 1
            self.run(n_c)
        return n_c

    def most_censored(self) -> int:
        """The largest number censored that is allowed (bisection; 0 is always kept)."""
        lo, hi = 0, int(self.n_at)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.allowed(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def meet(self, target: int) -> tuple[int, str]:
        """The number censored whose events total ``target``; when none does, the nearest and
        a note that explains the difference."""
        cap = self.most_censored()
        lo, hi = 0, cap                      # events fall as censorings rise
        while lo < hi:
            mid = (lo + hi) // 2
            if self.run(mid)[0] <= target:
                hi = mid
            else:
                lo = mid + 1
        near = set(range(max(lo - 3, 0), min(lo + 3, cap) + 1)) | {0, cap}
        tried = {c: self.run(c) for c in sorted(near)}
        tried = {c: r for c, r in tried.items() if c == 0 or self.allowed(c)}
        best = min(tried, key=lambda c: (abs(tried[c][0] - target), c))
        got = tried[best][0]
        note = "" if got == target else self._explain(target, best, got, cap)
        return self.settle(best), note

    def _explain(self, target: int, best: int, got: int, cap: int) -> str:
        t = self.a.t
        after = f"after the last at-risk time ({t[self.lo]:g})"
        before = int(self.a.d[:self.lo].sum())
        none, most = self.run(0)[0], self.run(cap)[0]
        if none < target:
            why = (f"even with no censoring {after} the drops of the curve give only {none}: "
                   "the points after it show fewer events than published (points missing in "
                   "the tail, or a total that counts events beyond the figure's end)")
        elif most > target:
            why = (f"the curve needs at least {most} even with as many censorings {after} as "
                   f"the units allow while some remain at risk at its last drop ({cap}, spread "
                   f"evenly); {before} of them fall before it, where the at-risk table sets "
                   "them. The censoring after it likely came earlier than an even spread (late "
                   "entrants censored soon after); meeting the total would take units that do "
                   "not exist, so the nearest is kept")
        else:
            why = ("the events at the digitised points are whole numbers and no number of "
                   f"censorings {after} gives exactly {target} (the nearest kept: {best} "
                   "censored)")
        return (f"published {target} events, reconstructed {got}: {why}. Check the published "
                "total and the points of the tail; a longer at-risk table settles it.")


def _tail_warnings(risk: RiskTable, t: np.ndarray, lo: int, hi: int, last_interval: str,
                   published: bool) -> list[str]:
    """What a table too short to settle the tail leaves assumed without a published total, and
    a table covering under a third of the axis (another time unit?)."""
    n0 = int(risk.n_risk[0])
    span = t[hi] - t[0]
    unit = []
    if len(risk.time) >= 3 and span > 0 and (t[lo] - t[0]) * 3 < span:
        unit = [f"the at-risk table covers only {(t[lo] - t[0]) / span:.0%} of the curve's time "
                f"axis. {_unit_hint(float(risk.time[-1]), float(t[hi]))}"]
    if published:
        return unit
    if len(risk.time) == 1:
        return [f"the at-risk table gives only the number at time 0 ({n0}): no censoring can "
                "be inferred from it, so none is assumed; every unit without an event is "
                f"censored at the end of the curve ({t[hi]:g}), and the events are an upper "
                "bound. Give the published total of events (--events ARM=N)."]
    if span > 0 and (t[hi] - t[lo]) / span > SHORT_TABLE:
        return [*unit, f"the at-risk table stops at {t[lo]:g}, {(t[lo] - t[0]) / span:.0%} of "
                "the curve's time axis: after it the split into events and censorings is not "
                f"identified and follows rule '{last_interval}'. Give the published total of "
                "events (--events ARM=N)."]
    return unit


def _unmet_risk(data: pd.DataFrame, risk: RiskTable) -> list[str]:
    """A warning for published numbers at risk that the reconstructed units do not meet."""
    time = data["time"].to_numpy()
    got = np.array([int((time >= x).sum()) for x in risk.time])
    off = np.flatnonzero(got != risk.n_risk)
    if not len(off):
        return []
    pairs = ", ".join(f"{risk.time[k]:g}: {risk.n_risk[k]} published, {got[k]} "
                      "reconstructed" for k in off[:5])
    return [f"published numbers at risk not met at {len(off)} time(s) ({pairs}), largest "
            f"difference {int(np.abs(got - risk.n_risk).max())}: a drop read just before an "
            "at-risk time (events at that very time are still at risk in the table), or points "
            "that do not match the table."]


def _search_with_moves(curve: CleanCurve, risk: RiskTable, snap: float):
    """:func:`_intervals`, rerun while an interval ends below the published count even without
    censoring: such an interval has a drop read a hair early, and the latest drop before that
    table time is moved onto it (one at a time, as long as there is one within ``snap``)."""
    moved: dict[int, int] = {}
    movable = [len(_drops_before(curve, tau, snap)) for tau in risk.time]
    while True:
        result = _intervals(curve, risk, moved, snap)
        reached = result[4]
        short = [i for i in range(1, len(risk.time)) if reached[i] < risk.n_risk[i]
                 and moved.get(i, 0) < movable[i]]
        if not short:
            return result
        moved[short[0]] = moved.get(short[0], 0) + 1


def _last_censoring(s, t, lo: int, hi: int, risk_t: np.ndarray, n_risk: np.ndarray,
                    reached: np.ndarray, n_censored: np.ndarray, last_interval: str) -> int:
    """The number censored after the last table time, by the ``last_interval`` rule."""
    m = len(risk_t)
    i = m - 1
    t_end = t[hi]
    n_c = 0
    if m > 1 and t_end > t[lo]:
        span = t[lo] - t[0]
        if last_interval == "guyot":
            n_c = round(n_censored[:-1].sum() * (t_end - t[lo]) / span)
        else:
            exposure = (n_risk[:-1] + reached[1:]) / 2 * np.diff(risk_t)
            if last_interval == "recent":
                exposure, cens = exposure[-1:], n_censored[-2:-1]
            else:
                cens = n_censored[:-1]
            rate = cens.sum() / exposure.sum() if exposure.sum() > 0 else 0.0
            # units at risk fall through the interval; use the survival-weighted mean
            frac = s[hi] / s[lo] if s[lo] > 0 else 0.0
            n_c = round(rate * n_risk[i] * (1 + frac) / 2 * (t_end - t[lo]))
        n_c = int(min(n_c, n_risk[i]))
    return n_c


def _units(a: _Arm, t: np.ndarray, hi: int, t_end: float, arm: str) -> pd.DataFrame:
    """The reconstructed units (time, event, arm): events at the points, censorings where
    they were placed, and those still at risk censored at the end of the curve."""
    times, events = [], []
    for k in range(hi + 1):
        if a.d[k] > 0:
            times.append(np.full(a.d[k], t[k]))
            events.append(np.ones(a.d[k], np.int64))
    for ct in a.censor_times.values():
        times.append(ct)
        events.append(np.zeros(len(ct), np.int64))
    left = int(max(a.nhat[hi + 1], 0))
    times.append(np.full(left, t_end))
    events.append(np.zeros(left, np.int64))
    data = pd.DataFrame({"time": np.concatenate(times), "event": np.concatenate(events)})
    data["arm"] = arm
    data = data.sort_values(["time", "event"], ascending=[True, False], kind="stable")
    return data.reset_index(drop=True)


def _intervals(curve, risk, moved, snap):
    """Guyot's search over the intervals of the at-risk table, up to its last time."""
    risk_t = risk.time.astype(float)
    n_risk = risk.n_risk.astype(float).copy()
    t, s = _step_points(curve, risk_t, moved, snap)
    m = len(risk_t)
    lower = np.searchsorted(t, risk_t, side="left")
    upper = np.r_[lower[1:] - 1, len(t) - 1]
    a = _Arm(t, s)
    reached = n_risk.copy()
    n_censored = np.zeros(m)
    last = 0
    for i in range(m - 1):
        lo, hi, nxt = lower[i], upper[i], lower[i + 1]
        n_c = round(n_risk[i] * s[nxt] / s[lo] - n_risk[i + 1]) if s[lo] > 0 else 0
        start = last
        seen: dict[int, float] = {}
        while True:
            n_c = max(int(n_c), 0)
            a.censor(i, n_c, t[lo], t[nxt], lo, hi)
            last = a.events(lo, hi, n_risk[i], start)
            gap = a.nhat[nxt] - n_risk[i + 1]
            if gap == 0 or (gap < 0 and n_c == 0):
                break
            if n_c in seen:          # the search cycles: keep the closer of the two
                best = min(seen, key=lambda c: (abs(seen[c]), c))
                if best != n_c:
                    n_c = best
                    a.censor(i, best, t[lo], t[nxt], lo, hi)
                    last = a.events(lo, hi, n_risk[i], start)
                break
            seen[n_c] = gap
            n_c = n_c + gap
        while a.nhat[nxt] < 0 and n_c > 0:      # never more units leave than were at risk
            n_c = max(n_c + int(np.floor(a.nhat[nxt])), 0)
            a.censor(i, n_c, t[lo], t[nxt], lo, hi)
            last = a.events(lo, hi, n_risk[i], start)
        n_censored[i] = a.cen[lo:hi + 1].sum()
        reached[i + 1] = a.nhat[nxt]
        # an interval that cannot reach the published count carries on from where it is
        n_risk[i + 1] = a.nhat[nxt]

    return a, t, lower, upper, reached, n_risk, n_censored, last


def digitised_median(curve: CleanCurve) -> float:
    """First time the digitised curve reaches 0.5 or below (NaN when it does not)."""
    hit = np.flatnonzero(curve.surv <= 0.5)
    return float(curve.time[hit[0]]) if len(hit) else float("nan")


def accuracy_table(rec: ArmReconstruction) -> dict:
    """How well the reconstructed units reproduce what was read and published.

    ``max_abs_diff``/``mean_abs_diff``: vertical distance from every digitised point to the
    reconstructed Kaplan-Meier curve (after its last time, the curve's last value), where a
    point within reading noise in time of a step (``TIME_NOISE`` of the axis, the default
    ``snap``) may sit anywhere between the two sides of it. Also the scale the points were
    read in, the events (against the published total), the median (against the digitised
    curve's), the largest difference in the numbers at risk and the number of warnings.
    """
    km = rec.km
    tab = km.table
    kt, ks = tab["time"].to_numpy(), tab["surv"].to_numpy()
    pt, ps = rec.curve.time, rec.curve.surv
    # the curve's range within reading noise in time of each point: from its value just
    # before t - w to its value at t + w (w: TIME_NOISE of the axis)
    w = TIME_NOISE * pt[-1]
    right = np.searchsorted(kt, pt + w, side="right") - 1
    left = np.searchsorted(kt, pt - w, side="left") - 1
    s_low = np.where(right >= 0, ks[np.clip(right, 0, None)], 1.0)
    s_high = np.where(left >= 0, ks[np.clip(left, 0, None)], 1.0)
    dist = np.maximum.reduce([np.zeros_like(ps), ps - s_high, s_low - ps])
    rec_risk = np.array([km.n_at(x) for x in rec.risk.time])
    return {
        "arm": rec.arm,
        "scale": rec.curve.scale,
        "n": km.n,
        "events": km.events,
        "published_events": rec.published_events,
        "median": km.median()[0],
        "digitised_median": digitised_median(rec.curve),
        "max_abs_diff": float(dist.max()),
        "mean_abs_diff": float(dist.mean()),
        "max_risk_diff": int(np.abs(rec_risk - rec.risk.n_risk).max()),
        "points": len(pt),
        "corrections": len(rec.corrections),
        "warnings": len(rec.warnings),
    }


# -- several arms, from tables -----------------------------------------------------------------
@dataclass(frozen=True)
class Reconstruction:
    """Reconstructed patient-level data of every arm, with the accuracy report."""

    arms: tuple[ArmReconstruction, ...]
    settings: dict

    @property
    def ipd(self) -> pd.DataFrame:
        """One row per reconstructed unit: ``id, time, event, arm``."""
        data = pd.concat([a.data for a in self.arms], ignore_index=True)
        data.insert(0, "id", np.arange(1, len(data) + 1))
        return data

    def accuracy(self) -> pd.DataFrame:
        return pd.DataFrame([accuracy_table(a) for a in self.arms])

    def risk_comparison(self) -> pd.DataFrame:
        """Published numbers at risk against those of the reconstructed units."""
        rows = []
        for a in self.arms:
            km = a.km
            for t, n in zip(a.risk.time, a.risk.n_risk, strict=True):
                rec = km.n_at(t)
                rows.append({"arm": a.arm, "time": t, "published": int(n),
                             "reconstructed": rec, "difference": rec - int(n)})
        return pd.DataFrame(rows)

    def corrections(self) -> list[tuple[str, str]]:
        return [(a.arm, c) for a in self.arms for c in a.corrections]

    def warnings(self) -> list[tuple[str, str]]:
        """What the reconstruction had to assume, or could not meet, per arm."""
        return [(a.arm, w) for a in self.arms for w in a.warnings]

    def summary_text(self, time_unit: str = "") -> str:
        unit = f" ({time_unit})" if time_unit else ""
        acc = self.accuracy()
        lines = ["Kaplan-Meier reconstruction (Guyot et al. 2012)", ""]
        head = (f"{'arm':<14}{'n':>6}{'events':>8}{'published':>11}{'median':>10}"
                f"{'read':>10}{'max|dS|':>9}{'mean|dS|':>10}{'max|dN|':>9}")
        lines += [head, "-" * len(head)]
        for _, r in acc.iterrows():
            pub = "-" if r["published_events"] is None or pd.isna(r["published_events"]) \
                else str(int(r["published_events"]))
            lines.append(
                f"{str(r['arm'])[:13]:<14}{r['n']:>6}{r['events']:>8}{pub:>11}"
                f"{r['median']:>10.4g}{r['digitised_median']:>10.4g}"
                f"{r['max_abs_diff']:>9.4f}{r['mean_abs_diff']:>10.4f}{r['max_risk_diff']:>9}")
        lines += [
            "",
            f"median{unit}: of the reconstructed units; read: where the digitised curve first",
            "reaches 0.5. |dS|: distance from each digitised point to the reconstructed curve.",
            "|dN|: largest difference from the published numbers at risk.",
            "",
            "Survival read as: " + "; ".join(f"[{a.arm}] {a.curve.scale}" for a in self.arms)
            + f" (--scale {self.settings['scale']}).",
            "",
        ]
        if self.warnings():
            lines += ["Warnings:"] + [f"  [{arm}] {text}" for arm, text in self.warnings()]
            lines += [""]
        lines += ["Corrections to the inputs:" if self.corrections() else "Corrections: none."]
        lines += [f"  [{arm}] {text}" for arm, text in self.corrections()]
        s = self.settings
        lines += ["", "After the last at-risk time: "
                  + "; ".join(f"[{a.arm}] {a.how}" for a in self.arms) + ".",
                  f"Settings: drops moved onto an at-risk time from at most {s['snap']:g} of "
                  f"the axis before it; corner swaps within {s['swap_window']:g} of the axis."]
        return "\n".join(lines) + "\n"


def _column(frame: pd.DataFrame, name: str, source: str, what: str) -> str:
    if name not in frame.columns:
        raise ReconstructionError(
            f"{source}: no column {name!r} ({what}); columns are {list(frame.columns)}. Name "
            "it with the matching option.")
    return name


def read_inputs(points: pd.DataFrame, risk: pd.DataFrame, *, points_source: str = "points",
                risk_source: str = "at-risk table", time_col: str = "time",
                surv_col: str = "survival", arm_col: str = "arm", risk_col: str = "n_risk",
                first_row: int = 2, risk_first_row: int | None = None):
    """Split the points and the at-risk table by arm, checking that both name the same arms.

    Returns ``{arm: (times, survival, rows)}`` and ``{arm: (times, n_risk, rows)}`` with row
    numbers as in the files (``first_row`` is the row number of the first data row of the
    points, ``risk_first_row`` of the table; the same by default).
    """
    _column(points, time_col, points_source, "time of each point")
    _column(points, surv_col, points_source, "survival of each point")
    _column(risk, time_col, risk_source, "time of each at-risk column")
    _column(risk, risk_col, risk_source, "number at risk")
    has_p, has_r = arm_col in points.columns, arm_col in risk.columns
    if has_p != has_r:
        which, other = (points_source, risk_source) if has_p else (risk_source, points_source)
        raise ReconstructionError(
            f"{which} has an arm column {arm_col!r} but {other} does not; give it in both (or "
            "in neither, for a single curve).")

    def split(frame, cols, source, first):
        rows = first + np.arange(len(frame))
        if not has_p:
            return {"all": (*[frame[c].tolist() for c in cols], rows)}
        arms = frame[arm_col].astype(str).str.strip()
        empty = (arms == "") | frame[arm_col].isna().to_numpy()
        if empty.any():
            raise ReconstructionError(
                f"{source}: column {arm_col!r} is empty at rows {_rows(rows[empty])}.")
        return {a: (*[frame.loc[arms == a, c].tolist() for c in cols], rows[(arms == a)])
                for a in dict.fromkeys(arms)}

    pts = split(points, (time_col, surv_col), points_source, first_row)
    rsk = split(risk, (time_col, risk_col), risk_source,
                first_row if risk_first_row is None else risk_first_row)
    if set(pts) != set(rsk):
        raise ReconstructionError(
            f"the arms differ: {points_source} has {sorted(pts)}, {risk_source} has "
            f"{sorted(rsk)}; every arm needs both its points and its at-risk table.")
    return pts, {a: rsk[a] for a in pts}


def reconstruct(points: pd.DataFrame, risk: pd.DataFrame, *,
                events: dict[str, int] | None = None, scale: str = "auto",
                last_interval: str = "guyot", snap: float = 0.005, swap_window: float = 0.01,
                points_source: str = "points", risk_source: str = "at-risk table",
                time_col: str = "time", surv_col: str = "survival", arm_col: str = "arm",
                risk_col: str = "n_risk", first_row: int = 2, risk_first_row: int | None = None,
                rescale_start: bool = False, points_decimal_comma: bool = False,
                risk_decimal_comma: bool = False) -> Reconstruction:
    """Reconstruct every arm of a figure from its digitised points and at-risk table.

    ``points``: columns ``time``, ``survival`` and, for several curves, ``arm``; ``risk``:
    ``time``, ``n_risk`` and the same ``arm`` values. ``events``: published totals by arm.
    ``snap`` and ``swap_window`` are shares of the time axis. ``rescale_start``: see
    :func:`clean_curve`; ``*_decimal_comma``: cells like ``"72,5"`` are numbers (as the
    cohort loader reads semicolon- and tab-separated files).

    Stops (:class:`ReconstructionError`) when a reconstructed curve lies more than ``FAR``
    from a digitised point: the at-risk table does not fit the curve (most often, another
    time unit).
    """
    pts, rsk = read_inputs(points, risk, points_source=points_source,
                           risk_source=risk_source, time_col=time_col, surv_col=surv_col,
                           arm_col=arm_col, risk_col=risk_col, first_row=first_row,
                           risk_first_row=risk_first_row)
    events = dict(events or {})
    unknown = sorted(set(events) - set(pts))
    if unknown:
        raise ReconstructionError(f"events given for arm(s) {unknown}, which the inputs do not "
                                  f"have; arms are {list(pts)}.")
    arms = []
    for arm, (t, s, rows) in pts.items():
        src = f"{points_source} (arm {arm})" if arm_col in points.columns else points_source
        rsrc = f"{risk_source} (arm {arm})" if arm_col in points.columns else risk_source
        curve = clean_curve(t, s, scale=scale, source=src, rows=rows, swap_window=swap_window,
                            rescale_start=rescale_start, decimal_comma=points_decimal_comma)
        rt, rn, rrows = rsk[arm]
        table = check_risk_table(rt, rn, curve=curve, source=rsrc, rows=rrows,
                                 decimal_comma=risk_decimal_comma)
        rec = reconstruct_arm(curve, table, total_events=events.get(arm), arm=arm,
                              last_interval=last_interval, snap=snap * curve.time[-1])
        check_fit(rec, rsrc)
        arms.append(rec)
    settings = {"scale": scale, "scales": {a.arm: a.curve.scale for a in arms},
                "rescale_start": rescale_start, "last_interval": last_interval, "snap": snap,
                "swap_window": swap_window, "events": events}
    return Reconstruction(tuple(arms), settings)


def check_fit(rec: ArmReconstruction, source: str = "at-risk table") -> None:
    """Stop when the reconstructed curve lies more than ``FAR`` from a digitised point: the
    at-risk table does not fit the curve, and the units would be invented."""
    acc = accuracy_table(rec)
    if acc["max_abs_diff"] <= FAR:
        return
    raise ReconstructionError(
        f"{source}: the reconstructed curve of arm {rec.arm} lies up to "
        f"{acc['max_abs_diff']:.2f} from the digitised points (more than {FAR:g}): the at-risk "
        f"table does not fit the curve. {_unit_hint(rec.risk.time[-1], rec.curve.time[-1])}")

"""Kaplan-Meier estimation with R ``survival`` conventions.

For distinct observed times :math:`t_j` with :math:`n_j` at risk and :math:`d_j` events,

.. math::
    \\hat S(t) = \\prod_{t_j \\le t} (1 - d_j / n_j), \\qquad
    \\sigma^2(t) = \\sum_{t_j \\le t} \\frac{d_j}{n_j (n_j - d_j)}

where :math:`\\sigma` is Greenwood's standard error of :math:`\\log \\hat S` (R's ``std.err``).
Pointwise intervals (``conf_type``), exactly as R's ``survfit``:

* ``"log"`` (R's default): :math:`\\exp(\\log \\hat S \\pm z\\sigma)`, upper limit capped at 1;
* ``"log-log"``: :math:`\\exp(-\\exp(\\log(-\\log \\hat S) \\mp z\\sigma/\\log \\hat S))`;
* ``"plain"``: :math:`\\hat S (1 \\pm z\\sigma)`, clipped to [0, 1].

Where :math:`\\hat S = 1` (before the first event) the interval is (1, 1); where
:math:`\\hat S = 0` it is undefined (NaN), as in R.

Late entry (left truncation, R's ``Surv(entry, time, event)``): a unit is at risk at
:math:`t_j` when ``entry < t_j <= time`` (the counting-process convention of R's ``survfit``; a
unit entering exactly at an event time is not at risk for it).

Quantiles (the median) follow R's ``quantile.survfit``: the first time at which the curve is
at or below :math:`1-p`; when the curve sits exactly at :math:`1-p` over an interval, the midpoint
of that interval. The confidence limits of a quantile are the same rule applied to the lower and
upper confidence curves (Brookmeyer-Crowley), NaN when a curve never reaches :math:`1-p`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from nen_bayes.errors import BaselineWarning

__all__ = ["CONF_TYPES", "KaplanMeier", "kaplan_meier"]

CONF_TYPES = ("log", "log-log", "plain")
_TOL = np.sqrt(np.finfo(float).eps)  # R: sqrt(.Machine$double.eps)


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier fit: one row per distinct observed time (events and censorings).

    ``table`` columns: ``time, n_risk, n_event, n_censor, surv, std_err, lower, upper``;
    ``std_err`` is the Greenwood standard error of log S (R's ``std.err``).
    """

    table: pd.DataFrame
    n: int
    events: int
    conf_type: str
    conf_level: float
    label: str = ""
    entry: np.ndarray | None = field(default=None, repr=False)  # late entries, when any

    @property
    def max_time(self) -> float:
        return float(self.table["time"].iloc[-1]) if len(self.table) else float("nan")

    def survival_at(self, times) -> pd.DataFrame:
        """S(t) with its interval and the number at risk at each time (R ``summary(fit, times)``).

        A time beyond the last observed time gives NaN (with a warning), unless the curve has
        already reached 0 there.
        """
        times = np.atleast_1d(np.asarray(times, float))
        tab = self.table
        idx = np.searchsorted(tab["time"].to_numpy(), times, side="right") - 1
        out = []
        beyond = []
        for t, i in zip(times, idx, strict=True):
            if i < 0:
                row = (1.0, 0.0, 1.0, 1.0)
            else:
                r = tab.iloc[i]
                row = (r["surv"], r["std_err"], r["lower"], r["upper"])
            if t > self.max_time and not (i >= 0 and tab["surv"].iloc[-1] == 0.0):
                beyond.append(t)
                row = (np.nan,) * 4
            out.append((t, self.n_at(t), *row))
        if beyond:
            warnings.warn(
                f"{self.label or 'Kaplan-Meier curve'}: horizon(s) {_fmt(beyond)} lie beyond the "
                f"last follow-up time {self.max_time:g}; survival there is not estimable and is "
                "reported as NaN.", BaselineWarning, stacklevel=2)
        return pd.DataFrame(out, columns=["time", "n_risk", "surv", "std_err", "lower", "upper"])

    def n_at(self, t: float) -> int:
        """Number at risk at time ``t`` (observed time >= t, entered before t)."""
        tab = self.table
        later = tab["time"].to_numpy() >= t
        n = int((tab["n_event"].to_numpy()[later] + tab["n_censor"].to_numpy()[later]).sum())
        if self.entry is not None:  # entry < time, so entry >= t implies time > t
            n -= int((self.entry >= t).sum())
        return n

    def quantile(self, p: float = 0.5) -> tuple[float, float, float]:
        """The time by which a fraction ``p`` has had the event, with its CI (R conventions)."""
        tab = self.table
        t = tab["time"].to_numpy()
        target = 1.0 - p
        return (_findq(t, tab["surv"].to_numpy(), target),
                _findq(t, tab["lower"].to_numpy(), target),
                _findq(t, tab["upper"].to_numpy(), target))

    def median(self) -> tuple[float, float, float]:
        """Median survival time with its confidence interval; NaN where not reached."""
        return self.quantile(0.5)


def _fmt(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _findq(time: np.ndarray, curve: np.ndarray, target: float) -> float:
    """First time the step curve is <= target; midpoint when it rests exactly on target."""
    ok = ~np.isnan(curve)
    time, curve = time[ok], curve[ok]
    # keep only the points where the curve changes (R drops duplicated y values)
    keep = np.r_[True, np.diff(curve) != 0] if len(curve) else np.array([], bool)
    time, curve = time[keep], curve[keep]
    below = np.nonzero(curve <= target + _TOL)[0]
    if len(below) == 0:
        return float("nan")
    i = below[0]
    if abs(curve[i] - target) < _TOL and i + 1 < len(time):
        return float((time[i] + time[i + 1]) / 2)
    return float(time[i])


def _interval(surv: np.ndarray, se: np.ndarray, conf_type: str, z: float):
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            logs = np.where(surv > 0, np.log(np.where(surv > 0, surv, 1.0)), np.nan)
            lower = np.exp(logs - z * se)
            upper = np.minimum(np.exp(logs + z * se), 1.0)
        elif conf_type == "log-log":
            inner = np.where((surv > 0) & (surv < 1), surv, np.nan)
            ll = np.log(-np.log(inner))
            half = z * se / np.log(inner)
            lower = np.exp(-np.exp(ll - half))
            upper = np.exp(-np.exp(ll + half))
            one = surv == 1.0
            lower[one] = 1.0
            upper[one] = 1.0
        elif conf_type == "plain":
            lower = np.clip(surv - z * se * surv, 0.0, 1.0)
            upper = np.clip(surv + z * se * surv, 0.0, 1.0)
        else:
            raise ValueError(f"conf_type {conf_type!r}: allowed {list(CONF_TYPES)}")
    bad = ~np.isfinite(se)
    lower[bad] = np.nan
    upper[bad] = np.nan
    return lower, upper


def kaplan_meier(time, event, *, conf_type: str = "log", conf_level: float = 0.95,
                 label: str = "", entry=None) -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood standard errors and pointwise intervals.

    Parameters
    ----------
    time, event
        Follow-up times (> 0) and event indicators (1 = event, 0 = censored).
    conf_type
        ``"log"`` (R ``survfit``'s default), ``"log-log"`` or ``"plain"``.
    conf_level
        Two-sided level of the pointwise intervals.
    entry
        Late-entry times (``0 <= entry < time``), or None when every unit is at risk from 0.
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type {conf_type!r}: allowed {list(CONF_TYPES)}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must lie in (0, 1), got {conf_level}")
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    if len(time) == 0:
        raise ValueError(f"{label or 'Kaplan-Meier'}: no observations")
    uniq, inv = np.unique(time, return_inverse=True)
    n_event = np.bincount(inv, weights=event, minlength=len(uniq)).astype(np.int64)
    n_total = np.bincount(inv, minlength=len(uniq)).astype(np.int64)
    n_censor = n_total - n_event
    n_risk = n_total[::-1].cumsum()[::-1]
    if entry is not None:
        entry = np.asarray(entry, float)
        if entry.shape != time.shape or not (entry >= 0).all() or not (entry < time).all():
            raise ValueError(f"{label or 'Kaplan-Meier'}: entry times must satisfy "
                             "0 <= entry < time, one per unit")
        # not yet entered at u_j: entry >= u_j (R: at risk when entry < u_j <= time)
        n_risk = n_risk - (len(entry) - np.searchsorted(np.sort(entry), uniq, side="left"))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    var = np.cumsum(term)
    se = np.sqrt(var)
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    lower, upper = _interval(surv, se, conf_type, z)
    table = pd.DataFrame({
        "time": uniq, "n_risk": n_risk, "n_event": n_event, "n_censor": n_censor,
        "surv": surv, "std_err": se, "lower": lower, "upper": upper,
    })
    return KaplanMeier(table, len(time), int(event.sum()), conf_type, conf_level, label,
                       None if entry is None else np.sort(entry))


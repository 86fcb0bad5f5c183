"""Restricted mean survival time (RMST) with the Greenwood-type variance of its estimator.

The RMST up to a horizon :math:`\\tau` is the area under the Kaplan-Meier curve,

.. math::
    \\hat\\mu(\\tau) = \\int_0^\\tau \\hat S(t)\\,dt, \\qquad
    \\widehat{\\mathrm{Var}}\\,\\hat\\mu(\\tau) = \\sum_{t_j \\le \\tau}
        \\frac{A_j^2\\, d_j}{n_j (n_j - d_j)}, \\quad A_j = \\int_{t_j}^{\\tau} \\hat S(t)\\,dt,

the variance of the *estimator* (Klein & Moeschberger 2003, sec. 4.5; the plug-in used by R's
``survRM2::rmst2``), not the variance of the truncated survival time ``min(T, tau)``. Two groups
are compared by the difference of their RMSTs with a normal-theory interval and Wald test,
:math:`\\mathrm{SE} = \\sqrt{V_1 + V_0}`.

The horizon must not exceed the last follow-up time of any group compared (beyond it the curve
is not estimated); this is the same rule as ``survRM2``.

The "KM mean" (:func:`km_mean`) is the RMST of one curve up to its *own* last follow-up time:
the "mean survival time" SPSS reports with its Kaplan-Meier output ("estimation is limited to
the largest survival time if it is censored") and R's ``print(survfit(...), rmean =
"individual")``, with the variance above (tau = that last time). It equals the mean of the
times when nothing is censored, and underestimates the mean survival when the last time is
censored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from nen_bayes.errors import BaselineError
from nen_bayes.frequentist.km import KaplanMeier, kaplan_meier

__all__ = ["RMST", "RMSTDifference", "km_mean", "rmst", "rmst_difference", "rmst_from_km"]


@dataclass(frozen=True)
class RMST:
    """RMST of one group at horizon ``tau``: estimate, standard error and normal interval."""

    tau: float
    estimate: float
    se: float
    lower: float
    upper: float
    n: int
    events: int


@dataclass(frozen=True)
class RMSTDifference:
    """RMST(group) - RMST(reference) at ``tau``, with interval and two-sided Wald p-value."""

    tau: float
    group: RMST
    reference: RMST
    estimate: float
    se: float
    lower: float
    upper: float
    z: float
    p_value: float


def rmst(time, event, tau: float, *, conf_level: float = 0.95, label: str = "") -> RMST:
    """RMST of one sample at horizon ``tau`` (Greenwood-type SE of the estimator)."""
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    if not np.isfinite(tau) or tau <= 0:
        raise BaselineError(f"RMST horizon must be a positive number, got {tau}")
    if len(time) == 0:
        raise BaselineError(f"RMST {label}: no observations")
    return rmst_from_km(kaplan_meier(time, event, label=label), tau, conf_level=conf_level)


def rmst_from_km(km: KaplanMeier, tau: float, *, conf_level: float = 0.95) -> RMST:
    """RMST at ``tau`` from a Kaplan-Meier fit (``tau`` must not exceed its last time)."""
    if tau > km.max_time:
        raise BaselineError(
            f"RMST{' ' + km.label if km.label else ''}: horizon tau = {tau:g} lies beyond the "
            f"last follow-up time {km.max_time:g}; the Kaplan-Meier curve is not estimated there. "
            f"Allowed: tau <= {km.max_time:g}.")
    tab = km.table[km.table["time"] <= tau]
    t = tab["time"].to_numpy()
    s = tab["surv"].to_numpy()
    d = tab["n_event"].to_numpy()
    n = tab["n_risk"].to_numpy()
    knots = np.r_[0.0, t, tau]
    heights = np.r_[1.0, s]
    areas = np.diff(knots) * heights  # area of each step: [0, t1), [t1, t2), ..., [tk, tau]
    estimate = float(areas.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where((n - d) > 0, d / (n * (n - d)), 0.0)  # survRM2 sets n == d terms to 0
    tail = np.cumsum(areas[::-1])[::-1][1:]  # A_j: area from t_j to tau
    se = float(np.sqrt(np.sum(tail**2 * w)))
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    return RMST(float(tau), estimate, se, estimate - z * se, estimate + z * se, km.n, km.events)


def km_mean(km: KaplanMeier, *, conf_level: float = 0.95) -> RMST:
    """The KM mean: area under the curve up to its last follow-up time (its ``tau``), with the
    Greenwood-type SE of :func:`rmst_from_km` (SPSS's "mean survival time")."""
    return rmst_from_km(km, km.max_time, conf_level=conf_level)


def rmst_difference(time, event, group, tau: float, *, reference, level,
                    conf_level: float = 0.95) -> RMSTDifference:
    """RMST difference ``level`` minus ``reference`` at horizon ``tau``."""
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    group = np.asarray(group, dtype=object)
    parts = {}
    for g in (level, reference):
        m = group == g
        if not m.any():
            raise BaselineError(f"RMST difference: no units in group {g!r}")
        parts[g] = (time[m], event[m])
    limit = min(parts[level][0].max(), parts[reference][0].max())
    if tau > limit:
        raise BaselineError(
            f"RMST difference {level!r} vs {reference!r}: horizon tau = {tau:g} lies beyond the "
            f"shorter of the two groups' follow-up ({limit:g}). Allowed: tau <= {limit:g}.")
    a = rmst(*parts[level], tau, conf_level=conf_level, label=str(level))
    b = rmst(*parts[reference], tau, conf_level=conf_level, label=str(reference))
    diff = a.estimate - b.estimate
    se = float(np.hypot(a.se, b.se))
    zq = float(norm.ppf(1 - (1 - conf_level) / 2))
    zstat = diff / se if se > 0 else float("nan")
    p = float(2 * norm.sf(abs(zstat))) if se > 0 else float("nan")
    return RMSTDifference(float(tau), a, b, diff, se, diff - zq * se, diff + zq * se, zstat, p)

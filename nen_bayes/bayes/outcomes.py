"""The likelihood term of each outcome kind (:mod:`nen_bayes.cohorts.outcomes`).

Each kind has one likelihood term (``H`` the unit's
cumulative hazard, ``h`` its hazard, from the family and the unit's linear predictor):

``exact``      an event at ``time``: ``log h(time) - H(time)``;
``right``      censored at ``time`` (event 0): ``-H(time)``;
``interval``   an event known only to lie in ``(time, upper]`` (event 1, upper > time; time may
               be 0): ``log(S(time) - S(upper))``;
late entry     (any of the above, observed from ``entry`` > 0 on): ``+ H(entry)``, the term
               conditional on survival to entry.

:class:`Outcomes` holds them and computes the pointwise log-likelihood of many draws
(:meth:`Outcomes.pointwise`, used by the fit's ``log_likelihood`` group, by cross-validation's
held-out units and by the tests), and :func:`observe` turns simulated event times into
outcomes of the same kinds as a design's (studies simulate the outcome kind they fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nen_bayes.bayes import families
from nen_bayes.bayes.families import Family
from nen_bayes.cohorts.outcomes import KINDS
from nen_bayes.cohorts.outcomes import Outcomes as ObservedOutcomes

__all__ = ["KINDS", "Outcomes", "observe"]


@dataclass(frozen=True)
class Outcomes(ObservedOutcomes):
    """:class:`nen_bayes.cohorts.outcomes.Outcomes` with the likelihood term of each kind."""

    def pointwise(self, family: Family, params: dict, eta, cuts=None, tv=None) -> np.ndarray:
        """The log-likelihood term of every unit in every draw, (S, n): ``params`` flat draws
        (``(S,)``, ``(S, K)``; with ``tv``, a time-varying effect, its changes too), ``eta``
        (S, n) the units' linear predictors."""
        inside = self.interval
        exact_time = self.detection_time
        if tv is None:
            ll = family.loglik_draws(exact_time, self.event, eta, params, cuts, self.entry)
        else:
            ll = families.timevarying.tv_loglik_draws(family, exact_time, self.event, eta,
                                                      params, tv, self.entry)
        if inside.any():
            if tv is None:
                p = family.expand({k: v for k, v in params.items()})
                ll[:, inside] = family.interval_loglik(self.time[inside], self.upper[inside],
                                                       eta[:, inside], p, cuts)
            else:
                ll[:, inside] = families.timevarying.tv_interval_loglik_draws(
                    family, self.time[inside], self.upper[inside], eta[:, inside], params,
                    {**tv, "x": np.asarray(tv["x"])[inside]})
        return ll

    def hazard_terms(self, family: Family, params: dict, cuts=None):
        """The pieces of the units' log-likelihood as functions of a common log-hazard offset
        ``u`` (a new group's intercept), per draw: ``ll(u) = a + d u - b exp(u) + sum_i
        log(-expm1(-c_i exp(u)))``. Returns ``(log_h, h_exact, h_lower, h_between)``, each
        (S, n) at eta = 0: the baseline log hazard at an exact event time (0 elsewhere), the
        cumulative hazard at the time of an exact or censored unit net of entry, at the lower
        bound of an interval (net of entry), and over the interval (0 elsewhere)."""
        p = family.expand(params)
        inside = self.interval
        t = self.time
        exact = (self.event == 1) & ~inside
        log_h = np.where(exact, family.log_hazard(np.where(t > 0, t, 1.0), p, cuts), 0.0)
        h_t = family.cumulative_hazard(t, p, cuts)
        if self.entry is not None:
            h_t = h_t - family.cumulative_hazard(self.entry, p, cuts)
        h_between = np.zeros_like(h_t)
        if inside.any():
            h_up = family.cumulative_hazard(np.where(inside, self.upper, t), p, cuts)
            h_between = np.where(inside, h_up - family.cumulative_hazard(t, p, cuts), 0.0)
        return log_h, exact, h_t, h_between


def observe(log_t: np.ndarray, censor: np.ndarray, design, *, min_time: float
            ) -> tuple[Outcomes, int]:
    """Outcomes of the kinds ``design`` has, from event times ``exp(log_t)`` (n,) and censoring
    times ``censor`` (n,): right-censored at ``censor`` beyond it; with late entry the design's
    entry times (the times were drawn given survival to them); with interval-censored events
    in the design, an event is seen at the next assessment of a schedule of visits every
    ``w`` time units from 0 (``w`` the median width of the design's intervals), as ``(k w,
    min((k + 1) w, censor)]``. Event times below ``min_time`` are raised to it (a time that
    underflows to 0 has no density); returns the outcomes and how many were raised."""
    raised = int(np.sum(log_t < np.log(min_time)))
    with np.errstate(over="ignore"):
        t = np.exp(np.clip(log_t, np.log(min_time), 700.0))
    event = (t <= censor).astype(np.int64)
    time = np.where(event == 1, t, censor)
    entry = None if design.entry is None else np.asarray(design.entry, float)
    if design.upper is None:
        return Outcomes(time, event, entry), raised
    known = Outcomes.of(design)
    widths = (known.upper - known.time)[known.interval]
    w = float(np.median(widths)) if widths.size else float(np.median(design.time))
    lower = np.floor(t / w) * w
    upper = np.minimum(lower + w, censor)
    inside = (event == 1) & (upper > lower)
    return Outcomes(np.where(inside, lower, time), event, entry,
                    np.where(inside, upper, time)), raised

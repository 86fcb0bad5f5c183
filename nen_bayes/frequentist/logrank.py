"""Log-rank tests: k groups, stratified, and the test for trend over ordered groups.

At each distinct event time of a stratum, with :math:`n` at risk (:math:`n_k` in group k) and
:math:`d` events (:math:`d_k` in group k), the expected count and the hypergeometric covariance
are

.. math::
    E_k = d\\,\\frac{n_k}{n}, \\qquad
    V_{kl} = d\\,\\frac{n-d}{n-1}\\,\\frac{n_k}{n}\\Bigl(\\delta_{kl} - \\frac{n_l}{n}\\Bigr).

``O - E`` and ``V`` are summed over event times and over strata (the stratified test compares
groups *within* strata, e.g. within centres). The k-group statistic is
:math:`(O-E)^T V^{-}(O-E)` on :math:`\\mathrm{rank}(V)` degrees of freedom (R ``survdiff``). With
ordered groups and scores :math:`c` (default 1, 2, ..., k), the trend statistic
:math:`(c^T(O-E))^2 / c^T V c` has 1 degree of freedom (Collett 2015, sec. 2.7).
``rho`` gives the Harrington-Fleming :math:`G^\\rho` family: each event time is weighted by
:math:`\\hat S(t-)^\\rho`, with :math:`\\hat S` the pooled Kaplan-Meier estimate of the stratum
(``rho=1`` is the Peto-Peto test); ``rho=0`` is the log-rank test.
With late entry (``entry``), a unit is at risk at :math:`t` when ``entry < t <= time`` (the
counting-process risk sets of R's ``Surv(entry, time, event)``; the statistic is then the score
test of the Cox model with those risk sets, R's ``survdiff`` accepting no late entry).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2

from nen_bayes.errors import BaselineError, BaselineWarning

__all__ = ["LogrankResult", "logrank_test"]


@dataclass(frozen=True)
class LogrankResult:
    """A log-rank comparison. ``table`` holds per-group N, observed, expected, (O-E)^2/V."""

    levels: tuple[str, ...]
    table: pd.DataFrame
    variance: np.ndarray
    statistic: float
    df: int
    p_value: float
    method: str
    trend_statistic: float | None = None
    trend_p_value: float | None = None
    scores: tuple[float, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _one_stratum(time, event, gidx, k, rho, entry=None):
    order = np.argsort(time, kind="stable")
    time, event, gidx = time[order], event[order], gidx[order]
    uniq, inv = np.unique(time, return_inverse=True)
    m = len(uniq)
    d_tk = np.zeros((m, k))
    c_tk = np.zeros((m, k))
    np.add.at(d_tk, (inv, gidx), event)
    np.add.at(c_tk, (inv, gidx), 1 - event)
    n_tk = (d_tk + c_tk)[::-1].cumsum(axis=0)[::-1]
    if entry is not None:  # not yet entered at u_j: entry >= u_j
        entry = entry[order]
        for g in range(k):
            e = np.sort(entry[gidx == g])
            n_tk[:, g] -= len(e) - np.searchsorted(e, uniq, side="left")
    d = d_tk.sum(1)
    n = n_tk.sum(1)
    has = d > 0
    d, n, d_tk, n_tk = d[has], n[has], d_tk[has], n_tk[has]
    if rho:
        # pooled left-continuous KM of the stratum at each event time
        s = np.cumprod(1 - d / n)
        w = np.r_[1.0, s[:-1]] ** rho
    else:
        w = np.ones_like(d)
    frac = n_tk / n[:, None]
    obs = (w[:, None] * d_tk).sum(0)
    exp = (w[:, None] * d[:, None] * frac).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n > 1, d * (n - d) / (n - 1), 0.0) * w**2
    var = np.einsum("t,tk,tl->kl", factor, frac, -frac)
    var[np.diag_indices(k)] += (factor[:, None] * frac).sum(0)
    return obs, exp, var


def logrank_test(time, event, group, *, strata=None, levels=None, trend: bool = False,
                 scores=None, rho: float = 0.0, name: str = "group",
                 entry=None) -> LogrankResult:
    """Compare survival between the groups of ``group`` (optionally within ``strata``).

    Parameters
    ----------
    time, event
        Follow-up times and event indicators (1 = event).
    group
        Group label of each unit; ``levels`` fixes their order (default: sorted labels present).
    strata
        Optional stratum label of each unit (e.g. centre): a stratified test.
    trend
        Also compute the 1-df test for trend with ``scores`` (default 1..k in ``levels`` order).
    rho
        Harrington-Fleming weight exponent (0 = log-rank).
    name
        The factor's name, used in messages.
    entry
        Late-entry time of each unit (``0 <= entry < time``), or None (all at risk from 0).

    Raises
    ------
    BaselineError
        Fewer than two groups, or no events at all.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    group = pd.Series(np.asarray(group, dtype=object)).astype(str).to_numpy()
    levels = tuple(str(lv) for lv in (levels if levels is not None else sorted(set(group))))
    levels = tuple(lv for lv in levels if lv in set(group))
    if len(levels) < 2:
        raise BaselineError(
            f"log-rank test by {name!r}: the data hold only the level(s) {list(levels)}; "
            "at least two groups are needed. Allowed: a factor with two or more levels present.")
    if event.sum() == 0:
        raise BaselineError(
            f"log-rank test by {name!r}: no events in any group (every unit censored); there "
            "is nothing to compare.")
    k = len(levels)
    gidx = np.array([levels.index(g) for g in group])
    strata = (np.zeros(len(time), dtype=object) if strata is None
              else pd.Series(np.asarray(strata, dtype=object)).astype(str).to_numpy())
    notes: list[str] = []
    if entry is not None:
        entry = np.asarray(entry, float)
        if entry.shape != time.shape or not ((entry >= 0) & (entry < time)).all():
            raise BaselineError(f"log-rank test by {name!r}: entry times must satisfy "
                                "0 <= entry < time, one per unit")
    obs, exp, var = _sum_over_strata(time, event, gidx, strata, k, rho, name, notes, entry)
    ndead = np.bincount(gidx, weights=event, minlength=k)
    for lv, dd in zip(levels, ndead, strict=True):
        if dd == 0:
            msg = f"log-rank by {name!r}: group {lv!r} has no events."
            notes.append(msg)
            warnings.warn(msg, BaselineWarning, stacklevel=2)
    diff = obs - exp
    sub = var[: k - 1, : k - 1]
    rank = int(np.linalg.matrix_rank(sub)) if k > 1 else 0
    if rank == 0:
        stat, p = float("nan"), float("nan")
        msg = f"log-rank by {name!r}: zero variance (no comparable events); statistic is NaN."
        notes.append(msg)
        warnings.warn(msg, BaselineWarning, stacklevel=2)
    else:
        stat = float(diff[: k - 1] @ np.linalg.pinv(sub) @ diff[: k - 1])
        p = float(chi2.sf(stat, rank))
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(np.diag(var) > 0, diff**2 / np.diag(var), np.nan)
    n_per = np.bincount(gidx, minlength=k)
    table = pd.DataFrame({"level": levels, "n": n_per, "observed": obs, "expected": exp,
                          "o_minus_e_sq_over_v": per})
    method = ("log-rank" if rho == 0 else f"Harrington-Fleming G-rho (rho={rho:g})")
    if len(set(strata)) > 1:
        method += ", stratified"
    tstat = tp = sc = None
    if trend:
        tstat, tp, sc = _trend_test(diff, var, scores, k, name)
    return LogrankResult(levels, table, var, stat, rank, p, method, tstat, tp, sc, tuple(notes))


def _sum_over_strata(time, event, gidx, strata, k: int, rho: float, name: str,
                     notes: list[str], entry=None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed and expected counts and their covariance, summed over the strata."""
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    single = []
    for s in sorted(set(strata)):
        m = strata == s
        if m.sum() == 1:
            single.append(s)
        o, e, v = _one_stratum(time[m], event[m], gidx[m], k, rho,
                               None if entry is None else entry[m])
        obs += o
        exp += e
        var += v
    if single and len(set(strata)) > 1:
        msg = (f"stratified log-rank by {name!r}: stratum/strata {single} hold a single unit and "
               "contribute nothing to the test.")
        notes.append(msg)
        warnings.warn(msg, BaselineWarning, stacklevel=3)
    return obs, exp, var


def _trend_test(diff: np.ndarray, var: np.ndarray, scores, k: int,
                name: str) -> tuple[float, float, tuple[float, ...]]:
    """The 1-df test for trend with ``scores`` (default 1..k): statistic, p-value, scores."""
    sc = np.arange(1, k + 1, dtype=float) if scores is None else np.asarray(scores, float)
    if len(sc) != k:
        raise BaselineError(f"trend test by {name!r}: {len(sc)} scores for {k} levels")
    denom = float(sc @ var @ sc)
    if denom > 0:
        tstat = float((sc @ diff) ** 2 / denom)
        tp = float(chi2.sf(tstat, 1))
    else:
        tstat = tp = float("nan")
    return tstat, tp, tuple(float(x) for x in sc)

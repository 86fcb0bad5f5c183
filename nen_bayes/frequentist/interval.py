"""Interval-censored endpoints, the frequentist side: the Turnbull estimate and Weibull fits.

An event known only to lie between two assessments (the last without it and the first with
it) is interval-censored: it happened in ``(lower, upper]``, half-open, as the cohort contract
and R's ``Surv(lower, upper, type = "interval2")`` define it (``lower == upper`` is an exact
time, ``upper`` inf a right-censoring at ``lower``). With monthly visits one unit's upper
bound is often another's lower bound; ``(a, t]`` and ``(t, b]`` do not overlap, while closed
intervals ``[a, t]`` and ``[t, b]`` (lifelines' ``fit_interval_censoring``) share t, which
moves the estimate by up to 0.1.

* :func:`turnbull_npmle`, the Turnbull (nonparametric maximum likelihood) estimate of the
  survival curve: its Turnbull (innermost) intervals are built with half-open semantics
  (:func:`_turnbull_intervals`) and their masses found by an EM in vectorised NumPy
  accelerated by SQUAREM, stopping when the NPMLE's optimality condition (self-consistency
  and the Kuhn-Tucker condition of Gentleman and Geyer 1994) holds. Each EM step costs
  O(units + Turnbull intervals): an observation contains a run of consecutive Turnbull
  intervals, so no units x intervals matrix is formed (below 30,000 cells the matrix's
  products are faster and are used); 3,000 units take about 60 ms. The NPMLE fixes each
  interval's mass, not where in the interval it lies, so the curve says where S is
  undetermined (:func:`turnbull_undetermined`), and :func:`turnbull_at` gives its bounds there.
  Tests hold it to R's ``survfit`` (interval2) on the breast cosmesis data and to the
  optimality condition on random data.
* Weibull fits, ``WeibullFitter.fit_interval_censoring`` per group and
  ``WeibullAFTFitter.fit_interval_censoring`` with the factor as covariate (lifelines; the
  likelihood S(lower) - S(upper) of a continuous model does not depend on whether the ends
  are open or closed), whose hazard ratio for a level against the reference is
  ``exp(-b * rho)`` (AFT coefficient ``b``, shape ``rho``; the Weibull is both AFT and PH),
  with a delta-method Wald interval on the log scale.

* :func:`finkelstein_test`, Finkelstein's (1986) score test of a factor under proportional
  hazards, the log-rank-type test that respects the intervals (held to R's score test of the
  grouped PH model on right-censored data, and to its size on simulated interval data).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from nen_bayes.effects import effects_frame
from nen_bayes.errors import BaselineError

__all__ = ["FINKELSTEIN_METHOD", "NO_INTERVAL_LOGRANK", "TURNBULL_METHOD", "IntervalResult",
           "IntervalScoreTest", "finkelstein_test", "interval_baselines",
           "turnbull", "turnbull_at", "turnbull_masses", "turnbull_npmle", "turnbull_on_grid",
           "turnbull_undetermined"]

#: The method of the Turnbull rows of the effects table.
TURNBULL_METHOD = "Turnbull NPMLE, events in (lower, upper]"

#: The method of the log-rank-type test that respects the intervals.
FINKELSTEIN_METHOD = ("Finkelstein (1986) score test, grouped PH model, events in (lower, upper], "
                      "observed information")

#: What the baselines say where that test could not be computed.
NO_INTERVAL_LOGRANK = ("No log-rank-type test respecting the intervals could be computed "
                       "here; the log-rank tests shown are on detection times.")


def _checked_bounds(lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """``lower``, ``upper`` as floats, refused (naming the rows, 1-based) where a bound is
    missing, ``lower`` is negative or infinite, or ``upper < lower``."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    if lower.shape != upper.shape or lower.ndim != 1:
        raise BaselineError(f"Turnbull: lower and upper must be two 1-d arrays of one length; "
                            f"got shapes {lower.shape} and {upper.shape}")
    for bad, what in ((np.isnan(lower) | np.isnan(upper), "a missing bound"),
                      (~np.isfinite(lower) | (lower < 0), "a lower bound that is not a finite "
                                                          "time >= 0"),
                      (upper < lower, "upper < lower")):
        if bad.any():
            rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:10])
            raise BaselineError(f"Turnbull: {int(bad.sum())} unit(s) with {what} (rows "
                                f"{rows}{', ...' if bad.sum() > 10 else ''}). Allowed: "
                                "0 <= lower <= upper, upper inf when right-censored")
    return lower, upper


def turnbull(lower, upper, label: str = "turnbull") -> pd.DataFrame:
    """The Turnbull estimate of S(t) for events in ``(lower, upper]`` (:func:`turnbull_npmle`;
    ``label`` is kept for the callers that name their curves)."""
    return turnbull_npmle(lower, upper)


#: The order, at one time t, of the ends of the intervals: an exact event's left end ([t, t]
#: begins just before t), then right ends (``(a, t]`` ends at t), then the left ends of
#: half-open intervals (``(t, b]`` begins just after t).
_EXACT_LEFT, _RIGHT, _LEFT = 0, 1, 2


def _end_ranks(values: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """The rank of each end ``(value, kind)`` in the order of :data:`_EXACT_LEFT` etc. (equal
    ends share a rank)."""
    order = np.lexsort((kinds, values))
    v, k = values[order], kinds[order]
    new = np.ones(len(v), bool)
    new[1:] = (v[1:] != v[:-1]) | (k[1:] != k[:-1])
    ranks = np.empty(len(v), np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ranks


def _turnbull_intervals(lower: np.ndarray, upper: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Turnbull (innermost) intervals of observations ``(lower, upper]`` (``lower ==
    upper``: an event at that time exactly), and which of them each observation contains.

    In the order of the ends (:data:`_EXACT_LEFT`), an innermost interval is a left end
    directly followed by a right end: ``(p, q]`` with p a lower bound and q an upper bound and
    no other end in between in the half-open sense, or the point ``{t}`` of an exact event
    (``left == right``). ``(a, t]`` and ``(t, b]`` do not overlap, so a unit's upper bound
    equal to another's lower bound is no innermost interval.

    Returns ``left``, ``right`` (the intervals, in order) and, for each observation,
    ``first``, ``stop``: it contains the intervals ``first <= j < stop`` (both ends of the
    intervals increase with j, so these are consecutive)."""
    n = len(lower)
    left_kind = np.where(lower == upper, _EXACT_LEFT, _LEFT)
    values = np.concatenate([lower, upper])
    kinds = np.concatenate([left_kind, np.full(n, _RIGHT)])
    ranks = _end_ranks(values, kinds)
    order = np.argsort(ranks, kind="stable")
    is_left = kinds[order] != _RIGHT
    starts = np.flatnonzero(is_left[:-1] & ~is_left[1:])
    l_rank, r_rank = ranks[order][starts], ranks[order][starts + 1]
    left, right = values[order][starts], values[order][starts + 1]
    first = np.searchsorted(l_rank, ranks[:n], side="left")
    stop = np.searchsorted(r_rank, ranks[n:], side="right")
    return left, right, first, stop


#: Below this many observations x intervals, :func:`_npmle_em` multiplies by the 0/1 matrix
#: (about 300 units with scan intervals), above it through the runs of ones.
_DENSE_CELLS = 30_000


def _run_mass(first: np.ndarray, stop: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``inside @ q`` for the 0/1 matrix whose row i is 1 on columns ``first[i] <= j <
    stop[i]``: each row's sum of ``q`` over its run, a difference of cumulative sums."""
    c = np.zeros(len(q) + 1)
    np.cumsum(q, out=c[1:])
    return c[stop] - c[first]


def _run_totals(first: np.ndarray, stop: np.ndarray, m: int, w: np.ndarray) -> np.ndarray:
    """``inside.T @ w`` for the matrix of :func:`_run_mass` with ``m`` columns: for each
    column, the sum of ``w`` over the rows whose run covers it (+w where a run starts, -w
    where it stops, summed cumulatively)."""
    edges = np.bincount(first, weights=w, minlength=m + 1)
    edges -= np.bincount(stop, weights=w, minlength=m + 1)
    return np.cumsum(edges[:m])


def _npmle_em(first: np.ndarray, stop: np.ndarray, m: int, counts: np.ndarray, tol: float,
              max_iter: int) -> np.ndarray:
    """The masses of the ``m`` Turnbull intervals maximising
    sum_i counts_i log(sum_j inside_ij p_j), where observation i contains the Turnbull
    intervals ``first[i] <= j < stop[i]`` (the intervals are ordered and disjoint, so those it
    contains are consecutive; ``inside`` is that 0/1 matrix): self-consistency
    (EM) steps accelerated by SQUAREM (Varadhan and Roland 2008, Scand J Stat 35:335; each
    accelerated step kept only when it raises the likelihood), until the NPMLE's optimality
    condition holds to ``tol``: every interval's self-consistency ratio
    sum_i counts_i inside_ij / (N sum_k inside_ik p_k) is at most 1 + tol (it is 1 where the
    mass is positive; Gentleman and Geyer 1994, Biometrika 81:618).

    The products with ``inside`` (observations x intervals) are taken through its runs of
    ones: an observation's mass is a difference of cumulative sums of ``p``, and an
    interval's sum over the observations that contain it a cumulative sum of +w at each run's
    start and -w past its end, O(observations + intervals) each instead of their product.
    Below :data:`_DENSE_CELLS` cells the matrix itself is used: its two BLAS products are then
    faster than the several NumPy calls of the runs."""
    n = counts.sum()
    if len(first) * m <= _DENSE_CELLS:
        inside = (np.arange(m) >= first[:, None]) & (np.arange(m) < stop[:, None])
        inside = inside.astype(float)

        def mass(q):
            return inside @ q

        def totals(w):
            return inside.T @ w
    else:
        def mass(q):
            return _run_mass(first, stop, q)

        def totals(w):
            return _run_totals(first, stop, m, w)

    def ratio(q):
        return totals(counts / mass(q)) / n

    def em(q, r=None):
        new = q * (ratio(q) if r is None else r)
        return new / new.sum()

    def loglik(q):
        return float(counts @ np.log(mass(q)))

    p = np.full(m, 1.0 / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(max_iter):
            r = ratio(p)
            if r.max() <= 1.0 + tol:
                break
            p1 = em(p, r)  # the ratio of the check is the EM step's
            p2 = em(p1)
            r, v = p1 - p, p2 - 2 * p1 + p
            alpha = -np.sqrt((r @ r) / (v @ v)) if v @ v > 0 else -1.0
            jump = p - 2 * min(alpha, -1.0) * r + min(alpha, -1.0) ** 2 * v
            # a jump that leaves the simplex or zeroes a mass is not taken: EM cannot bring a
            # zero mass back, so it could stop short of the optimum
            if np.all(jump > 0):
                jump = em(jump / jump.sum())
                p = jump if np.isfinite(ll := loglik(jump)) and ll >= loglik(p2) else p2
            else:
                p = p2
        else:
            warnings.warn(f"Turnbull NPMLE: the optimality condition was not met within "
                          f"{max_iter} iterations (largest self-consistency ratio "
                          f"{ratio(p).max():.6f})", RuntimeWarning, stacklevel=3)
    return p


def turnbull_masses(lower, upper, tol: float = 1e-6, max_iter: int = 100_000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Turnbull intervals ``(left, right]`` of observations ``(lower, upper]``
    (:func:`_turnbull_intervals`; ``left == right`` is the point of an exact event) and the
    NPMLE's probability mass on each (:func:`_npmle_em`)."""
    lower, upper = _checked_bounds(lower, upper)
    pairs, counts = np.unique(np.column_stack([lower, upper]), axis=0, return_counts=True)
    left, right, first, stop = _turnbull_intervals(pairs[:, 0], pairs[:, 1])
    return left, right, _npmle_em(first, stop, len(left), counts.astype(float), tol,
                                  max_iter)


def turnbull_npmle(lower, upper, tol: float = 1e-6, max_iter: int = 100_000) -> pd.DataFrame:
    """The Turnbull (nonparametric maximum likelihood) estimate of S(t) from events in
    ``(lower, upper]`` (``upper`` inf: right-censored at ``lower``; ``lower == upper``: an
    exact time), by the EM of :func:`_npmle_em`.

    The NPMLE fixes the mass of each Turnbull interval, not where in it the mass lies: S is
    determined outside the intervals and at their ends, and anywhere between its two end
    values inside ``(left, right)``. The curve says so, one row per time, columns ``time``,
    ``upper``, ``lower`` and ``determined``: S(``time``) is ``lower``; on the open stretch
    from the previous row's time to this one S is ``upper`` where ``determined``, else
    anywhere in ``[lower, upper]`` (the NPMLE is not unique there). After the last row S is
    its ``lower``; a last Turnbull interval ``(p, inf)`` ends in a row at ``time`` inf.
    :func:`turnbull_at` reads the curve at given times."""
    left, right, p = turnbull_masses(lower, upper, tol, max_iter)
    before = np.clip(1.0 - np.concatenate([[0.0], np.cumsum(p)[:-1]]), 0.0, 1.0)
    after = np.clip(before - p, 0.0, 1.0)
    point = left == right
    # an interval (p, q] gives a row at p (S known up to p) and one at q (unknown inside);
    # a point {t} one row at t (S known before it, the jump at t)
    times = np.concatenate([left[~point], right[~point], right[point]])
    up = np.concatenate([before[~point], before[~point], before[point]])
    low = np.concatenate([before[~point], after[~point], after[point]])
    known = np.concatenate([np.ones((~point).sum(), bool), np.zeros((~point).sum(), bool),
                            np.ones(point.sum(), bool)])
    # in time order, and at one time in the order of the intervals (the row of the stretch
    # before that time first)
    rank = np.concatenate([np.flatnonzero(~point) * 2, np.flatnonzero(~point) * 2 + 1,
                           np.flatnonzero(point) * 2])
    order = np.lexsort((rank, times))
    times, up, low, known = times[order], up[order], low[order], known[order]
    if times[0] > 0:  # S = 1 up to the first Turnbull interval
        times, up, low = np.r_[0.0, times], np.r_[1.0, up], np.r_[1.0, low]
        known = np.r_[True, known]
    keep = np.r_[True, times[1:] != times[:-1]]  # a second row at one time adds nothing
    return pd.DataFrame({"time": times[keep], "upper": up[keep], "lower": low[keep],
                         "determined": known[keep]})


def turnbull_at(curve: pd.DataFrame, times) -> tuple[np.ndarray, np.ndarray]:
    """The ``(lower, upper)`` bounds of S at ``times`` from a :func:`turnbull_npmle` curve:
    equal where the NPMLE determines S, the two ends of an interval inside it."""
    t = np.asarray(times, float)
    tc = curve["time"].to_numpy(float)
    lo, up = curve["lower"].to_numpy(float), curve["upper"].to_numpy(float)
    known = curve["determined"].to_numpy(bool)
    k = np.searchsorted(tc, t, side="left")
    beyond = k >= len(tc)
    k = np.minimum(k, len(tc) - 1)
    at = (tc[k] == t) | beyond  # at a row's time, or after the last: its lower value
    return np.where(at | known[k], np.where(at, lo[k], up[k]), lo[k]), \
        np.where(at, lo[k], up[k])


def turnbull_on_grid(curve: pd.DataFrame, grid) -> np.ndarray:
    """The Turnbull curve as a step function on ``grid``: S where it is determined, the
    mid-point of its bounds inside a Turnbull interval (for comparing curves on one grid, as
    the predictive check does; :func:`turnbull_at` gives the bounds)."""
    lo, up = turnbull_at(curve, grid)
    return (lo + up) / 2


def turnbull_undetermined(curve: pd.DataFrame) -> pd.DataFrame:
    """The stretches where the NPMLE does not determine S: columns ``start``, ``end`` (the
    Turnbull interval ``(start, end)``), ``upper`` (S at ``start``) and ``lower`` (S at
    ``end``), for intervals that carry mass (more than 1e-6, the EM's tolerance)."""
    tc = curve["time"].to_numpy(float)
    k = np.flatnonzero(~curve["determined"].to_numpy(bool) &
                       (curve["upper"].to_numpy() - curve["lower"].to_numpy() > 1e-6))
    return pd.DataFrame({"start": tc[k - 1], "end": tc[k],
                         "upper": curve["upper"].to_numpy()[k],
                         "lower": curve["lower"].to_numpy()[k]})


@dataclass(frozen=True)
class IntervalScoreTest:
    """Finkelstein's (1986) score test of equal survival across the levels of a factor, for
    events in ``(lower, upper]`` (:func:`finkelstein_test`)."""

    statistic: float
    df: int
    p_value: float
    levels: tuple[str, ...]
    n: int
    score: tuple[float, ...] = ()  # U, one entry per level after the first
    method: str = FINKELSTEIN_METHOD


def _grouped_ph_gradient(par: np.ndarray, X: np.ndarray, a: np.ndarray, b: np.ndarray,
                         m: int) -> np.ndarray:
    """The gradient of the grouped proportional hazards log-likelihood sum_i log(exp(-L_a
    e_i) - exp(-L_b e_i)), e_i = exp(x_i beta), in ``par = (beta, theta)``: the baseline
    cumulative hazard at the end of the q-th support interval is L_q = sum_{r <= q}
    exp(theta_r) (q = 1..m-1; L_0 = 0, L_m = inf, the last interval holding the rest), unit
    i's interval running from the end of support interval ``a_i`` to that of ``b_i``."""
    k = X.shape[1]
    beta, theta = par[:k], par[k:]
    cum = np.r_[0.0, np.cumsum(np.exp(theta))]
    e = np.exp(X @ beta)
    last = b == m  # S = 0 at the end: no second term
    la, lb = cum[a], cum[np.minimum(b, m - 1)]
    sa = np.exp(-la * e)
    sb = np.where(last, 0.0, np.exp(-lb * e))
    d = sa - sb
    g_beta = X.T @ ((sb * np.where(last, 0.0, lb) - sa * la) * e / d)
    w = np.bincount(a, weights=-e * sa / d, minlength=m + 1)
    w += np.bincount(b, weights=np.where(last, 0.0, e * sb / d), minlength=m + 1)
    from_q = np.cumsum(w[::-1])[::-1]  # sum over the ends at or after q
    return np.r_[g_beta, np.exp(theta) * from_q[1:m]]


def finkelstein_test(lower, upper, groups, levels=None) -> IntervalScoreTest:
    """Finkelstein's (1986, Biometrics 42:845) score test that a factor has no effect under
    proportional hazards, for events in ``(lower, upper]``: the score test of beta = 0 in
    the grouped proportional hazards model S(t | x) = S_0(t)^exp(x beta), S_0 a step function
    on the Turnbull intervals, at the NPMLE of S_0 under the null (:func:`_npmle_em`, the
    pooled Turnbull estimate; intervals without mass are left out), with the observed
    information (its nuisance block from central differences of the analytic gradient,
    :func:`_grouped_ph_gradient`): U' V^-1 U on k - 1 df for k levels. For right-censored
    data it is the score test of the discrete-time (complementary log-log) PH model, a
    log-rank test for grouped times.

    Raises
    ------
    BaselineError
        Fewer than two levels, or an information matrix that cannot be inverted.
    """
    lower, upper = _checked_bounds(lower, upper)
    groups = np.asarray(groups).astype(str)
    levels = tuple(str(lv) for lv in (levels or sorted(set(groups))))
    if len(levels) < 2:
        raise BaselineError(f"Finkelstein test: the factor has the level(s) {list(levels)}; "
                            "a comparison needs two")
    X = np.column_stack([(groups == lv).astype(float) for lv in levels[1:]])
    left, _, first, stop = _turnbull_intervals(lower, upper)
    p = _npmle_em(first, stop, len(left), np.ones(len(lower)), 1e-9, 1_000_000)
    keep = p > 1e-6
    ends = np.r_[0, np.cumsum(keep)]  # support intervals with mass before each interval
    m, k = int(keep.sum()), X.shape[1]
    if m < 2:
        raise BaselineError("Finkelstein test: the pooled Turnbull estimate has mass on a "
                            "single interval; there is nothing to compare")
    q = p[keep] / p[keep].sum()
    theta = np.log(np.diff(np.r_[0.0, -np.log(1.0 - np.cumsum(q)[:-1])]))
    par = np.r_[np.zeros(k), theta]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        score = _grouped_ph_gradient(par, X, ends[first], ends[stop], m)[:k]
        h = 1e-5
        steps = [(_grouped_ph_gradient(par + d, X, ends[first], ends[stop], m)
                  - _grouped_ph_gradient(par - d, X, ends[first], ends[stop], m)) / (2 * h)
                 for d in np.eye(len(par)) * h]
    info = -np.array(steps)
    info = (info + info.T) / 2
    try:
        v = info[:k, :k] - info[:k, k:] @ np.linalg.solve(info[k:, k:], info[k:, :k])
        stat = float(score @ np.linalg.solve(v, score))
    except np.linalg.LinAlgError:
        raise BaselineError("Finkelstein test: the information matrix is singular") from None
    if not np.isfinite(stat):
        raise BaselineError("Finkelstein test: the information matrix is not finite")
    return IntervalScoreTest(stat, k, float(chi2.sf(stat, k)), levels, len(lower),
                             tuple(float(u) for u in score))


@dataclass(frozen=True)
class IntervalResult:
    """Turnbull curves and interval-censored Weibull fits of one endpoint, overall and by the
    levels of one factor, with the hazard ratios of its levels against the reference; the
    Turnbull survival is reported at ``horizons``."""

    endpoint: str
    term: str
    curves: dict[str, pd.DataFrame]
    weibull: dict[str, tuple[float, float]]  # label -> (shape, scale)
    hazard_ratios: pd.DataFrame  # group, estimate, lower, upper, p_value
    n: int
    events: int
    interval_censored: int
    conf_level: float
    data_hash: str = ""
    synthetic: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    horizons: tuple[float, ...] = ()
    score_test: IntervalScoreTest | None = None

    def _label(self, label: str) -> tuple[str, str]:
        return ("all", "all") if label == "all" else (self.term, label)

    def survival_rows(self, base: dict) -> list[dict]:
        """The Turnbull survival at each horizon, per curve: the estimate where the NPMLE
        determines it; inside a Turnbull interval no estimate, ``lower``/``upper`` the bounds
        of the NPMLE's set (not a confidence interval), as the method says."""
        rows = []
        for label, curve in self.curves.items():
            term, group = self._label(label)
            low, high = turnbull_at(curve, self.horizons)
            for h, lo, hi in zip(self.horizons, low, high, strict=True):
                fixed = bool(np.isclose(lo, hi, rtol=0.0, atol=1e-6))
                rows.append({**base, "quantity": "survival", "term": term, "group": group,
                             "horizon": h, "estimate": (lo + hi) / 2 if fixed else np.nan,
                             "lower": np.nan if fixed else lo,
                             "upper": np.nan if fixed else hi, "interval": None,
                             "method": TURNBULL_METHOD + ("" if fixed else (
                                 "; not unique at this horizon (inside a Turnbull interval): "
                                 "lower and upper bound the NPMLE's values, not a CI"))})
        return rows

    @property
    def effects(self) -> pd.DataFrame:
        """The hazard ratios, Weibull medians and Turnbull survival at the horizons as rows of
        the effects table."""
        base = {"endpoint": self.endpoint, "interval": "CI", "conf_level": self.conf_level,
                "n": self.n, "events": self.events, "data_hash": self.data_hash,
                "synthetic": self.synthetic}
        rows = [{**base, "quantity": "interval_hazard_ratio", "term": self.term, "group": r.group,
                 "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                 "p_value": r.p_value,
                 "method": "interval-censored Weibull AFT (lifelines), HR = exp(-b*rho)"}
                for r in self.hazard_ratios.itertuples()]
        for label, (shape, scale) in self.weibull.items():
            term, group = self._label(label)
            rows.append({**base, "quantity": "interval_median_survival", "term": term,
                         "group": group, "estimate": scale * np.log(2.0) ** (1.0 / shape),
                         "method": "interval-censored Weibull (lifelines)"})
        rows += self.survival_rows({**base, "interval": None})
        if self.score_test is not None:
            t = self.score_test
            rows.append({**base, "interval": None, "quantity": "logrank", "term": self.term,
                         "group": " / ".join(t.levels), "statistic": t.statistic, "df": t.df,
                         "p_value": t.p_value, "method": t.method})
        return effects_frame(rows)

    def to_text(self) -> str:
        pct = f"{100 * self.conf_level:g}%"
        lines = [f"Interval-censored {self.endpoint}: {self.n} units, {self.events} events, "
                 f"{self.interval_censored} of them known only within an interval "
                 "(Turnbull NPMLE of (lower, upper]; lifelines' Weibull fits by interval "
                 "likelihood)"]
        for label, (shape, scale) in self.weibull.items():
            name = "all units" if label == "all" else f"{self.term} = {label}"
            med = scale * np.log(2.0) ** (1.0 / shape)
            lines.append(f"  Weibull {name}: shape {shape:.3g}, scale {scale:.3g}, "
                         f"median {med:.3g}")
        for r in self.hazard_ratios.itertuples():
            lines.append(f"  HR {self.term} {r.group} (interval-censored Weibull, respects the "
                         f"intervals): {r.estimate:.3g} ({pct} CI {r.lower:.3g}-{r.upper:.3g}), "
                         f"Wald p = {r.p_value:.3g}")
        for r in self.survival_rows({}):
            name = "all units" if r["group"] == "all" else f"{self.term} = {r['group']}"
            value = (f"{r['estimate']:.3f}" if np.isfinite(r["estimate"]) else
                     f"not unique, {r['lower']:.3f}-{r['upper']:.3f}")
            lines.append(f"  Turnbull S({r['horizon']:g}) {name}: {value}")
        if self.score_test is not None:
            t = self.score_test
            lines.append(f"  Finkelstein score test of {self.term} (respects the intervals): "
                         f"chi2 = {t.statistic:.2f} on {t.df} df, p = {t.p_value:.3g}")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def _weibull(lower, upper) -> tuple[float, float]:
    from lifelines import WeibullFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wf = WeibullFitter().fit_interval_censoring(lower, upper)
    return float(wf.rho_), float(wf.lambda_)


def _aft_hazard_ratios(lower, upper, groups, levels, reference, conf_level) -> pd.DataFrame:
    """Hazard ratios of ``levels`` against ``reference`` from one Weibull AFT fit."""
    from lifelines import WeibullAFTFitter

    others = [lv for lv in levels if lv != reference]
    df = pd.DataFrame({"lo": lower, "up": upper})
    for j, lv in enumerate(others):
        df[f"x{j}"] = (groups == lv).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aft = WeibullAFTFitter().fit_interval_censoring(df, "lo", "up")
    params, cov = aft.params_, aft.variance_matrix_
    rho_key = ("rho_", "Intercept")
    log_rho = float(params[rho_key])  # lifelines: rho_ = exp(this)
    z = norm.ppf(0.5 + conf_level / 2)
    rows = []
    for j, lv in enumerate(others):
        key = ("lambda_", f"x{j}")
        b = float(params[key])
        log_hr = -b * np.exp(log_rho)
        grad = np.array([-np.exp(log_rho), log_hr])  # d/d(b), d/d(log rho)
        sub = cov.loc[[key, rho_key], [key, rho_key]].to_numpy()
        se = float(np.sqrt(grad @ sub @ grad))
        rows.append({"group": f"{lv} vs {reference}", "estimate": float(np.exp(log_hr)),
                     "lower": float(np.exp(log_hr - z * se)),
                     "upper": float(np.exp(log_hr + z * se)), "log_hr": log_hr, "se": se,
                     "p_value": float(2 * norm.sf(abs(log_hr) / se))})
    return pd.DataFrame(rows, columns=["group", "estimate", "lower", "upper", "log_hr", "se",
                                       "p_value"])


def interval_baselines(lower, upper, *, endpoint: str, groups=None, term: str = "",
                       levels: tuple[str, ...] = (), reference: str | None = None,
                       conf_level: float = 0.95, data_hash: str = "",
                       synthetic: bool = False, horizons=()) -> IntervalResult:
    """Turnbull curves and interval-censored Weibull fits of an endpoint (``lower``,
    ``upper``: the event in ``(lower, upper]``, ``upper`` inf when right-censored, ``lower ==
    upper`` an exact time), overall and, with ``groups`` (one level per unit), per level of
    ``term`` with its hazard ratios against ``reference`` (default: the first level); the
    Turnbull survival at ``horizons`` enters the effects table."""
    lower, upper = _checked_bounds(lower, upper)
    events = np.isfinite(upper)
    if not events.any():
        raise BaselineError(f"{endpoint}: no events; nothing to estimate")
    curves = {"all": turnbull(lower, upper, "all")}
    weibull = {"all": _weibull(lower, upper)}
    score = None
    hrs = pd.DataFrame(columns=["group", "estimate", "lower", "upper", "log_hr", "se",
                                "p_value"])
    notes: list[str] = []
    if groups is not None:
        groups = np.asarray(groups).astype(str)
        levels = tuple(levels) or tuple(sorted(set(groups)))
        reference = reference or levels[0]
        for lv in levels:
            m = groups == lv
            if not (events & m).any():
                notes.append(f"{term} = {lv}: no events; no Weibull fit or curve")
                continue
            curves[lv] = turnbull(lower[m], upper[m], lv)
            weibull[lv] = _weibull(lower[m], upper[m])
        if len(levels) > 1:
            hrs = _aft_hazard_ratios(lower, upper, groups, levels, reference, conf_level)
            score = _score_test(lower, upper, groups, levels, term, notes)
    return IntervalResult(endpoint, term, curves, weibull, hrs, len(lower),
                          int(events.sum()), int((events & (upper > lower)).sum()),
                          conf_level, data_hash, synthetic, tuple(notes),
                          tuple(float(h) for h in horizons), score)


def _score_test(lower, upper, groups, levels, term, notes: list[str]
                ) -> IntervalScoreTest | None:
    """:func:`finkelstein_test` over the levels present, or None with a note saying why."""
    present = tuple(lv for lv in levels if (groups == lv).any())
    try:
        return finkelstein_test(lower, upper, groups, present)
    except BaselineError as exc:
        notes.append(f"{term}: {exc}; {NO_INTERVAL_LOGRANK}")
        return None

"""The Turnbull NPMLE's EM takes its products with the observations x intervals 0/1 matrix
through the runs of consecutive intervals each observation contains: held here to the matrix
itself, built element by element with half-open intervals (lower, upper], and to the NPMLE's
EM with products by that matrix (the same iterations, with the straightforward products)."""

from __future__ import annotations

import warnings

import numpy as np

from nen_bayes.frequentist import interval
from nen_bayes.frequentist.interval import (
    _run_mass,
    _run_totals,
    _turnbull_intervals,
    turnbull_masses,
)


def _scan_data(rng, n: int, gap_low: float = 0.5, gap_high: float = 12.0):
    """Weibull times seen at scans of irregular gaps, right-censored, some exact and tied."""
    t = rng.weibull(rng.uniform(0.7, 1.8), n) * 30
    c = rng.uniform(2, 100, n)
    w = rng.uniform(gap_low, gap_high, n)
    phase = rng.uniform(0, 1, n) * w
    lo = np.round(np.maximum(np.floor((np.minimum(t, c) - phase) / w) * w + phase, 0), 1)
    up = np.round(np.where(t < c, lo + w, np.inf), 1)
    exact = (rng.uniform(size=n) < 0.15) & (t < c)
    return np.where(exact, np.round(t, 1), lo), np.where(exact, np.round(t, 1), up)


def _holds(a, b, lj, rj) -> bool:
    """Whether the observation (a, b] (a == b: the exact time a) holds the Turnbull interval
    (lj, rj] (lj == rj: the point lj), with half-open intervals: (a, b] holds (lj, rj] when
    a <= lj and rj <= b, and the point t when a < t <= b; an exact time holds its point."""
    if a == b:
        return lj == rj == a
    return (a < lj if lj == rj else a <= lj) and rj <= b


def _dense(lo, up):
    """The 0/1 matrix, built element by element (:func:`_holds`): observation (distinct
    pair) i holds Turnbull interval j, and the pairs' counts."""
    pairs, counts = np.unique(np.column_stack([lo, up]), axis=0, return_counts=True)
    left, right, _, _ = _turnbull_intervals(pairs[:, 0], pairs[:, 1])
    inside = np.array([[float(_holds(a, b, lj, rj)) for lj, rj in zip(left, right, strict=True)]
                       for a, b in pairs])
    return pairs, counts.astype(float), left, right, inside


def test_run_products_equal_the_matrix_products():
    """inside @ q and inside.T @ w through the runs equal the products with the matrix built
    element by element, on 30 data sets of 20 to 400 units."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        lo, up = _scan_data(rng, int(rng.integers(20, 400)))
        pairs, counts, left, _, inside = _dense(lo, up)
        _, _, first, stop = _turnbull_intervals(pairs[:, 0], pairs[:, 1])
        # every observation holds one run of intervals, never none, and the runs are the
        # matrix's rows
        assert np.all(stop > first)
        runs = (np.arange(len(left)) >= first[:, None]) & (np.arange(len(left)) < stop[:, None])
        np.testing.assert_array_equal(runs, inside.astype(bool))
        q = rng.dirichlet(np.ones(len(left)))
        np.testing.assert_allclose(_run_mass(first, stop, q), inside @ q, rtol=1e-12,
                                   atol=1e-15)
        w = rng.exponential(1.0, len(pairs)) * counts
        np.testing.assert_allclose(_run_totals(first, stop, len(left), w), inside.T @ w,
                                   rtol=1e-12, atol=1e-12)


def test_npmle_equals_the_dense_em(monkeypatch):
    """The NPMLE through the runs against its EM with dense products on 8 data sets (up to
    600 units). Both stop once the optimality condition holds to tol = 1e-6, on paths that
    differ by rounding, so they stop at nearby points, not the same one. By concavity,
    loglik(optimum) - loglik(p) <= N (max ratio - 1) <= N tol for each (the gradient of the
    log-likelihood in direction q - p is N (sum_j q_j ratio_j - 1)): the two log-likelihoods
    differ by at most N tol. Their curves (cumulative masses) agree to 1e-4, 1% of the
    sampling SD of a Turnbull curve of 3,000 units (about 0.01), which the predictive check's
    band shows. The runs are used at every size here (the NPMLE uses the matrix itself below
    ``_DENSE_CELLS`` observations x intervals, where that is faster)."""
    rng = np.random.default_rng(8)
    tol = 1e-6
    for n in (50, 120, 300, 600, 80, 200, 400, 600):
        lo, up = _scan_data(rng, n)
        _, counts, left, right, inside = _dense(lo, up)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # neither may run out of iterations
            monkeypatch.setattr(interval, "_DENSE_CELLS", np.inf)  # products by the matrix
            _, _, ref = turnbull_masses(lo, up, tol)
            monkeypatch.setattr(interval, "_DENSE_CELLS", 0)  # products through the runs
            left2, right2, p = turnbull_masses(lo, up, tol)
        np.testing.assert_array_equal(left2, left)
        np.testing.assert_array_equal(right2, right)
        ratio = inside.T @ (counts / (inside @ p)) / n
        assert ratio.max() <= 1 + 10 * tol  # its own check, recomputed with the matrix
        gap = counts @ np.log(inside @ p) - counts @ np.log(inside @ ref)
        assert abs(gap) <= n * tol, (n, gap)
        np.testing.assert_allclose(np.cumsum(p), np.cumsum(ref), atol=1e-4)

"""Survival families in proportional-hazards form: log-likelihood (PyTensor), survival, quantiles
and random draws (NumPy), all from one set of formulas.

Notation: ``t`` time, ``d`` event indicator (1 = event, 0 = right-censored), ``eta`` the linear
predictor (covariates times log-HRs plus random effects). The hazard of a unit is the baseline
hazard times ``exp(eta)``, so ``exp(coefficient)`` is a hazard ratio in every family.

Weibull (``shape`` alpha > 0, ``scale`` sigma > 0 in time units)
    h(t) = (alpha / sigma) (t / sigma)^(alpha - 1) exp(eta),
    S(t) = exp(-(t / sigma)^alpha exp(eta)).
    sigma is the time by which a reference unit (every covariate at its reference level or centre,
    a typical group: random effects 0) has survival exp(-1) = 0.368; its median is
    sigma (ln 2)^(1/alpha). alpha < 1: hazard falls with time; alpha = 1: constant; alpha > 1:
    rises. The same law as an accelerated-failure-time model with log-time coefficients
    -beta / alpha (so HR = exp(-alpha * AFT coefficient), the exact transformation).
Exponential
    The Weibull with alpha = 1: h(t) = exp(eta) / sigma, S(t) = exp(-t exp(eta) / sigma); sigma
    is the mean survival time of a reference unit.
Piecewise-constant (``log_hazard`` lambda_1..lambda_K on intervals [c_0=0, c_1), ..., [c_{K-1},
inf))
    h(t) = exp(lambda_k + eta) for t in interval k; S(t) = exp(-exp(eta) sum_k exp(lambda_k)
    E_k(t)) with E_k(t) the time spent in interval k before t.

The log-likelihood of one unit is ``d log h(t) + log S(t)`` (an event contributes the density,
a censored unit its survival), so every unit, censored or not, has its own pointwise term.
With late entry (left truncation: the unit is observed only from time ``e`` on, ``0 <= e < t``)
the term is conditional on having survived to ``e``: ``d log h(t) + log S(t) - log S(e)``, i.e.
the cumulative hazard accrued before entry, ``H0(e) exp(eta)``, is added back.

A covariate whose effect changes with time (a model file's ``[time_varying]``: a line HR by
time interval, or a Weibull shape per line) has its closed forms at the end of this module
(``tv_*``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "exposure_matrix",
    "exposure_tensor",
    "interval_censored_logp",
    "interval_index",
    "interval_loglik_numpy",
    "log_random_times",
    "loglik_draws",
    "loglik_numpy",
    "median_baseline",
    "random_times",
    "survival",
    "tv_cumulative_hazard",
    "tv_interval_loglik_draws",
    "tv_log_random_times",
    "tv_loglik_draws",
    "tv_offsets",
]

LN2 = float(np.log(2.0))


# --------------------------------------------------------------------------------------------
# PyTensor log-likelihoods (used by the model graph)
# --------------------------------------------------------------------------------------------
def weibull_logp(value, shape, scale, eta, event, entry=None):
    import pytensor.tensor as pt

    log_scale = pt.log(scale)
    lt = pt.log(value) - log_scale
    out = (event * (pt.log(shape) - log_scale + (shape - 1.0) * lt + eta)
           - pt.exp(shape * lt + eta))
    if entry is not None:  # - log S(entry) = H(entry); 0 at entry 0 (kept free of log 0)
        if isinstance(entry, pt.TensorVariable):  # entry times held as data (refits)
            late = pt.gt(entry, 0.0)
            le = pt.log(pt.switch(late, entry, 1.0))
        else:
            entry = np.asarray(entry, float)
            late = entry > 0
            le = np.log(np.where(late, entry, 1.0))
        out = out + late * pt.exp(shape * (le - log_scale) + eta)
    return out


def exponential_logp(value, scale, eta, event, entry=None):
    import pytensor.tensor as pt

    out = event * (eta - pt.log(scale)) - value * pt.exp(eta) / scale
    if entry is not None:
        out = out + entry * pt.exp(eta) / scale
    return out


def piecewise_logp(value, log_hazard, eta, event, exposure, index, entry_exposure=None):
    import pytensor.tensor as pt

    expo = exposure if entry_exposure is None else exposure - entry_exposure
    return event * (log_hazard[index] + eta) - pt.exp(eta) * pt.dot(expo, pt.exp(log_hazard))


def interval_censored_logp(family: str, params: tuple, eta, lower, upper, cuts=None):
    """log(S(lower) - S(upper)) per unit (PyTensor): the event happened in (lower, upper].

    ``lower`` >= 0 and ``upper`` > ``lower`` are NumPy arrays (constants of the model) or
    tensors (bounds held as data, for refits; finite, ``upper`` > 0); computed stably as
    ``-H(lower) + log(-expm1(-(H(upper) - H(lower))))``, with H the unit's cumulative hazard, so
    that narrow intervals lose no precision. ``lower`` 0 never reaches a logarithm.
    """
    import pytensor.tensor as pt

    if isinstance(lower, pt.Variable) or isinstance(upper, pt.Variable):
        lower, upper = pt.as_tensor(lower), pt.as_tensor(upper)
        exposure, where, log = exposure_tensor, pt.switch, pt.log
    else:
        lower, upper = np.asarray(lower, float), np.asarray(upper, float)
        exposure, where, log = exposure_matrix, np.where, np.log
    if family == "piecewise":
        (log_hazard,) = params
        lam = pt.exp(log_hazard)
        h_lo = pt.dot(exposure(lower, cuts), lam) * pt.exp(eta)
        h_up = pt.dot(exposure(upper, cuts), lam) * pt.exp(eta)
    else:
        shape, scale = params if family == "weibull" else (1.0, params[0])
        pos = lower > 0
        h_lo = pos * pt.exp(shape * (log(where(pos, lower, 1.0)) - pt.log(scale)) + eta)
        h_up = pt.exp(shape * (log(upper) - pt.log(scale)) + eta)
    return -h_lo + pt.log(-pt.expm1(-(h_up - h_lo)))


# --------------------------------------------------------------------------------------------
# Piecewise helpers
# --------------------------------------------------------------------------------------------
def interval_index(t: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Interval of each time: 0 for [0, c_1), ..., K-1 for [c_{K-1}, inf)."""
    return np.searchsorted(np.asarray(cuts, float), np.asarray(t, float), side="right")


def exposure_tensor(t, cuts: np.ndarray):
    """:func:`exposure_matrix` of times held as data (a PyTensor vector): shape (n, K)."""
    import pytensor.tensor as pt

    edges = np.concatenate([[0.0], np.asarray(cuts, float), [np.inf]])
    return pt.maximum(pt.minimum(t[:, None], edges[1:]) - edges[:-1], 0.0)


def exposure_matrix(t: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Time spent in each interval before ``t``: shape (n, K) with K = len(cuts) + 1."""
    edges = np.concatenate([[0.0], np.asarray(cuts, float), [np.inf]])
    t = np.asarray(t, float)[:, None]
    return np.clip(np.minimum(t, edges[1:]) - edges[:-1], 0.0, None)


# --------------------------------------------------------------------------------------------
# NumPy counterparts (summaries, predictive draws, tests)
# --------------------------------------------------------------------------------------------
def cumulative_hazard0(family: str, t, params: dict, cuts=None):
    """Baseline cumulative hazard H0(t); broadcasting over leading draw dims of the params."""
    t = np.asarray(t, float)
    if family == "weibull":
        return (t / params["scale"]) ** params["shape"]
    if family == "exponential":
        return t / params["scale"]
    if family == "piecewise":
        lam = np.exp(np.asarray(params["log_hazard"], float))  # (..., K)
        expo = exposure_matrix(t.ravel(), cuts)  # (m, K)
        out = np.tensordot(lam, expo, axes=([-1], [1]))  # (..., m)
        return out.reshape(lam.shape[:-1] + t.shape)
    raise ValueError(f"unknown family {family!r}")


def survival(family: str, t, params: dict, eta=0.0, cuts=None):
    """S(t | eta) = exp(-H0(t) exp(eta))."""
    return np.exp(-cumulative_hazard0(family, t, params, cuts) * np.exp(eta))


def loglik_numpy(family: str, t, d, eta, params: dict, cuts=None, entry=None):
    """Pointwise log-likelihood d log h(t) + log S(t) (- log S(entry) with late entry), written
    out independently of PyTensor."""
    t = np.asarray(t, float)
    d = np.asarray(d, float)
    if family == "weibull":
        a, s = params["shape"], params["scale"]
        log_h = np.log(a / s) + (a - 1) * np.log(t / s) + eta
    elif family == "exponential":
        log_h = eta - np.log(params["scale"])
    elif family == "piecewise":
        log_h = np.asarray(params["log_hazard"], float)[interval_index(t, cuts)] + eta
    else:
        raise ValueError(f"unknown family {family!r}")
    out = d * log_h - cumulative_hazard0(family, t, params, cuts) * np.exp(eta)
    if entry is not None:
        out = out + cumulative_hazard0(family, np.asarray(entry, float), params,
                                       cuts) * np.exp(eta)
    return out


def interval_loglik_numpy(family: str, lower, upper, eta, params: dict, cuts=None):
    """log(S(lower) - S(upper)) per unit, written out independently of PyTensor."""
    w = np.exp(eta)
    return np.log(np.exp(-cumulative_hazard0(family, lower, params, cuts) * w)
                  - np.exp(-cumulative_hazard0(family, upper, params, cuts) * w))


def loglik_draws(family: str, t, d, eta, params: dict, cuts=None, entry=None):
    """Pointwise log-likelihood of many draws at once: ``eta`` (S, n), ``params`` values (S,)
    (``log_hazard``: (S, K)), ``t`` and ``d`` (n,); returns (S, n). The formulas of
    :func:`loglik_numpy` (``+ H0(entry) exp(eta)`` with late entry), with the draws of the
    baseline parameters along the first axis."""
    t = np.asarray(t, float)
    d = np.asarray(d, float)
    if family == "piecewise":
        log_h = np.asarray(params["log_hazard"], float)  # (S, K)
        h0 = cumulative_hazard0(family, t, {"log_hazard": log_h}, cuts)  # (S, n)
        if entry is not None:
            h0 = h0 - cumulative_hazard0(family, np.asarray(entry, float),
                                         {"log_hazard": log_h}, cuts)
        return d * (log_h[:, interval_index(t, cuts)] + eta) - h0 * np.exp(eta)
    p = {k: np.asarray(v, float)[:, None] for k, v in params.items()}
    if family != "weibull" or entry is not None:
        return loglik_numpy(family, t, d, eta, p, cuts, entry)
    # the Weibull formulas of loglik_numpy on the log scale, in place: log(t / scale) once,
    # H0 exp(eta) = exp(shape log(t / scale) + eta), no power and one log per unit
    a, log_s = p["shape"], np.log(p["scale"])
    z = np.log(t) - log_s  # (S, n)
    h = z * a
    h += eta
    np.exp(h, out=h)  # H(t) = H0(t) exp(eta)
    z *= a - 1.0
    z += eta
    z += np.log(a) - log_s  # log h(t)
    z *= d
    z -= h
    return z


def _inverse_h0(family: str, target, params: dict, cuts=None):
    """t with H0(t) = target (target > 0), elementwise; params broadcast against target."""
    if family == "weibull":
        return params["scale"] * target ** (1.0 / params["shape"])
    if family == "exponential":
        return params["scale"] * target
    if family == "piecewise":
        log_h = np.asarray(params["log_hazard"], float)
        lam = np.exp(log_h.reshape(-1, log_h.shape[-1]))  # (S, K)
        target = np.asarray(target, float)
        tgt = target.reshape(lam.shape[0], -1)  # (S, m)
        edges = np.concatenate([[0.0], np.asarray(cuts, float)])  # (K,) interval starts
        widths = np.diff(edges)
        h_start = np.concatenate([np.zeros((lam.shape[0], 1)),
                                  np.cumsum(lam[:, :-1] * widths, axis=1)], axis=1)  # (S, K)
        out = np.empty_like(tgt)
        for s in range(lam.shape[0]):
            k = np.searchsorted(h_start[s], tgt[s], side="right") - 1
            out[s] = edges[k] + (tgt[s] - h_start[s, k]) / lam[s, k]
        return out.reshape(target.shape)
    raise ValueError(f"unknown family {family!r}")


def median_baseline(family: str, params: dict, cuts=None):
    """Median survival time of a reference unit in a typical group (eta = 0)."""
    if family == "weibull":
        return params["scale"] * LN2 ** (1.0 / params["shape"])
    if family == "exponential":
        return params["scale"] * LN2
    log_h = np.asarray(params["log_hazard"], float)
    return _inverse_h0(family, np.full(log_h.shape[:-1], LN2), params, cuts)


def random_times(family: str, params: dict, eta, rng: np.random.Generator, cuts=None,
                 entry=None):
    """Uncensored event times drawn by inversion: T = H0^{-1}(E exp(-eta)), E ~ Exp(1).

    ``params`` values have shape ``(S,)`` (``log_hazard``: ``(S, K)``) and ``eta`` ``(S, n)``.
    ``entry`` (``(n,)``, late entry): times drawn given survival to entry,
    T = H0^{-1}(H0(entry) + E exp(-eta)).
    """
    eta = np.asarray(eta, float)
    e = rng.standard_exponential(eta.shape)
    target = e * np.exp(-eta)
    p = {k: (np.asarray(v, float)[:, None] if k != "log_hazard" else np.asarray(v, float))
         for k, v in params.items()}
    if entry is not None:
        target = target + cumulative_hazard0(family, np.asarray(entry, float), p, cuts)
    return _inverse_h0(family, target, p, cuts)


def log_random_times(family: str, params: dict, eta, rng: np.random.Generator, cuts=None,
                     entry=None):
    """The logarithm of :func:`random_times`' draws (same random numbers), computed on the log
    scale so that a prior allowing enormous times gives a large finite log time, not an
    overflow: log T = log scale + (log E - eta) / shape for the Weibull (shape 1: exponential);
    with late entry, log E - eta becomes log(E exp(-eta) + H0(entry)) (a log-sum-exp).
    Piecewise times are finite whenever every hazard is positive; their log is taken after."""
    eta = np.asarray(eta, float)
    e = rng.standard_exponential(eta.shape)
    p = {k: (np.asarray(v, float)[:, None] if k != "log_hazard" else np.asarray(v, float))
         for k, v in params.items()}
    if family in ("weibull", "exponential"):
        shape = p.get("shape", 1.0) if family == "weibull" else 1.0
        log_target = np.log(e) - eta
        if entry is not None:
            with np.errstate(divide="ignore"):  # entry 0: H0 = 0, log -inf adds nothing
                log_h0 = shape * (np.log(np.asarray(entry, float)) - np.log(p["scale"]))
            log_target = np.logaddexp(log_target, log_h0)
        return np.log(p["scale"]) + log_target / shape
    target = e * np.exp(-eta)
    if entry is not None:
        target = target + cumulative_hazard0(family, np.asarray(entry, float), p, cuts)
    with np.errstate(over="ignore", divide="ignore"):
        return np.log(_inverse_h0(family, target, p, cuts))


# --------------------------------------------------------------------------------------------
# A covariate whose effect changes with time ([time_varying] of a model file)
# --------------------------------------------------------------------------------------------
# ``tv`` describes it: {"effect": "hazard_ratio", "cuts": (K-1,), "x": (n, C)} or
# {"effect": "shape", "x": (n, C)}, with ``x`` the covariate's design columns (treatment
# indicators). The draws of its parameters are among the baseline ``params``:
#
# hazard_ratio (Weibull or exponential baseline H0, cuts c_1 < ... < c_{K-1}, c_0 = 0,
# c_K = inf): the log-HR of column j is beta_j in [0, c_1) and beta_j + hr_change[j, k-1] in
# [c_{k-1}, c_k) for k >= 1, so that with off_k = x'hr_change[:, k-1] (off_0 = 0)
#     h(t | x) = h0(t) exp(eta + off_{k(t)}),
#     H(t | x) = exp(eta) sum_k exp(off_k) [H0(min(t, c_{k+1})) - H0(min(t, c_k))]
# (the cumulative hazard integrates the piecewise HR exactly).
# shape (Weibull): the unit's shape is shape exp(off), off = x'shape_change, so
#     h(t | x) = (a / sigma) (t / sigma)^(a - 1) exp(eta),  H(t | x) = (t / sigma)^a exp(eta).


def tv_offsets(tv: dict, params: dict) -> np.ndarray:
    """Per draw and unit: the log-HR changes off_k, (S, n, K) with off_0 = 0 (hazard_ratio),
    or the log shape change, (S, n) (shape)."""
    x = np.asarray(tv["x"], float)
    if tv["effect"] == "hazard_ratio":
        g = np.asarray(params["hr_change"], float)  # (S, C, K-1)
        off = np.einsum("nc,sck->snk", x, g)
        return np.concatenate([np.zeros((*off.shape[:2], 1)), off], axis=2)
    return np.asarray(params["shape_change"], float) @ x.T  # (S, C) @ (C, n)


def _base_h0(family: str, t, params: dict):
    """H0 of the Weibull or exponential baseline, elementwise."""
    shape = params["shape"] if family == "weibull" else 1.0
    return (np.asarray(t, float) / params["scale"]) ** shape


def tv_cumulative_hazard(family: str, t, params: dict, eta, tv: dict, off):
    """H(t | unit) with a time-varying effect (formulas above); ``t``, ``eta``, the params and
    ``off`` (without its trailing K for hazard_ratio) broadcast against each other."""
    t = np.asarray(t, float)
    if tv["effect"] == "shape":
        a = params["shape"] * np.exp(off)
        return (t / params["scale"]) ** a * np.exp(eta)
    edges = np.concatenate([[0.0], np.asarray(tv["cuts"], float), [np.inf]])
    out = 0.0
    for k in range(len(edges) - 1):
        incr = (_base_h0(family, np.minimum(t, edges[k + 1]), params)
                - _base_h0(family, np.minimum(t, edges[k]), params))
        out = out + np.exp(off[..., k]) * incr
    return out * np.exp(eta)


def tv_loglik_draws(family: str, t, d, eta, params: dict, tv: dict, entry=None):
    """Pointwise log-likelihood of many draws with a time-varying effect: ``eta`` (S, n),
    params (S,) (``hr_change`` (S, C, K-1), ``shape_change`` (S, C)); returns (S, n)."""
    t = np.asarray(t, float)
    d = np.asarray(d, float)
    p = {k: np.asarray(v, float)[:, None] for k, v in params.items()
         if k in ("shape", "scale")}
    off = tv_offsets(tv, params)
    lt = np.log(t) - np.log(p["scale"])
    if tv["effect"] == "shape":
        a = p["shape"] * np.exp(off)
        log_h = np.log(a) - np.log(p["scale"]) + (a - 1.0) * lt + eta
    else:
        a = p["shape"] if family == "weibull" else 1.0
        k = interval_index(t, tv["cuts"])
        off_t = np.take_along_axis(off, np.broadcast_to(k[None, :, None],
                                                        (off.shape[0], len(t), 1)), 2)[..., 0]
        log_h = np.log(a) - np.log(p["scale"]) + (a - 1.0) * lt + eta + off_t
    out = d * log_h - tv_cumulative_hazard(family, t, p, eta, tv, off)
    if entry is not None:
        out = out + tv_cumulative_hazard(family, np.asarray(entry, float), p, eta, tv, off)
    return out


def tv_interval_loglik_draws(family: str, lower, upper, eta, params: dict, tv: dict):
    """log(S(lower) - S(upper)) of many draws with a time-varying effect (the event in
    ``(lower, upper]``), as -H(lower) + log(-expm1(-(H(upper) - H(lower)))) with H the unit's
    :func:`tv_cumulative_hazard`: ``lower`` >= 0 and ``upper`` > ``lower`` (n,), ``eta``
    (S, n), params as in :func:`tv_loglik_draws`; returns (S, n)."""
    p = {k: np.asarray(v, float)[:, None] for k, v in params.items()
         if k in ("shape", "scale")}
    off = tv_offsets(tv, params)
    h_lo = tv_cumulative_hazard(family, np.asarray(lower, float), p, eta, tv, off)
    h_up = tv_cumulative_hazard(family, np.asarray(upper, float), p, eta, tv, off)
    return -h_lo + np.log(-np.expm1(-(h_up - h_lo)))


def tv_log_random_times(family: str, params: dict, eta, rng: np.random.Generator, tv: dict,
                        entry=None):
    """log T of event times drawn by inversion with a time-varying effect (given survival to
    ``entry`` when given): H(T | unit) = E + H(entry | unit), E ~ Exp(1). ``params`` (S,),
    ``eta`` (S, n); returns (S, n)."""
    eta = np.asarray(eta, float)
    e = rng.standard_exponential(eta.shape)
    p = {k: np.asarray(v, float)[:, None] for k, v in params.items()
         if k in ("shape", "scale")}
    off = tv_offsets(tv, params)
    log_scale = np.log(p["scale"])
    if tv["effect"] == "shape":
        a = p["shape"] * np.exp(off)
        log_target = np.log(e) - eta
        if entry is not None:
            with np.errstate(divide="ignore"):  # entry 0: H = 0, log -inf adds nothing
                log_target = np.logaddexp(log_target, a * (np.log(np.asarray(entry, float))
                                                           - log_scale))
        return log_scale + log_target / a
    a = p["shape"] if family == "weibull" else 1.0
    # G(t) = H(t | unit) exp(-eta): the baseline-scaled cumulative hazard, piecewise in t
    target = e * np.exp(-eta)
    if entry is not None:
        target = target + tv_cumulative_hazard(family, np.asarray(entry, float), p, 0.0, tv,
                                               off)
    edges = np.concatenate([[0.0], np.asarray(tv["cuts"], float)])  # interval starts
    h0_edges = _base_h0(family, edges[None, :], p)  # (S, K)
    widths = np.diff(h0_edges, axis=1)  # (S, K-1)
    g_start = np.concatenate([np.zeros((*off.shape[:2], 1)),
                              np.cumsum(np.exp(off[..., :-1]) * widths[:, None, :], axis=2)],
                             axis=2)  # (S, n, K)
    k = (g_start <= target[..., None]).sum(axis=2) - 1

    def pick(arr):
        return np.take_along_axis(arr, k[..., None], 2)[..., 0]
    h0_at = np.broadcast_to(h0_edges[:, None, :], off.shape)
    h0_t = pick(h0_at) + (target - pick(g_start)) * np.exp(-pick(off))
    with np.errstate(divide="ignore"):
        return log_scale + np.log(h0_t) / a

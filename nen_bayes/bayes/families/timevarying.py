"""A covariate whose effect changes with time (a model file's ``[time_varying]``), in NumPy,
for any family whose baseline is a power law ``H0(t) = (t / scale)^shape`` (the Weibull and
the exponential: :meth:`~nen_bayes.bayes.families.base.Family.weibull_form`).

``tv`` describes it: {"effect": "hazard_ratio", "cuts": (K-1,), "x": (n, C)} or
{"effect": "shape", "x": (n, C)}, with ``x`` the covariate's design columns (treatment
indicators). The draws of its parameters are among the baseline ``params``:

hazard_ratio (cuts c_1 < ... < c_{K-1}, c_0 = 0, c_K = inf): the log-HR of column j is beta_j
in [0, c_1) and beta_j + hr_change[j, k-1] in [c_{k-1}, c_k) for k >= 1, so that with
off_k = x'hr_change[:, k-1] (off_0 = 0)

    h(t | x) = h0(t) exp(eta + off_{k(t)}),
    H(t | x) = exp(eta) sum_k exp(off_k) [H0(min(t, c_{k+1})) - H0(min(t, c_k))]

(the cumulative hazard integrates the piecewise HR exactly).
shape (Weibull): the unit's shape is shape exp(off), off = x'shape_change, so

    h(t | x) = (a / sigma) (t / sigma)^(a - 1) exp(eta),  H(t | x) = (t / sigma)^a exp(eta).
"""

from __future__ import annotations

import numpy as np

from nen_bayes.bayes.families.base import Family
from nen_bayes.bayes.families.piecewise import interval_index

__all__ = ["STRUCTURE_PARAMETERS", "tv_cumulative_hazard", "tv_interval_loglik_draws",
           "tv_log_random_times", "tv_loglik_draws", "tv_offsets"]

#: The parameter each kind of time-varying effect adds, and its dims.
STRUCTURE_PARAMETERS = {"hazard_ratio": ("hr_change", ("covariate_tv", "interval_tv_change")),
                        "shape": ("shape_change", ("covariate_tv",))}


def tv_offsets(tv: dict, params: dict) -> np.ndarray:
    """Per draw and unit: the log-HR changes off_k, (S, n, K) with off_0 = 0 (hazard_ratio),
    or the log shape change, (S, n) (shape)."""
    x = np.asarray(tv["x"], float)
    if tv["effect"] == "hazard_ratio":
        g = np.asarray(params["hr_change"], float)  # (S, C, K-1)
        off = np.einsum("nc,sck->snk", x, g)
        return np.concatenate([np.zeros((*off.shape[:2], 1)), off], axis=2)
    return np.asarray(params["shape_change"], float) @ x.T  # (S, C) @ (C, n)


def _power(family: Family, params: dict):
    form = family.weibull_form(params)
    if form is None:
        raise ValueError(f"a time-varying effect needs a power-law baseline; {family.name} "
                         "has none")
    return form


def _base_h0(family: Family, t, params: dict):
    """H0 of the power-law baseline, elementwise."""
    shape, scale = _power(family, params)
    return (np.asarray(t, float) / scale) ** shape


def tv_cumulative_hazard(family: Family, t, params: dict, eta, tv: dict, off):
    """H(t | unit) with a time-varying effect (module formulas); ``t``, ``eta``, the params and
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


def _scale_params(params: dict) -> dict:
    return {k: np.asarray(v, float)[:, None] for k, v in params.items()
            if k in ("shape", "scale")}


def tv_loglik_draws(family: Family, t, d, eta, params: dict, tv: dict, entry=None):
    """Pointwise log-likelihood of many draws with a time-varying effect: ``eta`` (S, n),
    params (S,) (``hr_change`` (S, C, K-1), ``shape_change`` (S, C)); returns (S, n)."""
    t = np.asarray(t, float)
    d = np.asarray(d, float)
    p = _scale_params(params)
    off = tv_offsets(tv, params)
    lt = np.log(t) - np.log(p["scale"])
    if tv["effect"] == "shape":
        a = p["shape"] * np.exp(off)
        log_h = np.log(a) - np.log(p["scale"]) + (a - 1.0) * lt + eta
    else:
        a = _power(family, p)[0]
        k = interval_index(t, tv["cuts"])
        off_t = np.take_along_axis(off, np.broadcast_to(k[None, :, None],
                                                        (off.shape[0], len(t), 1)), 2)[..., 0]
        log_h = np.log(a) - np.log(p["scale"]) + (a - 1.0) * lt + eta + off_t
    out = d * log_h - tv_cumulative_hazard(family, t, p, eta, tv, off)
    if entry is not None:
        out = out + tv_cumulative_hazard(family, np.asarray(entry, float), p, eta, tv, off)
    return out


def tv_interval_loglik_draws(family: Family, lower, upper, eta, params: dict, tv: dict):
    """log(S(lower) - S(upper)) of many draws with a time-varying effect (the event in
    ``(lower, upper]``), as -H(lower) + log(-expm1(-(H(upper) - H(lower)))) with H the unit's
    :func:`tv_cumulative_hazard`: ``lower`` >= 0 and ``upper`` > ``lower`` (n,), ``eta``
    (S, n), params as in :func:`tv_loglik_draws`; returns (S, n)."""
    p = _scale_params(params)
    off = tv_offsets(tv, params)
    h_lo = tv_cumulative_hazard(family, np.asarray(lower, float), p, eta, tv, off)
    h_up = tv_cumulative_hazard(family, np.asarray(upper, float), p, eta, tv, off)
    return -h_lo + np.log(-np.expm1(-(h_up - h_lo)))


def tv_log_random_times(family: Family, params: dict, eta, rng: np.random.Generator, tv: dict,
                        entry=None):
    """log T of event times drawn by inversion with a time-varying effect (given survival to
    ``entry`` when given): H(T | unit) = E + H(entry | unit), E ~ Exp(1). ``params`` (S,),
    ``eta`` (S, n); returns (S, n)."""
    eta = np.asarray(eta, float)
    e = rng.standard_exponential(eta.shape)
    p = _scale_params(params)
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
    a = _power(family, p)[0]
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

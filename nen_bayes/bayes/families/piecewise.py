"""The piecewise-constant hazard family (``log_hazard`` lambda_1..lambda_K on the intervals
[c_0 = 0, c_1), ..., [c_{K-1}, inf) of the baseline's cut points):

    h(t) = exp(lambda_k + eta) for t in interval k,
    S(t) = exp(-exp(eta) sum_k exp(lambda_k) E_k(t)),

with E_k(t) the time spent in interval k before t (:func:`exposure_matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nen_bayes.bayes.families.base import Family, Parameter

__all__ = ["PIECEWISE", "Piecewise", "exposure_matrix", "exposure_tensor", "interval_index",
           "interval_of_tensor", "piecewise_logp"]


def interval_index(t: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Interval of each time: 0 for [0, c_1), ..., K-1 for [c_{K-1}, inf)."""
    return np.searchsorted(np.asarray(cuts, float), np.asarray(t, float), side="right")


def exposure_matrix(t: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Time spent in each interval before ``t``: shape ``t.shape + (K,)``, K = len(cuts) + 1."""
    edges = np.concatenate([[0.0], np.asarray(cuts, float), [np.inf]])
    t = np.asarray(t, float)[..., None]
    return np.clip(np.minimum(t, edges[1:]) - edges[:-1], 0.0, None)


def exposure_tensor(t, cuts: np.ndarray):
    """:func:`exposure_matrix` of times held as data (a PyTensor vector): shape (n, K)."""
    import pytensor.tensor as pt

    edges = np.concatenate([[0.0], np.asarray(cuts, float), [np.inf]])
    return pt.maximum(pt.minimum(t[:, None], edges[1:]) - edges[:-1], 0.0)


def interval_of_tensor(t, cuts: np.ndarray):
    """The interval of each time (PyTensor): how many cut points are at or before it."""
    import pytensor.tensor as pt

    return pt.ge(t[:, None], np.asarray(cuts, float)).sum(axis=1)


def piecewise_logp(value, log_hazard, eta, event, exposure, index, entry_exposure=None):
    """``d log h(t) + log S(t)`` (``- log S(entry)`` with late entry) in PyTensor, from the
    exposures and intervals of the times."""
    import pytensor.tensor as pt

    expo = exposure if entry_exposure is None else exposure - entry_exposure
    return event * (log_hazard[index] + eta) - pt.exp(eta) * pt.dot(expo, pt.exp(log_hazard))


@dataclass(frozen=True)
class Piecewise(Family):
    """The piecewise-constant hazard PH family (module docstring)."""

    def cumulative_hazard(self, t, params, cuts=None):
        lam = np.exp(np.asarray(params["log_hazard"], float))
        return np.einsum("...k,...k->...", exposure_matrix(t, cuts), lam)

    def log_hazard(self, t, params, cuts=None):
        lh = np.asarray(params["log_hazard"], float)
        idx = interval_index(t, cuts)
        shape = np.broadcast_shapes(lh.shape[:-1], idx.shape)
        full = np.broadcast_to(lh, (*shape, lh.shape[-1]))
        return np.take_along_axis(full, np.broadcast_to(idx, shape)[..., None], -1)[..., 0]

    def inverse_cumulative_hazard(self, target, params, cuts=None):
        lam = np.exp(np.asarray(params["log_hazard"], float))
        edges = np.concatenate([[0.0], np.asarray(cuts, float)])  # interval starts (K,)
        h_start = np.concatenate([np.zeros((*lam.shape[:-1], 1)),
                                  np.cumsum(lam[..., :-1] * np.diff(edges), axis=-1)], axis=-1)
        target = np.asarray(target, float)
        shape = np.broadcast_shapes(lam.shape[:-1], target.shape)
        hs = np.broadcast_to(h_start, (*shape, lam.shape[-1]))
        tg = np.broadcast_to(target, shape)
        k = np.maximum((hs <= tg[..., None]).sum(axis=-1) - 1, 0)[..., None]
        lb = np.broadcast_to(lam, hs.shape)
        return (edges[k[..., 0]] + (tg - np.take_along_axis(hs, k, -1)[..., 0])
                / np.take_along_axis(lb, k, -1)[..., 0])

    def constant_hazard(self, rate, cuts=None):
        return {"log_hazard": np.full(len(cuts) + 1, np.log(rate))}

    def create(self, spec, centred, shift, baseline, design=None):
        if centred:
            return (baseline(spec, "log_hazard", shift, dims="interval")[1],)
        return (spec.priors["log_hazard"].create("log_hazard", dims="interval"),)

    def logp(self, design, entry, times=None):
        if times is None:
            expo = exposure_matrix(design.time, design.cuts)
            index = interval_index(design.time, design.cuts)
            expo_entry = None if entry is None else exposure_matrix(entry, design.cuts)
        else:
            expo, index = exposure_tensor(times, design.cuts), interval_of_tensor(times,
                                                                                  design.cuts)
            expo_entry = None if entry is None else exposure_tensor(entry, design.cuts)

        def logp(value, log_hazard, eta, event):
            return piecewise_logp(value, log_hazard, eta, event, expo, index, expo_entry)
        return logp

    def pt_cumulative_hazard(self, t, params, cuts=None):
        import pytensor.tensor as pt

        exposure = exposure_tensor if isinstance(t, pt.Variable) else exposure_matrix
        return pt.dot(exposure(t, cuts), pt.exp(params[0]))

    def baseline_level(self, params, log_t0):
        """The mean of the intervals' log hazards."""
        return params[0].mean()


PIECEWISE = Piecewise(
    name="piecewise", title="Piecewise-constant hazard PH",
    parameters=(Parameter("log_hazard", "real", "baseline log hazard per interval",
                          dims=("interval",), time="log_rate", baseline=True),),
    needs_cuts=True)

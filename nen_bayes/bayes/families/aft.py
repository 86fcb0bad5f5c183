"""Accelerated-failure-time families: a coefficient stretches time.

With a baseline time scale ``scale`` (> 0, in time units) and ``W = log T - log scale - eta``
a standardised log time whose law is the family's (normal for the log-normal, logistic for
the log-logistic, minimum extreme value for the Weibull, log-gamma for the generalised gamma),

    S(t | eta) = S_W(log t - log scale - eta),    f(t | eta) = f_W(w) / t,

so a unit with linear predictor ``eta`` lives ``exp(eta)`` times as long as a reference unit:
``exp(coefficient)`` is a *time ratio* (:attr:`Family.effect` ``"time_ratio"``; above 1 is
longer survival), not a hazard ratio. A group's intercept multiplies the time scale likewise.
A subclass gives ``log S_W``, ``log f_W`` and the inverse of ``log S_W`` in NumPy, and
``log S_W``, ``log f_W`` in PyTensor; everything else (hazards, the four outcome kinds,
medians, random draws, the internally centred baseline) follows here.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from nen_bayes.bayes.families.base import LN2, Family

__all__ = ["AcceleratedFailureTime"]


@dataclass(frozen=True)
class AcceleratedFailureTime(Family):
    """An AFT family (module docstring). Its first parameter is ``scale`` (the baseline)."""

    effect: str = "time_ratio"

    # -- the law of W (subclasses) ----------------------------------------------------------------
    @abstractmethod
    def log_sf_w(self, w, params: dict):
        """log S_W(w) (NumPy)."""

    @abstractmethod
    def log_pdf_w(self, w, params: dict):
        """log f_W(w) (NumPy)."""

    @abstractmethod
    def w_of_log_sf(self, log_s, params: dict):
        """The w with log S_W(w) = ``log_s`` (NumPy; ``log_s`` <= 0)."""

    @abstractmethod
    def pt_log_sf_w(self, w, params: tuple):
        """log S_W(w) in PyTensor; ``params`` the tensors of :meth:`create`, in order."""

    @abstractmethod
    def pt_log_pdf_w(self, w, params: tuple):
        """log f_W(w) in PyTensor."""

    # -- NumPy ----------------------------------------------------------------------------------
    @staticmethod
    def _w(t, params, eta=0.0):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(t, float)) - np.log(params["scale"]) - eta

    def cumulative_hazard(self, t, params, cuts=None):
        return -self.log_sf_w(self._w(t, params), params)

    def log_hazard(self, t, params, cuts=None):
        w = self._w(t, params)
        return self.log_pdf_w(w, params) - np.log(np.asarray(t, float)) - self.log_sf_w(
            w, params)

    def inverse_cumulative_hazard(self, target, params, cuts=None):
        return params["scale"] * np.exp(self.w_of_log_sf(-np.asarray(target, float), params))

    def survival(self, t, params, eta=0.0, cuts=None):
        return np.exp(self.log_sf_w(self._w(t, params, eta), params))

    def median(self, params, cuts=None):
        return params["scale"] * np.exp(self.w_of_log_sf(np.asarray(-LN2), params))

    def loglik(self, t, d, eta, params, cuts=None, entry=None):
        """``d log f(t) + (1 - d) log S(t)`` (``- log S(entry)`` with late entry)."""
        d = np.asarray(d, float)
        w = self._w(t, params, eta)
        log_s = self.log_sf_w(w, params)
        out = log_s + d * (self.log_pdf_w(w, params) - np.log(np.asarray(t, float)) - log_s)
        if entry is not None:
            entry = np.asarray(entry, float)
            late = entry > 0
            out = out - np.where(late, self.log_sf_w(
                self._w(np.where(late, entry, 1.0), params, eta), params), 0.0)
        return out

    def interval_loglik(self, lower, upper, eta, params, cuts=None):
        lower = np.asarray(lower, float)
        pos = lower > 0
        ls_lo = np.where(pos, self.log_sf_w(self._w(np.where(pos, lower, 1.0), params, eta),
                                            params), 0.0)
        ls_up = self.log_sf_w(self._w(upper, params, eta), params)
        with np.errstate(divide="ignore"):
            return ls_lo + np.log(-np.expm1(ls_up - ls_lo))

    def log_random_times(self, params, eta, rng, cuts=None, entry=None):
        """log T = log scale + eta + w with log S_W(w) = log S_W(w_entry) - E, E ~ Exp(1)
        (w_entry = -inf without entry): given survival to ``entry``."""
        eta = np.asarray(eta, float)
        target = -rng.standard_exponential(eta.shape)
        if entry is not None:
            entry = np.asarray(entry, float)
            late = entry > 0
            target = target + np.where(late, self.log_sf_w(
                self._w(np.where(late, entry, 1.0), params, eta), params), 0.0)
        return np.log(params["scale"]) + eta + self.w_of_log_sf(target, params)

    # -- PyTensor -------------------------------------------------------------------------------
    def _pt_w(self, t, params, eta):
        import pytensor.tensor as pt

        return pt.log(t) - pt.log(params[0]) - eta

    def logp(self, design, entry, times=None):
        import pytensor.tensor as pt

        def logp(value, *args):
            *params, eta, event = args
            w = self._pt_w(value, params, eta)
            log_s = self.pt_log_sf_w(w, params)
            out = log_s + event * (self.pt_log_pdf_w(w, params) - pt.log(value) - log_s)
            if entry is not None:
                e = pt.as_tensor(entry)
                late = pt.gt(e, 0.0)
                we = self._pt_w(pt.switch(late, e, 1.0), params, eta)
                out = out - pt.switch(late, self.pt_log_sf_w(we, params), 0.0)
            return out
        return logp

    def pt_cumulative_hazard(self, t, params, cuts=None):
        import pytensor.tensor as pt

        t = pt.as_tensor(t)
        pos = pt.gt(t, 0.0)
        w = self._pt_w(pt.switch(pos, t, 1.0), params, 0.0)
        return pt.switch(pos, -self.pt_log_sf_w(w, params), 0.0)

    def interval_logp(self, params, eta, lower, upper, cuts=None):
        import pytensor.tensor as pt

        lower, upper = pt.as_tensor(lower), pt.as_tensor(upper)
        pos = pt.gt(lower, 0.0)
        ls_lo = pt.switch(pos, self.pt_log_sf_w(
            self._pt_w(pt.switch(pos, lower, 1.0), params, eta), params), 0.0)
        ls_up = self.pt_log_sf_w(self._pt_w(upper, params, eta), params)
        return ls_lo + pt.log(-pt.expm1(ls_up - ls_lo))

    def baseline_level(self, params, log_t0):
        """The log time scale: a group's level is its own log scale."""
        import pytensor.tensor as pt

        return pt.log(params[0])

    def create(self, spec, centred, shift, baseline, design=None):
        """``scale`` first (internally centred: log scale = log scale_c - m'beta, a coefficient
        shifting log time), then the other parameters as their priors say."""
        others = tuple(spec.priors[p.name].create(p.name) for p in self.parameters[1:])
        if centred:
            return (baseline(spec, "scale", shift, per=-1.0)[1], *others)
        return (spec.priors["scale"].create("scale"), *others)

    def _unpack(self, params) -> dict:
        return params if isinstance(params, dict) else dict(zip(self.parameter_names, params,
                                                                strict=True))

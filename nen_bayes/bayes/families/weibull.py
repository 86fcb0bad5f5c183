"""The Weibull family in proportional-hazards form (``shape`` alpha > 0, ``scale`` sigma > 0 in
time units), and what it shares with its special case, the exponential.

    h(t) = (alpha / sigma) (t / sigma)^(alpha - 1) exp(eta),
    S(t) = exp(-(t / sigma)^alpha exp(eta)).

sigma is the time by which a reference unit (every covariate at its reference level or centre,
a typical group: random effects 0) has survival exp(-1) = 0.368; its median is
sigma (ln 2)^(1/alpha). alpha < 1: hazard falls with time; alpha = 1: constant; alpha > 1:
rises. The same law as an accelerated-failure-time model with log-time coefficients
-beta / alpha (so HR = exp(-alpha * AFT coefficient), the exact transformation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from nen_bayes.bayes.families.base import Family, Parameter

__all__ = ["SHAPE_PRIOR", "WEIBULL", "PowerLaw", "Weibull", "power_interval_logp",
           "weibull_logp"]

#: The shape prior of a formula's Weibull model (PH or AFT), that of the headline files.
SHAPE_PRIOR = {
    "dist": "LogNormal", "mu": 0.0, "sigma": 0.5,
    "reason": "Weibull shape: median 1 (constant hazard), 95% between 0.38 and 2.66, "
              "allowing falling or rising hazards. The default of the headline model "
              "(models/weibull_ph_centre.toml)."}


def weibull_logp(value, shape, scale, eta, event, entry=None):
    """``d log h(t) + log S(t)`` (``- log S(entry)`` with late entry) in PyTensor."""
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


def power_interval_logp(shape, scale, eta, lower, upper):
    """log(S(lower) - S(upper)) of ``H(t) = (t / scale)^shape exp(eta)`` (PyTensor); ``lower``
    and ``upper`` NumPy arrays (constants) or tensors (bounds held as data); ``lower`` 0 never
    reaches a logarithm."""
    import pytensor.tensor as pt

    if isinstance(lower, pt.Variable) or isinstance(upper, pt.Variable):
        lower, upper = pt.as_tensor(lower), pt.as_tensor(upper)
        where, log = pt.switch, pt.log
    else:
        lower, upper = np.asarray(lower, float), np.asarray(upper, float)
        where, log = np.where, np.log
    pos = lower > 0
    h_lo = pos * pt.exp(shape * (log(where(pos, lower, 1.0)) - pt.log(scale)) + eta)
    h_up = pt.exp(shape * (log(upper) - pt.log(scale)) + eta)
    return -h_lo + pt.log(-pt.expm1(-(h_up - h_lo)))


@dataclass(frozen=True)
class PowerLaw(Family):
    """A baseline with ``H0(t) = (t / scale)^shape``: the Weibull, and the exponential
    (shape 1). Subclasses say where the shape comes from (:meth:`weibull_form`)."""

    def cumulative_hazard(self, t, params, cuts=None):
        shape, scale = self.weibull_form(params)
        return (np.asarray(t, float) / scale) ** shape

    def inverse_cumulative_hazard(self, target, params, cuts=None):
        shape, scale = self.weibull_form(params)
        return scale * np.asarray(target, float) ** (1.0 / shape)

    def log_random_times(self, params, eta, rng, cuts=None, entry=None):
        """On the log scale, so that a prior allowing enormous times gives a large finite log
        time, not an overflow: log T = log scale + (log E - eta) / shape; with late entry,
        log E - eta becomes log(E exp(-eta) + H0(entry)) (a log-sum-exp)."""
        eta = np.asarray(eta, float)
        e = rng.standard_exponential(eta.shape)
        shape, scale = self.weibull_form(params)
        log_target = np.log(e) - eta
        if entry is not None:
            with np.errstate(divide="ignore"):  # entry 0: H0 = 0, log -inf adds nothing
                log_h0 = shape * (np.log(np.asarray(entry, float)) - np.log(scale))
            log_target = np.logaddexp(log_target, log_h0)
        return np.log(scale) + log_target / shape

    def pt_cumulative_hazard(self, t, params, cuts=None):
        import pytensor.tensor as pt

        shape, scale = self.weibull_form(params)
        positive = t > 0 if not isinstance(t, pt.Variable) else pt.gt(t, 0.0)
        safe = (np.where(positive, t, 1.0) if not isinstance(t, pt.Variable)
                else pt.switch(positive, t, 1.0))
        return positive * pt.exp(shape * (pt.log(safe) - pt.log(scale)))

    def interval_logp(self, params, eta, lower, upper, cuts=None):
        shape, scale = self.weibull_form(params)
        return power_interval_logp(shape, scale, eta, lower, upper)


@dataclass(frozen=True)
class Weibull(PowerLaw):
    """The Weibull PH family (module docstring)."""

    def mean(self, params, cuts=None):
        """``scale * Gamma(1 + 1 / shape)``."""
        return params["scale"] * np.exp(special.gammaln(1.0 + 1.0 / params["shape"]))

    def weibull_form(self, params):
        if isinstance(params, dict):
            return params["shape"], params["scale"]
        return params[0], params[1]

    def log_hazard(self, t, params, cuts=None):
        a, s = params["shape"], params["scale"]
        return np.log(a / s) + (a - 1) * np.log(np.asarray(t, float) / s)

    def loglik_draws(self, t, d, eta, params, cuts=None, entry=None):
        """The pointwise log-likelihood of many draws (flat ``(S,)`` params, ``eta`` (S, n)) on
        the log scale, in place: log(t / scale) once, H0 exp(eta) = exp(shape log(t / scale) +
        eta), no power and one log per unit."""
        if entry is not None:
            return super().loglik_draws(t, d, eta, params, cuts, entry)
        d = np.asarray(d, float)
        a = np.asarray(params["shape"], float)[:, None]
        log_s = np.log(np.asarray(params["scale"], float)[:, None])
        z = np.log(np.asarray(t, float)) - log_s  # (S, n)
        h = z * a
        h += eta
        np.exp(h, out=h)  # H(t) = H0(t) exp(eta)
        z *= a - 1.0
        z += eta
        z += np.log(a) - log_s  # log h(t)
        z *= d
        z -= h
        return z

    def constant_hazard(self, rate, cuts=None):
        return {"shape": np.asarray(1.0), "scale": np.asarray(1.0 / rate)}

    def create(self, spec, centred, shift, baseline, design=None):
        shape = spec.priors["shape"].create("shape")
        if centred:  # the likelihood sees the scale at the covariate means
            return (shape, baseline(spec, "scale", shift, per=shape)[1])
        return (shape, spec.priors["scale"].create("scale"))

    def logp(self, design, entry, times=None):
        def logp(value, shape, scale, eta, event):
            return weibull_logp(value, shape, scale, eta, event, entry)
        return logp

    def baseline_level(self, params, log_t0):
        """``shape (log t0 - log scale)``: the log cumulative hazard at ``t0``."""
        import pytensor.tensor as pt

        return params[0] * (log_t0 - pt.log(params[1]))


WEIBULL = Weibull(
    name="weibull", title="Weibull PH",
    parameters=(
        Parameter("shape", "positive", "Weibull shape (1: constant hazard)",
                  quantity="weibull_shape", default_prior=SHAPE_PRIOR),
        Parameter("scale", "positive", "baseline Weibull scale", time="scale", baseline=True,
                  quantity="baseline_scale"),
    ),
    time_varying=("hazard_ratio", "shape"))

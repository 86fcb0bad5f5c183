"""The exponential family: the Weibull with shape 1.

    h(t) = exp(eta) / sigma,   S(t) = exp(-t exp(eta) / sigma);

``scale`` sigma is the mean survival time of a reference unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nen_bayes.bayes.families.base import Parameter
from nen_bayes.bayes.families.weibull import PowerLaw

__all__ = ["EXPONENTIAL", "Exponential", "exponential_logp"]


def exponential_logp(value, scale, eta, event, entry=None):
    """``d log h(t) + log S(t)`` (``- log S(entry)`` with late entry) in PyTensor."""
    import pytensor.tensor as pt

    out = event * (eta - pt.log(scale)) - value * pt.exp(eta) / scale
    if entry is not None:
        out = out + entry * pt.exp(eta) / scale
    return out


@dataclass(frozen=True)
class Exponential(PowerLaw):
    """The exponential PH family (module docstring)."""

    def mean(self, params, cuts=None):
        """``scale``."""
        return np.asarray(params["scale"], float)

    def weibull_form(self, params):
        return 1.0, (params["scale"] if isinstance(params, dict) else params[0])

    def cumulative_hazard(self, t, params, cuts=None):
        return np.asarray(t, float) / params["scale"]

    def inverse_cumulative_hazard(self, target, params, cuts=None):
        return params["scale"] * np.asarray(target, float)

    def log_hazard(self, t, params, cuts=None):
        return np.broadcast_to(-np.log(params["scale"]),
                               np.broadcast_shapes(np.shape(t), np.shape(params["scale"])))

    def constant_hazard(self, rate, cuts=None):
        return {"scale": np.asarray(1.0 / rate)}

    def create(self, spec, centred, shift, baseline, design=None):
        if centred:
            return (baseline(spec, "scale", shift)[1],)
        return (spec.priors["scale"].create("scale"),)

    def logp(self, design, entry, times=None):
        def logp(value, scale, eta, event):
            return exponential_logp(value, scale, eta, event, entry)
        return logp

    def baseline_level(self, params, log_t0):
        """``log t0 - log scale``: the log cumulative hazard at ``t0``."""
        import pytensor.tensor as pt

        return log_t0 - pt.log(params[0])


EXPONENTIAL = Exponential(
    name="exponential", title="Exponential PH",
    parameters=(Parameter("scale", "positive", "mean survival time (1 / baseline hazard)",
                          time="scale", baseline=True, quantity="baseline_scale"),),
    time_varying=("hazard_ratio",))

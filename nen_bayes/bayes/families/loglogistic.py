"""The log-logistic family in accelerated-failure-time form (``shape`` a > 0, ``scale`` b > 0
in time units, the median survival time of a reference unit; flexsurv's ``llogis``):

    S(t | eta) = 1 / (1 + (t / (b exp(eta)))^a).

``exp(coefficient)`` is a time ratio. a <= 1: the hazard falls; a > 1: it rises, then falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nen_bayes.bayes.families.aft import AcceleratedFailureTime
from nen_bayes.bayes.families.base import Parameter

__all__ = ["LOGLOGISTIC", "LogLogistic"]


@dataclass(frozen=True)
class LogLogistic(AcceleratedFailureTime):
    """The log-logistic AFT family (module docstring): W = log T - log b - eta is logistic
    with scale 1 / a."""

    def mean(self, params, cuts=None):
        """``scale (pi / a) / sin(pi / a)`` for a > 1; infinite for a <= 1 (a heavy tail)."""
        a = np.asarray(params["shape"], float)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = params["scale"] * (np.pi / a) / np.sin(np.pi / a)
        return np.where(a > 1.0, m, np.inf)

    def log_sf_w(self, w, params):
        return -np.logaddexp(0.0, params["shape"] * np.asarray(w, float))

    def log_pdf_w(self, w, params):
        aw = params["shape"] * np.asarray(w, float)
        return np.log(params["shape"]) + aw - 2.0 * np.logaddexp(0.0, aw)

    def w_of_log_sf(self, log_s, params):
        x = -np.minimum(np.asarray(log_s, float), 0.0)  # softplus(a w) = x > 0
        with np.errstate(divide="ignore"):
            return (x + np.log(-np.expm1(-x))) / params["shape"]  # log(expm1(x)) / a

    def pt_log_sf_w(self, w, params):
        import pytensor.tensor as pt

        return -pt.softplus(params[1] * w)

    def pt_log_pdf_w(self, w, params):
        import pytensor.tensor as pt

        aw = params[1] * w
        return pt.log(params[1]) + aw - 2.0 * pt.softplus(aw)


LOGLOGISTIC = LogLogistic(
    name="loglogistic", title="Log-logistic AFT",
    parameters=(
        Parameter("scale", "positive", "median survival time of a reference unit",
                  time="scale", baseline=True, quantity="baseline_scale"),
        Parameter("shape", "positive", "log-logistic shape", quantity="loglogistic_shape",
                  default_prior={
                      "dist": "LogNormal", "mu": 0.0, "sigma": 0.5,
                      "reason": "log-logistic shape: median 1 (a falling hazard), 95% "
                                "between 0.38 and 2.66 (above 1 the hazard rises, then "
                                "falls)"}),
    ))

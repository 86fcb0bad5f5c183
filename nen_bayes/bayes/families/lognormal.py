"""The log-normal family in accelerated-failure-time form (``scale`` > 0 in time units, the
median survival time of a reference unit; ``sigma`` > 0, the SD of log time; flexsurv's
``lnorm`` with ``meanlog = log(scale)``, ``sdlog = sigma``):

    log T = log scale + eta + sigma Z,  Z ~ N(0, 1),
    S(t | eta) = 1 - Phi((log t - log scale - eta) / sigma).

``exp(coefficient)`` is a time ratio. The hazard rises, peaks and falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from nen_bayes.bayes.families.aft import AcceleratedFailureTime
from nen_bayes.bayes.families.base import Parameter

__all__ = ["LOGNORMAL", "LogNormal"]

_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class LogNormal(AcceleratedFailureTime):
    """The log-normal AFT family (module docstring)."""

    def mean(self, params, cuts=None):
        """``scale * exp(sigma^2 / 2)``."""
        return params["scale"] * np.exp(0.5 * np.asarray(params["sigma"], float) ** 2)

    def log_sf_w(self, w, params):
        return special.log_ndtr(-np.asarray(w, float) / params["sigma"])

    def log_pdf_w(self, w, params):
        z = np.asarray(w, float) / params["sigma"]
        return -0.5 * z * z - np.log(params["sigma"]) - _HALF_LOG_2PI

    def w_of_log_sf(self, log_s, params):
        return -params["sigma"] * special.ndtri_exp(np.minimum(np.asarray(log_s, float), 0.0))

    def pt_log_sf_w(self, w, params):
        from pymc.distributions.dist_math import normal_lccdf

        return normal_lccdf(0.0, params[1], w)

    def pt_log_pdf_w(self, w, params):
        import pytensor.tensor as pt

        z = w / params[1]
        return -0.5 * z * z - pt.log(params[1]) - _HALF_LOG_2PI


LOGNORMAL = LogNormal(
    name="lognormal", title="Log-normal AFT",
    parameters=(
        Parameter("scale", "positive", "median survival time of a reference unit",
                  time="scale", baseline=True, quantity="baseline_scale"),
        Parameter("sigma", "positive", "SD of log survival time", quantity="lognormal_sigma",
                  default_prior={
                      "dist": "LogNormal", "mu": 0.0, "sigma": 0.5,
                      "reason": "SD of log survival time: median 1, 95% between 0.38 and "
                                "2.66 (a reference unit's 10th to 90th percentile times "
                                "spanning a factor 2.6 to 900)"}),
    ))

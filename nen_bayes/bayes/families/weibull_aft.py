"""The Weibull family in accelerated-failure-time form (``shape`` a > 0, ``scale`` sigma > 0 in
time units; the same law as :mod:`~nen_bayes.bayes.families.weibull`, effects on time):

    S(t | eta) = exp(-(t / (sigma exp(eta)))^a).

``exp(coefficient)`` is a time ratio; the PH form's log hazard ratio is ``-a`` times the
coefficient (R's ``survreg`` and lifelines' ``WeibullAFTFitter`` report this form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from nen_bayes.bayes.families.aft import AcceleratedFailureTime
from nen_bayes.bayes.families.base import Parameter
from nen_bayes.bayes.families.weibull import SHAPE_PRIOR

__all__ = ["WEIBULL_AFT", "WeibullAFT"]


@dataclass(frozen=True)
class WeibullAFT(AcceleratedFailureTime):
    """The Weibull AFT family (module docstring): W = log T - log sigma - eta has the minimum
    extreme-value law with scale 1 / a."""

    def mean(self, params, cuts=None):
        """``scale * Gamma(1 + 1 / shape)``."""
        return params["scale"] * np.exp(special.gammaln(1.0 + 1.0 / params["shape"]))

    def log_sf_w(self, w, params):
        return -np.exp(params["shape"] * np.asarray(w, float))

    def log_pdf_w(self, w, params):
        aw = params["shape"] * np.asarray(w, float)
        return np.log(params["shape"]) + aw - np.exp(aw)

    def w_of_log_sf(self, log_s, params):
        with np.errstate(divide="ignore"):
            return np.log(-np.minimum(np.asarray(log_s, float), 0.0)) / params["shape"]

    def pt_log_sf_w(self, w, params):
        import pytensor.tensor as pt

        return -pt.exp(params[1] * w)

    def pt_log_pdf_w(self, w, params):
        import pytensor.tensor as pt

        aw = params[1] * w
        return pt.log(params[1]) + aw - pt.exp(aw)

    def weibull_form(self, params):
        return None  # its coefficients are not log hazard ratios: no PH time-varying effect


WEIBULL_AFT = WeibullAFT(
    name="weibull_aft", title="Weibull AFT",
    parameters=(
        Parameter("scale", "positive", "baseline Weibull scale", time="scale", baseline=True,
                  quantity="baseline_scale"),
        Parameter("shape", "positive", "Weibull shape (1: constant hazard)",
                  quantity="weibull_shape", default_prior=SHAPE_PRIOR),
    ))

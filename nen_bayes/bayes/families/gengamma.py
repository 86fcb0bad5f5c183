"""The generalised gamma family in accelerated-failure-time form, Prentice's (1974)
parameterisation as flexsurv's ``gengamma``: ``scale`` = exp(mu) > 0 in time units, ``sigma`` >
0, ``Q`` real. With ``z = (log t - log scale - eta) / sigma``, for Q != 0, ``g = 1 / Q^2`` and
``u = g exp(Q z)`` (a Gamma(g, 1) variable),

    f(t) = |Q| g^g exp(g (Q z - exp(Q z))) / (sigma t Gamma(g)),
    S(t) = 1 - P(g, u) for Q > 0,   P(g, u) for Q < 0,

with P the regularised lower incomplete gamma function; Q = 0 is the log-normal (sdlog sigma),
Q = 1 the Weibull (shape 1 / sigma), Q = sigma the gamma. ``exp(coefficient)`` is a time ratio.
Near Q = 0 (|Q| below 1e-5) the log-normal limit is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from nen_bayes.bayes.families.aft import AcceleratedFailureTime
from nen_bayes.bayes.families.base import Parameter

__all__ = ["GENGAMMA", "GeneralisedGamma"]

#: Below this |Q| the log-normal limit replaces the generalised gamma's formulas.
_Q_SMALL = 1e-5
_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class GeneralisedGamma(AcceleratedFailureTime):
    """The generalised gamma AFT family (module docstring)."""

    @staticmethod
    def _parts(w, params):
        sigma = np.asarray(params["sigma"], float)
        q = np.asarray(params["Q"], float)
        z = np.asarray(w, float) / sigma
        small = np.abs(q) < _Q_SMALL
        qs = np.where(small, _Q_SMALL, q)
        return z, sigma, qs, small, 1.0 / qs ** 2

    def log_sf_w(self, w, params):
        z, _, qs, small, g = self._parts(w, params)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            u = g * np.exp(qs * z)
            surv = np.where(qs > 0, special.gammaincc(g, u), special.gammainc(g, u))
            dist = np.where(qs > 0, special.gammainc(g, u), special.gammaincc(g, u))
            # near S = 1, log S from the distribution function (no precision lost)
            gg = np.where(surv > 0.5, np.log1p(-dist), np.log(surv))
        return np.where(small, special.log_ndtr(-z), gg)

    def log_pdf_w(self, w, params):
        z, sigma, qs, small, g = self._parts(w, params)
        with np.errstate(over="ignore"):
            gg = (np.log(np.abs(qs)) - np.log(sigma) + g * np.log(g) - special.gammaln(g)
                  + g * (qs * z - np.exp(qs * z)))
        ln = -0.5 * z * z - np.log(sigma) - _HALF_LOG_2PI
        return np.where(small, ln, gg)

    def w_of_log_sf(self, log_s, params):
        sigma = np.asarray(params["sigma"], float)
        q = np.asarray(params["Q"], float)
        s = np.exp(np.minimum(np.asarray(log_s, float), 0.0))
        small = np.abs(q) < _Q_SMALL
        qs = np.where(small, _Q_SMALL, q)
        g = 1.0 / qs ** 2
        with np.errstate(divide="ignore"):
            u = np.where(qs > 0, special.gammainccinv(g, s), special.gammaincinv(g, s))
            z = np.where(small, -special.ndtri_exp(np.minimum(np.asarray(log_s, float), 0.0)),
                         np.log(u / g) / qs)
        return sigma * z

    def _pt_parts(self, w, params):
        import pytensor.tensor as pt

        sigma, q = params[1], params[2]
        z = w / sigma
        small = pt.lt(pt.abs(q), _Q_SMALL)
        qs = pt.switch(small, _Q_SMALL, q)  # never 1 / 0 in the branch not taken
        return z, sigma, qs, small, 1.0 / qs ** 2

    def pt_log_sf_w(self, w, params):
        import pytensor.tensor as pt
        from pymc.distributions.dist_math import normal_lccdf

        z, _, qs, small, g = self._pt_parts(w, params)
        u = g * pt.exp(qs * z)
        upper, lower = pt.gammaincc(g, u), pt.gammainc(g, u)
        surv = pt.switch(pt.gt(qs, 0.0), upper, lower)
        dist = pt.switch(pt.gt(qs, 0.0), lower, upper)
        # near S = 1, log S from the distribution function (no precision lost)
        gg = pt.switch(pt.gt(surv, 0.5), pt.log1p(-dist), pt.log(surv))
        return pt.switch(small, normal_lccdf(0.0, 1.0, z), gg)

    def pt_log_pdf_w(self, w, params):
        import pytensor.tensor as pt

        z, sigma, qs, small, g = self._pt_parts(w, params)
        gg = (pt.log(pt.abs(qs)) - pt.log(sigma) + g * pt.log(g) - pt.gammaln(g)
              + g * (qs * z - pt.exp(qs * z)))
        return pt.switch(small, -0.5 * z * z - pt.log(sigma) - _HALF_LOG_2PI, gg)


GENGAMMA = GeneralisedGamma(
    name="gengamma", title="Generalised gamma AFT",
    parameters=(
        Parameter("scale", "positive", "exp(mu): the time scale of a reference unit",
                  time="scale", baseline=True, quantity="baseline_scale"),
        Parameter("sigma", "positive", "generalised gamma sigma", quantity="gengamma_sigma",
                  default_prior={"dist": "LogNormal", "mu": 0.0, "sigma": 0.5,
                                 "reason": "generalised gamma sigma: median 1, 95% between "
                                           "0.38 and 2.66"}),
        Parameter("Q", "real", "generalised gamma shape Q (0: log-normal, 1: Weibull)",
                  quantity="gengamma_q",
                  default_prior={"dist": "Normal", "mu": 0.0, "sigma": 1.0,
                                 "reason": "generalised gamma Q: centred on the log-normal "
                                           "(Q = 0), 95% between -1.96 and 1.96 (the Weibull "
                                           "at 1, the gamma at Q = sigma)"}),
    ))

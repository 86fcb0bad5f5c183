"""The Gompertz family in proportional-hazards form (``rate`` a > 0 per time unit, the hazard
of a reference unit at time 0; ``shape`` b, real, per time unit; flexsurv's ``gompertz``):

    h(t) = a exp(b t) exp(eta),   H(t) = (a / b) (exp(b t) - 1) exp(eta)   (a t exp(eta) at
    b = 0).

b > 0: the hazard rises exponentially (ageing); b < 0: it falls, and a fraction
exp(-(a / -b) exp(eta)) never has the event (a cure fraction). ``exp(coefficient)`` is a
hazard ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nen_bayes.bayes.families.base import Family, Parameter, scaled_transform
from nen_bayes.cohorts.outcomes import Outcomes

__all__ = ["GOMPERTZ", "Gompertz"]

#: Below this |b t| the exact limit a t (1 + b t / 2) replaces (a / b) expm1(b t).
_SMALL = 1e-8


def reference_time(design) -> float:
    """The data's crude mean survival time: total follow-up (an interval-censored event at its
    upper bound) over the number of events."""
    return float(Outcomes.of(design).detection_time.sum() / max(float(design.event.sum()), 1))


@dataclass(frozen=True)
class Gompertz(Family):
    """The Gompertz PH family (module docstring)."""

    def cumulative_hazard(self, t, params, cuts=None):
        a, b = params["rate"], params["shape"]
        t = np.asarray(t, float)
        bt = b * t
        small = np.abs(bt) < _SMALL
        with np.errstate(over="ignore", invalid="ignore"):
            big = a * np.expm1(bt) / np.where(small, 1.0, b)
        return np.where(small, a * t * (1.0 + 0.5 * bt), big)

    def log_hazard(self, t, params, cuts=None):
        return np.log(params["rate"]) + params["shape"] * np.asarray(t, float)

    def inverse_cumulative_hazard(self, target, params, cuts=None):
        a, b = params["rate"], params["shape"]
        x = b * np.asarray(target, float) / a
        small = np.abs(x) < _SMALL
        with np.errstate(divide="ignore", invalid="ignore"):
            exact = np.log1p(x) / np.where(small, 1.0, b)
            out = np.where(small, np.asarray(target, float) / a * (1.0 - 0.5 * x), exact)
        return np.where(x <= -1.0, np.inf, out)  # b < 0: beyond the cure fraction's limit

    def constant_hazard(self, rate, cuts=None):
        return {"rate": np.asarray(float(rate)), "shape": np.asarray(0.0)}

    def create(self, spec, centred, shift, baseline, design=None):
        """``rate`` first (internally centred: log rate = log rate_c - m'beta), then ``shape``,
        sampled as ``shape * t_ref`` (``t_ref`` the data's crude mean time, total follow-up
        over events: the change of the log hazard over that time, of order 1 whatever the
        time unit)."""
        if centred:
            rate = baseline(spec, "rate", shift, per=-1.0)[1]
        else:
            rate = spec.priors["rate"].create("rate")
        t_ref = 1.0 if design is None else reference_time(design)
        return (rate, spec.priors["shape"].create("shape",
                                                  default_transform=scaled_transform(t_ref)))

    def pt_cumulative_hazard(self, t, params, cuts=None):
        import pytensor.tensor as pt

        a, b = params
        t = pt.as_tensor(t)
        bt = b * t
        small = pt.lt(pt.abs(bt), _SMALL)
        return pt.switch(small, a * t * (1.0 + 0.5 * bt),
                         a * pt.expm1(bt) / pt.switch(small, 1.0, b))

    def logp(self, design, entry, times=None):
        import pytensor.tensor as pt

        def logp(value, rate, shape, eta, event):
            params = (rate, shape)
            out = (event * (pt.log(rate) + shape * value + eta)
                   - self.pt_cumulative_hazard(value, params) * pt.exp(eta))
            if entry is not None:
                out = out + self.pt_cumulative_hazard(entry, params) * pt.exp(eta)
            return out
        return logp

    def baseline_level(self, params, log_t0):
        """log(rate t0): the log cumulative hazard at t0 of a constant hazard ``rate``."""
        import pytensor.tensor as pt

        return pt.log(params[0]) + log_t0


def _shape_prior(crude: float, unit: str) -> dict:
    """Normal(0, 1 / c) per ``unit``, c the crude mean survival time: over one c of time the
    log hazard changes by less than 2 with probability 0.95."""
    sigma = round(1.0 / crude, 6)
    return {"dist": "Normal", "mu": 0.0, "sigma": sigma,
            "reason": f"Gompertz shape (change of the log hazard per {unit}): centred on a "
                      f"constant hazard, sigma 1/{crude:.3g} {unit} (placed from this "
                      f"cohort's follow-up: total time over events), so that over that time "
                      "the log hazard changes by less than 2 with prior probability 0.95"}


GOMPERTZ = Gompertz(
    name="gompertz", title="Gompertz PH",
    parameters=(
        Parameter("rate", "positive", "baseline hazard at time 0", time="rate", baseline=True,
                  quantity="gompertz_rate"),
        Parameter("shape", "real", "Gompertz shape (log-hazard slope per time unit)",
                  time="per_time", quantity="gompertz_shape", default_prior=_shape_prior),
    ))

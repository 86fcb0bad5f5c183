"""Priors as data: one small, serialisable syntax for every prior in a model specification.

A prior is a table with the distribution's name under ``dist`` and its parameters by PyMC's
names, plus an optional ``reason`` (documentation, kept with the prior)::

    [priors.coefficient]
    dist = "Normal"
    mu = 0.0
    sigma = 1.0
    reason = "log-HR; 95% of the prior mass on HR 0.14-7.1"

This is the flat form of ``pymc_extras.prior.Prior.to_dict()`` (``{"dist": ..., "kwargs": ...}``
is accepted too), so a prior can be exchanged with that library, but nen-bayes does not depend on
it. Only the distributions in :data:`DISTRIBUTIONS` are allowed; parameters must be numbers.
Nothing in a prior is ever evaluated as code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nen_bayes.errors import SpecError

__all__ = ["DISTRIBUTIONS", "Prior", "lognormal_table"]

#: Allowed distributions: name -> (parameter names, support).
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "Normal": (("mu", "sigma"), "real"),
    "StudentT": (("nu", "mu", "sigma"), "real"),
    "Cauchy": (("alpha", "beta"), "real"),
    "Laplace": (("mu", "b"), "real"),
    "Logistic": (("mu", "s"), "real"),
    "HalfNormal": (("sigma",), "positive"),
    "HalfStudentT": (("nu", "sigma"), "positive"),
    "HalfCauchy": (("beta",), "positive"),
    "Exponential": (("lam",), "positive"),
    "LogNormal": (("mu", "sigma"), "positive"),
    "Gamma": (("alpha", "beta"), "positive"),
    "InverseGamma": (("alpha", "beta"), "positive"),
    "Weibull": (("alpha", "beta"), "positive"),
}

#: Parameters that must be strictly positive.
_POSITIVE_PARAMS = {"sigma", "nu", "beta", "b", "s", "lam", "alpha"}
#: Cauchy's alpha is a location, Logistic's mu too: these may be any real number.
_REAL_EXCEPTIONS = {("Cauchy", "alpha")}


@dataclass(frozen=True)
class Prior:
    """A prior distribution given as data.

    Attributes
    ----------
    dist
        Name of a PyMC distribution in :data:`DISTRIBUTIONS`.
    params
        Its parameters by PyMC's names (numbers).
    reason
        Why this prior: shown in the spec file and in reports.
    """

    dist: str
    params: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    @property
    def support(self) -> str:
        return DISTRIBUTIONS[self.dist][1]

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> Prior:
        """Parse and check a prior table; ``where`` names it in messages (file and key)."""
        if not isinstance(data, dict):
            raise SpecError(f"{where}: a prior must be a table with 'dist' and its parameters, "
                            f"got {data!r}")
        data = dict(data)
        if "kwargs" in data:  # pymc_extras' to_dict() layout
            kwargs = data.pop("kwargs")
            if not isinstance(kwargs, dict):
                raise SpecError(f"{where}: 'kwargs' must be a table of parameters")
            data.update(kwargs)
        dist = data.pop("dist", None) or data.pop("distribution", None)
        reason = data.pop("reason", "")
        if dist is None:
            raise SpecError(f"{where}: the prior names no distribution ('dist = ...'); "
                            f"allowed: {sorted(DISTRIBUTIONS)}")
        if dist not in DISTRIBUTIONS:
            raise SpecError(f"{where}: distribution {dist!r} is not allowed; allowed: "
                            f"{sorted(DISTRIBUTIONS)}")
        names, _ = DISTRIBUTIONS[dist]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise SpecError(f"{where}: unknown parameter(s) {unknown} for {dist}; "
                            f"{dist} takes {list(names)} (and an optional 'reason')")
        missing = [n for n in names if n not in data]
        if missing:
            raise SpecError(f"{where}: {dist} needs parameter(s) {missing}")
        params = {}
        for n in names:
            v = data[n]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise SpecError(f"{where}: parameter {n} of {dist} must be a finite number, "
                                f"got {v!r}")
            if n in _POSITIVE_PARAMS and (dist, n) not in _REAL_EXCEPTIONS and v <= 0:
                raise SpecError(f"{where}: parameter {n} of {dist} must be > 0, got {v!r}")
            params[n] = float(v)
        if not isinstance(reason, str):
            raise SpecError(f"{where}: 'reason' must be text")
        return cls(dist, params, reason)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"dist": self.dist, **self.params}
        if self.reason:
            out["reason"] = self.reason
        return out

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def create(self, name: str, *, dims: str | tuple[str, ...] | None = None, **kwargs):
        """The PyMC random variable (inside a model context); ``kwargs`` go to PyMC (e.g.
        ``default_transform``)."""
        import pymc as pm

        return getattr(pm, self.dist)(name, **self.params, dims=dims, **kwargs)

    def _scipy(self):
        """The same distribution as a frozen ``scipy.stats`` object (HalfStudentT: the
        Student t it folds)."""
        import numpy as np
        from scipy import stats

        p = self.params
        return {
            "Normal": lambda: stats.norm(p.get("mu"), p.get("sigma")),
            "StudentT": lambda: stats.t(p.get("nu"), p.get("mu"), p.get("sigma")),
            "Cauchy": lambda: stats.cauchy(p.get("alpha"), p.get("beta")),
            "Laplace": lambda: stats.laplace(p.get("mu"), p.get("b")),
            "Logistic": lambda: stats.logistic(p.get("mu"), p.get("s")),
            "HalfNormal": lambda: stats.halfnorm(scale=p.get("sigma")),
            "HalfStudentT": lambda: stats.t(p.get("nu"), 0.0, p.get("sigma")),
            "HalfCauchy": lambda: stats.halfcauchy(scale=p.get("beta")),
            "Exponential": lambda: stats.expon(scale=1.0 / p.get("lam", 1.0)),
            "LogNormal": lambda: stats.lognorm(p.get("sigma"), scale=np.exp(p.get("mu", 0.0))),
            "Gamma": lambda: stats.gamma(p.get("alpha"), scale=1.0 / p.get("beta", 1.0)),
            "InverseGamma": lambda: stats.invgamma(p.get("alpha"), scale=p.get("beta")),
            "Weibull": lambda: stats.weibull_min(p.get("alpha"), scale=p.get("beta")),
        }[self.dist]()

    def logpdf(self, x):
        """Log density at ``x`` (any shape), by PyMC's parameterisation, in NumPy (closed forms
        for the usual priors; ``scipy.stats``, a slower import, for the others)."""
        import numpy as np

        p = self.params
        if self.dist in ("Normal", "HalfNormal", "LogNormal"):
            x = np.asarray(x, float)
            y = np.log(x) if self.dist == "LogNormal" else x
            z = (y - p.get("mu", 0.0)) / p["sigma"]
            lp = -0.5 * z * z - np.log(p["sigma"]) - 0.5 * np.log(2 * np.pi)
            if self.dist == "Normal":
                return lp
            with np.errstate(divide="ignore", invalid="ignore"):
                lp = lp + np.log(2.0) if self.dist == "HalfNormal" else lp - y
            return np.where(x >= 0 if self.dist == "HalfNormal" else x > 0, lp, -np.inf)
        if self.dist == "HalfStudentT":
            x = np.asarray(x, float)
            return np.where(x >= 0, np.log(2.0) + self._scipy().logpdf(x), -np.inf)
        return self._scipy().logpdf(x)

    def draw(self, size, rng):
        """Independent draws of shape ``size`` from ``rng`` (a NumPy Generator), in NumPy."""
        import numpy as np

        p = self.params
        if self.dist == "Normal":
            return rng.normal(p["mu"], p["sigma"], size)
        if self.dist == "HalfNormal":
            return np.abs(rng.normal(0.0, p["sigma"], size))
        if self.dist == "LogNormal":
            return rng.lognormal(p["mu"], p["sigma"], size)
        out = self._scipy().rvs(size=size, random_state=rng)
        return np.abs(out) if self.dist == "HalfStudentT" else out

    def in_time_unit(self, factor: float, kind: str) -> Prior:
        """This prior for the parameter in another time unit, with times multiplied by
        ``factor``, by the parameter's time kind
        (:class:`~nen_bayes.bayes.families.Parameter` ``time``): a time scale (``"scale"``)
        multiplied by it, a positive rate (``"rate"``) and a real rate (``"per_time"``) divided
        by it, a log rate (``"log_rate"``) shifted by ``-log(factor)``. Each is exact: the
        distribution stays in its family.

        Raises ``KeyError`` for a distribution that has no such exact change."""
        return _prior_in_unit(self, factor, kind)

    def dist_object(self):
        """The unnamed PyMC distribution (for forward draws outside a model)."""
        import pymc as pm

        return getattr(pm, self.dist).dist(**self.params)


#: How a prior on a positive time (a scale) changes when times are multiplied by f: the
#: parameter that is a scale of the distribution is multiplied (or its rate divided) by f, or
#: the log-scale location shifted by log(f); each is exact (f X has the same family).
_TIME_SCALE = {"LogNormal": ("mu", "shift"), "Gamma": ("beta", "divide"),
               "InverseGamma": ("beta", "multiply"), "Exponential": ("lam", "divide"),
               "HalfNormal": ("sigma", "multiply"), "HalfStudentT": ("sigma", "multiply"),
               "HalfCauchy": ("beta", "multiply"), "Weibull": ("beta", "multiply")}
#: The location of a prior on a log hazard (log of 1 / time): shifted by -log(f).
_LOCATION = {"Normal": "mu", "StudentT": "mu", "Cauchy": "alpha", "Laplace": "mu",
             "Logistic": "mu"}


#: The location and scale of a real prior: both multiplied when the parameter is a rate.
_LOCATION_SCALE = {"Normal": ("mu", "sigma"), "StudentT": ("mu", "sigma"),
                   "Cauchy": ("alpha", "beta"), "Laplace": ("mu", "b"), "Logistic": ("mu", "s")}


def _prior_in_unit(prior: Prior, factor: float, kind: str) -> Prior:
    """:meth:`Prior.in_time_unit`."""
    if kind == "scale":
        return _scaled_prior(prior, factor, log_hazard=False)
    if kind == "rate":
        return _scaled_prior(prior, 1.0 / factor, log_hazard=False)
    if kind == "log_rate":
        return _scaled_prior(prior, factor, log_hazard=True)
    params = dict(prior.params)  # per_time: a real location-scale prior divided by factor
    for key in _LOCATION_SCALE[prior.dist]:
        params[key] /= factor
    return Prior(prior.dist, params, prior.reason)


def _scaled_prior(prior: Prior, factor: float, *, log_hazard: bool) -> Prior:
    """The prior of ``factor * X`` (a time scale) or of ``X - log(factor)`` (a log hazard)."""
    params = dict(prior.params)
    if log_hazard:
        params[_LOCATION[prior.dist]] -= math.log(factor)
    else:
        key, how = _TIME_SCALE[prior.dist]
        if how == "shift":
            params[key] += math.log(factor)
        elif how == "multiply":
            params[key] *= factor
        else:
            params[key] /= factor
    return Prior(prior.dist, params, prior.reason)


def lognormal_table(mu: float, sigma: float, reason: str) -> dict:
    """A model file's table of a LogNormal(mu, sigma) prior (a positive time or rate)."""
    return {"dist": "LogNormal", "mu": mu, "sigma": sigma, "reason": reason}

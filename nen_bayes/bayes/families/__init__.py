"""The registry of survival families: the one place a family is named.

Every layer asks this registry (:func:`get_family`) for the family of a model and then asks
the family object (:class:`~nen_bayes.bayes.families.base.Family`) for its parameters, the
kind of effect its coefficients have, its closed forms in NumPy and PyTensor, its baseline
level and the priors it needs. A new family is one module in this package defining a
:class:`~nen_bayes.bayes.families.base.Family` subclass and an instance, plus one line in
:data:`REGISTRY` below; nothing else changes.

Notation: ``t`` time, ``d`` event indicator (1 = event, 0 = right-censored), ``eta`` the linear
predictor (covariates times coefficients plus random effects). In a proportional-hazards
family the hazard of a unit is the baseline hazard times ``exp(eta)``, so ``exp(coefficient)``
is a hazard ratio (:attr:`Family.effect` ``"hazard_ratio"``); in an accelerated-failure-time
family (:mod:`~nen_bayes.bayes.families.aft`) a unit's time is the baseline's times
``exp(eta)``, so ``exp(coefficient)`` is a time ratio (``"time_ratio"``).

The log-likelihood of one unit is ``d log h(t) + log S(t)`` (an event contributes the density,
a censored unit its survival), so every unit, censored or not, has its own pointwise term.
With late entry (left truncation: the unit is observed only from time ``e`` on, ``0 <= e < t``)
the term is conditional on having survived to ``e``: ``d log h(t) + log S(t) - log S(e)``. An
event known only to lie in ``(lower, upper]`` contributes ``log(S(lower) - S(upper))``.

The module-level functions below (``loglik_numpy(family, ...)`` and the like) take a family
by name and keep the array conventions of earlier releases (flat draws; for the piecewise
family's ``cumulative_hazard0`` an outer product of draws and times); new code asks the family
object.
"""

from __future__ import annotations

import numpy as np

from nen_bayes.bayes.families.base import LN2, Family, Parameter
from nen_bayes.bayes.families.exponential import EXPONENTIAL, exponential_logp
from nen_bayes.bayes.families.gengamma import GENGAMMA
from nen_bayes.bayes.families.gompertz import GOMPERTZ
from nen_bayes.bayes.families.loglogistic import LOGLOGISTIC
from nen_bayes.bayes.families.lognormal import LOGNORMAL
from nen_bayes.bayes.families.piecewise import (
    PIECEWISE,
    exposure_matrix,
    exposure_tensor,
    interval_index,
    interval_of_tensor,
    piecewise_logp,
)
from nen_bayes.bayes.families.timevarying import (
    STRUCTURE_PARAMETERS,
    tv_offsets,
)
from nen_bayes.bayes.families.timevarying import (
    tv_cumulative_hazard as _tv_cumulative_hazard,
)
from nen_bayes.bayes.families.timevarying import (
    tv_interval_loglik_draws as _tv_interval_loglik_draws,
)
from nen_bayes.bayes.families.timevarying import (
    tv_log_random_times as _tv_log_random_times,
)
from nen_bayes.bayes.families.timevarying import (
    tv_loglik_draws as _tv_loglik_draws,
)
from nen_bayes.bayes.families.weibull import WEIBULL, power_interval_logp, weibull_logp
from nen_bayes.bayes.families.weibull_aft import WEIBULL_AFT

__all__ = [
    "DEFAULT_FAMILY",
    "LN2",
    "REGISTRY",
    "STRUCTURE_PARAMETERS",
    "WEIBULL",
    "Family",
    "Parameter",
    "cumulative_hazard0",
    "exponential_logp",
    "exposure_matrix",
    "exposure_tensor",
    "family_names",
    "get_family",
    "interval_censored_logp",
    "interval_index",
    "interval_loglik_numpy",
    "interval_of_tensor",
    "log_random_times",
    "loglik_draws",
    "loglik_numpy",
    "median_baseline",
    "piecewise_logp",
    "power_interval_logp",
    "random_times",
    "survival",
    "tv_cumulative_hazard",
    "tv_interval_loglik_draws",
    "tv_log_random_times",
    "tv_loglik_draws",
    "tv_offsets",
    "weibull_logp",
]

#: Every family, by the name a model file's ``[model] family`` and ``--family`` use.
REGISTRY: dict[str, Family] = {f.name: f for f in (
    WEIBULL, WEIBULL_AFT, EXPONENTIAL, GOMPERTZ, LOGNORMAL, LOGLOGISTIC, GENGAMMA, PIECEWISE)}

#: The family of a formula's model when ``--family`` is not given.
DEFAULT_FAMILY = WEIBULL.name


def family_names() -> tuple[str, ...]:
    """The registered families' names, in registration order."""
    return tuple(REGISTRY)


def get_family(family: str | Family) -> Family:
    """The family object of ``family`` (a name, or a family object itself).

    Raises
    ------
    ValueError
        ``family`` is not a registered name; the message lists the registered ones.
    """
    if isinstance(family, Family):
        return family
    try:
        return REGISTRY[family]
    except (KeyError, TypeError):
        raise ValueError(f"unknown family {family!r}; families: {list(REGISTRY)}") from None


# -- functions by family name (array conventions of earlier releases) ------------------------------
def _flat(fam: Family, params: dict, t) -> dict:
    """Params of the old conventions for times ``t``: a vector parameter (``(..., K)``) against
    1-D times gets a unit axis (an outer product of draws and times)."""
    if np.ndim(t) == 1:
        vector = {p.name for p in fam.parameters if p.dims}
        return {k: (np.asarray(v, float)[..., None, :] if k in vector and np.ndim(v) > 1
                    else v) for k, v in params.items()}
    return params


def cumulative_hazard0(family, t, params: dict, cuts=None):
    """Baseline cumulative hazard H0(t); scalar params broadcast with ``t``, a piecewise
    ``log_hazard`` (..., K) against times (m,) gives (..., m)."""
    fam = get_family(family)
    return fam.cumulative_hazard(t, _flat(fam, params, t), cuts)


def survival(family, t, params: dict, eta=0.0, cuts=None):
    """S(t | eta) = exp(-H0(t) exp(eta))."""
    return np.exp(-cumulative_hazard0(family, t, params, cuts) * np.exp(eta))


def loglik_numpy(family, t, d, eta, params: dict, cuts=None, entry=None):
    """Pointwise log-likelihood d log h(t) + log S(t) (- log S(entry) with late entry), written
    out independently of PyTensor."""
    return get_family(family).loglik(np.asarray(t, float), d, eta, params, cuts, entry)


def loglik_draws(family, t, d, eta, params: dict, cuts=None, entry=None):
    """Pointwise log-likelihood of many draws at once: ``eta`` (S, n), ``params`` values (S,)
    (``log_hazard``: (S, K)), ``t`` and ``d`` (n,); returns (S, n)."""
    return get_family(family).loglik_draws(np.asarray(t, float), d, eta, params, cuts, entry)


def interval_loglik_numpy(family, lower, upper, eta, params: dict, cuts=None):
    """log(S(lower) - S(upper)) per unit, written out independently of PyTensor."""
    w = np.exp(eta)
    return np.log(np.exp(-cumulative_hazard0(family, lower, params, cuts) * w)
                  - np.exp(-cumulative_hazard0(family, upper, params, cuts) * w))


def interval_censored_logp(family, params: tuple, eta, lower, upper, cuts=None):
    """log(S(lower) - S(upper)) per unit (PyTensor): the event happened in (lower, upper]."""
    return get_family(family).interval_logp(tuple(params), eta, lower, upper, cuts)


def median_baseline(family, params: dict, cuts=None):
    """Median survival time of a reference unit in a typical group (eta = 0)."""
    return get_family(family).median(params, cuts)


def random_times(family, params: dict, eta, rng: np.random.Generator, cuts=None, entry=None):
    """Uncensored event times drawn by inversion: T = H0^{-1}(H0(entry) + E exp(-eta)),
    E ~ Exp(1); ``params`` (S,) (``log_hazard``: (S, K)), ``eta`` (S, n)."""
    fam = get_family(family)
    p = fam.expand(params)
    eta = np.asarray(eta, float)
    target = rng.standard_exponential(eta.shape) * np.exp(-eta)
    if entry is not None:
        target = target + fam.cumulative_hazard(np.asarray(entry, float), p, cuts)
    return fam.inverse_cumulative_hazard(target, p, cuts)


def log_random_times(family, params: dict, eta, rng: np.random.Generator, cuts=None,
                     entry=None):
    """The logarithm of :func:`random_times`' draws (same random numbers), on the log scale
    where the family allows it (no overflow for enormous times)."""
    fam = get_family(family)
    return fam.log_random_times(fam.expand(params), eta, rng, cuts, entry)


def tv_cumulative_hazard(family, t, params: dict, eta, tv: dict, off):
    """:func:`nen_bayes.bayes.families.timevarying.tv_cumulative_hazard` by family name."""
    return _tv_cumulative_hazard(get_family(family), t, params, eta, tv, off)


def tv_loglik_draws(family, t, d, eta, params: dict, tv: dict, entry=None):
    """:func:`nen_bayes.bayes.families.timevarying.tv_loglik_draws` by family name."""
    return _tv_loglik_draws(get_family(family), t, d, eta, params, tv, entry)


def tv_interval_loglik_draws(family, lower, upper, eta, params: dict, tv: dict):
    """:func:`nen_bayes.bayes.families.timevarying.tv_interval_loglik_draws` by family name."""
    return _tv_interval_loglik_draws(get_family(family), lower, upper, eta, params, tv)


def tv_log_random_times(family, params: dict, eta, rng: np.random.Generator, tv: dict,
                        entry=None):
    """:func:`nen_bayes.bayes.families.timevarying.tv_log_random_times` by family name."""
    return _tv_log_random_times(get_family(family), params, eta, rng, tv, entry)

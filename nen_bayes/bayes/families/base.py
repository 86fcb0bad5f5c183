"""What every survival family is: its parameters and its closed forms, asked by every layer.

A family is one frozen object (:class:`Family`), registered by name in
:mod:`nen_bayes.bayes.families`. A proportional-hazards family needs only its baseline
cumulative hazard ``H0(t)``, its log hazard ``log h0(t)`` and the inverse of ``H0``; everything
else (survival, median, random draws, the likelihood of an exact, right-censored,
interval-censored or late-entry unit) follows from them here, in NumPy, and, for the model
graph, in PyTensor.

Conventions (NumPy). ``params`` maps each parameter name to an array: a scalar parameter
(``shape``, ``scale``) has the leading *batch* shape of the draws, a vector parameter
(``log_hazard``, one value per interval) the same batch shape followed by its own last axis.
Times ``t`` broadcast elementwise against the batch shape, so ``params`` of ``S`` draws
expanded by :meth:`Family.expand` (``(S, 1)`` and ``(S, 1, K)``) and times of ``n`` units give
``(S, n)``. The unit's linear predictor ``eta`` multiplies the hazard by ``exp(eta)``: for a
PH family ``exp(coefficient)`` is a hazard ratio (:attr:`Family.effect`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

__all__ = ["LN2", "Family", "Parameter", "scaled_transform"]

LN2 = float(np.log(2.0))


def _scaled_transform_class():
    """The transform class of :func:`scaled_transform` (built on first use: PyMC is imported
    inside functions)."""
    import pytensor.tensor as pt
    from pymc.logprob.transforms import Transform

    class _PerSD(Transform):
        """``value = x * s`` (``s`` a constant, or a constant vector); log-Jacobian
        ``-log s``."""

        name = "persd"  # PyMC strips "_<name>__" from the value name: no underscore

        def __init__(self, s):
            self.s = np.asarray(s, float)

        def forward(self, value, *inputs):
            return value * self.s

        def backward(self, value, *inputs):
            return value / self.s

        def log_jac_det(self, value, *inputs):
            return pt.zeros_like(value) - np.log(self.s)

    return _PerSD


def scaled_transform(s):
    """The sampler's variable ``x * s`` for a parameter ``x`` (a constant ``s`` > 0): a
    coefficient per SD of its column, a per-time rate per reference time. The posterior is
    unchanged (a constant Jacobian); NUTS sees a parameter of order 1, so its unit mass matrix
    and its starting box (-2, 2), jittered by nutpie by U(-1, 1), fit the parameter's scale."""
    return _scaled_transform_class()(s)


@dataclass(frozen=True)
class Parameter:
    """One baseline parameter of a family.

    ``support``: ``"positive"`` or ``"real"`` (what its prior must have); ``dims``: its named
    dims (``("interval",)`` for one value per interval of the baseline); ``time``: how it
    changes with the unit of time, ``"scale"`` (a time: multiplied by the factor between two
    units) or ``"log_rate"`` (a log hazard: shifted by minus the log of that factor), None when
    it has no unit; ``baseline``: whether it carries the baseline's level (the parameter
    internal centring re-expresses at the covariate means); ``quantity``: the name of its rows
    in the effects table (None: not reported there); ``default_prior``: the prior a formula's
    model gives it when it does not carry the baseline (a prior table, or a function of the
    data's crude mean survival time ``c`` and time unit returning one)."""

    name: str
    support: str
    description: str
    dims: tuple[str, ...] = ()
    time: str | None = None
    baseline: bool = False
    quantity: str | None = None
    default_prior: object = None

    def prior_for(self, crude: float, unit: str) -> dict:
        """The default prior table of a formula's model (``crude``: total follow-up / events,
        in ``unit``)."""
        p = self.default_prior
        return dict(p(crude, unit) if callable(p) else p)


@dataclass(frozen=True)
class Family(ABC):
    """A survival family (subclasses fill in the closed forms).

    ``name`` is the key a model file's ``[model] family`` and ``--family`` use; ``title`` its
    name in tables; ``effect`` the kind of effect a coefficient has (``"hazard_ratio"``: PH);
    ``parameters`` its baseline parameters in the order the model creates them;
    ``needs_cuts`` whether its baseline has interval cut points (``[baseline] cuts``);
    ``time_varying`` the ``[time_varying]`` effects it supports (``"hazard_ratio"``: a log-HR
    by time interval; ``"shape"``: a shape per level)."""

    name: str
    title: str
    effect: str = "hazard_ratio"
    parameters: tuple[Parameter, ...] = ()
    needs_cuts: bool = False
    time_varying: tuple[str, ...] = ()

    # -- what it has -------------------------------------------------------------------------
    @property
    def parameterisation(self) -> str:
        """``"ph"`` (coefficients are log hazard ratios) or ``"aft"`` (log time ratios): a
        model file's ``[model] parameterisation``."""
        return {"hazard_ratio": "ph", "time_ratio": "aft"}[self.effect]

    @property
    def proportional(self) -> bool:
        """Whether the family is in proportional-hazards form (its coefficients log HRs)."""
        return self.effect == "hazard_ratio"

    @property
    def effect_variable(self) -> str:
        """The posterior variable holding ``exp(beta)``: ``hr`` (hazard ratios) or ``tr``
        (time ratios)."""
        return "hr" if self.proportional else "tr"

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def baseline_parameter(self) -> Parameter:
        """The parameter that carries the baseline's level (``scale`` or ``log_hazard``)."""
        return next(p for p in self.parameters if p.baseline)

    def required_priors(self) -> dict[str, str]:
        """Prior key -> the support it needs, one per parameter."""
        return {p.name: p.support for p in self.parameters}

    def constant_hazard(self, rate: float, cuts=None) -> dict[str, np.ndarray]:
        """The parameters (one set) of a constant baseline hazard ``rate`` per time unit, where
        the family has one (the crude exponential truth of a simulation study); raises
        ``ValueError`` for a family that cannot be constant."""
        raise ValueError(f"the {self.name} family has no constant-hazard member")

    def parameter_labels(self, cuts=None) -> list[str]:
        """Every baseline parameter one by one (a vector parameter as ``name[k]``)."""
        out = []
        for p in self.parameters:
            if p.dims:
                out += [f"{p.name}[{k}]" for k in range(len(cuts) + 1)]
            else:
                out.append(p.name)
        return out

    # -- draws -------------------------------------------------------------------------------
    def param_draws(self, ds, idx=None) -> dict[str, np.ndarray]:
        """The parameters of a dataset of draws (chain, draw, ...) as flat ``(S, ...)``."""
        out = {}
        for p in self.parameters:
            a = ds[p.name].to_numpy()
            a = a.reshape((-1, *a.shape[2:]))
            out[p.name] = a if idx is None else a[idx]
        return out

    def expand(self, params: dict, axes: int = 1) -> dict[str, np.ndarray]:
        """``params`` of shape ``(S,)`` / ``(S, K)`` with ``axes`` unit axes inserted after the
        draws: ``(S, 1)`` / ``(S, 1, K)``, to broadcast against times of shape ``(n,)``."""
        out = {}
        vector = {p.name for p in self.parameters if p.dims}
        for k, v in params.items():
            v = np.asarray(v, float)
            if k in vector:
                out[k] = v.reshape(v.shape[:-1] + (1,) * axes + v.shape[-1:])
            elif k in self.parameter_names:
                out[k] = v.reshape(v.shape + (1,) * axes)
        return out

    # -- closed forms (NumPy; subclasses) -------------------------------------------------------
    @abstractmethod
    def cumulative_hazard(self, t, params: dict, cuts=None):
        """Baseline cumulative hazard ``H0(t)`` (elementwise; module conventions)."""

    @abstractmethod
    def log_hazard(self, t, params: dict, cuts=None):
        """Baseline log hazard ``log h0(t)``."""

    @abstractmethod
    def inverse_cumulative_hazard(self, target, params: dict, cuts=None):
        """``t`` with ``H0(t) = target`` (target >= 0)."""

    # -- derived (NumPy) --------------------------------------------------------------------------
    def survival(self, t, params: dict, eta=0.0, cuts=None):
        """``S(t | eta) = exp(-H0(t) exp(eta))``."""
        return np.exp(-self.cumulative_hazard(t, params, cuts) * np.exp(eta))

    def median(self, params: dict, cuts=None):
        """Median survival of a reference unit (eta = 0), one per draw of ``params``."""
        return self.inverse_cumulative_hazard(LN2, params, cuts)

    def log_random_times(self, params: dict, eta, rng: np.random.Generator, cuts=None,
                         entry=None):
        """log T of times drawn by inversion, ``H0(T) = H0(entry) + E exp(-eta)``,
        ``E ~ Exp(1)`` (given survival to ``entry`` when given); ``params`` broadcast against
        ``eta``, whose shape the draws take."""
        eta = np.asarray(eta, float)
        e = rng.standard_exponential(eta.shape)
        target = e * np.exp(-eta)
        if entry is not None:
            target = target + self.cumulative_hazard(np.asarray(entry, float), params, cuts)
        with np.errstate(over="ignore", divide="ignore"):
            return np.log(self.inverse_cumulative_hazard(target, params, cuts))

    def rmst(self, tau: float, params: dict, eta=0.0, cuts=None, panels: int = 32):
        """Restricted mean survival time ``integral_0^tau S(t | eta) dt``: composite
        Gauss-Legendre (``panels`` panels of 8 nodes, graded towards 0 as ``tau u^3``, where a
        survival curve such as the Weibull's with shape below 1 is least smooth, and the
        baseline's cut points added as panel ends); broadcasts over the batch shape of
        ``params`` and ``eta``."""
        x, w = np.polynomial.legendre.leggauss(8)
        edges = float(tau) * np.linspace(0.0, 1.0, panels + 1) ** 3
        if cuts is not None:
            edges = np.unique(np.concatenate([edges, [c for c in cuts if 0 < c < tau]]))
        a, b = edges[:-1, None], edges[1:, None]
        t = (0.5 * (b - a) * x + 0.5 * (a + b)).ravel()  # (panels * 8,)
        weights = (0.5 * (b - a) * w).ravel()
        p = {k: np.asarray(v, float)[..., None] if k not in self._vector_names()
             else np.asarray(v, float)[..., None, :] for k, v in params.items()
             if k in self.parameter_names}
        s = self.survival(t, p, np.asarray(eta, float)[..., None], cuts)
        return np.sum(s * weights, axis=-1)

    def mean(self, params: dict, cuts=None):
        """Mean survival time of a reference unit (eta = 0), one per parameter set:
        ``integral_0^inf S(t) dt`` as the RMST up to the time by which S = 1e-12 (the tail
        beyond adds a negligible amount for the light-tailed families; a family with a closed
        form or a heavy tail overrides this); ``inf`` where S never falls that low (a cure
        fraction)."""
        end = np.asarray(self.inverse_cumulative_hazard(np.asarray(-np.log(1e-12)), params,
                                                        cuts), float)
        vector = self._vector_names()
        out = np.full(end.shape, np.inf)
        for idx in np.ndindex(end.shape):
            if np.isfinite(end[idx]):
                one = {k: np.asarray(v, float)[idx] if np.ndim(v) > (k in vector) else v
                       for k, v in params.items() if k in self.parameter_names}
                out[idx] = self.rmst(end[idx], one, cuts=cuts, panels=256)
        return out

    def _vector_names(self) -> set[str]:
        return {p.name for p in self.parameters if p.dims}

    def loglik(self, t, d, eta, params: dict, cuts=None, entry=None):
        """Pointwise log-likelihood ``d (log h0(t) + eta) - H0(t) exp(eta)`` (``+ H0(entry)
        exp(eta)`` with late entry: conditional on survival to entry)."""
        d = np.asarray(d, float)
        w = np.exp(eta)
        out = d * (self.log_hazard(t, params, cuts) + eta) - self.cumulative_hazard(
            t, params, cuts) * w
        if entry is not None:
            out = out + self.cumulative_hazard(np.asarray(entry, float), params, cuts) * w
        return out

    def loglik_draws(self, t, d, eta, params: dict, cuts=None, entry=None):
        """:meth:`loglik` of many draws: flat ``params`` (``(S,)``, ``(S, K)``), ``eta``
        ``(S, n)``, ``t``, ``d`` and ``entry`` ``(n,)``; returns ``(S, n)``."""
        return self.loglik(t, d, eta, self.expand(params), cuts, entry)

    def interval_loglik(self, lower, upper, eta, params: dict, cuts=None):
        """``log(S(lower) - S(upper))``: the event happened in ``(lower, upper]``, computed as
        ``-H(lower) + log(-expm1(-(H(upper) - H(lower))))`` (no precision lost when narrow)."""
        w = np.exp(eta)
        h_lo = self.cumulative_hazard(np.asarray(lower, float), params, cuts) * w
        h_up = self.cumulative_hazard(np.asarray(upper, float), params, cuts) * w
        with np.errstate(divide="ignore"):
            return -h_lo + np.log(-np.expm1(-(h_up - h_lo)))

    # -- the model graph (PyTensor; subclasses) ----------------------------------------------------
    @abstractmethod
    def create(self, spec, centred: bool, shift, baseline, design=None):
        """The parameters the likelihood sees, created in the PyMC model being built, in the
        order of :attr:`parameters`. ``centred``: the baseline is sampled at the covariate
        means (``baseline(spec, name, shift, per=..., dims=...)`` creates it, the model's
        internal centring)."""

    @abstractmethod
    def logp(self, design, entry, times=None):
        """The log density ``logp(value, *params, eta, event)`` of exact and right-censored
        units (with ``- log S(entry)`` for late entry), for the PyMC model; ``times``: the
        observed times held as data (a tensor), else None (the design's, constants)."""

    @abstractmethod
    def pt_cumulative_hazard(self, t, params: tuple, cuts=None):
        """``H0(t)`` in PyTensor for ``t`` >= 0 (a NumPy array or a tensor); ``params`` the
        tensors of :meth:`create`, in order."""

    def interval_logp(self, params: tuple, eta, lower, upper, cuts=None):
        """``log(S(lower) - S(upper))`` per unit (PyTensor; the event in ``(lower, upper]``),
        ``-H(lower) + log(-expm1(-(H(upper) - H(lower))))``; ``lower`` 0 never reaches a
        logarithm."""
        import pytensor.tensor as pt

        h_lo = self.pt_cumulative_hazard(lower, params, cuts) * pt.exp(eta)
        h_up = self.pt_cumulative_hazard(upper, params, cuts) * pt.exp(eta)
        return -h_lo + pt.log(-pt.expm1(-(h_up - h_lo)))

    @abstractmethod
    def baseline_level(self, params: tuple, log_t0: float):
        """The level of the baseline (PyTensor) around which hierarchically centred group
        intercepts are sampled (:func:`nen_bayes.bayes.model.build_model`)."""

    def weibull_form(self, params: dict | tuple):
        """``(shape, scale)`` when ``H0(t) = (t / scale)^shape`` (a time-varying effect by
        interval or by shape needs it), else None."""
        return None

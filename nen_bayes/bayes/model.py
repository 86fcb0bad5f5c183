"""Build the PyMC model of a specification on a design: a pure function, no sampling.

Variables (names are part of the public contract; tests check them):

``beta`` (dims ``covariate``)
    log hazard ratios; ``exp(beta)`` is the HR of the coefficient's contrast.
``shape``, ``scale`` (Weibull), ``scale`` (exponential), ``log_hazard`` (dims ``interval``,
piecewise)
    the baseline hazard of a reference unit in a typical group (see
    :mod:`nen_bayes.bayes.families`).
``sd_<group>``, ``z_<group>`` (non-centred only), ``u_<group>`` (dims ``<group>``)
    between-group SD of the log-hazard, standardised effects, and the group log-HR offsets
    (``u = sd * z`` when non-centred; ``u ~ Normal(0, sd)`` when centred, sampled around the
    baseline: see hierarchical centring below).
``precision_<group>``
    only when the model file puts the group's prior on its precision (``group_precision``):
    the free variable, with that prior, and ``sd_<group> = precision ** -0.5`` derived from it.
``sd_<group>_varying`` (dims ``<group>_varying``), ``z_``/``u_<group>_varying`` (dims
``<group>, <group>_varying``)
    group-specific deviations of the varying coefficients (diagonal covariance: with a handful of
    centres a correlation between intercepts and slopes is not identified).
``time`` (dims ``patient``)
    the observed times, with the event indicator as a parameter of the likelihood
    (``d log h(t) + log S(t)`` per unit, censored units included; ``- log S(entry)`` added
    when the design has late entry times, so the pointwise log-likelihood is the conditional one).

``prior_only=True`` leaves out the likelihood, for prior checks by sampling.
``outcome_data=True`` holds the outcomes in data containers (:data:`OUTCOME_DATA`: the times,
the event indicator, with late entry the entry times, and the upper bounds of
interval-censored events when the design has them or ``interval_data=True``; dims
``patient``), so that one
compiled model is refitted to other outcomes of the same units
(:class:`nen_bayes.bayes.refit.Refitter`). Everything the likelihood computes from the outcomes
(the piecewise exposures and intervals, the late-entry term, which units are
interval-censored and their bounds) is then part of the graph.
``unit_weights=True`` multiplies each unit's log-likelihood by a weight held in a data container
(:data:`UNIT_WEIGHTS`, all 1 when built): weights 0 for the units of one centre give the exact
posterior given the other centres, so cross-validation refits reuse one compiled model.

Internal centring (``centre=True``, the default for sampling): the numeric covariates' columns
are centred at their means *inside* the model, whatever coding the user chose (``center =
false`` keeps the user's coding for every reported quantity). With ``eta = X beta`` in the
user's coding and ``m`` the column means, ``X beta = (X - m) beta + m'beta``, so the sampler
works on the baseline at the covariate means (free variable ``scale_centred_log`` or
``log_hazard_centred``, names in :data:`CENTRED_BASELINE`) and the user's baseline is exact:
Weibull ``log scale = log scale_c + m'beta / shape``, exponential ``log scale = log scale_c +
m'beta``, piecewise ``log_hazard = log_hazard_c - m'beta``. The map has Jacobian 1 in the
log-baseline, so the user's prior on ``scale`` (``log_hazard``) enters as a potential on the
transformed value (plus ``log scale`` for the log change of variables) and the posterior is
exactly the uncentred model's, with the correlation between baseline and coefficients gone
(as brms samples a centred intercept).

Hierarchical centring: the first centred group (:func:`level_group`) is sampled around the
baseline, as its levels ``level_<group> ~ Normal(L, sd)`` with ``u = level - L``, where ``L`` is
the baseline's level (:func:`_baseline_level`: the log cumulative baseline hazard at the
geometric mean of the event times for Weibull and exponential baselines, the mean log hazard of
the piecewise intervals). The prior of ``u`` is the same ``Normal(0, sd)`` and the map has
Jacobian 1, so the posterior is the centred model's; but the likelihood now sees each group's
level directly, and the baseline is informed by the levels' mean instead of trading off against
every ``u`` along a ridge (with thousands of units a group, the plain centred form mixed badly:
R-hat 1.02 and a bulk ESS of about 300 of 4,000 draws). ``level_<group>`` is a sampling variable
only and is not stored with the draws (:func:`internal_variables`); ``u_<group>`` is.
Not with a shape that changes with a covariate (no single baseline level).

Internal scaling (also ``centre=True``): each numeric column is divided by its SD ``s``
(:func:`sampling_scales`; 1 for indicator columns), so the sampler works on ``beta * s``, the
log-HR per SD of the column, whatever unit the user chose (age in days or years). It is a
transform of ``beta`` (:func:`per_sd_transform`: value ``beta * s``, log-Jacobian ``-log s``,
a constant), so ``beta`` is stored in the user's coding, the user's prior applies to the
user's ``beta`` as written, and the posterior is exactly the unscaled model's. NUTS starts its
diagonal mass matrix at 1 for every parameter: on the per-SD scale a coefficient of age in days
no longer starts 10^4-fold away from its posterior SD.
"""

from __future__ import annotations

import numpy as np

from nen_bayes.bayes import families
from nen_bayes.bayes.design import Design
from nen_bayes.bayes.families.base import scaled_transform
from nen_bayes.bayes.spec import ModelSpec
from nen_bayes.cohorts.outcomes import Outcomes
from nen_bayes.errors import SpecError

__all__ = ["CENTRED_BASELINE", "OBSERVED", "OUTCOME_DATA", "PRIOR_DATA", "UNIT_WEIGHTS",
           "build_model", "centring_offsets", "drop_internal", "group_var_names",
           "internal_variables",
           "level_group", "per_sd_transform", "reference_log_time",
           "sampling_scales"]

#: The free baseline variables of an internally centred model (not stored with the draws).
CENTRED_BASELINE = ("scale_centred_log", "log_hazard_centred")

#: The prefix of a group's intercepts sampled around the baseline (hierarchical centring; not
#: stored with the draws: ``u_<group>`` is).
LEVEL_PREFIX = "level_"

#: Name of the observed variable (and, in ``constant_data``, of the event indicator).
OBSERVED = "time"


def group_var_names(name: str) -> dict[str, str]:
    return {"sd": f"sd_{name}", "precision": f"precision_{name}", "z": f"z_{name}",
            "u": f"u_{name}", "level": f"{LEVEL_PREFIX}{name}",
            "sd_varying": f"sd_{name}_varying", "z_varying": f"z_{name}_varying",
            "u_varying": f"u_{name}_varying"}


#: Names of the data containers holding the coefficient prior's location and scale when a model
#: is built with ``prior_data=True`` (so that refits under other priors reuse one compilation).
PRIOR_DATA = ("beta_prior_mu", "beta_prior_sigma")

#: Names of the data containers of the outcomes when a model is built with
#: ``outcome_data=True``: observed times, event indicator (1/0, float), late-entry times, and
#: the upper bounds of interval-censored events (``upper`` = time for an exact event time or a
#: censored unit; an event with upper > time happened in (time, upper]; only without late
#: entry, when the design has bounds or ``interval_data=True``).
OUTCOME_DATA = ("outcome_time", "outcome_event", "outcome_entry", "outcome_upper")

#: Name of the data container of per-unit likelihood weights (``build_model(...,
#: unit_weights=True)``): 1 counts a unit, 0 leaves it out of the fit.
UNIT_WEIGHTS = "unit_weight"


def _weighted(logp):
    """``logp`` with one more argument, a per-unit weight that multiplies it."""
    def weighted_logp(value, *args):
        *params, weight = args
        return weight * logp(value, *params)
    return weighted_logp


def per_sd_transform(s):
    """The transform ``value = beta * s`` (module docstring), for the per-column SDs ``s``
    (:func:`nen_bayes.bayes.families.base.scaled_transform`)."""
    return scaled_transform(s)


def sampling_scales(design: Design) -> np.ndarray:
    """The SD of each design column of a numeric covariate (1 for factor columns and for a
    constant column): what the sampler divides by internally (see the module's docstring)."""
    out = []
    for j, t in enumerate(design.terms):
        sd = float(design.X[:, j].std()) if t in design.transforms else 1.0
        out.append(sd if sd > 0 and np.isfinite(sd) else 1.0)
    return np.array(out)


def _coefficients(spec: ModelSpec, design: Design, prior_data: bool = False, scales=None):
    """``beta`` with one prior per covariate column; one vector RV when the priors share a
    distribution (the usual case), else one RV per column stacked into a Deterministic.

    ``prior_data``: the priors must all be Normal; their means and SDs become data containers
    (:data:`PRIOR_DATA`, one value per coefficient) that can be changed without recompiling.
    ``scales``: sample each coefficient per SD of its column (:func:`per_sd_transform`).
    """
    import pymc as pm
    import pytensor.tensor as pt

    def tr(idx=None):
        if scales is None:
            return {}
        return {"default_transform": per_sd_transform(scales if idx is None
                                                      else scales[idx])}

    priors = [spec.coefficient_prior(t) for t in design.terms]
    dists = {p.dist for p in priors}
    if prior_data:
        if dists != {"Normal"}:
            raise SpecError(f"{spec.source}: prior hyper-parameters as data need Normal "
                            f"coefficient priors; this model has {sorted(dists)}")
        mu = pm.Data(PRIOR_DATA[0], np.array([p.params["mu"] for p in priors], float),
                     dims="covariate")
        sigma = pm.Data(PRIOR_DATA[1], np.array([p.params["sigma"] for p in priors], float),
                        dims="covariate")
        return pm.Normal("beta", mu=mu, sigma=sigma, dims="covariate", **tr())
    if len(dists) == 1:
        dist = priors[0].dist
        params = {k: np.array([p.params[k] for p in priors]) for k in priors[0].params}
        if all(np.all(v == v[0]) for v in params.values()):
            params = {k: float(v[0]) for k, v in params.items()}
        return getattr(pm, dist)("beta", **params, dims="covariate", **tr())
    parts = []
    for col in dict.fromkeys(design.terms):
        idx = [j for j, t in enumerate(design.terms) if t == col]
        dim = f"covariate_{col}"
        pm.modelcontext(None).add_coord(dim, [design.coefficients[j] for j in idx])
        parts.append(spec.coefficient_prior(col).create(f"beta_{col}", dims=dim, **tr(idx)))
    return pm.Deterministic("beta", pt.concatenate(parts), dims="covariate")


def centring_offsets(design: Design) -> np.ndarray:
    """The mean of each design column of a numeric covariate (0 for factor columns): what the
    sampler subtracts internally (see the module's docstring)."""
    return np.array([float(design.X[:, j].mean()) if t in design.transforms else 0.0
                     for j, t in enumerate(design.terms)])


def _baseline(spec: ModelSpec, name: str, shift, per=None, dims=None):
    """The baseline ``name`` (``scale`` or ``log_hazard``) in the user's coding, as a
    Deterministic, and the value the likelihood sees at the covariate means; sampled as the
    latter (module docstring)."""
    import pymc as pm
    import pytensor.tensor as pt

    prior = spec.priors[name].dist_object()
    if name == "log_hazard":
        free = pm.Flat(CENTRED_BASELINE[1], dims=dims)
        value = pm.Deterministic(name, free - shift, dims=dims)
        pm.Potential(f"{name}_prior", pm.logp(prior, value).sum())
        return value, free
    free = pm.Flat(CENTRED_BASELINE[0])
    log_value = free + shift / (1.0 if per is None else per)
    value = pm.Deterministic(name, pt.exp(log_value))
    pm.Potential(f"{name}_prior", pm.logp(prior, value) + log_value)
    return value, pt.exp(free)


def _interval_censored(logp, family, design: Design, outcomes=None):
    """``logp`` with the units whose event lies in ``(time, upper]`` (event 1, upper > time)
    contributing log(S(time) - S(upper)) instead (:func:`families.interval_censored_logp`).
    ``outcomes``: the times, entry times and upper bounds as data, else None (constants)."""
    import pytensor.tensor as pt

    if design.entry is not None:
        raise SpecError("interval-censored event times together with late entry are not "
                        "supported")
    if outcomes is not None:
        return _interval_censored_data(logp, family, design, outcomes[0], outcomes[2])
    inside = (design.event == 1) & (design.upper > design.time)
    safe_time = np.where(inside, design.upper, design.time)  # never 0 in the exact-time term
    lower = np.where(inside, design.time, 0.0)
    upper = np.where(inside, design.upper, 1.0)

    def interval_logp(value, *args):
        *params, eta, event = args
        exact = logp(pt.as_tensor(safe_time), *params, eta, event)
        return pt.where(inside, family.interval_logp(tuple(params), eta, lower, upper,
                                                     design.cuts),
                        exact)
    return interval_logp


def _interval_censored_data(logp, family, design: Design, time, upper):
    """:func:`_interval_censored` with the times and upper bounds held as data: which units
    are interval-censored (event 1, upper > time), and their bounds, computed in the graph
    (an exact event or a censored unit, upper = time, keeps its ordinary term; the bounds of
    the other branch are replaced by safe values, so no log 0 or infinity reaches the
    gradient)."""
    import pytensor.tensor as pt

    def interval_logp(value, *args):
        *params, eta, event = args
        inside, safe_time, lower, up = _interval_bounds(time, event, upper)
        exact = logp(safe_time, *params, eta, event)
        return pt.switch(inside, family.interval_logp(tuple(params), eta, lower, up,
                                                      design.cuts),
                         exact)
    return interval_logp


def level_group(spec: ModelSpec, design: Design) -> str | None:
    """The group whose centred intercepts are sampled around the baseline (hierarchical
    centring, module docstring): the first centred group, unless the Weibull shape varies
    with a covariate (then no single baseline level exists); None when no group is centred."""
    if spec.time_varying is not None and spec.time_varying.effect == "shape":
        return None
    return next((g.name for g in design.groups if g.centered), None)


def drop_internal(ds):
    """``ds`` (a dataset of draws) without the variables of :func:`internal_variables`."""
    return ds.drop_vars(internal_variables(ds.data_vars))


def internal_variables(names) -> list[str]:
    """Those of ``names`` that are sampling variables only, not stored with the draws: the
    internally centred baseline and the group levels of hierarchical centring."""
    return [v for v in names if v in CENTRED_BASELINE or v.startswith(LEVEL_PREFIX)]


def reference_log_time(design: Design) -> float:
    """The log of the geometric mean of the design's event times, an interval-censored event
    counted at its upper bound (of all its positive times when it has no event): where the
    baseline level of hierarchical centring is taken."""
    time = Outcomes.of(design).detection_time  # an event in (time, upper] at upper
    times = time[(design.event == 1) & (time > 0)]
    times = times if len(times) else time[time > 0]
    return float(np.mean(np.log(times))) if len(times) else 0.0


def _baseline_level(family, params, design: Design):
    """The level of the baseline the likelihood sees (PyTensor), around which the centred
    group intercepts are sampled: for Weibull and exponential baselines the log cumulative
    hazard at a reference time ``t0``, the geometric mean of the event times (``shape (log t0
    - log scale)``, ``log t0 - log scale``), so that a group's level and the Weibull shape are
    nearly uncorrelated in the posterior; for the piecewise baseline the mean of the
    intervals' log hazards. Any ``t0`` gives the same posterior (a shift of the level by a
    function of the other parameters has Jacobian 1); this one mixes best."""
    return family.baseline_level(params, reference_log_time(design))


def _group_effects(spec: ModelSpec, design: Design, groups=None, level=None):
    """Each group's intercepts (and varying coefficients) added up per unit, created in the
    model being built (centred or non-centred as each group says). ``groups``: the names of the
    groups to create (default all); ``level``: the baseline's log-hazard level, around which
    the centred intercepts of :func:`level_group` are sampled (``u = level_<group> - level``,
    with ``level_<group> ~ Normal(level, sd)``: the same prior ``u ~ Normal(0, sd)``)."""
    import pymc as pm
    import pytensor.tensor as pt

    eta = pt.zeros(design.n)
    for g in design.groups:
        if groups is not None and g.name not in groups:
            continue
        v = group_var_names(g.name)
        precision = spec.group_precision_prior(g.name)
        if precision is None:
            sd = spec.group_sd_prior(g.name).create(v["sd"])
        else:  # the prior as written, on 1 / sd^2 (sampled on its log): sd derived
            sd = pm.Deterministic(v["sd"], precision.create(v["precision"]) ** -0.5)
        if g.centered and level is not None:
            u = pm.Deterministic(v["u"], pm.Normal(v["level"], level, sd, dims=g.name) - level,
                                 dims=g.name)
        elif g.centered:
            u = pm.Normal(v["u"], 0.0, sd, dims=g.name)
        else:
            z = pm.Normal(v["z"], 0.0, 1.0, dims=g.name)
            u = pm.Deterministic(v["u"], sd * z, dims=g.name)
        eta = eta + u[g.index]
        if g.varying:
            dims = (g.name, g.varying_dim)
            sdv = spec.varying_sd_prior(g.name).create(v["sd_varying"], dims=g.varying_dim)
            if g.centered:
                uv = pm.Normal(v["u_varying"], 0.0, sdv, dims=dims)
            else:
                zv = pm.Normal(v["z_varying"], 0.0, 1.0, dims=dims)
                uv = pm.Deterministic(v["u_varying"], sdv * zv, dims=dims)
            xv = design.X[:, list(g.varying)]
            eta = eta + (uv[g.index] * xv).sum(axis=1)
    return eta


def _exposure_tensor(t, cuts: np.ndarray):
    """:func:`families.exposure_matrix` and :func:`families.interval_index` of times held as
    data (PyTensor): the time spent in each interval before ``t``, and ``t``'s interval."""

    return families.exposure_tensor(t, cuts), families.interval_of_tensor(t, cuts)


def _tv_logp(spec: ModelSpec, design: Design, tv: dict, outcomes=None):
    """The log density with a time-varying effect (:mod:`families`' formulas in PyTensor), its
    extra parameter created in the model being built. Everything the likelihood takes from
    the times (windows of the baseline hazard, the interval of each time, which units are
    interval-censored) is computed in the graph from the observed times, so that it is the
    same whether the outcomes are constants or data (``outcomes``: the times, entry times and
    upper bounds as data, as in :func:`_family_terms`; None: the design's, as constants)."""
    import pytensor.tensor as pt

    if outcomes is None:
        entry = None if design.entry is None else pt.as_tensor(np.asarray(design.entry, float))
        upper = None if design.upper is None else pt.as_tensor(np.asarray(design.upper, float))
    else:
        _, entry, upper = outcomes
    if upper is not None and entry is not None:
        raise SpecError("interval-censored event times together with late entry are not "
                        "supported")
    x = tv["x"]
    if tv["effect"] == "shape":
        change = spec.priors["shape_change"].create("shape_change", dims="covariate_tv")

        def shape_logp(value, shape, scale, change, eta, event):
            unit_shape = shape * pt.exp(pt.dot(x, change))
            if upper is None:
                return families.weibull_logp(value, unit_shape, scale, eta, event, entry)
            inside, safe_time, lower, up = _interval_bounds(value, event, upper)
            exact = families.weibull_logp(safe_time, unit_shape, scale, eta, event)
            return pt.switch(inside, families.power_interval_logp(unit_shape, scale, eta,
                                                                  lower, up), exact)
        return change, shape_logp
    change = spec.priors["hr_change"].create("hr_change",
                                             dims=("covariate_tv", "interval_tv_change"))
    return change.flatten(), _tv_hr_logp(families.get_family(spec.family), x, tv["cuts"], entry,
                                         upper)


def _tv_hr_logp(family, x: np.ndarray, cuts: np.ndarray, entry, upper):
    """The log density of a log-HR that changes at ``cuts`` (columns ``x``), for a power-law
    baseline (``Family.weibull_form``: the Weibull or the exponential). With ``j`` the
    interval of ``t`` and ``c_k`` the cut points,
    ``H(t) = exp(eta) [sum_{k<j} exp(off_k) (H0(c_{k+1}) - H0(c_k)) + exp(off_j) (H0(t) -
    H0(c_j))]``: the full intervals' increments depend on the parameters only, so each time
    costs one power of ``t``; with interval censoring, events in (time, upper] contribute
    log(S(time) - S(upper)). ``exp(off)`` is taken per pattern of ``x`` when its columns are
    0/1 indicators of one factor (at most one 1 a row): ``1 + x (exp(change) - 1)``."""
    import pytensor.tensor as pt

    n_int = len(cuts) + 1
    c = np.asarray(cuts, float)
    later = np.eye(n_int)[1:]  # (K-1, K): the change of interval k >= 1 lands in column k
    indicators = bool(np.isin(x, (0.0, 1.0)).all() and (x.sum(axis=1) <= 1).all())

    def hr_off(change):
        """exp(off) (n, K) and off (n, K): the HR multiplier of each unit in each interval."""
        off = pt.dot(pt.dot(x, change), later)
        if indicators:  # exp(x change) = 1 + x (exp(change) - 1) for one-hot rows
            return 1.0 + pt.dot(pt.dot(x, pt.expm1(change)), later), off
        return pt.exp(off), off

    def starts(shape, scale):
        """H0 at the start of each interval (K,) and each full interval's increment (K,; the
        last one, open-ended, unused)."""
        h_cut = pt.exp(shape * (np.log(c) - pt.log(scale)))  # (K-1,)
        start = pt.concatenate([pt.zeros(1), h_cut])
        return start, pt.concatenate([pt.diff(start), pt.zeros(1)])

    def cum_h(t, shape, scale, eoff, base):
        """sum_k exp(off_k) x H0's increment over [c_k, c_{k+1}] up to ``t`` (per unit)."""
        start, full = base
        # (n, K) one-hot
        at_t = pt.eq(families.interval_of_tensor(t, cuts)[:, None], np.arange(n_int))
        before = pt.concatenate([pt.zeros((t.shape[0], 1)),
                                 pt.cumsum(eoff[:, :-1] * full[:-1], axis=1)], axis=1)
        positive = pt.gt(t, 0.0)
        h_t = positive * pt.exp(shape * (pt.log(pt.switch(positive, t, 1.0)) - pt.log(scale)))
        return ((before + eoff * (h_t[:, None] - start)) * at_t).sum(axis=1), at_t

    def log_hazard(t, shape, scale, eta, off, at_t):
        return (pt.log(shape) - pt.log(scale) + (shape - 1.0) * (pt.log(t) - pt.log(scale))
                + eta + (off * at_t).sum(axis=1))

    def hr_logp(value, *args):
        n_base = len(family.parameters)
        shape, scale = family.weibull_form(args[:n_base])
        change, eta, event = args[n_base:]
        change = change.reshape((x.shape[1], n_int - 1))
        eoff, off = hr_off(change)
        base = starts(shape, scale)
        risk = pt.exp(eta)
        if upper is None:
            h_value, at_value = cum_h(pt.as_tensor(value), shape, scale, eoff, base)
            h = h_value - (0.0 if entry is None else
                           cum_h(pt.as_tensor(entry), shape, scale, eoff, base)[0])
            return event * log_hazard(value, shape, scale, eta, off, at_value) - risk * h
        inside, safe_time, lower, up = _interval_bounds(value, event, upper)
        h_safe, at_safe = cum_h(safe_time, shape, scale, eoff, base)
        exact = event * log_hazard(safe_time, shape, scale, eta, off, at_safe) - risk * h_safe
        h_lower = risk * cum_h(lower, shape, scale, eoff, base)[0]
        h_between = risk * cum_h(up, shape, scale, eoff, base)[0] - h_lower
        return pt.switch(inside, -h_lower + pt.log(-pt.expm1(-h_between)), exact)
    return hr_logp


def _interval_bounds(time, event, upper):
    """For interval-censored times (PyTensor): which units had their event in ``(time,
    upper]`` (event 1, upper > time; an exact event or a censored unit has upper = time), the
    time of the exact-time term (``upper`` inside, never 0) and the bounds ``lower``/``upper``
    (safe values outside, so that no log 0 or infinity reaches the gradient)."""
    import pytensor.tensor as pt

    inside = pt.and_(pt.eq(event, 1.0), pt.gt(upper, time))
    return (inside, pt.switch(inside, upper, time), pt.switch(inside, time, 0.0),
            pt.switch(inside, upper, 1.0))


def _family_terms(spec: ModelSpec, design: Design, centred: bool, shift, outcomes=None):
    """The baseline parameters the likelihood sees (created in the model being built) and the
    family's log density, with late entry (``- log S(entry)``) and interval censoring, as the
    family object (:mod:`nen_bayes.bayes.families`) defines them. ``outcomes``: the times,
    entry times and upper bounds as data (``outcome_data=True``; upper None with late entry),
    else None."""
    family = families.get_family(spec.family)
    entry = design.entry if outcomes is None else outcomes[1]
    params = family.create(spec, centred, shift, _baseline, design)
    logp = family.logp(design, entry, None if outcomes is None else outcomes[0])
    tv = design.tv
    if tv is not None:
        change, logp = _tv_logp(spec, design, tv, outcomes)
        params = (*params, change)
    elif design.upper is not None or (outcomes is not None and outcomes[2] is not None):
        logp = _interval_censored(logp, family, design, outcomes)
    return params, logp


def build_model(spec: ModelSpec, design: Design, *, prior_only: bool = False,
                prior_data: bool = False, unit_weights: bool = False, centre: bool = True,
                scale: bool = True, outcome_data: bool = False, interval_data: bool = False,
                levels: bool = True):
    """The PyMC model of ``spec`` on ``design`` (named dims ``patient``, ``covariate``, one per
    group, ``interval`` for the piecewise family).

    ``prior_data=True`` holds the (Normal) coefficient priors' means and SDs in data containers
    (:data:`PRIOR_DATA`) so that a prior-sensitivity grid reuses one compiled model;
    ``unit_weights=True`` weights each unit's log-likelihood by :data:`UNIT_WEIGHTS` (data,
    dims ``patient``) so that cross-validation refits reuse one compiled model;
    ``outcome_data=True`` holds the outcomes as data (:data:`OUTCOME_DATA`) so that refits to
    other outcomes of the same units reuse one compiled model; the upper bounds of
    interval-censored events are data too when the design has them or ``interval_data=True``
    (then a design without them has upper = time, and exact or interval-censored outcomes can
    be swapped in; not with late entry, which interval censoring does not support).
    ``centre=True`` samples on internally centred and scaled numeric columns (module
    docstring); the prior-only model and ``centre=False`` build the model in the user's coding
    as written; ``scale=False`` centres without scaling (for comparisons); ``levels=False``
    samples centred group intercepts as ``u`` itself, not around the baseline (for
    comparisons: module docstring)."""
    import pymc as pm
    import pytensor.tensor as pt

    offsets = centring_offsets(design) if design.X.shape[1] else np.zeros(0)
    scales = sampling_scales(design) if design.X.shape[1] else np.ones(0)
    scaled = centre and scale and not prior_only and bool(np.any(scales != 1))
    # a shape per level leaves no single scale to re-express at the covariate means
    shape_varies = spec.time_varying is not None and spec.time_varying.effect == "shape"
    centred = centre and not prior_only and bool(np.any(offsets != 0)) and not shape_varies
    with pm.Model(coords=design.coords(), name="") as model:
        eta = pt.zeros(design.n)
        shift = 0.0
        if design.X.shape[1]:
            beta = _coefficients(spec, design, prior_data, scales if scaled else None)
            if centred:
                eta = eta + pt.dot(design.X - offsets, beta)
                shift = pt.dot(offsets, beta)
            else:
                eta = eta + pt.dot(design.X, beta)
        levelled = None if prior_only or not levels else level_group(spec, design)
        eta = eta + _group_effects(spec, design, [g.name for g in design.groups
                                                  if g.name != levelled])
        observed, event, outcomes = design.time, design.event.astype(float), None
        if outcome_data and not prior_only:
            observed = pm.Data(OUTCOME_DATA[0], design.time, dims="patient")
            event = pm.Data(OUTCOME_DATA[1], event, dims="patient")
            entry = (None if design.entry is None else
                     pm.Data(OUTCOME_DATA[2], np.asarray(design.entry, float), dims="patient"))
            bounds = design.entry is None and (interval_data or design.upper is not None)
            upper = (None if not bounds else
                     pm.Data(OUTCOME_DATA[3], np.asarray(design.time if design.upper is None
                                                         else design.upper, float),
                             dims="patient"))
            outcomes = (observed, entry, upper)
        params, logp = _family_terms(spec, design, centred, shift, outcomes)
        if levelled is not None:  # created after the baseline it is centred around
            eta = eta + _group_effects(spec, design, [levelled],
                                       _baseline_level(families.get_family(spec.family),
                                                       params, design))
        if not prior_only and unit_weights:
            weight = pm.Data(UNIT_WEIGHTS, np.ones(design.n), dims="patient")
            pm.CustomDist(OBSERVED, *params, eta, event, weight, logp=_weighted(logp),
                          observed=observed, dims="patient")
        elif not prior_only:
            pm.CustomDist(OBSERVED, *params, eta, event, logp=logp, observed=observed,
                          dims="patient")
    return model

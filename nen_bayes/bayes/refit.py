"""One compiled model, refitted to new outcomes of the same units without compiling again.

A fit's fixed cost is mostly nutpie's Numba compilation of the log-density (seconds), against
well under a second of sampling for a cohort of a few hundred units. Where one model is fitted
to many outcome vectors on one design (simulation studies, endpoints that share their units),
:class:`Refitter` compiles once, with the outcomes as data (``build_model(...,
outcome_data=True)``), and each :meth:`Refitter.fit` only swaps the data and samples.

What stays fixed is the design: covariates, groups, the number of units, the piecewise cut
points and the centred or non-centred parameterisation of each group (as the design chose them;
a fresh :func:`~nen_bayes.bayes.inference.fit` on other outcomes could choose ``centered =
"auto"`` or quantile cuts differently). What moves with the outcomes is recomputed per refit:
the sampler's starting box (around the crude exponential rate of the new outcomes) and, in the
graph, everything the likelihood computes from times, events, entry times and the upper
bounds of interval-censored events. A Refitter built with ``intervals=True`` (the default
when its design has interval bounds; not with late entry) holds upper bounds as data
(``upper`` = time for an exact event or a censored unit, which then keep their ordinary
term), so one compiled model fits designs of the same units with or without interval bounds.
Without them the graph has no interval branch: refits of exact and right-censored outcomes
(simulation studies) sample about twice as fast as with it.

With the same seed, a refit draws the same initial values and the same sampler seed as
:func:`~nen_bayes.bayes.inference.fit` does on those outcomes.
"""

from __future__ import annotations

import dataclasses
import os
import time as _time
import warnings

import numpy as np

from nen_bayes.bayes.design import Design
from nen_bayes.bayes.inference import (
    INIT_ATTEMPTS,
    INIT_RADIUS,
    _add_derived,
    _sampling_settings,
    initial_points,
    start_failure,
)
from nen_bayes.bayes.model import (
    OUTCOME_DATA,
    PRIOR_DATA,
    UNIT_WEIGHTS,
    build_model,
    drop_internal,
)
from nen_bayes.bayes.spec import ModelSpec, in_time_unit
from nen_bayes.errors import ModelDataError, SamplingStartError
from nen_bayes.settings import Sampling

__all__ = ["Refitter", "outcome_data", "same_units"]


def same_units(a: Design, b: Design) -> bool:
    """Whether two designs differ only in their outcomes (times, events, entry times, upper
    bounds of interval-censored events), so that a model compiled with the outcomes as data
    on one fits the other: the same units, covariate columns, groups and their
    parameterisation, cut points, time unit, and late entry in both or neither (interval
    bounds in either, both or neither; not together with late entry, which the model does not
    support)."""
    if a.n != b.n or (a.entry is None) != (b.entry is None):
        return False
    if a.entry is not None and (a.upper is not None or b.upper is not None):
        return False
    same = (a.coefficients == b.coefficients and a.terms == b.terms
            and a.time_unit == b.time_unit and np.array_equal(a.X, b.X)
            and np.array_equal(a.ids, b.ids)
            and (a.cuts is None) == (b.cuts is None)
            and (a.cuts is None or np.array_equal(a.cuts, b.cuts))
            and len(a.groups) == len(b.groups) and _same_tv(a.tv, b.tv))
    return same and all(
        (g.name, g.levels, g.centered, g.varying) == (h.name, h.levels, h.centered, h.varying)
        and np.array_equal(g.index, h.index) for g, h in zip(a.groups, b.groups, strict=True))


def _same_tv(a: dict | None, b: dict | None) -> bool:
    """Whether two designs have the same time-varying effect (or neither has one)."""
    if a is None or b is None:
        return a is b
    return (a["effect"] == b["effect"] and a["columns"] == b["columns"]
            and np.array_equal(a["x"], b["x"])
            and np.array_equal(a.get("cuts", ()), b.get("cuts", ())))


def outcome_data(design: Design, intervals: bool | None = None) -> dict[str, np.ndarray]:
    """The values of the outcome data containers (:data:`OUTCOME_DATA`) for ``design``, for a
    model that holds upper bounds (``intervals``; None: when ``design`` has them); a design
    without bounds gives its times as the upper bounds."""
    data = {OUTCOME_DATA[0]: np.asarray(design.time, float),
            OUTCOME_DATA[1]: np.asarray(design.event, float)}
    if design.entry is not None:
        data[OUTCOME_DATA[2]] = np.asarray(design.entry, float)
    if design.upper is not None if intervals is None else intervals:
        data[OUTCOME_DATA[3]] = np.asarray(design.time if design.upper is None else
                                           design.upper, float)
    return data


def _check_upper(t, d, upper, entry):
    """The upper bounds as a float array (None when not given), or a ModelDataError."""
    if upper is None:
        return None
    if entry is not None:
        raise ModelDataError("refit: upper bounds (interval-censored event times) cannot be "
                             "given together with late entry times")
    u = np.asarray(upper, dtype=float)
    if u.shape != t.shape:
        raise ModelDataError(f"refit: upper has shape {u.shape}; the design has {t.size} units")
    bad = np.flatnonzero(~(u >= t) | ((d == 1) & ~np.isfinite(u)))
    if bad.size:
        raise ModelDataError(
            f"refit: upper must be >= time (equal for an exact event time; an event with "
            f"upper > time happened in (time, upper]; inf allowed only for a censored unit); "
            f"not at positions {bad[:10].tolist()}")
    return u


def _check_outcomes(design: Design, time, event, entry, upper=None):
    """The outcomes as float/int8 arrays of the design's length (upper bounds None when not
    given), or a ModelDataError saying which argument is wrong, at which positions, and what
    is allowed."""
    n = design.n
    t = np.asarray(time, dtype=float)
    d = np.asarray(event)
    for name, a in (("time", t), ("event", d)):
        if a.shape != (n,):
            raise ModelDataError(f"refit: {name} has shape {a.shape}; the design has {n} units")
    bad = np.flatnonzero(~np.isin(d, (0, 1)))
    if bad.size:
        raise ModelDataError(f"refit: event must be 1 (event) or 0 (censored); not at "
                             f"positions {bad[:10].tolist()}")
    u = _check_upper(t, d, upper, entry)
    # time 0 only as the lower bound of an interval-censored event, (0, upper]
    zero_ok = np.zeros(n, bool) if u is None else (d == 1) & (u > t) & (t == 0)
    bad = np.flatnonzero(~(np.isfinite(t) & ((t > 0) | zero_ok)))
    if bad.size:
        raise ModelDataError(f"refit: time must be finite and > 0 (0 allowed only as the lower "
                             f"bound of an interval-censored event); not at positions "
                             f"{bad[:10].tolist()}")
    if (entry is None) != (design.entry is None):
        has = "has" if design.entry is not None else "has no"
        raise ModelDataError("refit: entry times must be given exactly when the design has "
                             f"late entry (this design {has} entry times)")
    e = None
    if entry is not None:
        e = np.asarray(entry, dtype=float)
        if e.shape != (n,):
            raise ModelDataError(f"refit: entry has shape {e.shape}; the design has {n} units")
        bad = np.flatnonzero(~(np.isfinite(e) & (e >= 0) & (e < t)))
        if bad.size:
            raise ModelDataError(f"refit: entry must be >= 0 and before time; not at positions "
                                 f"{bad[:10].tolist()}")
    return t, d.astype(np.int8), e, u


class Refitter:
    """One compiled model for a spec and a fixed design (covariates, groups, unit count);
    refits with new outcomes without compiling again.

    ``sampling`` (default :class:`~nen_bayes.settings.Sampling`) gives the draws, tuning steps,
    chains, cores and target acceptance of every refit unless :meth:`fit` is given its own;
    the sampler is always nutpie (``sampling.sampler`` is not used) and the seed is
    :meth:`fit`'s. ``compile_seconds`` is the time the model graph and its compilation took;
    ``n_fits`` counts the refits (:meth:`fit`, and :meth:`sample`, which
    :func:`~nen_bayes.bayes.inference.fit` calls when given a Refitter). One Refitter samples
    one refit at a time (the initial values live in the compiled model): give each worker
    process its own.

    ``intervals``: whether the compiled model holds the upper bounds of interval-censored
    events as data, so that :meth:`fit` takes ``upper`` and designs with or without interval
    bounds match; None (default) when ``design`` has them. Not with late entry.
    """

    def __init__(self, spec: ModelSpec, design: Design, *, sampling: Sampling | None = None,
                 intervals: bool | None = None, unit_weights: bool = False,
                 prior_data: bool = False):
        import nutpie
        import pytensor

        t0 = _time.perf_counter()
        self.spec, _ = in_time_unit(spec, design.time_unit)
        self.design = design
        self.sampling = _sampling_settings(sampling)
        self.intervals = design.upper is not None if intervals is None else bool(intervals)
        if self.intervals and design.entry is not None:
            raise ModelDataError("refit: interval bounds cannot be held together with late "
                                 "entry times (interval censoring with late entry is not "
                                 "supported)")
        if design.upper is not None and not self.intervals:
            raise ModelDataError("refit: this design has interval bounds (upper); "
                                 "intervals=False cannot hold them")
        self.unit_weights, self.prior_data = bool(unit_weights), bool(prior_data)
        self.model = build_model(self.spec, design, outcome_data=True,
                                 interval_data=self.intervals, unit_weights=self.unit_weights,
                                 prior_data=self.prior_data)
        #: the coefficient priors' means and SDs the model was built with (``prior_data``)
        self.prior_values = (tuple(self.model[k].get_value().copy() for k in PRIOR_DATA)
                             if self.prior_data else None)
        start = initial_points(self.model, np.random.default_rng(0), 1, INIT_RADIUS / 2,
                               design)[0]
        # initial values as shared variables: each refit sets them, nothing is recompiled
        self._init = {k: pytensor.shared(v, name=f"{k}_initial") for k, v in start.items()}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fewer than.*chains.*")
            self._compiled = nutpie.compile_pymc_model(self.model, initial_points=self._init)
        self.compile_seconds: float = _time.perf_counter() - t0
        self.n_fits = 0

    def fit(self, time, event, *, seed: int, sampling: Sampling | None = None, entry=None,
            upper=None, weights=None, prior=None):
        """Sample the posterior given new outcomes of the design's units (``time`` > 0,
        ``event`` 1/0, ``entry`` exactly when the design has late entry), with ``seed``.
        ``upper`` (not with late entry): interval-censored events, an event with ``upper`` >
        ``time`` having happened in (``time``, ``upper``] (``time`` may then be 0); ``upper``
        = ``time`` for an exact event, ``upper`` >= ``time`` everywhere; only when the Refitter
        holds interval bounds (``intervals``). ``weights`` (only when built with
        ``unit_weights=True``): each unit's likelihood weight, 1 counts it, 0 leaves it out
        (cross-validation folds); None: every unit counts. ``prior`` (only when built with
        ``prior_data=True``): the Normal coefficient priors' means and SDs, one per coefficient
        (a prior grid); None: the model file's.

        Returns an ``xarray.DataTree`` with ``posterior`` (in the user's coding, with ``hr``
        and ``median_baseline`` as :func:`~nen_bayes.bayes.inference.fit` stores them) and
        ``sample_stats``; its attrs give the seed, the sampler settings and ``sampling_s``.

        Raises :class:`~nen_bayes.errors.ModelDataError` for outcomes that do not fit the
        design, :class:`~nen_bayes.errors.SamplingStartError` when no start is found.
        """
        import xarray as xr

        s = self.sampling if sampling is None else _sampling_settings(sampling)
        if upper is not None and not self.intervals:
            raise ModelDataError("refit: this Refitter was compiled without interval bounds; "
                                 "build it with intervals=True to give upper")
        t, d, e, u = _check_outcomes(self.design, time, event, entry, upper)
        design = dataclasses.replace(self.design, time=t, event=d, entry=e, upper=u)
        cores = s.cores or min(s.chains, os.cpu_count() or 1)
        seeds = np.random.SeedSequence(seed).generate_state(4)  # as fit() derives them
        t0 = _time.perf_counter()
        tree = self.sample(design, s, cores, int(seeds[0]), weights=self._weights(weights),
                           prior=self._prior(prior))
        post = tree["posterior"].to_dataset()
        post = _add_derived(drop_internal(post), self.spec,
                            design)
        out = xr.DataTree.from_dict({"posterior": post,
                                     "sample_stats": tree["sample_stats"].to_dataset()})
        out.attrs.update({"model": self.spec.name, "family": self.spec.family,
                          "endpoint": design.endpoint, "time_unit": design.time_unit,
                          "n_units": design.n, "n_events": int(d.sum()), "seed": seed,
                          "sampler": "nutpie", "draws": s.draws, "tune": s.tune,
                          "chains": s.chains, "cores": cores,
                          "target_accept": s.target_accept,
                          "sampling_s": round(_time.perf_counter() - t0, 3)})
        return out

    def matches(self, spec: ModelSpec, design: Design) -> bool:
        """Whether ``design`` (of ``spec``) differs from this Refitter's only in its outcomes
        (times, events, entry times, interval bounds where it holds them), so that
        :meth:`sample` can fit it."""
        return (in_time_unit(spec, design.time_unit)[0].hash == self.spec.hash
                and same_units(self.design, design)
                and (design.upper is None or self.intervals))

    def _weights(self, weights) -> np.ndarray | None:
        """The unit weights as data (checked), or None for a model without them."""
        if weights is None:
            return np.ones(self.design.n) if self.unit_weights else None
        if not self.unit_weights:
            raise ModelDataError("refit: this Refitter was compiled without unit weights; "
                                 "build it with unit_weights=True to give weights")
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.design.n,) or not np.all(np.isfinite(w) & (w >= 0)):
            raise ModelDataError(f"refit: weights must be {self.design.n} finite values >= 0 "
                                 f"(one per unit); got shape {w.shape}")
        return w

    def _prior(self, prior):
        """The coefficient priors' means and SDs as data (checked), or None."""
        if prior is None:
            return self.prior_values
        if not self.prior_data:
            raise ModelDataError("refit: this Refitter was compiled without the coefficient "
                                 "priors as data; build it with prior_data=True to give prior")
        mu, sd = (np.asarray(a, float) for a in prior)
        k = len(self.design.coefficients)
        if mu.shape != (k,) or sd.shape != (k,) or not np.all(sd > 0):
            raise ModelDataError(f"refit: prior must be ({k} means, {k} SDs > 0), one per "
                                 "coefficient")
        return mu, sd

    def sample(self, design: Design, s: Sampling, cores: int, seed: int, weights=None,
               prior=None):
        """nutpie's DataTree for the outcomes of ``design`` (one that :meth:`matches`), from
        initial values drawn as :func:`~nen_bayes.bayes.inference.fit` draws them (retried
        :data:`INIT_ATTEMPTS` times), with the sampler seed PyMC would pass for ``seed``."""
        import nutpie

        data = outcome_data(design, self.intervals)
        if self.unit_weights:
            data[UNIT_WEIGHTS] = np.ones(design.n) if weights is None else weights
        if self.prior_data:
            data.update(zip(PRIOR_DATA, self.prior_values if prior is None else prior,
                            strict=True))
        compiled = self._compiled.with_data(**data)
        rng = np.random.default_rng(seed)
        errors = []
        for attempt in range(INIT_ATTEMPTS):
            for k, v in initial_points(self.model, rng, 1, INIT_RADIUS / 2, design)[0].items():
                self._init[k].set_value(v)
            # pm.sample(random_seed=x) gives nutpie the first of its per-chain seeds
            chain_seed = int(np.random.default_rng(seed + attempt).spawn(s.chains)[0]
                             .integers(2**30))
            try:
                tree = nutpie.sample(compiled, draws=s.draws, tune=max(s.tune, 1),
                                     chains=s.chains, cores=cores, seed=chain_seed,
                                     save_warmup=False, store_unconstrained=False,
                                     progress_bar=False, target_accept=s.target_accept)
                self.n_fits += 1
                return tree
            except (RuntimeError, FloatingPointError) as exc:
                errors.append(start_failure(exc))
        raise SamplingStartError(
            f"the sampler could not start at initial values drawn {INIT_ATTEMPTS} times "
            f"(last: {errors[-1]}); check the outcomes (times must be positive)")

"""Fit a specification to a cohort and store the result as a self-describing ``DataTree``.

:func:`fit` samples the posterior and returns a :class:`Fit` whose ``tree`` holds ArviZ's
standard groups:

``posterior``, ``sample_stats``
    the draws (plus ``hr = exp(beta)``, or ``tr = exp(beta)`` for an accelerated-failure-time
    family, and ``median_baseline``, the median survival of a reference unit in a typical
    group), and the sampler's statistics;
``prior``, ``prior_predictive``
    forward draws from the prior and the uncensored times they imply;
``log_prior``
    the log prior density of each free parameter at each posterior draw (for power-scaling
    sensitivity);
``log_likelihood``
    ``time``: the pointwise log-likelihood of *every* unit, censored ones included, as float32
    (chain, draw, patient). Half the memory of float64, and far more precision than PSIS-LOO
    needs (its Monte Carlo error is orders of magnitude above float32 rounding);
``posterior_predictive``
    ``time``: uncensored predictive times (float32), drawn by inversion of the model's survival
    function, one per unit and draw;
``observed_data``, ``constant_data``
    ArviZ's survival convention: the observed times as ``time``, and the event indicator
    (1 = event, 0 = censored) under the same name ``time`` in ``constant_data``; beside it the
    design matrix ``X`` and each grouping column.

Its attrs record the specification (JSON; its time numbers in the cohort's unit), the unit
the model file stated (``spec_time_unit``) and what was converted (``time_unit_conversion``,
empty when nothing was), the declared order of each ordered covariate coded linearly
(``orders``), its hash, the data file's content hash and source,
the endpoint, the package versions, the seed and the sampler settings.

Samplers: ``"nutpie"`` (the default; Rust NUTS on a Numba-compiled log-density) and ``"pymc"``
(PyMC's own NUTS on C-compiled PyTensor). Both are tested to give the same posterior;
``benchmarks/bench_fit.py`` measures them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from nen_bayes.bayes import families
from nen_bayes.bayes.design import Design, few_group_notes, make_design
from nen_bayes.bayes.model import (
    CENTRED_BASELINE,
    OBSERVED,
    build_model,
    centring_offsets,
    drop_internal,
    group_var_names,
    internal_variables,
    level_group,
    reference_log_time,
    sampling_scales,
)
from nen_bayes.bayes.outcomes import Outcomes
from nen_bayes.bayes.predict import flat_draws, linear_predictor, unit_cells
from nen_bayes.bayes.priors import Prior
from nen_bayes.bayes.spec import ModelSpec, in_time_unit
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.errors import ModelDataError, ResultError, SamplingStartError
from nen_bayes.provenance import SYNTHETIC_NOTICE, is_synthetic
from nen_bayes.settings import Sampling

__all__ = ["INIT_ATTEMPTS", "INIT_RADIUS", "Fit", "fit", "initial_points", "log_likelihood",
           "log_prior", "log_prior_numpy", "pointwise_log_likelihood", "read_fit", "read_run",
           "sample_prior", "simulate_log_times", "start_failure", "versions", "write_fit"]

_PACKAGES = ("nen-bayes", "pymc", "pytensor", "nutpie", "arviz", "arviz-base", "arviz-stats",
             "xarray", "numpy", "pandas", "h5netcdf", "lifelines", "scipy", "formulae",
             "matplotlib", "dask", "distributed")


def versions() -> dict[str, str]:
    out = {}
    for p in _PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


@dataclass(frozen=True)
class Fit:
    """A fitted model: the ``DataTree`` plus the objects it was built from."""

    tree: object  # xarray.DataTree
    spec: ModelSpec
    design: Design

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.tree.attrs)

    @property
    def posterior(self):
        return self.tree["posterior"].dataset


def _param_draws(ds, family: str) -> dict[str, np.ndarray]:
    """Baseline parameters as flat (S,) / (S, K) arrays, with the draws of a time-varying
    effect's changes when the model has one (``hr_change`` (S, C, K-1), ``shape_change``
    (S, C))."""
    out = families.get_family(family).param_draws(ds)
    for name, _ in families.STRUCTURE_PARAMETERS.values():
        if name in ds:
            out[name] = flat_draws(ds, name)
    return out


def _eta_blocks(ds, design: Design):
    """``(block, eta)`` for the flat draws in blocks of :data:`_BLOCK` (bounded memory): the
    linear predictor of every unit, (S, n), the units' patterns found once."""
    n_draws = ds.sizes["chain"] * ds.sizes["draw"]
    groups = {g.name: g.index for g in design.groups}
    cells = unit_cells(design.X, groups)
    for start in range(0, n_draws, _BLOCK):
        block = slice(start, min(start + _BLOCK, n_draws))
        yield block, linear_predictor(ds, design.X, groups, np.arange(n_draws)[block],
                                      covariates=design.coefficients, cells=cells)


def _add_derived(ds, spec: ModelSpec, design: Design):
    import xarray as xr

    params = _param_draws(ds, spec.family)
    shape = (ds.sizes["chain"], ds.sizes["draw"])
    med = families.median_baseline(spec.family, params, design.cuts).reshape(shape)
    new = {"median_baseline": xr.DataArray(med, dims=("chain", "draw"),
                                           attrs={"units": design.time_unit})}
    if "beta" in ds:  # hazard ratios, or time ratios of an accelerated-failure-time family
        new[families.get_family(spec.family).effect_variable] = np.exp(ds["beta"])
    tv = design.tv
    if tv is not None and "hr_change" in ds:  # the HR of each interval
        beta = ds["beta"].sel(covariate=tv["columns"]).to_numpy()[..., None]
        log_hr = np.concatenate([beta, beta + ds["hr_change"].to_numpy()], axis=-1)
        new["hr_interval"] = xr.DataArray(
            np.exp(log_hr), dims=("chain", "draw", "covariate_tv", "interval_tv"),
            coords={"covariate_tv": tv["columns"],
                    "interval_tv": design.coords()["interval_tv"]})
    if tv is not None and "shape_change" in ds:  # the Weibull shape of each level
        new["shape_level"] = ds["shape"] * np.exp(ds["shape_change"])
    return ds.assign(new)


#: Draws per block when drawing predictive times: bounds the float64 temporaries to
#: block x units x 8 bytes (about 60 MB for 30,000 units).
_BLOCK = 250


#: the largest log time a float32 holds; longer predictive times are stored as inf and counted


def _log_time_blocks(ds, spec: ModelSpec, design: Design, rng: np.random.Generator):
    """``(block, log T)`` for the flat draws of ``ds`` in blocks of :data:`_BLOCK`: event
    times drawn from the model (its family, the units' linear predictors with every group
    effect and varying slope, a time-varying effect, given survival to entry with late entry)
    by inversion, on the log scale."""
    fam = families.get_family(spec.family)
    params = _param_draws(ds, spec.family)
    for block, eta in _eta_blocks(ds, design):
        p = {k: v[block] for k, v in params.items()}
        if design.tv is None:
            log_t = fam.log_random_times(fam.expand(p), eta, rng, design.cuts, design.entry)
        else:
            log_t = families.timevarying.tv_log_random_times(fam, p, eta, rng, design.tv,
                                                             design.entry)
        yield block, log_t


def simulate_log_times(ds, spec: ModelSpec, design: Design, rng: np.random.Generator
                       ) -> np.ndarray:
    """Log event times of ``design``'s units drawn from the model of ``spec`` at each draw of
    ``ds`` (a dataset of draws in the user's coding, e.g. :func:`sample_prior`'s): (S, n),
    float64. The same simulator as the fit's predictive groups, so a study simulates exactly
    the model it fits."""
    out = np.empty((ds.sizes["chain"] * ds.sizes["draw"], design.n))
    for block, log_t in _log_time_blocks(ds, spec, design, rng):
        out[block] = log_t
    return out


def _predictive(ds, spec: ModelSpec, design: Design, rng: np.random.Generator):
    """Uncensored predictive times, float32, computed in blocks of draws (bounded memory) on
    the log scale; times beyond float32's range (about 3.4e38) are stored as inf and counted
    in the dataset's ``out_of_range`` attribute (no overflow in the cast). A time that is
    infinite in the model itself (a unit that never has the event: the cure fraction of a
    Gompertz baseline with a falling hazard) is stored as inf and counted in ``never``."""
    import xarray as xr

    n_draws = ds.sizes["chain"] * ds.sizes["draw"]
    out = np.empty((n_draws, design.n), dtype=np.float32)
    n_out = n_never = 0
    for block, log_t in _log_time_blocks(ds, spec, design, rng):
        never = np.isposinf(log_t)
        n_never += int(never.sum())
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: inf
            out[block] = np.exp(log_t, out=log_t)
        over = ~np.isfinite(out[block])
        n_out += int(over.sum()) - int(never.sum())
        out[block][over] = np.inf
    t = out.reshape(ds.sizes["chain"], ds.sizes["draw"], design.n)
    return xr.Dataset({OBSERVED: (("chain", "draw", "patient"), t)},
                      coords={"chain": ds["chain"], "draw": ds["draw"],
                              "patient": design.coords()["patient"]},
                      attrs={"out_of_range": n_out, "never": n_never, "size": int(out.size)})


def _check_stored(model, draws, what: str) -> None:
    """Stored draws hold the parameters in the user's coding (``scale``, ``u_<group>``), not
    the sampling variables of internal centring (:func:`internal_variables`): a model that
    samples those cannot be evaluated at them."""
    missing = [n for n in internal_variables([rv.name for rv in model.free_RVs])
               if n not in draws]
    if missing:
        raise ValueError(
            f"{what}: the draws have no {', '.join(missing)}, a sampling variable of the model "
            "given (not stored with the draws); evaluate them on the model in the user's "
            "coding: build_model(spec, design, centre=False, levels=False)")


def log_likelihood(model, posterior, design: Design):
    """Pointwise log-likelihood of every unit (float32, chain x draw x patient), from the
    model's own compiled log-density evaluated draw by draw (memory: one float32 array)."""
    import xarray as xr
    from pymc.model.transform.conditioning import remove_value_transforms

    _check_stored(model, posterior, "log_likelihood")
    umodel = remove_value_transforms(model)
    obs = umodel[OBSERVED]
    fn = umodel.compile_fn(inputs=umodel.value_vars, outs=umodel.logp(vars=[obs], sum=False),
                           on_unused_input="ignore")
    names = [v.name for v in umodel.value_vars]
    arrays = {n: posterior[n].to_numpy() for n in names}
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    out = np.empty((n_chain, n_draw, design.n), dtype=np.float32)
    for c in range(n_chain):
        for d in range(n_draw):
            point = {n: arrays[n][c, d] for n in names}
            out[c, d] = fn(point)[0]
    return xr.Dataset({OBSERVED: (("chain", "draw", "patient"), out)},
                      coords={"chain": posterior["chain"], "draw": posterior["draw"],
                              "patient": design.coords()["patient"]})


def pointwise_log_likelihood(posterior, family: str, design: Design):
    """Pointwise log-likelihood of every unit (float32, chain x draw x patient), computed in
    vectorised NumPy from the posterior arrays with the family's closed forms, one term per
    outcome kind (:meth:`nen_bayes.bayes.outcomes.Outcomes.pointwise`), in blocks of draws
    (bounded memory). The same values as :func:`log_likelihood` without compiling a function
    of the model."""
    import xarray as xr

    fam = families.get_family(family)
    params = _param_draws(posterior, family)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    out = np.empty((n_chain * n_draw, design.n), dtype=np.float32)
    outcomes = Outcomes.of(design)
    for block, eta in _eta_blocks(posterior, design):
        p = {k: v[block] for k, v in params.items()}
        out[block] = outcomes.pointwise(fam, p, eta, design.cuts, design.tv)
    return xr.Dataset({OBSERVED: (("chain", "draw", "patient"),
                                  out.reshape(n_chain, n_draw, design.n))},
                      coords={"chain": posterior["chain"], "draw": posterior["draw"],
                              "patient": design.coords()["patient"]})


_STD_NORMAL = Prior("Normal", {"mu": 0.0, "sigma": 1.0})


def _free_variables(spec: ModelSpec, design: Design) -> list[tuple]:
    """The free parameters of :func:`~nen_bayes.bayes.model.build_model`'s graph, in its
    order, as ``(name, dims, priors, sd_name)``: ``priors`` one :class:`Prior` per element of
    the last dim (coefficients) or one for all; ``sd_name`` the SD of a centred group effect
    (``Normal(0, sd)``, ``priors`` None)."""
    out: list[tuple] = []
    if design.X.shape[1]:
        priors = [spec.coefficient_prior(t) for t in design.terms]
        if len({p.dist for p in priors}) == 1:
            out.append(("beta", ("covariate",), priors, None))
        else:
            for col in dict.fromkeys(design.terms):
                k = sum(t == col for t in design.terms)
                out.append((f"beta_{col}", (f"covariate_{col}",),
                            [spec.coefficient_prior(col)] * k, None))
    for g in design.groups:
        v = group_var_names(g.name)
        precision = spec.group_precision_prior(g.name)
        out.append((v["sd"], (), spec.group_sd_prior(g.name), None) if precision is None
                   else (v["precision"], (), precision, None))
        out.append((v["u"], (g.name,), None, v["sd"]) if g.centered
                   else (v["z"], (g.name,), _STD_NORMAL, None))
        if g.varying:
            dims = (g.name, g.varying_dim)
            out.append((v["sd_varying"], (g.varying_dim,), spec.varying_sd_prior(g.name), None))
            out.append((v["u_varying"], dims, None, v["sd_varying"]) if g.centered
                       else (v["z_varying"], dims, _STD_NORMAL, None))
    for par in families.get_family(spec.family).parameters:
        out.append((par.name, par.dims, spec.priors[par.name], None))
    if design.tv is not None:
        name, dims = families.STRUCTURE_PARAMETERS[design.tv["effect"]]
        out.append((name, dims, spec.priors[name], None))
    return out


def _coords(design: Design) -> dict[str, list]:
    coords = design.coords()
    for col in dict.fromkeys(design.terms):
        coords[f"covariate_{col}"] = [c for c, t in zip(design.coefficients, design.terms,
                                                        strict=True) if t == col]
    return coords


def _prior_logpdf(priors, x):
    if isinstance(priors, list):  # one prior per element of the last dim
        return np.stack([p.logpdf(x[..., j]) for j, p in enumerate(priors)], axis=-1)
    return priors.logpdf(x)


def sample_prior(spec: ModelSpec, design: Design, draws: int, rng: np.random.Generator):
    """Forward draws from the spec's priors (one chain of ``draws``) in NumPy, with the
    deterministic group effects and stacked coefficients the model graph defines: the
    ``prior`` group without compiling a second model."""
    import xarray as xr

    coords = _coords(design)
    values: dict[str, np.ndarray] = {}
    dims_of: dict[str, tuple] = {}
    for name, dims, priors, sd_name in _free_variables(spec, design):
        shape = (draws, *[len(coords[d]) for d in dims])
        if priors is None:  # centred: Normal(0, sd)
            sd = values[sd_name]
            sd = sd[:, None] if sd.ndim == 1 else sd[:, None, :]
            values[name] = sd * rng.standard_normal(shape)
        elif isinstance(priors, list):
            values[name] = np.stack([p.draw((draws,), rng) for p in priors], axis=-1)
        else:
            values[name] = np.asarray(priors.draw(shape, rng), float)
        dims_of[name] = dims
        if name.startswith("precision_"):  # a prior on the precision: the SD derived
            with np.errstate(divide="ignore"):
                values["sd_" + name[len("precision_"):]] = values[name] ** -0.5
            dims_of["sd_" + name[len("precision_"):]] = dims
    for g in design.groups:
        v = group_var_names(g.name)
        if not g.centered:
            values[v["u"]] = values[v["sd"]][:, None] * values[v["z"]]
            dims_of[v["u"]] = (g.name,)
            if g.varying:
                values[v["u_varying"]] = values[v["sd_varying"]][:, None, :] * \
                    values[v["z_varying"]]
                dims_of[v["u_varying"]] = (g.name, g.varying_dim)
    parts = [n for n, *_ in _free_variables(spec, design) if n.startswith("beta_")]
    if parts:
        values["beta"] = np.concatenate([values[n] for n in parts], axis=-1)
        dims_of["beta"] = ("covariate",)
    used = {d for dims in dims_of.values() for d in dims}
    return xr.Dataset({n: (("chain", "draw", *dims_of[n]), a[None]) for n, a in values.items()},
                      coords={"chain": [0], "draw": np.arange(draws),
                              **{d: c for d, c in coords.items() if d in used}})


def log_prior_numpy(spec: ModelSpec, design: Design, posterior):
    """Log prior density of every free parameter at each posterior draw (chain x draw [x
    element]), in NumPy from the spec's priors: the values :func:`log_prior` computes."""
    import xarray as xr

    out = {}
    for name, _, priors, sd_name in _free_variables(spec, design):
        x = posterior[name].to_numpy()
        if priors is None:  # centred: Normal(0, sd)
            sd = posterior[sd_name].to_numpy()
            sd = sd[..., None] if sd.ndim == 2 else sd[:, :, None, :]
            lp = -0.5 * (x / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
        else:
            lp = _prior_logpdf(priors, x)
        out[name] = (posterior[name].dims, lp)
    return xr.Dataset(out, coords={k: posterior[k] for k in posterior.coords})


def log_prior(model, tree):
    """Log prior density of every free parameter at each posterior draw (chain x draw [x
    element]), for power-scaling sensitivity (ArviZ's ``psense``)."""
    import pymc as pm

    _check_stored(model, tree["posterior"], "log_prior")
    lp = pm.stats.compute_log_prior(tree, model=model, extend_inferencedata=False,
                                    progressbar=False)
    return lp.to_dataset() if hasattr(lp, "to_dataset") else lp


def _data_groups(design: Design):
    import xarray as xr

    coords = design.coords()
    observed = xr.Dataset({OBSERVED: ("patient", design.time)},
                          coords={"patient": coords["patient"]},
                          attrs={"units": design.time_unit, "endpoint": design.endpoint})
    const = {OBSERVED: ("patient", design.event.astype(np.int8)),
             "X": (("patient", "covariate"), design.X)}
    for g in design.groups:
        const[g.name + "_index"] = ("patient", g.index)
    if design.entry is not None:  # late entry: the likelihood is conditional on T > entry
        const["entry"] = ("patient", design.entry)
    if design.upper is not None:  # interval-censored: the event in (time, upper]
        const["upper"] = ("patient", design.upper)
    constant = xr.Dataset(const, coords={k: coords[k] for k in
                                         ["patient", "covariate"] + [g.name for g in
                                                                      design.groups]})
    constant[OBSERVED].attrs["meaning"] = "event indicator: 1 = event, 0 = right-censored"
    if design.upper is not None:
        constant["upper"].attrs["meaning"] = ("interval censoring: an event with upper > time "
                                              "happened in (time, upper]; time is then the "
                                              "last assessment without it")
    return observed, constant


def _sampling_settings(sampling: Sampling | None = None, **overrides) -> Sampling:
    """``sampling`` (default :class:`~nen_bayes.settings.Sampling`) with the keyword
    ``overrides`` applied (``draws=``, ``tune=``, ``chains=``, ``cores=``, ``seed=``,
    ``sampler=``, ``target_accept=``).

    Raises
    ------
    TypeError
        A keyword that is not a sampling setting, named in the message.
    """
    allowed = [f.name for f in dataclasses.fields(Sampling)]
    unknown = sorted(k for k in overrides if k not in allowed)
    if unknown:
        raise TypeError(f"fit() got unexpected keyword argument(s) {unknown}; the sampling "
                        f"settings are {allowed}")
    return dataclasses.replace(sampling or Sampling(), **overrides)


def fit(spec: ModelSpec, cohort: Cohort, *, endpoint: str | None = None,
        sampling: Sampling | None = None, prior_draws: int = 1000, progressbar: bool = True,
        log_lik: bool = True, predictive: bool = True, refitter=None, **overrides) -> Fit:
    """Sample the posterior of ``spec`` on ``cohort`` and assemble the ``DataTree``.

    ``endpoint`` defaults to the spec's ``[outcome] endpoint``, else the cohort's only endpoint.
    ``sampling`` holds the NUTS settings (default :class:`~nen_bayes.settings.Sampling`);
    keyword ``overrides`` (``draws=``, ``tune=``, ``chains=``, ``cores=``, ``seed=``,
    ``sampler=``, ``target_accept=``) replace single settings of it, and any other keyword is
    a ``TypeError``. The same seed, data and settings give identical draws.

    ``refitter``: a :class:`~nen_bayes.bayes.refit.Refitter` of this spec compiled on a design
    of the same units; when its design differs from this fit's only in the outcomes
    (``Refitter.matches``) and the sampler is nutpie, it samples without compiling again (the
    same initial values and sampler seed; the log density differs from a compiled fit's only
    in floating-point order, which NUTS trajectories amplify, so the draws are another sample
    of the same posterior, not the same draws). Otherwise the model is compiled as usual.
    """
    s = _sampling_settings(sampling, **overrides)
    import xarray as xr

    endpoint = resolve_endpoint(spec, cohort, endpoint)
    spec_unit = spec.time_unit
    spec, unit_note = in_time_unit(spec, cohort.schema.time_unit)
    design = make_design(spec, cohort, endpoint)
    seeds = np.random.SeedSequence(s.seed).generate_state(4)
    cores = s.cores or min(s.chains, os.cpu_count() or 1)
    if refitter is not None and s.sampler == "nutpie" and refitter.matches(spec, design):
        tree = refitter.sample(design, s, cores, int(seeds[0]))
    else:
        model = build_model(spec, design)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fewer than.*chains.*")
            tree = _sample(model, s, cores, int(seeds[0]), progressbar, design)
    # the internally centred baseline and the group levels are re-expressed: not stored
    post = tree["posterior"].to_dataset()
    post = _add_derived(drop_internal(post), spec, design)
    prior_ds = _add_derived(sample_prior(spec, design, prior_draws,
                                         np.random.default_rng(seeds[1])), spec, design)
    groups = {"posterior": post, "sample_stats": tree["sample_stats"].to_dataset(),
              "prior": prior_ds}
    observed, constant = _data_groups(design)
    groups["observed_data"] = observed
    groups["constant_data"] = constant
    if predictive:
        groups["prior_predictive"] = _predictive(prior_ds, spec, design,
                                                 np.random.default_rng(seeds[2]))
        groups["posterior_predictive"] = _predictive(post, spec, design,
                                                     np.random.default_rng(seeds[3]))
        _say_out_of_range(groups, design.time_unit)
    if log_lik:  # in the user's coding: the model as written, at the stored draws
        groups["log_likelihood"] = pointwise_log_likelihood(post, spec.family, design)
        groups["log_prior"] = log_prior_numpy(spec, design, post)
    dt = xr.DataTree.from_dict({k: v for k, v in groups.items()})
    dt.attrs.update(_attrs(spec, cohort, design, endpoint))
    dt.attrs.update({"spec_time_unit": spec_unit or design.time_unit,
                     "time_unit_conversion": unit_note})
    dt.attrs.update({"seed": s.seed, "sampler": s.sampler, "draws": s.draws, "tune": s.tune,
                     "chains": s.chains, "cores": cores, "target_accept": s.target_accept,
                     "prior_draws": prior_draws})
    return Fit(dt, spec, design)


def _say_out_of_range(groups: dict, unit: str) -> None:
    """One warning per predictive group with times beyond float32's range (stored as inf)."""
    for name in ("prior_predictive", "posterior_predictive"):
        a = groups[name].attrs
        if a["out_of_range"]:
            warnings.warn(f"{a['out_of_range']} of {a['size']} {name.replace('_', ' ')} times "
                          f"({a['out_of_range'] / a['size']:.2%}) exceed 3.4e38 {unit}, the "
                          "largest a float32 holds, and are stored as inf: the prior allows "
                          "implausibly long survival (see the prior predictive check)",
                          stacklevel=3)


#: Initial values are tried this many times (new draws each time) before the fit gives up.
INIT_ATTEMPTS = 4
#: Each chain starts at a point drawn uniformly in (-INIT_RADIUS, INIT_RADIUS) on the
#: unconstrained scale of every parameter (Stan's default), wherever the priors put their mass.
INIT_RADIUS = 2.0


def _init_frame(design: Design | None) -> dict[str, tuple]:
    """Where the uniform starting box of a free parameter sits on the data's scale: its centre
    (added) and its half-width factor (multiplied), by variable name. The baseline starts
    around the crude exponential estimate (total time / events, in the cohort's unit; an
    interval-censored event counted at its upper bound), so a
    cohort in days does not start 1000-fold away from its data; a coefficient of a numeric
    column with SD above 1 starts within (-2, 2) per SD of that column, so that age in years,
    uncentred, does not start with a linear predictor of +-100."""
    if design is None:
        return {}
    # an interval-censored event counted at its upper bound (as the baseline level's reference
    # time is): its lower bound may be 0, and a cohort of such events has no follow-up else
    follow_up = Outcomes.of(design).detection_time
    crude = float(np.log(follow_up.sum() / max(float(design.event.sum()), 1.0)))
    frame: dict[str, tuple] = {CENTRED_BASELINE[0]: (crude, 1.0),
                               CENTRED_BASELINE[1]: (-crude, 1.0)}
    # the baseline parameters that have a time unit: a time starts at the crude mean (on the
    # log scale), a rate or log rate at minus it, a real per-time rate (the Gompertz slope)
    # at 0 within +-2 over the crude mean time
    start = {"scale": (crude, 1.0), "rate": (-crude, 1.0), "log_rate": (-crude, 1.0),
             "per_time": (0.0, float(np.exp(-crude)))}
    for par in (families.get_family(design.family).parameters if design.family else
                (families.Parameter("scale", "positive", "", time="scale"),
                 families.Parameter("log_hazard", "real", "", time="log_rate"))):
        if par.time is not None:
            frame[par.name] = start[par.time]
    # hierarchically centred intercepts: where the baseline's level starts (the log cumulative
    # hazard at t0, log t0 - crude; the piecewise level is the mean log hazard, -crude)
    level = -crude if design.cuts is not None else reference_log_time(design) - crude
    for g in design.groups:
        frame[group_var_names(g.name)["level"]] = (level, 1.0)
    if design.X.shape[1]:
        per_sd = 1.0 / np.maximum(design.X.std(axis=0), 1.0)
        frame["beta"] = (0.0, per_sd)
        for term in dict.fromkeys(design.terms):
            cols = [j for j, t in enumerate(design.terms) if t == term]
            frame[f"beta_{term}"] = (0.0, per_sd[cols])
    return frame


def initial_points(model, rng: np.random.Generator, n: int, radius: float = INIT_RADIUS,
                   design: Design | None = None) -> list[dict[str, np.ndarray]]:
    """``n`` initial points (values of the free parameters, on their own scale) whose
    unconstrained values are uniform in (-radius, radius): a log-transformed scale starts in
    (exp(-2), exp(2)), a coefficient in (-2, 2). Unlike a prior's mean or mode this does not
    move with a vague prior (a Gamma(1, 0.001) shape has mean 1000). With ``design``, the box
    is placed on the data's scale (:func:`_init_frame`): the baseline around the crude
    exponential estimate, coefficients per SD of their column."""
    import pytensor.tensor as pt

    frame = _init_frame(design)
    points = []
    for _ in range(n):
        point = {}
        for rv in model.free_RVs:
            u = rng.uniform(-radius, radius, size=tuple(int(k) for k in rv.shape.eval()))
            centre, factor = frame.get(rv.name, (0.0, 1.0))
            tr = model.rvs_to_transforms.get(rv)
            if getattr(tr, "name", "") == "persd":  # sampled per SD: (-2, 2) per SD as it is
                point[rv.name] = np.asarray(tr.backward(u), dtype=model.rvs_to_values[rv].dtype)
                continue
            u = centre + np.asarray(factor) * u  # a factor per column of a coefficient vector
            x = u if tr is None else tr.backward(pt.as_tensor(u), *rv.owner.inputs).eval()
            point[rv.name] = np.asarray(x, dtype=model.rvs_to_values[rv].dtype)
        points.append(point)
    return points


def _sample(model, s: Sampling, cores: int, seed: int, progressbar: bool,
            design: Design | None = None):
    """NUTS from initial values drawn by :func:`initial_points`, retried with new draws
    (:data:`INIT_ATTEMPTS` in all) when the sampler cannot start.

    Raises :class:`~nen_bayes.errors.SamplingStartError` when no attempt starts."""
    import pymc as pm

    rng = np.random.default_rng(seed)
    errors = []
    for attempt in range(INIT_ATTEMPTS):
        # nutpie takes one point and jitters it by U(-1, 1) per chain: draw its centre in
        # (-1, 1) so that every chain starts within (-2, 2); PyMC's NUTS takes one per chain
        if s.sampler == "nutpie":
            init = initial_points(model, rng, 1, INIT_RADIUS / 2, design)[0]
        else:
            init = initial_points(model, rng, s.chains, design=design)
        try:
            return pm.sample(draws=s.draws, tune=s.tune, chains=s.chains, cores=cores,
                             model=model, random_seed=seed + attempt, nuts_sampler=s.sampler,
                             progressbar=progressbar, compute_convergence_checks=False,
                             initvals=init, nuts={"target_accept": s.target_accept})
        except (RuntimeError, pm.exceptions.SamplingError, FloatingPointError) as exc:
            errors.append(start_failure(exc))
    raise SamplingStartError(
        f"the sampler could not start: the log density was not finite at initial values "
        f"drawn {INIT_ATTEMPTS} times uniformly in (-{INIT_RADIUS:g}, {INIT_RADIUS:g}) on the "
        f"unconstrained scale of every parameter (last: {errors[-1]}). Nothing was written. "
        "Check the data (times must be positive) and the priors (proper, and on the scale of "
        "the data: a time unit the model file does not expect moves the baseline far away).")


def start_failure(exc: Exception) -> str:
    """The first line of a sampler error that says it could not start (worth another draw of
    initial values); any other error is raised again."""
    text = str(exc)
    if "init" not in text.lower() and "starting point" not in text.lower():
        raise exc
    return text.splitlines()[0]


def _attrs(spec: ModelSpec, cohort: Cohort, design: Design, endpoint: str) -> dict:
    """What a fit records about its specification, data and software."""
    levelled = level_group(spec, design)
    return {
        "model": spec.name,
        "family": spec.family,
        "spec": spec.to_json(),
        "spec_hash": spec.hash,
        "spec_source": spec.source,
        "endpoint": endpoint,
        "time_unit": design.time_unit,
        "data_source": cohort.source,
        "data_hash": cohort.data_hash,
        "n_units": design.n,
        "n_events": int(design.event.sum()),
        "interval_censored": int(0 if design.upper is None else
                                 ((design.event == 1) & (design.upper > design.time)).sum()),
        "synthetic": int(cohort.synthetic),
        "notice": SYNTHETIC_NOTICE if cohort.synthetic else "",
        "cuts": json.dumps(None if design.cuts is None else design.cuts.tolist()),
        "time_varying": json.dumps(None if design.tv is None else {
            k: (v.tolist() if k == "cuts" else v) for k, v in design.tv.items() if k != "x"}),
        "contrasts": json.dumps(dict(zip(design.coefficients, design.contrasts, strict=True))),
        "terms": json.dumps(dict(zip(design.coefficients, design.terms, strict=True))),
        "transforms": json.dumps(design.transforms),
        "orders": json.dumps({k: list(v) for k, v in design.orders.items()}),
        "group_notes": json.dumps(few_group_notes(design)),
        "sampling_scales": json.dumps(
            {c: float(s) for c, s in zip(design.coefficients, sampling_scales(design)
                                         if design.X.shape[1] else [], strict=True) if s != 1}),
        "sampling_centres": json.dumps(
            {c: float(m) for c, m in zip(design.coefficients, centring_offsets(design)
                                          if design.X.shape[1] else [], strict=True) if m}),
        "centring": json.dumps({g.name: ("centred" if g.centered else "non-centred")
                                + (" (auto)" if g.auto else "")
                                + (", around the baseline" if g.name == levelled else "")
                                for g in design.groups}),
        "versions": json.dumps(versions()),
    }


def resolve_endpoint(spec: ModelSpec, cohort: Cohort, endpoint: str | None) -> str:
    names = [e.name for e in cohort.schema.endpoints]
    ep = endpoint or spec.endpoint
    if ep is None:
        if len(names) == 1:
            return names[0]
        raise ModelDataError(f"{cohort.source}: which endpoint? The model {spec.name!r} names "
                             f"none and the cohort has {names}; give --endpoint")
    if ep not in names:
        if endpoint is None and len(names) == 1:
            return names[0]  # a user's single endpoint replaces the spec's default
        raise ModelDataError(f"{cohort.source}: endpoint {ep!r} is not in the cohort; "
                             f"endpoints: {names}")
    return ep


def write_fit(fit_result: Fit, path: str | os.PathLike) -> Path:
    """Write the DataTree as NetCDF-4 (h5netcdf), atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        fit_result.tree.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_fit(path: str | os.PathLike):
    """Open a stored fit as a ``DataTree`` (what ``xarray.open_datatree`` gives)."""
    import xarray as xr

    with xr.open_datatree(path, engine="h5netcdf") as dt:
        return dt.load()


def read_run(path: str | os.PathLike):
    """The fit of a results directory written by ``fit.py`` (or the ``fit.nc`` itself).

    Raises :class:`~nen_bayes.errors.ResultError` naming the path when there is no readable fit.
    """
    p = Path(path)
    nc = p / "fit.nc" if p.is_dir() else p
    if not nc.exists():
        what = "directory has no fit.nc" if p.is_dir() else "does not exist"
        raise ResultError(f"{p}: {what}; expected a results directory written by fit.py "
                          "(or reanalyse.py's fits/<endpoint>/<model>/).")
    try:
        tree = read_fit(nc)
    except Exception as exc:  # any reader failure means the same to the user
        raise ResultError(f"{nc}: not a readable fit ({type(exc).__name__}: {exc})") from None
    missing = [k for k in ("model", "endpoint", "data_hash", "family") if k not in tree.attrs]
    if missing or "posterior" not in tree.children:
        raise ResultError(f"{nc}: not a nen-bayes fit (missing {missing or ['posterior']}).")
    return tree

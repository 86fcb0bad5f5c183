"""Prior sensitivity of a fitted model: refits under a grid of priors on the treatment effect,
and power-scaling sensitivity.

:func:`prior_grid_fit` refits one model under every prior of a grid (:mod:`nen_bayes.priorgrid`)
on the log HR of ``level`` vs ``reference``. The model is compiled once, with the coefficient
priors' means and SDs as data (``build_model(..., prior_data=True)``); each prior only changes
that data before sampling, so nine refits cost about one compilation plus nine short runs of
the sampler (nutpie). Every other prior of the model stays as its file says.

:func:`power_scaling` is ArviZ's power-scaling sensitivity (Kallioinen et al. 2023): how much
each posterior changes when the prior, or the likelihood, is raised to a power near 1. It needs
the ``log_prior`` and ``log_likelihood`` groups that :func:`nen_bayes.inference.fit` stores.
Only the top-level priors are scaled (coefficients, baseline, group SDs), not the standardised
group effects, as recommended for hierarchical models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ModelDataError
from .priorgrid import GridPrior, normal_probabilities

__all__ = ["GridResult", "power_scaling", "prior_grid_fit"]


@dataclass(frozen=True)
class GridResult:
    """Posterior summaries of the contrast under each prior of a grid."""

    model: str
    endpoint: str
    contrast: str
    table: pd.DataFrame
    draws: dict            # prior name -> HR draws
    priors: tuple          # GridPrior objects (the reference prior of the model first)
    timings: dict
    provenance: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    def to_text(self) -> str:
        t = self.table
        lines = [f"Prior sensitivity of {self.model}, endpoint {self.endpoint}: HR {self.contrast}"]
        probs = [c for c in t.columns if c.startswith("P(")]
        lines.append(f"  {'prior':<22} {'prior HR (95%)':<20} {'posterior HR (95% CrI)':<24}"
                     + "".join(f"{c:>21}" for c in probs))
        for r in t.itertuples(index=False):
            d = r._asdict()
            pr = f"{d['prior_median']:.2f} ({d['prior_lower']:.2f}-{d['prior_upper']:.2f})"
            po = f"{d['median']:.2f} ({d['lower']:.2f}-{d['upper']:.2f})"
            lines.append(f"  {d['prior']:<22} {pr:<20} {po:<24}"
                         + "".join(f"{t.loc[t['prior'] == d['prior'], c].iloc[0]:>21.3f}"
                                   for c in probs))
        lines.append(f"  compile {self.timings['compile_s']:.1f} s, {len(t)} refits "
                     f"{self.timings['sampling_s']:.1f} s")
        return "\n".join(lines) + "\n"


def _contrast_column(design, term: str, level: str, reference: str) -> tuple[int, int]:
    """Design column of the contrast and its sign: log HR(level vs reference) = sign * beta_j."""
    cols = {c: j for j, c in enumerate(design.coefficients) if design.terms[j] == term}
    if not cols:
        raise ModelDataError(f"the model has no covariate {term!r}; its covariates: "
                             f"{sorted(set(design.terms))}")
    refs = {design.contrasts[j].split(" vs ", 1)[1] for j in cols.values()
            if " vs " in design.contrasts[j]}
    if len(refs) != 1:
        raise ModelDataError(f"{term!r} is not a treatment-coded categorical covariate")
    ref = refs.pop()
    levels = {c[len(term) + 1:-1]: j for c, j in cols.items()}
    if reference == ref and level in levels:
        return levels[level], 1
    if level == ref and reference in levels:
        return levels[reference], -1
    raise ModelDataError(
        f"the prior grid is on one coefficient: {level!r} vs {reference!r} must involve the "
        f"model's reference level {ref!r} of {term!r} (levels: {[ref, *levels]})")


def prior_grid_fit(spec, cohort, priors: list[GridPrior], *, endpoint: str | None = None,
                   term: str = "line", level: str = "second_line", reference: str = "salvage",
                   draws: int = 1000, tune: int = 1000, chains: int = 4,
                   cores: int | None = None, seed: int = 20261123, target_accept: float = 0.9,
                   benefit: float = 0.8, harm: float = 1.25, rope=(0.91, 1.10),
                   conf_level: float = 0.95, progress=None) -> GridResult:
    """Refit ``spec`` under each prior (and first under the model's own prior, as the
    reference) with one compiled model; summarise the HR of ``level`` vs ``reference``."""
    import os
    import warnings

    import arviz_stats as azs
    import nutpie

    from .design import make_design
    from .inference import resolve_endpoint
    from .model import PRIOR_DATA, build_model

    endpoint = resolve_endpoint(spec, cohort, endpoint)
    design = make_design(spec, cohort, endpoint)
    j, sign = _contrast_column(design, term, level, reference)
    t0 = time.perf_counter()
    model = build_model(spec, design, prior_data=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fewer than.*chains.*")
        compiled = nutpie.compile_pymc_model(model)
    t_compile = time.perf_counter() - t0
    base_mu = model[PRIOR_DATA[0]].get_value().copy()
    base_sd = model[PRIOR_DATA[1]].get_value().copy()
    own = spec.coefficient_prior(term)
    reference_prior = GridPrior(
        name="model_prior", direction="model", strength="file",
        mu=sign * float(own.params["mu"]), sigma=float(own.params["sigma"]),
        expected_hr=np.nan, tail=np.nan, tail_event="",
        reason=f"the model file's own coefficient prior ({spec.source})", source=spec.source)
    everything = [reference_prior, *priors]
    seeds = np.random.SeedSequence(seed).generate_state(len(everything))
    cores = cores or min(chains, os.cpu_count() or 1)
    kw = {"benefit": benefit, "harm": harm, "rope": rope, "level": conf_level}
    rows, hr_draws = [], {}
    t1 = time.perf_counter()
    for k, pr in enumerate(everything):
        if progress:
            progress(f"prior {k + 1}/{len(everything)}: {pr.name}")
        mu, sd = base_mu.copy(), base_sd.copy()
        mu[j], sd[j] = sign * pr.mu, pr.sigma
        tree = nutpie.sample(compiled.with_data(**{PRIOR_DATA[0]: mu, PRIOR_DATA[1]: sd}),
                             draws=draws, tune=tune, chains=chains, cores=cores,
                             seed=int(seeds[k]), progress_bar=False,
                             target_accept=target_accept)
        beta = tree["posterior"]["beta"].isel(covariate=j)
        log_hr = sign * beta.values.ravel()
        hr = np.exp(log_hr)
        hr_draws[pr.name] = hr
        lo, mid, hi = np.quantile(hr, [(1 - conf_level) / 2, 0.5, (1 + conf_level) / 2])
        prior_sum = normal_probabilities(pr.mu, pr.sigma, **kw)
        row = {"prior": pr.name, "direction": pr.direction, "strength": pr.strength,
               "prior_mu": pr.mu, "prior_sd": pr.sigma, "prior_median": prior_sum["hr"],
               "prior_lower": prior_sum["lower"], "prior_upper": prior_sum["upper"],
               "median": float(mid), "lower": float(lo), "upper": float(hi),
               "P(HR < 1)": float(np.mean(hr < 1)),
               f"P(HR < {benefit:g})": float(np.mean(hr < benefit)),
               f"P(HR > {harm:g})": float(np.mean(hr > harm)),
               f"P({rope[0]:g} < HR < {rope[1]:g})":
                   float(np.mean((hr > rope[0]) & (hr < rope[1])))}
        row["max_rhat"] = float(max(float(v.max()) for v in
                                    azs.rhat(tree).dataset.data_vars.values()))
        row["min_ess_bulk"] = float(min(float(v.min()) for v in
                                        azs.ess(tree).dataset.data_vars.values()))
        row["divergences"] = int(tree["sample_stats"]["diverging"].sum())
        rows.append(row)
    t_sampling = time.perf_counter() - t1
    prov = cohort.provenance()
    return GridResult(model=spec.name, endpoint=endpoint, contrast=f"{level} vs {reference}",
                      table=pd.DataFrame(rows), draws=hr_draws, priors=tuple(everything),
                      timings={"compile_s": round(t_compile, 2),
                               "sampling_s": round(t_sampling, 2)},
                      provenance={"data_hash": prov["data_hash"], "source": prov["source"],
                                  "synthetic": prov["synthetic"], "seed": seed,
                                  "draws": draws, "tune": tune, "chains": chains})


def power_scaling(tree, *, threshold: float = 0.05) -> pd.DataFrame:
    """Power-scaling prior and likelihood sensitivity (cumulative Jensen-Shannon distance) of
    every top-level parameter, with ArviZ's diagnosis ("potential prior-data conflict",
    "potential strong prior / weak likelihood", or "-" when both are below ``threshold``).

    Raises ``ValueError`` when the fit lacks the ``log_prior`` or ``log_likelihood`` group.
    """
    import contextlib
    import io
    import logging

    import arviz_stats as azs

    from .diagnostics import key_parameters

    missing = [g for g in ("log_prior", "log_likelihood") if g not in tree.children]
    if missing:
        raise ValueError(f"power-scaling needs the group(s) {missing}; refit with this "
                         "version of nen-bayes (fit() stores them)")
    names = key_parameters(tree)
    prior_names = [v for v in tree["log_prior"].dataset.data_vars if v in names]
    log = logging.getLogger("arviz_stats.psense")
    level = log.level
    log.setLevel(logging.ERROR)  # ArviZ logs a pointer to its docs when it flags a parameter
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            out = azs.psense_summary(tree, var_names=names, threshold=threshold,
                                     prior_var_names=prior_names, round_to=6)
    finally:
        log.setLevel(level)
    out = out.reset_index().rename(columns={"index": "parameter"})
    out["diagnosis"] = out["diagnosis"].replace({"✓": "-"})
    return out

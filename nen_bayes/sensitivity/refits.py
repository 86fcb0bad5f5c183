"""Prior sensitivity of a fitted model: refits under a grid of priors on the treatment effect.

:func:`prior_grid_fit` refits one model under every prior of a grid
(:mod:`nen_bayes.sensitivity.grid`) on the log HR of one contrast (a :class:`Contrast`). The
model is compiled once, with the coefficient priors' means and SDs as data
(``build_model(..., prior_data=True)``); each prior only changes that data before sampling, so
nine refits cost about one compilation plus nine short runs of the sampler (nutpie). Every
other prior of the model stays as its file says.

By default (``method="reweight"``) only the model's own prior is sampled: every other prior of
the grid reweights those draws by the ratio of the two normal priors on the log HR, smoothed
by Pareto-smoothed importance sampling (PSIS; Vehtari et al. 2024, "Pareto smoothed importance
sampling", JMLR 25:72). The other parameters' priors are the same under both, so the ratio is
exact, and the posterior under the new prior is the reweighted one. A prior is refitted
instead when its weights are not reliable: Pareto k above min(1 - 1/log10(S), 0.7), or fewer
effective draws than the run card asks of a fit (``ess_per_chain`` x chains). Each row says
which it is (``method``: "sampled" or "reweighted"; ``pareto_k``, ``ess_importance``).
``method="refit"`` samples every prior.

Power-scaling sensitivity (how much each posterior changes when the prior or the likelihood is
raised to a power near 1) is :func:`nen_bayes.posterior.power_scaling.power_scaling`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.families import get_family
from nen_bayes.bayes.inference import resolve_endpoint
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import in_time_unit
from nen_bayes.effects import effects_frame
from nen_bayes.errors import ModelDataError, SpecError
from nen_bayes.formatting import format_prob
from nen_bayes.posterior.diagnostics import DEFAULT_THRESHOLDS, Check, RunCard, diagnose_fit
from nen_bayes.posterior.summary import interval, weighted_interval
from nen_bayes.provenance import Provenanced
from nen_bayes.sensitivity.grid import GridPrior, normal_probabilities
from nen_bayes.settings import (
    GRID_METHODS,
    Contrast,
    Decision,
    Sampling,
    decision_probabilities,
)

__all__ = ["GRID_METHODS", "GridResult", "check_grid_contrast", "importance_weights",
           "prior_grid_fit"]


@dataclass(frozen=True)
class GridResult(Provenanced):
    """Posterior summaries of the contrast under each prior of a grid.

    ``table`` has one row per prior (the model file's own prior first): the prior's median HR
    and interval, the posterior median HR, its CrI and the decision probabilities (columns
    named by their labels, e.g. ``P(HR < 1)``), and each refit's max R-hat, min bulk ESS and
    divergences; ``method`` says whether the row was "sampled" or "reweighted" from the fit
    under the model's own prior (then R-hat and divergences are that fit's); ``pareto_k`` and
    ``ess_importance`` are its weights' Pareto k and effective draws wherever they were
    computed (a sampled row with them was refitted because they failed)."""

    model: str
    endpoint: str
    contrast: str
    table: pd.DataFrame
    draws: dict            # prior name -> HR draws (a reweighted row's: the base draws)
    priors: tuple          # GridPrior objects (the reference prior of the model first)
    timings: dict
    provenance: dict = field(default_factory=dict)
    term: str = ""
    conf_level: float = 0.95
    decision: Decision = field(default_factory=Decision)
    #: the run card of each refit (same order as ``table``), held to the usual thresholds
    cards: tuple = ()
    #: prior name -> the importance weights of its draws (summing to 1), for reweighted rows:
    #: their draws are the model's own prior's, and only these weights make them this prior's
    weights: dict = field(default_factory=dict)

    @property
    def failed_cards(self) -> list:
        return [c for c in self.cards if not c.passed]

    @property
    def effects(self) -> pd.DataFrame:
        """The posterior HR and decision probabilities under each prior, as rows of the shared
        effects table (the prior named in ``method``)."""
        p = self.provenance
        base = {"endpoint": self.endpoint, "term": self.term, "group": self.contrast,
                "n": p.get("n_units"), "events": p.get("n_events"),
                "data_hash": p.get("data_hash"), "synthetic": self.synthetic}
        priors = {pr.name: pr for pr in self.priors}
        rows = []
        for r in self.table.to_dict(orient="records"):
            pr = priors[r["prior"]]
            under = f"Bayesian {self.model} under the prior {pr.name} ({pr.label})"
            if r.get("method") == "reweighted":
                under += (f" (the draws under the model's own prior, importance-reweighted: "
                          f"Pareto k {r['pareto_k']:.2f}, {r['ess_importance']:.0f} effective "
                          "draws)")
            rows.append({**base, "quantity": "hazard_ratio", "estimate": r["median"],
                         "lower": r["lower"], "upper": r["upper"], "interval": "CrI",
                         "conf_level": self.conf_level,
                         "method": f"{under}, posterior median and equal-tailed CrI"})
            for key, label in self.decision.events.items():
                rows.append({**base, "quantity": key, "estimate": r[label], "interval": "",
                             "conf_level": np.nan,
                             "method": f"{under}, posterior probability {label}"})
        return effects_frame(rows)

    def to_text(self) -> str:
        t = self.table
        lines = [f"Prior sensitivity of {self.model}, endpoint {self.endpoint}: "
                 f"HR {self.contrast}"]
        probs = [c for c in t.columns if c.startswith("P(")]
        pct = f"{self.conf_level:.0%}"
        lines.append(f"  {'prior':<22} {f'prior HR ({pct})':<20} "
                     f"{f'posterior HR ({pct} CrI)':<24}"
                     + "".join(f"{c:>21}" for c in probs))
        for d in t.to_dict(orient="records"):
            pr = f"{d['prior_median']:.2f} ({d['prior_lower']:.2f}-{d['prior_upper']:.2f})"
            po = f"{d['median']:.2f} ({d['lower']:.2f}-{d['upper']:.2f})"
            lines.append(f"  {d['prior']:<22} {pr:<20} {po:<24}"
                         + "".join(f"{format_prob(d[c]):>21}" for c in probs))
        lines += self._method_lines()
        lines += self._checks_lines()
        fits = int((t["method"] != "reweighted").sum()) if "method" in t else len(t)
        fits -= bool(self.provenance.get("base_given"))  # sampled before, not here
        lines.append(f"  compile {self.timings['compile_s']:.1f} s, {fits} fit"
                     f"{'s' if fits != 1 else ''} sampled here {self.timings['sampling_s']:.1f} "
                     "s" + (" (the first row: the fit given)" if self.provenance.get(
                         "base_given") else ""))
        return "\n".join(lines) + "\n"

    def _method_lines(self) -> list[str]:
        """How each prior's posterior was obtained: sampled, or reweighted (with the range of
        the weights' Pareto k), and each refit forced by its weights."""
        t = self.table
        if "method" not in t or not (t["method"] == "reweighted").any():
            return []
        rw = t[t["method"] == "reweighted"]
        first = "from the fit given" if self.provenance.get("base_given") else "sampled"
        lines = [f"  posteriors: the model's own prior {first}; {len(rw)} of the other "
                 f"{len(t) - 1} priors by importance reweighting of its draws (PSIS; Pareto k "
                 f"{rw['pareto_k'].min():.2f} to {rw['pareto_k'].max():.2f}, "
                 f"{rw['ess_importance'].min():.0f} or more effective draws)"]
        forced = t[(t["method"] == "sampled") & t["pareto_k"].notna()]
        for r in forced.to_dict(orient="records"):
            lines.append(f"    {r['prior']:<22} refitted: its weights had Pareto k "
                         f"{r['pareto_k']:.2f}, {r['ess_importance']:.0f} effective draws")
        return lines


    def _checks_lines(self) -> list[str]:
        """Whether every refit passes the run card's checks; each failure with its reason."""
        if not self.cards:
            return []
        bad = self.failed_cards
        if not bad:
            return [f"  diagnostics: all {len(self.cards)} posteriors pass the run card's "
                    "checks"]
        lines = [f"  diagnostics: FAILED in {len(bad)} of {len(self.cards)} posteriors (these "
                 "posteriors are not reliable yet: raise --draws/--tune)"]
        for card in bad:
            lines.append(f"    {card.run.removeprefix('prior grid: '):<22} " + "; ".join(
                f"{c.name} {c.shown}{f' ({c.worst})' if c.worst else ''} needs {c.rule} "
                f"{c.threshold:g}" for c in card.failures))
        return lines


def _contrast_column(design, contrast: Contrast) -> tuple[int, int, str, str]:
    """Design column of the contrast, its sign (log HR(level vs versus) = sign * beta_j) and
    the resolved levels (``None``: the model's first non-reference level, its reference)."""
    term = contrast.term
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
    level = next(iter(levels)) if contrast.level is None else contrast.level
    versus = ref if contrast.versus is None else contrast.versus
    if versus == ref and level in levels:
        return levels[level], 1, level, versus
    if level == ref and versus in levels:
        return levels[versus], -1, level, versus
    raise ModelDataError(
        f"the prior grid is on one coefficient: {level!r} vs {versus!r} must involve the "
        f"model's reference level {ref!r} of {term!r} (levels: {[ref, *levels]})")


def check_grid_contrast(spec, cohort, contrast: Contrast, endpoint: str | None = None) -> None:
    """Refuse, before any sampling, a contrast the prior grid cannot be put on (a term the
    model lacks, or two levels of which neither is the model's reference): raises
    :class:`~nen_bayes.errors.ModelDataError`; an accelerated-failure-time family, whose
    coefficient is a log time ratio, not the log HR the grid's priors are written on."""
    _refuse_time_ratio(spec)
    design = make_design(spec, cohort, resolve_endpoint(spec, cohort, endpoint))
    _contrast_column(design, contrast)


def _refuse_time_ratio(spec) -> None:
    if not get_family(spec.family).proportional:
        raise ModelDataError(
            f"{spec.source}: the prior grid's priors are on a log hazard ratio; {spec.name!r} "
            f"is of the accelerated-failure-time family {spec.family!r}, whose coefficients "
            "are log time ratios. Put the grid on a proportional-hazards model, or write a "
            "prior on the time ratio in the model file and refit")


def _tree_row(tree, pr: GridPrior, j: int, sign: int, decision: Decision,
              conf_level: float, thresholds: dict | None, model: str
              ) -> tuple[dict, np.ndarray, RunCard]:
    """The table row, the HR draws and the run card of a posterior under prior ``pr`` (a
    sampled DataTree with ``beta`` and the sampler statistics)."""
    hr = np.exp(sign * tree["posterior"]["beta"].isel(covariate=j).values.ravel())
    mid, lo, hi = interval(hr, conf_level)
    card = replace(diagnose_fit(tree, run=f"prior grid: {pr.name}", thresholds=thresholds),
                   model=f"{model} under prior {pr.name}")
    checks = {c.name: c for c in card.checks}
    row = {**_prior_columns(pr, decision, conf_level),
           "median": mid, "lower": lo, "upper": hi, **decision_probabilities(hr, decision),
           "max_rhat": checks["rhat"].value, "min_ess_bulk": checks["ess_bulk"].value,
           "divergences": checks["divergences"].value,
           "checks": _checks_text(card),
           "method": "sampled", "pareto_k": np.nan, "ess_importance": np.nan}
    return row, hr, card


class _Refits:
    """Refits of one model under priors on coefficient ``j``, through one
    :class:`~nen_bayes.bayes.refit.Refitter` with the coefficient priors as data, compiled on
    the first refit (:func:`_grid_model`; a grid whose priors are all reweighted from a given
    fit compiles nothing)."""

    def __init__(self, spec, design, cache, s: Sampling, j: int, sign: int):
        self.spec, self.design, self.cache, self.s, self.j, self.sign = \
            spec, design, cache, s, j, sign
        self.fitter = None
        self.compile_s = 0.0

    def tree(self, pr: GridPrior, seed: int):
        """The posterior sampled under prior ``pr`` on the coefficient (a DataTree), from
        initial values drawn as every fit draws them (retried when the sampler cannot start)."""
        if self.fitter is None:
            t0 = time.perf_counter()
            self.fitter = _grid_model(self.spec, self.design, self.cache)
            self.compile_s = time.perf_counter() - t0
        mu, sd = (a.copy() for a in self.fitter.prior_values)
        mu[self.j], sd[self.j] = self.sign * pr.mu, pr.sigma
        d = self.design
        return self.fitter.fit(d.time, d.event, entry=d.entry,
                               upper=d.upper if self.fitter.intervals else None,
                               seed=seed, sampling=self.s, prior=(mu, sd))


def _prior_columns(pr: GridPrior, decision: Decision, conf_level: float) -> dict:
    """A grid row's columns about its prior: name, kind, mean and SD on log HR, and its
    median HR and interval."""
    summary = normal_probabilities(pr.mu, pr.sigma, decision=decision, level=conf_level)
    return {"prior": pr.name, "direction": pr.direction, "strength": pr.strength,
            "prior_mu": pr.mu, "prior_sd": pr.sigma, "prior_median": summary["hr"],
            "prior_lower": summary["lower"], "prior_upper": summary["upper"]}


def _checks_text(card: RunCard) -> str:
    return "pass" if card.passed else "FAIL: " + ", ".join(c.name for c in card.failures)


def importance_weights(log_ratio: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Pareto-smoothed importance weights of MCMC draws (``log_ratio``: chain x draw, the log
    of target / proposal density up to a constant): the weights (summing to 1, flat), their
    Pareto k and their effective number of draws (the relative efficiency of the ratios,
    at most 1, over the sum of squared weights)."""
    from arviz_stats.base import array_stats

    lr = np.asarray(log_ratio, float)
    if np.ptp(lr) == 0:  # the same density: equal weights, no tail
        return np.full(lr.size, 1.0 / lr.size), -np.inf, float(lr.size)
    ratio = np.exp(lr - lr.max())
    r_eff = min(1.0, float(array_stats.ess(ratio, method="mean")) / ratio.size)
    log_w, k = array_stats.psislw(-lr.ravel(), r_eff=r_eff)  # it takes minus the log ratio
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    return w, float(k), r_eff / float(np.sum(w ** 2))


def _reweighted_row(base: tuple, own: GridPrior, pr: GridPrior, decision: Decision,
                    conf_level: float, need_ess: float, model: str):
    """The row of prior ``pr`` from the draws of the fit under the model's own prior ``own``
    (``base``: its HR draws, chain x draw, its row and run card), reweighted by the ratio of
    the two normal priors on log HR; the row, the HR draws, their weights and the run card
    (the base fit's checks and the weights' Pareto k and effective draws, each able to fail).
    The row says ``method`` "reweighted" only when both weight checks pass."""
    hr, base_row, base_card = base
    x = np.log(hr)
    w, k, ess = importance_weights(norm.logpdf(x, pr.mu, pr.sigma)
                                   - norm.logpdf(x, own.mu, own.sigma))
    k_max = min(1.0 - 1.0 / np.log10(hr.size), 0.7)
    checks = (Check("importance_k", "Pareto k of the importance weights (ratio of the priors)",
                    k, k_max, "<=", bool(k <= k_max)),
              Check("importance_ess", "effective draws of the importance-weighted posterior",
                    ess, need_ess, ">=", bool(ess >= need_ess)))
    card = replace(base_card, run=f"prior grid: {pr.name}", model=f"{model} under prior "
                   f"{pr.name} (reweighted)", checks=base_card.checks + checks)
    mid, lo, hi = weighted_interval(hr, w, conf_level)
    ok = all(c.passed for c in checks)
    row = {**base_row, **_prior_columns(pr, decision, conf_level),
           "median": mid, "lower": lo, "upper": hi,
           **decision_probabilities(hr, decision, weights=w),
           "checks": _checks_text(card),
           "method": "reweighted" if ok else "sampled", "pareto_k": k, "ess_importance": ess}
    return row, hr.ravel(), w, card


def _grid_model(spec, design, cache: dict | None) -> Refitter:
    """The :class:`~nen_bayes.bayes.refit.Refitter` of ``spec`` with the coefficient priors
    as data, for ``design``'s units: from ``cache`` (by spec hash) when it holds one that
    matches the design (the same units; only the outcomes differ), else compiled and kept in
    ``cache``."""
    hit = None if cache is None else cache.get(spec.hash)
    if hit is not None and hit.matches(spec, design):
        return hit
    fitter = Refitter(spec, design, prior_data=True)
    if cache is not None:
        cache[spec.hash] = fitter
    return fitter


def _check_base(base, design, spec) -> int:
    """The number of chains of ``base``, a fit of ``spec`` on ``design`` under the model's own
    prior; a ModelDataError when its coefficients are not the design's."""
    got = [str(c) for c in base["posterior"]["beta"].coords["covariate"].values]
    if got != list(design.coefficients) or base.attrs.get("model", spec.name) != spec.name:
        raise ModelDataError(
            f"prior grid: the fit given as its first row is of {base.attrs.get('model')!r} "
            f"with coefficients {got}; the grid is of {spec.name!r} with {design.coefficients}")
    return int(base["posterior"].sizes["chain"])


def _model_prior(spec, term: str, sign: int) -> GridPrior:
    """The model file's own prior on the contrast's log HR, as the grid's first row (a
    SpecError unless it is Normal: the grid's priors replace it, and its density is part of
    the importance ratio)."""
    own = spec.coefficient_prior(term)
    if own.dist != "Normal":
        raise SpecError(f"{spec.source}: the prior grid replaces the Normal prior of {term!r}; "
                        f"this model gives it a {own.dist} prior")
    return GridPrior(name="model_prior", direction="model", strength="file",
                     mu=sign * float(own.params["mu"]), sigma=float(own.params["sigma"]),
                     expected_hr=np.nan, tail=np.nan, tail_event="",
                     reason=f"the model file's own coefficient prior ({spec.source})",
                     source=spec.source)


def prior_grid_fit(spec, cohort, priors: list[GridPrior], contrast: Contrast, *,
                   endpoint: str | None = None, sampling: Sampling | None = None,
                   decision: Decision | None = None, conf_level: float = 0.95, progress=None,
                   thresholds: dict | None = None, compiled: dict | None = None,
                   method: str = "reweight", base=None, **overrides) -> GridResult:
    """The posterior of ``spec`` under each prior of a grid (first under the model's own
    prior, the reference), sampled or reweighted (``method``); summarise the HR of
    ``contrast``.

    ``sampling`` (default :class:`Sampling`) gives draws, tuning steps, chains, cores, seed and
    target acceptance; keyword ``overrides`` replace its fields (``draws=150``). The refits
    always use nutpie, whose compiled model takes new prior data without recompiling, so
    ``sampling.sampler`` is not used. ``progress`` (a callable) is told each prior's name
    before its refit. Each refit is held to the run card's checks
    (:func:`~nen_bayes.posterior.diagnostics.diagnose_fit`, ``thresholds`` as there): the
    result's ``cards``, the table's ``checks`` column and its text show every failure.

    ``method``: "reweight" (default) samples the model's own prior only and reweights its
    draws for every other prior, refitting a prior whose weights fail their checks; "refit"
    samples every prior (module docstring). ``base``: a fit of ``spec`` on ``endpoint`` under
    its own prior, sampled with ``sampling`` (the main job's fit of its headline model; a
    DataTree with the posterior and sampler statistics), used as the grid's first row instead
    of sampling it again; nothing is compiled unless a prior is refitted.

    ``compiled``: a dict in which the compiled model is kept (by spec hash) with the outcomes
    as data, so that a later call on another endpoint of the same units (say) swaps the
    outcomes instead of compiling again (``timings["compile_s"]`` is then 0)."""

    _refuse_time_ratio(spec)
    if method not in GRID_METHODS:
        raise ValueError(f"method must be one of {GRID_METHODS}, not {method!r}")
    s = replace(Sampling() if sampling is None else sampling, **overrides)
    decision = Decision() if decision is None else decision
    endpoint = resolve_endpoint(spec, cohort, endpoint)
    spec, _ = in_time_unit(spec, cohort.schema.time_unit)  # the fit's own conversion
    design = make_design(spec, cohort, endpoint)
    j, sign, level, versus = _contrast_column(design, contrast)
    everything = [_model_prior(spec, contrast.term, sign), *priors]
    chains = s.chains if base is None else _check_base(base, design, spec)
    seeds = np.random.SeedSequence(s.seed).generate_state(len(everything))
    need_ess = {**DEFAULT_THRESHOLDS, **(thresholds or {})}["ess_per_chain"] * chains
    refits = _Refits(spec, design, compiled, s, j, sign)
    rows, hr_draws, weights, cards = [], {}, {}, []
    t1 = time.perf_counter()
    for k, pr in enumerate(everything):
        if progress:
            progress(f"prior {k + 1}/{len(everything)}: {pr.name}")
        tried = None
        if method == "reweight" and k > 0:
            tried = _reweighted_row((hr_draws[everything[0].name].reshape(chains, -1),
                                     rows[0], cards[0]), everything[0], pr, decision,
                                    conf_level, need_ess, spec.name)
        if tried is not None and tried[0]["method"] == "reweighted":
            row, hr_draws[pr.name], weights[pr.name], card = tried
        else:
            tree = base if k == 0 and base is not None else refits.tree(pr, int(seeds[k]))
            row, hr_draws[pr.name], card = _tree_row(tree, pr, j, sign, decision, conf_level,
                                                     thresholds, spec.name)
            if tried is not None:  # refitted because its weights failed: say so
                row.update(pareto_k=tried[0]["pareto_k"],
                           ess_importance=tried[0]["ess_importance"])
        rows.append(row)
        cards.append(card)
    t_sampling = time.perf_counter() - t1 - refits.compile_s
    prov = cohort.provenance()
    return GridResult(model=spec.name, endpoint=endpoint, contrast=f"{level} vs {versus}",
                      table=pd.DataFrame(rows), draws=hr_draws, priors=tuple(everything),
                      timings={"compile_s": round(refits.compile_s, 2),
                               "sampling_s": round(t_sampling, 2)},
                      provenance={"data_hash": prov["data_hash"], "source": prov["source"],
                                  "synthetic": prov["synthetic"], "n_units": design.n,
                                  "n_events": int(design.event.sum()), "seed": s.seed,
                                  "draws": s.draws, "tune": s.tune, "chains": s.chains,
                                  "sampler": "nutpie", "grid_method": method,
                                  "base_given": base is not None},
                      term=contrast.term, conf_level=conf_level, decision=decision,
                      cards=tuple(cards), weights=weights)

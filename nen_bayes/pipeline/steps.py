"""The steps of the main job. Each step computes with the library, writes its files under the
results directory and returns a typed, frozen result with its figures attached by name (as the
PNG the report embeds; the files in the chosen formats are already written).

A new step is one function here returning one result type, one line in
:func:`nen_bayes.pipeline.reanalysis.reanalyse`, and one section function in
:mod:`nen_bayes.pipeline.sections`.

A model of the set that cannot be fitted is left out of its endpoint with a note
(:func:`left_out_note`, :attr:`EndpointResult.notes`); the baselines leave out a Cox model that
cannot be fitted in the same way (``BaselineReport.not_estimated``).
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nen_bayes import plotting
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import fit, write_fit
from nen_bayes.bayes.predict import outcomes_of
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import in_time_unit
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.effects import with_checks, write_effects
from nen_bayes.errors import ModelDataError
from nen_bayes.files import atomic_write_text
from nen_bayes.formatting import format_equals
from nen_bayes.frequentist.baselines import BaselineReport, run_baselines
from nen_bayes.frequentist.describe import CohortDescription, describe_cohort
from nen_bayes.frequentist.km import kaplan_meier
from nen_bayes.pipeline.html import png_bytes
from nen_bayes.pipeline.settings import ReanalysisSettings
from nen_bayes.posterior.averaging import ModelAverage, model_average
from nen_bayes.posterior.compare import CompareReport, compare_report, oriented_wide
from nen_bayes.posterior.contrast import ContrastResult, contrast_effects
from nen_bayes.posterior.crossval import CVComparison, centre_cv, compare_cv
from nen_bayes.posterior.diagnostics import (
    RunCard,
    convergence_verdict,
    diagnose_fit,
    psis_loo,
    record_verdict,
)
from nen_bayes.posterior.summary import posterior_effects
from nen_bayes.re_nen.published import PublishedReanalysis, reanalyse_published
from nen_bayes.sensitivity.refits import GridResult, prior_grid_fit

__all__ = ["BaselineStep", "CompareStep", "ContrastStep", "CrossvalStep", "DescribeStep",
           "EndpointResult", "FitStep", "GridStep", "Job", "PublishedStep",
           "baseline_references", "baseline_step", "compare_step", "contrast_step",
           "crossval_step", "describe_step", "fit_step", "grid_step", "left_out_note",
           "published_step"]


@dataclass(frozen=True)
class Job:
    """What every step needs: the cohort, the results directory and the settings; and the
    compiled models of the set (by model name) and of the prior grid, which the next endpoint
    reuses when its units and covariates are the same (:class:`~nen_bayes.bayes.refit.Refitter`,
    :func:`~nen_bayes.sensitivity.refits.prior_grid_fit`'s ``compiled``)."""

    cohort: Cohort
    out: Path
    settings: ReanalysisSettings
    refitters: dict = field(default_factory=dict, repr=False, compare=False)
    grid_models: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def endpoints(self) -> list[str]:
        return self.settings.endpoints_of(self.cohort)

    @property
    def factors(self) -> list[str]:
        return self.settings.factors_of(self.cohort)

    def figure(self, fig, stem: Path) -> bytes:
        """Write ``fig`` in the settings' formats; return the PNG the report embeds (so the
        figure itself can be freed)."""
        plotting.save_figure(fig, stem, list(self.settings.formats))
        return png_bytes(fig)

    def directory(self, *parts: str) -> Path:
        d = self.out.joinpath(*parts)
        d.mkdir(parents=True, exist_ok=True)
        return d


# --- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DescribeStep:
    description: CohortDescription


@dataclass(frozen=True)
class BaselineStep:
    reports: dict[str, BaselineReport]          # by endpoint
    figures: dict[str, bytes]                   # "km_<endpoint>"


@dataclass(frozen=True)
class FitStep:
    model: str
    card: RunCard
    loo: object = field(repr=False)             # PSIS-LOO, shared by the card and comparison
    figures: dict[str, bytes] = field(default_factory=dict)  # diagnostics (headline model)


@dataclass(frozen=True)
class CompareStep:
    report: CompareReport
    figures: dict[str, bytes]                   # "elpd", "extrapolation"
    #: the model set averaged with its stacking weights (cohort survival, median, RMST)
    average: ModelAverage | None = None


@dataclass(frozen=True)
class ContrastStep:
    result: ContrastResult                      # the headline model's
    across: pd.DataFrame                        # the HR of every model of the set
    figures: dict[str, bytes]                   # "standardised", "hr", "centres"


@dataclass(frozen=True)
class GridStep:
    result: GridResult
    figures: dict[str, bytes]                   # "grid"


@dataclass(frozen=True)
class CrossvalStep:
    comparison: CVComparison | None             # None: no model of the set could be scored
    notes: tuple[str, ...] = ()                 # models left out of the cross-validation


@dataclass(frozen=True)
class DetectionStep:
    """The headline model's contrast HR from the interval likelihood (the endpoint's fit) and
    from the same model refitted with each progression at its detecting assessment."""

    interval_hr: tuple[float, float, float]     # median, lower, upper
    detection_hr: tuple[float, float, float]
    interval_censored: int                      # units known only within an interval
    seconds: float                              # the extra fit's time

    @property
    def difference(self) -> float:
        """log HR (interval) - log HR (detection times), posterior medians."""
        return float(np.log(self.interval_hr[0]) - np.log(self.detection_hr[0]))

    def to_text(self, contrast: str, conf_level: float) -> str:
        pct = f"{conf_level:.0%}"
        i, d = self.interval_hr, self.detection_hr
        return (f"HR {contrast} {i[0]:.2f} ({pct} CrI {i[1]:.2f}-{i[2]:.2f}) with the interval "
                f"likelihood ({self.interval_censored} progressions known only between two "
                f"assessments) vs {d[0]:.2f} ({d[1]:.2f}-{d[2]:.2f}) with progression at its "
                f"detecting assessment; difference in log HR {self.difference:+.3f} (ratio "
                f"{np.exp(self.difference):.2f}; the extra fit took {self.seconds:.0f} s)")


@dataclass(frozen=True)
class EndpointResult:
    endpoint: str
    fits: dict[str, FitStep]                    # the models fitted (those left out: notes)
    compare: CompareStep
    contrast: ContrastStep
    grid: GridStep | None = None
    notes: tuple[str, ...] = ()                 # models of the set left out, and why
    crossval: CrossvalStep | None = None
    detection: DetectionStep | None = None      # interval-censored endpoints only

    @property
    def cards(self) -> list[RunCard]:
        return [f.card for f in self.fits.values()]


@dataclass(frozen=True)
class PublishedStep:
    result: PublishedReanalysis
    figures: dict[str, bytes]                   # "summary", "sweep"


# --- steps ---------------------------------------------------------------------------------
def describe_step(job: Job) -> DescribeStep:
    desc = describe_cohort(job.cohort)
    atomic_write_text(job.out / "describe.txt", desc.to_text())
    return DescribeStep(desc)


def baseline_references(settings: ReanalysisSettings, factors: list[str]) -> dict[str, str]:
    """The reference level of the contrast's term in the baselines, so that their hazard ratio
    and RMST difference compare the contrast's levels: the contrast's comparator (``versus``),
    else the headline model's reference level for the term; none when neither is named (the
    factor's own reference, as the model's) or the term is not an analysed factor."""
    c = settings.contrast
    ref = c.versus or next((cv.reference for cv in settings.headline.covariates
                            if cv.column == c.term), None)
    return {c.term: ref} if ref is not None and c.term in factors else {}


def baseline_step(job: Job) -> BaselineStep:
    """Kaplan-Meier, log-rank and Cox of every endpoint, the contrast's term against the
    contrast's comparator (:func:`baseline_references`); one KM figure per endpoint (by the
    contrast's term when it is a factor, else by the first factor)."""
    s, cohort = job.settings, job.cohort
    d = job.directory("baseline")
    refs = baseline_references(s, job.factors)
    reports = {ep: run_baselines(cohort, ep, job.factors, conf_level=s.conf_level,
                                 references=refs)
               for ep in job.endpoints}
    write_effects(pd.concat([b.effects for b in reports.values()], ignore_index=True),
                  d / "effects", metadata=cohort.provenance())
    atomic_write_text(d / "baseline.txt", "".join(b.to_text() + "\n" for b in reports.values()))
    figures = {}
    term = s.contrast.term
    by = term if term in job.factors else (job.factors[0] if job.factors else None)
    for ep, rep in reports.items():
        if by is None:
            continue
        label = (rep.endpoint_label or ep).capitalize()
        figures[f"km_{ep}"] = job.figure(plotting.plot_km(
            rep.curves[by], title=f"{label} by {by}",
            p_text=f"log-rank p {format_equals(rep.logrank[by].p_value)}",
            time_unit=rep.time_unit, synthetic=cohort.synthetic), d / f"km_{ep}_{by}")
    return BaselineStep(reports, figures)


#: The groups of a fit the steps after fit_step read (comparison, contrasts); the others are
#: in fit.nc and are dropped from memory once it is written.
KEPT_GROUPS = ("posterior", "sample_stats", "observed_data", "constant_data")


def _refitter(job: Job, endpoint: str, spec) -> Refitter | None:
    """The compiled model of ``spec`` for ``endpoint``'s design: the one an earlier endpoint
    compiled when only the outcomes differ, else a new one (kept for the next endpoint). None
    where refits do not apply (PyMC's sampler). When the cohort has interval-censored
    endpoints, the compiled model holds interval bounds, so that one fits every endpoint of
    the same units; not for a time-varying effect, whose interval branch samples several
    times slower than its ordinary likelihood (about 9 s against 2 s on the bundled cohort):
    its endpoints without interval bounds get a model of their own."""
    if job.settings.sampling.sampler != "nutpie":
        return None
    design = make_design(in_time_unit(spec, job.cohort.schema.time_unit)[0], job.cohort,
                         endpoint)
    r = job.refitters.get(spec.name)
    if r is None or not r.matches(spec, design):
        intervals = design.entry is None and (
            design.upper is not None if design.tv is not None else
            any(e.interval for e in job.cohort.schema.endpoints))
        r = job.refitters[spec.name] = Refitter(spec, design, sampling=job.settings.sampling,
                                                intervals=intervals or design.upper is not None)
    return r


def _compact(tree, loo):
    """The fit's DataTree with only :data:`KEPT_GROUPS` and its PSIS-LOO without the smoothed
    log weights (draws x units each): what later steps need, in memory that does not grow
    with the number of draws x units per model kept."""
    import xarray as xr

    slim = xr.DataTree.from_dict({k: tree[k].dataset for k in KEPT_GROUPS
                                  if k in tree.children})
    slim.attrs.update(tree.attrs)
    small = copy.copy(loo)
    if getattr(small, "log_weights", None) is not None:
        small.log_weights = None
    return slim, small


def fit_step(job: Job, endpoint: str, spec) -> tuple[FitStep, object]:
    """Sample one model, write the fit, its effects and run card (and the diagnostic figures
    for the headline model, whose fit alone draws posterior predictive replicates: the
    predictive check uses them). The model is compiled once per design
    (:func:`_refitter`). Returns the step result and the fit's DataTree with the groups later
    steps read (:data:`KEPT_GROUPS`; fit.nc has them all)."""
    s = job.settings
    headline = spec.name == s.headline.name
    res = fit(spec, job.cohort, endpoint=endpoint, sampling=s.sampling, progressbar=False,
              predictive=headline, refitter=_refitter(job, endpoint, spec))
    d = job.directory("fits", endpoint, spec.name)
    record_verdict(res.tree, convergence_verdict(res.tree, thresholds=s.thresholds))
    write_fit(res, d / "fit.nc")
    loo = psis_loo(res.tree)
    card = diagnose_fit(res.tree, run=str(Path("fits") / endpoint / spec.name),
                        thresholds=s.thresholds, loo=loo)
    write_effects(with_checks(posterior_effects(res.tree, conf_level=s.conf_level),
                              card.status), d / "effects",
                  metadata={**job.cohort.provenance(), "spec": spec.to_dict()})
    atomic_write_text(d / "run_card.json", card.to_json())
    atomic_write_text(d / "summary.txt", card.to_text())
    figures = {}
    if headline:
        dd = job.directory("fits", endpoint, spec.name, "diagnostics")
        term = s.contrast.term
        by = term if term in [cv.column for cv in spec.covariates] else None
        for stem, fig in plotting.diagnostic_figures(res.tree, by=by).items():
            figures[stem] = job.figure(fig, dd / stem)
    tree, loo = _compact(res.tree, loo)
    return FitStep(spec.name, card, loo, figures), tree


def left_out_note(job: Job, endpoint: str, spec, exc: Exception) -> str:
    """The note on a model of the set that could not be fitted (naming it and the error); what
    it had written is removed, so that its directory never holds a partial fit."""
    shutil.rmtree(job.out / "fits" / endpoint / spec.name, ignore_errors=True)
    first = next(iter(str(exc).strip().splitlines()), "")
    return (f"{spec.name} could not be fitted on {endpoint!r} ({type(exc).__name__}: {first}); "
            "it is left out of this endpoint's comparison and contrast.")


def compare_step(job: Job, endpoint: str, trees: dict, fits: dict[str, FitStep]
                 ) -> CompareStep:
    """PSIS-LOO comparison of the model set and every effect next to the Cox models."""
    cmp = compare_report(trees, conf_level=job.settings.conf_level,
                         loos={k: f.loo for k, f in fits.items()})
    d = job.directory("compare", endpoint)
    atomic_write_text(d / "loo.csv", cmp.loo.to_csv(index=False))
    c = job.settings.contrast  # named levels (resolved_contrast): one orientation per run
    atomic_write_text(d / "side_by_side.csv", oriented_wide(
        cmp.wide, list(cmp.models), (c.term, c.level, c.versus)).to_csv(index=False))
    write_effects(cmp.effects, d / "effects", metadata=cmp.provenance)
    atomic_write_text(d / "compare.txt", cmp.to_text(orient=(c.term, c.level, c.versus)))
    fig = plotting.plot_elpd(cmp.loo, title=f"Model comparison (PSIS-LOO), {endpoint}",
                             synthetic=job.cohort.synthetic)
    figures = {"elpd": job.figure(fig, d / "elpd")}
    weights = cmp.loo.set_index("model")["weight"].to_dict()
    avg = model_average(trees, {m: weights[m] / sum(weights.values()) for m in trees},
                        horizons=job.settings.horizons, conf_level=job.settings.conf_level,
                        max_draws=job.settings.max_draws)
    atomic_write_text(d / "averaged.csv", avg.quantities.to_csv(index=False))
    write_effects(avg.effects, d / "averaged_effects", metadata=cmp.provenance)
    seen = outcomes_of(next(iter(trees.values())))
    figures["extrapolation"] = job.figure(plotting.plot_extrapolation(
        avg, observed=kaplan_meier(seen.detection_time, seen.event, label="observed"),
        synthetic=job.cohort.synthetic), d / "extrapolation")
    return CompareStep(cmp, figures, avg)


def _contrast(job: Job, tree, *, standardise: bool = True) -> ContrastResult:
    s = job.settings
    return contrast_effects(tree, s.contrast, decision=s.decision, horizons=s.horizons,
                            conf_level=s.conf_level, max_draws=s.max_draws,
                            seed=s.sampling.seed, standardise=standardise)


def _by_time(con: ContrastResult) -> dict:
    """The across-models columns of a model whose effect changes with time (empty for a
    proportional one): its HRs by time in words, and its standardised median and last-horizon
    RMST differences."""
    if con.proportional:
        return {}
    u = con.time_unit
    hrs = "; ".join((f"{r.start:g}-{r.end:g} {u}" if r.quantity == "interval_hazard_ratio"
                     else f"at {r.start:g} {u}") + f" {r.estimate:.2f} ({r.lower:.2f}-"
                    f"{r.upper:.2f})" for r in con.time_hrs.itertuples())
    med = con.medians[con.medians["what"] == "difference"]
    rmst = con.rmst[con.rmst["what"] == "difference"]
    out = {"HR by time (no single HR)": hrs}
    if len(med):
        out["median difference"] = float(med["estimate"].iloc[0])
    if len(rmst):
        last = rmst.iloc[-1]
        out[f"RMST({last['horizon']:g}) difference"] = float(last["estimate"])
    return out


def contrast_step(job: Job, endpoint: str, trees: dict, fits: dict[str, FitStep],
                  cmp: CompareReport, baseline: BaselineReport) -> ContrastStep:
    """The contrast from the headline model (HR, probabilities, standardised curves, centres),
    and the HR of every other model of the set beside it."""
    s, synthetic = job.settings, job.cohort.synthetic
    headline = s.headline.name
    con = _contrast(job, trees[headline])
    d = job.directory("line_effects")
    atomic_write_text(d / f"curves_{endpoint}.csv", con.curves.to_csv(index=False))
    atomic_write_text(d / f"centres_{endpoint}.csv", con.centres.to_csv(index=False))
    term = s.contrast.term
    figures = {"standardised": job.figure(plotting.plot_standardised_survival(
        con, observed=baseline.curves.get(term),
        title=f"{endpoint}: standardised survival by {term} ({headline})",
        synthetic=synthetic), d / f"standardised_{endpoint}")}
    figures["hr"] = job.figure(plotting.plot_hr_posterior(
        con, decision=s.decision, title=f"{endpoint}: HR {con.contrast} ({headline})",
        synthetic=synthetic), d / f"hr_{endpoint}")
    if len(con.centres):
        figures["centres"] = job.figure(plotting.plot_caterpillar(
            con, title=f"{endpoint}: centre effects ({headline})", synthetic=synthetic),
            d / f"centres_{endpoint}")
    weights = cmp.loo.set_index("model")["weight"]
    rows = []
    for name, tree in trees.items():
        # the other models: HR and probabilities only (their curves are not shown); a model
        # whose effect changes with time has no single HR: its RMST and median differences
        other = con if name == headline else _contrast(job, tree, standardise=False)
        if not other.proportional:
            other = _contrast(job, tree)
            atomic_write_text(d / f"non_ph_{endpoint}_{name}.txt", other.to_text())
        p = other.probabilities.set_index("event")["probability"]
        card = fits[name].card
        rows.append({"endpoint": endpoint, "model": name, "HR": other.hr[0],
                     "lower": other.hr[1], "upper": other.hr[2],
                     **{k: float(v) for k, v in p.items()}, **_by_time(other),
                     "stacking weight": float(weights.loc[name]),
                     "diagnostics": "pass" if card.passed else
                     "FAIL: " + ", ".join(x.name for x in card.failures)})
    return ContrastStep(con, pd.DataFrame(rows), figures)


def detection_step(job: Job, endpoint: str, con: ContrastResult, tree) -> DetectionStep:
    """The headline model refitted on the endpoint's detection times (its interval columns set
    aside): one extra fit, written under ``fits/<endpoint>/<headline>_detection_time``, by
    the headline model compiled for the endpoint (:func:`_refitter`: the same units)."""
    s = job.settings
    start = time.perf_counter()
    res = fit(s.headline, job.cohort.detection_times(), endpoint=endpoint, sampling=s.sampling,
              progressbar=False, predictive=False, log_lik=False,
              refitter=_refitter(job, endpoint, s.headline))
    seconds = time.perf_counter() - start
    write_fit(res, job.directory("fits", endpoint, f"{s.headline.name}_detection_time")
              / "fit.nc")
    det = contrast_effects(res.tree, s.contrast, decision=s.decision, horizons=s.horizons,
                           conf_level=s.conf_level, max_draws=s.max_draws,
                           seed=s.sampling.seed, standardise=False)
    return DetectionStep(tuple(float(x) for x in con.hr), tuple(float(x) for x in det.hr),
                         int(tree.attrs.get("interval_censored", 0)), seconds)


def grid_step(job: Job, endpoint: str, base=None) -> GridStep:
    """The headline model under every prior of the grid: sampled under its own prior and
    reweighted (or refitted, ``grid_method``) for the others, with one compilation shared by
    the endpoints with the same units. ``base``: the job's fit of the headline model on this
    endpoint (its posterior under the model's own prior), which is then not sampled again."""
    s = job.settings
    g = prior_grid_fit(s.headline, job.cohort, list(s.priors), s.contrast, endpoint=endpoint,
                       sampling=s.sampling, decision=s.decision, conf_level=s.conf_level,
                       thresholds=s.thresholds, compiled=job.grid_models,
                       method=s.grid_method, base=base)
    d = job.directory("sensitivity", endpoint)
    atomic_write_text(d / "grid.csv", g.table.to_csv(index=False))
    atomic_write_text(d / "sensitivity.txt", g.to_text())
    fig = plotting.plot_prior_grid(
        g, title=f"{endpoint}: prior sensitivity of the HR {g.contrast} ({s.headline.name})",
        synthetic=job.cohort.synthetic)
    return GridStep(g, {"grid": job.figure(fig, d / "prior_grid")})


def crossval_step(job: Job, endpoint: str, say=None) -> CrossvalStep:
    """Leave-one-centre-out cross-validation of the model set (one compilation per model, one
    refit per centre). A model whose new centre is more than one intercept is left out with a
    note."""
    s = job.settings
    results, notes = {}, []
    for spec in s.specs:
        try:
            results[spec.name] = centre_cv(spec, job.cohort, endpoint=endpoint,
                                           sampling=s.sampling, progress=say)
        except ModelDataError as exc:
            notes.append(f"{spec.name} is left out of the cross-validation: {exc}")
    if not results:
        return CrossvalStep(None, tuple(notes))
    cmp = compare_cv(results)
    d = job.directory("crossval", endpoint)
    atomic_write_text(d / "cv.csv", cmp.table.to_csv(index=False))
    atomic_write_text(d / "cv_centres.csv", cmp.centres.to_csv(index=False))
    atomic_write_text(d / "refits.csv", pd.concat(
        [r.table.assign(model=n) for n, r in results.items()], ignore_index=True
    ).to_csv(index=False))
    atomic_write_text(d / "crossval.txt", cmp.to_text() + "".join(f"Note: {n}\n"
                                                                  for n in notes))
    return CrossvalStep(cmp, tuple(notes))


def published_step(job: Job) -> PublishedStep:
    """The published comparison reanalysed from its numbers alone, under every prior."""
    s = job.settings
    c = s.published
    r = reanalyse_published(c, s.priors, decision=s.decision)
    d = job.directory("summary_level")
    atomic_write_text(d / "posterior.csv", r.table.to_csv(index=False))
    atomic_write_text(d / "sweep.csv", r.sweep.to_csv(index=False))
    figures = {"summary": job.figure(plotting.plot_summary_reanalysis(
        r.estimate, r.table, list(r.priors),
        title=f"Published P = {c.p:g} ({c.label})"), d / "summary_reanalysis")}
    figures["sweep"] = job.figure(plotting.plot_assumption_sweep(
        r.sweep, prior_columns=r.sweep_columns,
        title=f"P(HR < 1) from P = {c.p:g} across assumptions"), d / "sweep")
    atomic_write_text(d / "summary.txt", r.to_text() + "\n" + r.summary_line() + "\n")
    return PublishedStep(r, figures)

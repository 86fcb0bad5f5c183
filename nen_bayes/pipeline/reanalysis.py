"""The whole Bayesian reanalysis of a cohort, step by step, into one results directory.

:func:`reanalyse` checks every setting (:func:`~nen_bayes.pipeline.settings.check_settings`),
then runs the steps of :mod:`nen_bayes.pipeline.steps` under a progress reporter:

1. the cohort description;
2. the frequentist baselines (Kaplan-Meier, log-rank, Cox) of every endpoint;
3. per endpoint: the model set (each specification, the first the headline model), sampled with
   the same seed, each fit's diagnostics (run card; figures for the headline model); the PSIS-LOO
   comparison with stacking weights and every effect next to the Cox models; the contrast of
   interest from the headline model with the HR of every other model beside it. A model of the
   set that cannot be fitted is left out of its endpoint with a note naming it and the error;
   the headline model failing stops the job (the contrast is read from it);
4. the prior grid: the headline model refitted under each prior on the contrast's log HR, and
   power-scaling sensitivity in the run cards;
5. a published comparison reanalysed from its numbers alone, when the settings name one;
6. leave-one-centre-out cross-validation of the model set, when the settings ask for it
   (``centre_cv``; one refit per centre and model);

then the summary (:mod:`nen_bayes.pipeline.summary`), ``run.json`` and the HTML report
(:mod:`nen_bayes.pipeline.sections`), all from the typed step results. A baseline Cox model
that cannot be fitted is left out likewise (its note in the baseline report); one model that
cannot be estimated never stops the job.

Layout of the results directory::

    report.html             the report (opens from disk; figures embedded)
    summary.txt             the printed summary
    run.json                settings, provenance (data hash, versions, seeds), step timings
    describe.txt
    baseline/               effects.csv/.json, baseline.txt, km_<endpoint>_<factor>.png
    fits/<endpoint>/<model>/  fit.nc, effects.csv/.json, run_card.json, summary.txt
                            (+ diagnostics/ figures for the headline model)
    compare/<endpoint>/     loo.csv, side_by_side.csv, effects.csv/.json, elpd.png
    line_effects/           effects.csv/.json, curves_<endpoint>.csv, centres_<endpoint>.csv,
                            standardised_/hr_/centres_<endpoint>.png, across_models.csv
    sensitivity/<endpoint>/ grid.csv, sensitivity.txt, prior_grid.png
    summary_level/          posterior.csv, sweep.csv, summary.txt, figures (published comparison)
    crossval/<endpoint>/    cv.csv, cv_centres.csv, refits.csv, crossval.txt (with centre_cv)
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from nen_bayes.bayes.inference import versions
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.effects import write_effects
from nen_bayes.errors import ModelDataError
from nen_bayes.files import atomic_write_text
from nen_bayes.pipeline.html import render_html
from nen_bayes.pipeline.progress import Progress
from nen_bayes.pipeline.result import ReanalysisResult
from nen_bayes.pipeline.sections import report_sections
from nen_bayes.pipeline.settings import (
    DEFAULT_MODELS,
    ReanalysisSettings,
    check_settings,
    resolved_contrast,
)
from nen_bayes.pipeline.steps import (
    BaselineStep,
    EndpointResult,
    Job,
    baseline_step,
    compare_step,
    contrast_step,
    crossval_step,
    describe_step,
    detection_step,
    fit_step,
    grid_step,
    left_out_note,
    published_step,
)
from nen_bayes.pipeline.summary import endpoint_record, summary_text

__all__ = ["DEFAULT_MODELS", "ReanalysisSettings", "reanalyse"]


def reanalyse(cohort: Cohort, out: Path, settings: ReanalysisSettings, *,
              say=print) -> ReanalysisResult:
    """Run the reanalysis and write everything under ``out`` (an existing, empty directory:
    callers use :func:`nen_bayes.files.output_directory` so that it appears whole or not at
    all). Every setting is checked before the first step."""
    check_settings(cohort, settings)
    settings = replace(settings, contrast=resolved_contrast(cohort, settings))
    job = Job(cohort, Path(out), settings)
    s = settings
    endpoints = job.endpoints
    n_steps = 2 + len(endpoints) * (len(s.specs) + 2 + bool(s.priors) + s.centre_cv) + \
        bool(s.published) + sum(cohort.interval(ep) is not None for ep in endpoints)
    progress = Progress(n_steps, say)
    if cohort.synthetic:
        say(cohort.provenance()["notice"])

    with progress.step("describe the cohort"):
        described = describe_step(job)
    with progress.step("frequentist baselines"):
        baselines = baseline_step(job)
    results = {ep: _endpoint(job, ep, baselines, progress) for ep in endpoints}
    published = None
    if s.published is not None:
        with progress.step("summary-level reanalysis of the published comparison"):
            published = published_step(job)
    for ep in endpoints if s.centre_cv else ():
        with progress.step(f"{ep}: leave-one-centre-out cross-validation "
                           f"({len(s.specs)} models, one refit per centre)"):
            results[ep] = replace(results[ep], crossval=crossval_step(job, ep))
    return _finish(job, described, baselines, results, published, progress.timings)


def _endpoint(job: Job, ep: str, baselines: BaselineStep, progress: Progress
              ) -> EndpointResult:
    """Fit the model set on one endpoint, compare the fits and report the contrast. The fits
    (DataTrees) live only inside this function: the next endpoint starts with their memory
    freed."""
    s = job.settings
    fits, trees, notes = {}, {}, []
    for spec in s.specs:
        with progress.step(f"{ep}: fit {spec.name}"):
            try:
                fits[spec.name], trees[spec.name] = fit_step(job, ep, spec)
                if spec.name == s.headline.name:  # two or three groups: the SD is its prior
                    notes += json.loads(trees[spec.name].attrs.get("group_notes", "[]"))
            except Exception as exc:  # one model that cannot be fitted never stops the job
                if spec.name == s.headline.name:
                    raise ModelDataError(
                        f"{job.cohort.source}: the headline model {spec.name!r} could not be "
                        f"fitted on {ep!r} ({type(exc).__name__}: {exc}); the contrast is read "
                        "from it, so the job stops. Check the model file against the data, or "
                        "name another model first (--model).") from exc
                notes.append(left_out_note(job, ep, spec, exc))
                progress.say(f"        left out: {notes[-1]}")
    with progress.step(f"{ep}: compare the model set (PSIS-LOO, Cox side by side)"):
        cmp = compare_step(job, ep, trees, fits)
    with progress.step(f"{ep}: {s.contrast.term} effects"):
        con = contrast_step(job, ep, trees, fits, cmp.report, baselines.reports[ep])
    detection = None
    if job.cohort.interval(ep) is not None and s.headline.name in trees:
        with progress.step(f"{ep}: {s.headline.name} refitted on detection times (beside "
                           "the interval likelihood)"):
            detection = detection_step(job, ep, con.result, trees[s.headline.name])
    grid = None
    if s.priors:  # the headline fit is the grid's posterior under the model's own prior
        with progress.step(f"{ep}: prior grid ({len(s.priors)} priors, {s.grid_method})"):
            grid = grid_step(job, ep, base=trees.get(s.headline.name))
    return EndpointResult(ep, fits, cmp, con, notes=tuple(notes), detection=detection,
                          grid=grid)


def _finish(job: Job, described, baselines: BaselineStep, results: dict, published,
            timings: dict) -> ReanalysisResult:
    """The contrast's tables, the summary, run.json and the report, from the step results."""
    cohort, s, out = job.cohort, job.settings, job.out
    prov = cohort.provenance()
    headline = s.headline.name
    c = s.contrast
    write_effects(pd.concat([r.contrast.result.effects for r in results.values()],
                            ignore_index=True),
                  job.directory("line_effects") / "effects",
                  metadata={**prov, "model": headline, "term": c.term, "level": c.level,
                            "versus": c.versus, "benefit": s.decision.benefit,
                            "harm": s.decision.harm, "rope": list(s.decision.rope),
                            "horizons": sorted({float(h) for r in results.values()
                                                for h in r.contrast.result.rmst["horizon"]})})
    summary = summary_text(source=cohort.source, data_hash=cohort.data_hash,
                           n_units=len(cohort), notice=prov["notice"], endpoints=results,
                           baselines=baselines.reports, published=published,
                           headline=headline, benefit=s.decision.benefit,
                           conf_level=s.conf_level, data_notes=cohort.notes,
                           accept_unconverged=s.accept_unconverged)
    records = {ep: endpoint_record(r, baselines.reports[ep], headline=headline,
                                   accept_unconverged=s.accept_unconverged)
               for ep, r in results.items()}
    result = ReanalysisResult(s, prov, described, baselines, results, tuple(job.factors),
                              published, summary, records, versions(), dict(timings))
    atomic_write_text(out / "line_effects" / "across_models.csv",
                      result.across_models.to_csv(index=False))
    atomic_write_text(out / "summary.txt", summary)
    atomic_write_text(out / "run.json", json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    html_text = render_html(
        "Bayesian reanalysis: " + Path(cohort.source).name, report_sections(result),
        notice=prov["notice"],
        subtitle=f"data {cohort.source} ({cohort.data_hash}); seed {s.sampling.seed}; "
                 f"nen-bayes {result.versions['nen-bayes']}")
    atomic_write_text(out / "report.html", html_text)
    return result

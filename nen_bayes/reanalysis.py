"""The whole Bayesian reanalysis of a cohort, step by step, into one results directory.

:func:`reanalyse` runs, for every endpoint of the cohort:

1. the cohort description;
2. the frequentist baselines (Kaplan-Meier, log-rank, Cox; :mod:`nen_bayes.baselines`);
3. the model set (each specification in ``models``), sampled with the same seed;
4. the diagnostics of every fit (run card; figures for the headline model);
5. the PSIS-LOO comparison of the model set with stacking weights, and every covariate effect
   of the models next to the Cox model with the same covariates;
6. the treatment-line effect (:func:`nen_bayes.contrast.contrast_effects`) from the headline
   model, with the HR and P(HR < 1) of every other model beside it as a sensitivity check;
7. the prior grid: the headline model refitted under each prior on the line log-HR
   (:func:`nen_bayes.sensitivity.prior_grid_fit`), and power-scaling sensitivity in the run
   cards;
8. for the RE/NEN contract, the published line comparison (P = 0.078) reanalysed from its
   numbers alone (:mod:`nen_bayes.summary_level`);

then writes a short summary (the frequentist answer next to the Bayesian one, the diagnostics
status and the preferred model per endpoint) and a self-contained HTML report.

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
    summary_level/          posterior.csv, sweep.csv, summary.txt, figures (RE/NEN only)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .cohort import SYNTHETIC_NOTICE, Cohort
from .io import atomic_write_text

__all__ = ["DEFAULT_MODELS", "ReanalysisSettings", "reanalyse"]

#: The model set of the main job; the first is the headline model.
DEFAULT_MODELS = ("weibull_ph_centre", "weibull_ph_pooled", "exponential_ph_centre",
                  "piecewise_ph_centre", "weibull_ph_centre_line")


@dataclass(frozen=True)
class ReanalysisSettings:
    """What :func:`reanalyse` runs. ``specs`` are loaded :class:`~nen_bayes.spec.ModelSpec`
    objects, the first being the headline model."""

    specs: tuple
    endpoints: tuple[str, ...] | None = None
    factors: tuple[str, ...] | None = None
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int | None = None
    seed: int = 20261123
    sampler: str = "nutpie"
    target_accept: float = 0.95
    conf_level: float = 0.95
    contrast: dict = field(default_factory=lambda: {
        "term": "line", "level": "second_line", "reference": "salvage", "benefit": 0.8,
        "harm": 1.25, "rope": (0.91, 1.10), "horizons": (24.0, 60.0)})
    thresholds: dict | None = None
    formats: tuple[str, ...] = ("png",)
    #: the prior grid on the contrast's log HR (GridPrior objects); empty: no grid refits
    priors: tuple = ()
    #: the study's published line comparison as a summary-level reanalysis (RE/NEN contract)
    study_summary: bool = True


class _Progress:
    def __init__(self, total: int, say):
        self.total, self.done, self.say, self.t0 = total, 0, say, time.perf_counter()
        self.timings: dict[str, float] = {}

    def step(self, label: str):
        progress = self

        class _Ctx:
            def __enter__(self):
                progress.done += 1
                self.start = time.perf_counter()
                progress.say(f"[{progress.done:>2}/{progress.total}] {label} ...")
                return self

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.start
                progress.timings[label] = round(dt, 2)
                if exc[0] is None:
                    progress.say(f"        done in {dt:.1f} s (total "
                                 f"{time.perf_counter() - progress.t0:.0f} s)")
                return False

        return _Ctx()


def _line_frequentist(rep, term: str, level: str, reference: str) -> dict:
    """Log-rank p and univariable Cox HR of level vs reference from a baseline report."""
    out = {"logrank_p": np.nan, "cox_hr": np.nan, "cox_lower": np.nan, "cox_upper": np.nan,
           "cox_p": np.nan}
    if term in rep.logrank:
        out["logrank_p"] = rep.logrank[term].p_value
    if term in rep.cox_univariable:
        for _, r in rep.cox_univariable[term].table.iterrows():
            if r["level"] == level and r["reference"] == reference:
                out.update(cox_hr=r["hr"], cox_lower=r["lower"], cox_upper=r["upper"],
                           cox_p=r["p"])
            elif r["level"] == reference and r["reference"] == level:
                out.update(cox_hr=1 / r["hr"], cox_lower=1 / r["upper"],
                           cox_upper=1 / r["lower"], cox_p=r["p"])
    return out


def reanalyse(cohort: Cohort, out: Path, settings: ReanalysisSettings, *, say=print) -> dict:
    """Run the reanalysis and write everything under ``out`` (an existing, empty directory:
    callers use :func:`nen_bayes.io.output_directory` so that it appears whole or not at all).

    Returns the summary as a dict (also written as ``run.json``)."""
    from . import plotting
    from .baselines import run_baselines
    from .compare import compare_report, format_side_by_side
    from .contrast import contrast_effects
    from .describe import describe_cohort
    from .diagnostics import diagnose_fit, diagnostic_figures, psis_loo
    from .effects import write_effects
    from .inference import fit, versions, write_fit
    from .posterior import posterior_effects

    out = Path(out)
    s = settings
    _check_contrast(cohort, s)
    endpoints = list(s.endpoints or [e.name for e in cohort.schema.endpoints])
    factors = list(s.factors) if s.factors is not None else \
        [f.name for f in cohort.schema.factors]
    headline = s.specs[0].name
    c = s.contrast
    study = s.study_summary and cohort.schema.name == "RE/NEN"
    n_steps = 2 + len(endpoints) * (len(s.specs) + 2 + bool(s.priors)) + study
    prog = _Progress(n_steps, say)
    notice = SYNTHETIC_NOTICE if cohort.synthetic else ""
    if notice:
        say(notice)
    formats = list(s.formats)

    def save(fig, path):
        plotting.save_figure(fig, path, formats)
        return fig

    report: dict = {"endpoints": {}}
    figures: dict = {}

    with prog.step("describe the cohort"):
        desc = describe_cohort(cohort)
        atomic_write_text(out / "describe.txt", desc.to_text())

    with prog.step("frequentist baselines"):
        (out / "baseline").mkdir()
        baselines = {ep: run_baselines(cohort, ep, factors, conf_level=s.conf_level)
                     for ep in endpoints}
        write_effects(pd.concat([b.effects for b in baselines.values()], ignore_index=True),
                      out / "baseline" / "effects", metadata=cohort.provenance())
        atomic_write_text(out / "baseline" / "baseline.txt",
                          "".join(b.to_text() + "\n" for b in baselines.values()))
        for ep, rep in baselines.items():
            label = (rep.endpoint_label or ep).capitalize()
            for f in [x for x in factors if x == c["term"]] or factors[:1]:
                lr = rep.logrank[f]
                figures[(ep, "km")] = save(plotting.plot_km(
                    rep.curves[f], title=f"{label} by {f}",
                    p_text=f"log-rank p = {lr.p_value:.3g}", time_unit=rep.time_unit,
                    synthetic=cohort.synthetic), out / "baseline" / f"km_{ep}_{f}")

    (out / "compare").mkdir()
    (out / "line_effects").mkdir()
    line_effects_rows = []
    across = []
    comparisons = {}
    contrasts = {}
    fits: dict = {}
    cards: dict = {}
    (out / "fits").mkdir()
    for ep in endpoints:
        loos: dict = {}
        for spec in s.specs:
            with prog.step(f"{ep}: fit {spec.name}"):
                res = fit(spec, cohort, endpoint=ep, draws=s.draws, tune=s.tune,
                          chains=s.chains, cores=s.cores, seed=s.seed, sampler=s.sampler,
                          target_accept=s.target_accept, progressbar=False)
                d = out / "fits" / ep / spec.name
                d.mkdir(parents=True)
                write_fit(res, d / "fit.nc")
                eff = posterior_effects(res.tree, conf_level=s.conf_level)
                write_effects(eff, d / "effects", metadata={**cohort.provenance(),
                                                            "spec": spec.to_dict()})
                loos[spec.name] = psis_loo(res.tree)  # once: run card and comparison
                card = diagnose_fit(res.tree, run=str(Path("fits") / ep / spec.name),
                                    thresholds=s.thresholds, loo=loos[spec.name])
                atomic_write_text(d / "run_card.json", card.to_json())
                atomic_write_text(d / "summary.txt", card.to_text())
                if spec.name == headline:
                    (d / "diagnostics").mkdir()
                    by = c["term"] if c["term"] in [cv.column for cv in spec.covariates] \
                        else None
                    for stem, fig in diagnostic_figures(res.tree, by=by).items():
                        figures[(ep, f"diag_{stem}")] = save(fig, d / "diagnostics" / stem)
                fits[(ep, spec.name)] = res.tree
                cards[(ep, spec.name)] = card
        trees = {spec.name: fits[(ep, spec.name)] for spec in s.specs}
        with prog.step(f"{ep}: compare the model set (PSIS-LOO, Cox side by side)"):
            cmp = compare_report(trees, conf_level=s.conf_level, loos=loos)
            d = out / "compare" / ep
            d.mkdir()
            atomic_write_text(d / "loo.csv", cmp.loo.to_csv(index=False))
            atomic_write_text(d / "side_by_side.csv", cmp.wide.to_csv(index=False))
            write_effects(cmp.long, d / "effects", metadata=cmp.metadata)
            atomic_write_text(d / "compare.txt", cmp.to_text())
            figures[(ep, "elpd")] = save(plotting.plot_elpd(
                cmp.loo, title=f"Model comparison (PSIS-LOO), {ep}",
                synthetic=cohort.synthetic), d / "elpd")
            comparisons[ep] = cmp
        with prog.step(f"{ep}: treatment-line effects"):
            con = contrast_effects(fits[(ep, headline)], conf_level=s.conf_level, **c)
            contrasts[ep] = con
            d = out / "line_effects"
            line_effects_rows.append(con.effects())
            atomic_write_text(d / f"curves_{ep}.csv", con.curves.to_csv(index=False))
            atomic_write_text(d / f"centres_{ep}.csv", con.centres.to_csv(index=False))
            km = baselines[ep].curves.get(c["term"])
            figures[(ep, "standardised")] = save(plotting.plot_standardised_survival(
                con, observed=km, title=f"{ep}: standardised survival by {c['term']} "
                                        f"({headline})", synthetic=cohort.synthetic),
                d / f"standardised_{ep}")
            figures[(ep, "hr")] = save(plotting.plot_hr_posterior(
                con, benefit=c["benefit"], harm=c["harm"], rope=c["rope"],
                title=f"{ep}: HR {con.contrast} ({headline})", synthetic=cohort.synthetic),
                d / f"hr_{ep}")
            if len(con.centres):
                figures[(ep, "centres")] = save(plotting.plot_caterpillar(
                    con, title=f"{ep}: centre effects ({headline})",
                    synthetic=cohort.synthetic), d / f"centres_{ep}")
            for spec in s.specs:
                tree = fits[(ep, spec.name)]
                # the other models: HR and probabilities only (their curves are not shown)
                other = con if spec.name == headline else contrast_effects(
                    tree, conf_level=s.conf_level, standardise=False, **c)
                p = other.probabilities.set_index("event")["probability"]
                w = cmp.loo.set_index("model").loc[spec.name, "weight"]
                across.append({"endpoint": ep, "model": spec.name,
                               "HR": other.hr[0], "lower": other.hr[1], "upper": other.hr[2],
                               **{k: float(v) for k, v in p.items()},
                               "stacking weight": float(w),
                               "diagnostics": "pass" if cards[(ep, spec.name)].passed
                               else "FAIL: " + ", ".join(x.name for x in
                                                         cards[(ep, spec.name)].failures)})
        # the fits of this endpoint are on disk; free their memory before the next one
        for spec in s.specs:
            del fits[(ep, spec.name)]

    grids = {}
    if s.priors:
        from .sensitivity import prior_grid_fit

        (out / "sensitivity").mkdir()
        for ep in endpoints:
            with prog.step(f"{ep}: prior grid ({len(s.priors)} priors, one compilation)"):
                g = prior_grid_fit(s.specs[0], cohort, list(s.priors), endpoint=ep,
                                   term=c["term"], level=c["level"], reference=c["reference"],
                                   draws=s.draws, tune=s.tune, chains=s.chains, cores=s.cores,
                                   seed=s.seed, target_accept=s.target_accept,
                                   benefit=c["benefit"], harm=c["harm"], rope=c["rope"],
                                   conf_level=s.conf_level)
                grids[ep] = g
                d = out / "sensitivity" / ep
                d.mkdir()
                atomic_write_text(d / "grid.csv", g.table.to_csv(index=False))
                atomic_write_text(d / "sensitivity.txt", g.to_text())
                figures[(ep, "grid")] = save(plotting.plot_prior_grid(
                    g, title=f"{ep}: prior sensitivity of the HR {g.contrast} ({headline})",
                    synthetic=cohort.synthetic), d / "prior_grid")
    study_result = None
    if study:
        with prog.step("summary-level reanalysis of the published line comparison"):
            study_result = _study_summary(s, out / "summary_level", save, figures)
    write_effects(pd.concat(line_effects_rows, ignore_index=True),
                  out / "line_effects" / "effects",
                  metadata={**cohort.provenance(), "model": headline,
                            **{k: v for k, v in c.items()}})
    across_df = pd.DataFrame(across)
    atomic_write_text(out / "line_effects" / "across_models.csv", across_df.to_csv(index=False))

    # ---- summary ---------------------------------------------------------------------------
    lines = [notice] if notice else []
    lines.append(f"Bayesian reanalysis of {cohort.source} ({cohort.data_hash[:19]}...), "
                 f"{len(cohort)} units; {c['term']}: {c['level']} vs {c['reference']}")
    for ep in endpoints:
        rep, con, cmp = baselines[ep], contrasts[ep], comparisons[ep]
        fq = _line_frequentist(rep, c["term"], c["level"], c["reference"])
        p = con.probabilities.set_index("quantity")["probability"]
        ep_cards = [cards[(ep, sp.name)] for sp in s.specs]
        failed = [f"{cd.model} ({', '.join(x.name for x in cd.failures)})"
                  for cd in ep_cards if not cd.passed]
        sd = next(iter(con.group_sd.values()), None)
        label = rep.endpoint_label or ep
        lines += ["", f"{ep} ({label}): {rep.overall.n} units, {rep.overall.events} events"]
        lines.append(f"  frequentist  log-rank p = {fq['logrank_p']:.3f}; Cox HR "
                     f"{fq['cox_hr']:.2f} (95% CI {fq['cox_lower']:.2f}-{fq['cox_upper']:.2f}), "
                     f"p = {fq['cox_p']:.3f} (univariable)")
        sd_txt = f", between-centre SD {sd[0]:.2f} ({sd[1]:.2f}-{sd[2]:.2f})" if sd else ""
        lines.append(f"  Bayesian     HR {con.hr[0]:.2f} (95% CrI {con.hr[1]:.2f}-"
                     f"{con.hr[2]:.2f}), P(HR < 1) = {p['prob_hr_below_1']:.3f}, "
                     f"P(HR < {c['benefit']:g}) = {p.iloc[1]:.3f}{sd_txt} [{headline}, "
                     "adjusted]")
        md = con.medians[con.medians["what"] == "difference"].iloc[0]
        lines.append(f"               standardised median difference {md['estimate']:+.1f} "
                     f"{con.time_unit} (95% CrI {md['lower']:+.1f} to {md['upper']:+.1f})")
        lines.append(f"  diagnostics  {'all checks pass in all ' + str(len(ep_cards)) + ' fits'
                                        if not failed else 'FAILED: ' + '; '.join(failed)}")
        if ep in grids:
            gt = grids[ep].table.iloc[1:]
            lo_r, hi_r = gt["P(HR < 1)"].idxmin(), gt["P(HR < 1)"].idxmax()
            lines.append(f"  prior grid   P(HR < 1) from {gt.loc[lo_r, 'P(HR < 1)']:.3f} "
                         f"({gt.loc[lo_r, 'prior']}) to {gt.loc[hi_r, 'P(HR < 1)']:.3f} "
                         f"({gt.loc[hi_r, 'prior']}); HR from {gt['median'].min():.2f} to "
                         f"{gt['median'].max():.2f}")
        best = cmp.loo.iloc[0]
        lines.append(f"  preferred    {best['model']} (highest PSIS-LOO ELPD; stacking weight "
                     f"{best['weight']:.2f})")
        report["endpoints"][ep] = {
            "frequentist": fq, "bayesian": {"model": headline, "hr": con.hr,
                                            **{k: float(v) for k, v in p.items()},
                                            "group_sd": sd},
            "diagnostics_passed": not failed, "failed": failed,
            "preferred": str(best["model"])}
    if study_result is not None:
        lines += ["", study_result["summary"]]
    if notice:
        lines.append(notice)
    summary = "\n".join(lines) + "\n"
    atomic_write_text(out / "summary.txt", summary)
    run = {"settings": {"models": [sp.name for sp in s.specs], "spec_hashes":
                        {sp.name: sp.hash for sp in s.specs}, "endpoints": endpoints,
                        "factors": factors, "draws": s.draws, "tune": s.tune,
                        "chains": s.chains, "seed": s.seed, "sampler": s.sampler,
                        "target_accept": s.target_accept, "conf_level": s.conf_level,
                        "contrast": c, "priors": {q.name: {"mu": q.mu, "sigma": q.sigma,
                                                           "source": q.source}
                                                  for q in s.priors}},
           **cohort.provenance(), "versions": versions(), "timings_s": prog.timings,
           "summary": report}
    atomic_write_text(out / "run.json", json.dumps(run, indent=1, default=str) + "\n")

    from .report import render_html
    html_text = render_html(
        "Bayesian reanalysis: " + Path(cohort.source).name,
        _report_sections(cohort, desc, endpoints, baselines, comparisons, contrasts, cards,
                         across_df, figures, summary, run, s, format_side_by_side, grids,
                         study_result),
        notice=notice,
        subtitle=f"data {cohort.source} ({cohort.data_hash}); seed {s.seed}; "
                 f"nen-bayes {versions()['nen-bayes']}")
    atomic_write_text(out / "report.html", html_text)
    run["summary_text"] = summary
    return run


def _study_summary(s: ReanalysisSettings, out: Path, save, figures) -> dict:
    """The study's published line comparison (OS, P = 0.078, 297 evaluations) as a
    summary-level reanalysis, with the unpublished events and group sizes as stated
    assumptions (75% events, even split) and a sweep over plausible values."""
    from . import plotting
    from .io import atomic_write_text
    from .priorgrid import zampieri_grid
    from .summary_level import assumption_sweep, from_logrank, summary_reanalysis

    c = s.contrast
    priors = list(s.priors) or zampieri_grid()
    n, p, events = 297, 0.078, 223
    est = from_logrank(p, events, n / 2, n / 2, favours="group 1")
    table = summary_reanalysis(est, priors, benefit=c["benefit"], harm=c["harm"],
                               rope=c["rope"])
    chosen = [q for q in priors if q.name in ("neutral_moderate", "pessimistic_moderate")]
    sweep = assumption_sweep(p, (150, 175, 200, 225, 250, 275, 297), (0.3, 0.4, 0.5, 0.6, 0.7),
                             n, chosen)
    out.mkdir()
    atomic_write_text(out / "posterior.csv", table.to_csv(index=False))
    atomic_write_text(out / "sweep.csv", sweep.to_csv(index=False))
    figures[("study", "summary")] = save(plotting.plot_summary_reanalysis(
        est, table, priors, title="Published P = 0.078 (OS, second line vs salvage)"),
        out / "summary_reanalysis")
    cols = [k for k in sweep.columns if k.startswith("P(HR < 1)")]
    figures[("study", "sweep")] = save(plotting.plot_assumption_sweep(
        sweep, prior_columns=cols, title="P(HR < 1) from P = 0.078 across assumptions"),
        out / "sweep")
    flat = table.iloc[0]
    nm = table.set_index("prior").loc["neutral_moderate"] if "neutral_moderate" in \
        set(table["prior"]) else table.iloc[1]
    text = (f"Likelihood: {est.description}\nASSUMPTIONS (not published): {events} events "
            f"(75% of {n}), groups {n / 2:g}:{n / 2:g}.\n" + "\n".join(
                f"  {k}: {sweep[k].min():.3f} to {sweep[k].max():.3f} over events 150-297 and "
                "30-70% in second line" for k in cols))
    summary = (f"published line comparison (P = 0.078, summary level, not the bundled data): "
               f"flat prior HR {flat['median']:.2f} ({flat['lower']:.2f}-{flat['upper']:.2f}), "
               f"P(HR < 1) = {flat['P(HR < 1)']:.3f}; neutral moderate prior HR "
               f"{nm['median']:.2f}, P(HR < 1) = {nm['P(HR < 1)']:.3f} (assumed {events} "
               "events, even split; see the report for the sweep)")
    atomic_write_text(out / "summary.txt", text + "\n" + summary + "\n")
    return {"table": table, "sweep": sweep, "text": text, "summary": summary}


def _check_contrast(cohort: Cohort, s: ReanalysisSettings) -> None:
    """Refuse before any sampling when the headline model cannot answer the contrast."""
    from .errors import ModelDataError

    c = s.contrast
    head = s.specs[0]
    cov = {cv.column: cv for cv in head.covariates}
    term = c["term"]
    if term not in cov or cov[term].type != "categorical":
        raise ModelDataError(
            f"the headline model {head.name!r} ({head.source}) has no categorical covariate "
            f"{term!r} to contrast; its covariates: {sorted(cov)}. Name one with --term, or "
            "put a model with it first (--model).")
    present = set(cohort.data[term].dropna().astype(str))
    for lv in (c.get("level"), c.get("reference")):
        if lv is not None and lv not in present:
            raise ModelDataError(
                f"{cohort.source}: column {term!r} has no level {lv!r}; levels present: "
                f"{sorted(present)} (--level/--versus)")


def _fmt_p(v) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return "<0.001" if v < 1e-3 else ">0.999" if v > 0.999 else f"{v:.3f}"


def _report_sections(cohort, desc, endpoints, baselines, comparisons, contrasts, cards,
                     across, figures, summary, run, s, format_side_by_side, grids=None,
                     study_result=None):
    from .diagnostics import DEFAULT_THRESHOLDS
    from .report import Section

    c = s.contrast
    headline = s.specs[0].name
    secs = [Section("Summary").pre(summary).text(
        f"Effect of interest: {c['term']} {c['level']} vs {c['reference']}. HR < 1 favours "
        f"{c['level']}. Bayesian numbers are posterior medians with equal-tailed 95% credible "
        f"intervals from the headline model {headline} (Weibull proportional hazards with "
        "centre random intercepts, adjusted for the model's covariates); the frequentist "
        "numbers are the unadjusted log-rank test and univariable Cox model the published "
        "analysis used.")]
    sec = Section("Data")
    sec.text(f"File {cohort.source}, content hash {cohort.data_hash}, {len(cohort)} units.")
    if len(desc.centres):
        sec.table(desc.centres, "Centres")
    sec.table(desc.endpoints, "Endpoints (Kaplan-Meier medians; follow-up by reverse KM)",
              floatfmt="{:.1f}")
    sec.table(desc.factors, "Categorical covariates")
    secs.append(sec)
    for ep in endpoints:
        rep, con, cmp = baselines[ep], contrasts[ep], comparisons[ep]
        sec = Section(f"{ep}: {rep.endpoint_label or ep}")
        fq = _line_frequentist(rep, c["term"], c["level"], c["reference"])
        rows = [{"analysis": "log-rank test (unadjusted)", "estimate": "",
                 "interval": "", "p / probability": _fmt_p(fq["logrank_p"])},
                {"analysis": f"Cox univariable, HR {con.contrast}",
                 "estimate": f"{fq['cox_hr']:.2f}",
                 "interval": f"95% CI {fq['cox_lower']:.2f}-{fq['cox_upper']:.2f}",
                 "p / probability": f"p = {_fmt_p(fq['cox_p'])}"},
                {"analysis": f"Bayesian {headline}, HR {con.contrast}",
                 "estimate": f"{con.hr[0]:.2f}",
                 "interval": f"95% CrI {con.hr[1]:.2f}-{con.hr[2]:.2f}", "p / probability": ""}]
        for r in con.probabilities.itertuples():
            rows.append({"analysis": f"Bayesian {headline}, {r.event}", "estimate": "",
                         "interval": "", "p / probability": _fmt_p(r.probability)})
        sec.table(pd.DataFrame(rows), "The treatment-line question, frequentist and Bayesian")
        if (ep, "km") in figures:
            sec.figure(figures[(ep, "km")], "Kaplan-Meier curves with numbers at risk")
        if (ep, "hr") in figures:
            sec.figure(figures[(ep, "hr")], "Posterior of the hazard ratio with the decision "
                                            "thresholds and the region of practical equivalence")
        med = con.medians.copy()
        rm = con.rmst.copy()
        sec.table(med[["group", "estimate", "lower", "upper", "prob_positive",
                       "not_reached"]].rename(columns={"group": "median survival",
                                                       "prob_positive": "P(> 0)",
                                                       "not_reached": "share not reached"}),
                  f"Standardised (g-computation) median survival, {con.time_unit}",
                  floatfmt="{:.2f}")
        sec.table(rm[["horizon", "group", "estimate", "lower", "upper", "prob_positive"]]
                  .rename(columns={"group": "RMST", "prob_positive": "P(> 0)"}),
                  f"Standardised restricted mean survival time, {con.time_unit}",
                  floatfmt="{:.2f}")
        if (ep, "standardised") in figures:
            sec.figure(figures[(ep, "standardised")], "Covariate-adjusted survival by line, "
                       "standardised over the cohort (solid, 95% band) and the unadjusted "
                       "Kaplan-Meier curves (dashed)")
        if len(con.centres):
            sec.table(con.new_centre[["quantity", "group", "estimate", "lower", "upper",
                                      "note"]], "A new centre (95% prediction intervals)",
                      floatfmt="{:.2f}")
            sec.figure(figures[(ep, "centres")], "Centre effects (caterpillar)")
        for n in con.notes:
            sec.text(f"Note: {n}")
        secs.append(sec)

        sub = Section(f"{ep}: model comparison and Cox side by side", level=3)
        sub.table(cmp.loo.drop(columns=["k_threshold"]), "PSIS-LOO (best first); weight: "
                  "stacking", floatfmt="{:.2f}")
        sub.figure(figures[(ep, "elpd")], "ELPD with SE, and difference to the best")
        sub.table(format_side_by_side(cmp.wide, list(cmp.models)),
                  "Every covariate effect: Cox (same covariates; plain and stratified by "
                  "centre) next to each model's posterior")
        sub.table(across[across["endpoint"] == ep].drop(columns=["endpoint"]),
                  f"The {c['term']} HR across the model set", floatfmt="{:.3f}")
        secs.append(sub)

        if grids and ep in grids:
            g = grids[ep]
            sub = Section(f"{ep}: prior sensitivity", level=3)
            sub.text(f"The headline model refitted under each prior of the grid on the log HR "
                     f"{g.contrast} (neutral, optimistic, pessimistic x weak, moderate, strong; "
                     "files in models/priors/line), every other prior as in the model file. "
                     "One compiled model, the prior's mean and SD as data: compile "
                     f"{g.timings['compile_s']:.1f} s, {len(g.table)} refits "
                     f"{g.timings['sampling_s']:.1f} s. The first row is the model file's own "
                     "prior.")
            sub.table(g.table.drop(columns=["prior_mu", "prior_sd"]), "Per prior",
                      floatfmt="{:.3f}")
            sub.figure(figures[(ep, "grid")], "Prior (grey) and posterior (blue) of the HR")
            secs.append(sub)
        sub = Section(f"{ep}: diagnostics", level=3)
        rows = []
        for sp in s.specs:
            cd = cards[(ep, sp.name)]
            row = {"model": sp.name}
            for ch in cd.checks:
                v = "n/a" if ch.value is None else f"{ch.value:.4g}"
                row[ch.name] = v + ("" if ch.passed is not False else " FAIL")
            row["status"] = "pass" if cd.passed else "FAIL"
            rows.append(row)
        sub.table(pd.DataFrame(rows), "Run cards; thresholds: " + ", ".join(
            f"{k} {v}" for k, v in {**DEFAULT_THRESHOLDS, **(s.thresholds or {})}.items()))
        for key, cap in (("diag_ppc_km_" + c["term"], "Posterior predictive check: observed "
                          "Kaplan-Meier against the 95% band of replicated survival curves"),
                         ("diag_rank", "Rank plots"), ("diag_energy", "Energy"),
                         ("diag_pair_sd_centre", "Between-centre SD against centre effects"),
                         ("diag_prior_posterior", "Prior and posterior")):
            if (ep, key) in figures:
                sub.figure(figures[(ep, key)], f"{cap} ({headline})")
        head_card = cards[(ep, headline)]
        if head_card.power_scaling:
            sub.table(pd.DataFrame(list(head_card.power_scaling)),
                      f"Power-scaling sensitivity of {headline} (cumulative Jensen-Shannon "
                      "distance when the prior or the likelihood is raised to a power near 1; "
                      "above 0.05 flags the parameter)", floatfmt="{:.3f}")
        secs.append(sub)

    if study_result is not None:
        sec = Section("The published line comparison, from its numbers alone")
        sec.text("Not computed from the bundled cohort: this reanalyses the published "
                 "P = 0.078 (OS, RE as second line vs salvage, 297 evaluations) with the "
                 "summary-level method (Parmar/Tierney), under every prior of the grid.")
        sec.pre(study_result["text"])
        sec.table(study_result["table"].drop(columns=["prior_mu", "prior_sd", "posterior_mu",
                                                      "posterior_sd"]),
                  "Posterior per prior (flat prior first)", floatfmt="{:.3f}")
        sec.figure(figures[("study", "summary")], "Prior, likelihood and posterior per prior")
        sec.figure(figures[("study", "sweep")], "P(HR < 1) across assumed events and group "
                   "sizes")
        secs.append(sec)

    prov = Section("Provenance")
    prov.table(pd.DataFrame([{"item": "data file", "value": cohort.source},
                             {"item": "data hash", "value": cohort.data_hash},
                             {"item": "synthetic", "value": str(cohort.synthetic)},
                             {"item": "seed", "value": str(s.seed)},
                             {"item": "sampler", "value": f"{s.sampler}, {s.chains} chains x "
                                                          f"{s.draws} draws after {s.tune} "
                                                          f"tuning steps, target accept "
                                                          f"{s.target_accept}"},
                             *[{"item": f"spec {sp.name}", "value": sp.hash}
                               for sp in s.specs],
                             *[{"item": k, "value": v} for k, v in run["versions"].items()]]))
    prov.table(pd.DataFrame([{"step": k, "seconds": v} for k, v in run["timings_s"].items()]),
               "Step timings", floatfmt="{:.1f}")
    secs.append(prov)
    return secs

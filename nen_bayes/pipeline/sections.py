"""The report of the main job, one function per section, each reading the typed result.

A new section is one function ``(result, ...) -> Section`` here and one line in
:func:`report_sections`.
"""

from __future__ import annotations

import math

import pandas as pd

from nen_bayes.cohorts.schema import endpoint_heading
from nen_bayes.formatting import format_equals, format_p, format_prob
from nen_bayes.frequentist.baselines import ON_DETECTION_TIMES
from nen_bayes.pipeline.html import Section
from nen_bayes.pipeline.result import ReanalysisResult
from nen_bayes.pipeline.steps import EndpointResult
from nen_bayes.pipeline.summary import (
    ACCEPT_UNCONVERGED_OPTION,
    FrequentistContrast,
    frequentist_contrast,
    rmst_follow_up_caveats,
    unconverged_checks,
)
from nen_bayes.plotting import group_word
from nen_bayes.posterior.compare import LOO_SE_MULTIPLE, format_side_by_side
from nen_bayes.posterior.contrast import ContrastResult
from nen_bayes.posterior.diagnostics import DEFAULT_THRESHOLDS

__all__ = ["answer_section", "answer_sentence", "report_sections"]

#: Diagnostic figures of the headline model shown in the report, with their captions.
_DIAGNOSTIC_FIGURES = (
    ("ppc_km_{term}", "Posterior predictive check: observed Kaplan-Meier (Turnbull for an "
                      "interval-censored endpoint) against the 95% band of replicated survival "
                      "curves"),
    ("rank", "Rank plots"), ("energy", "Energy"),
    ("pair_sd_centre", "Between-centre SD against centre effects"),
    ("prior_posterior", "Prior and posterior"),
)


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _probabilities_as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Every probability column (``P(...)``) written as the rest of the report writes
    probabilities (:func:`~nen_bayes.formatting.format_prob`: ``<0.001``, ``>0.999``)."""
    return table.assign(**{c: table[c].map(format_prob) for c in table.columns
                           if str(c).startswith("P(")})


def _hr_text(est, lower, upper) -> str:
    """``0.79 (0.61-1.04)``; ``n/a`` when the estimate is missing."""
    if not _finite(est):
        return "n/a"
    return f"{est:.2f} ({lower:.2f}-{upper:.2f})"


def answer_sentence(con: ContrastResult, fq: FrequentistContrast, label: str) -> str:
    """The answer of one endpoint in words: ``second_line vs salvage, overall survival: HR 0.79
    (95% CrI 0.61-1.04); probability of any benefit 0.955, of a benefit beyond HR 0.8 0.529;
    the log-rank test gives p = 0.084.`` (the log-rank clause only where there is a test)."""
    p = con.probabilities.set_index("quantity")["probability"]
    any_benefit, benefit = list(con.decision.events)[:2]
    text = (f"{con.contrast}, {label}: HR {con.hr[0]:.2f} ({con.conf_level:.0%} CrI "
            f"{con.hr[1]:.2f}-{con.hr[2]:.2f}); probability of any benefit "
            f"{format_prob(p[any_benefit])}, of a benefit beyond HR {con.decision.benefit:g} "
            f"{format_prob(p[benefit])}")
    if _finite(fq.logrank_p):
        test = ("the log-rank test" if fq.logrank_groups <= 2 else
                f"the global log-rank test of all {fq.logrank_groups} levels of {con.term} "
                "(not this pair)")
        text += f"; {test} gives p {format_equals(fq.logrank_p)}"
    return text + "."


def answer_section(r: ReanalysisResult) -> Section:
    """The answer, first and boxed: per endpoint, the contrast's posterior HR with its CrI and
    decision probabilities next to the unadjusted log-rank p and Cox HR, and one sentence."""
    first = next(iter(r.endpoints.values())).contrast.result
    pct = f"{first.conf_level:.0%}"
    headline = r.settings.headline.name
    sec = Section(f"The answer: {first.term}, {first.contrast}", lead=True)
    rows, sentences, missing, failed, global_lr, interval = [], [], [], [], [], []
    caveats: list[str] = []
    for name, ep in r.endpoints.items():
        con, rep = ep.contrast.result, r.baselines.reports[name]
        label = rep.endpoint_label or name
        fq = frequentist_contrast(rep, con.term, con.level, con.reference)
        p = con.probabilities.set_index("quantity")["probability"]
        events = con.decision.events
        # a headline fit that missed the convergence checks gives no answer without the option
        withheld = bool(unconverged_checks(ep, headline)) and not r.settings.accept_unconverged
        rows.append({"endpoint": endpoint_heading(name, rep.endpoint_label),
                     "units / events": f"{rep.overall.n} / {rep.overall.events}",
                     f"HR ({pct} CrI)": ("not reported: NOT CONVERGED" if withheld else
                                         _hr_text(*con.hr)),
                     **{lab: "-" if withheld else format_prob(p[k])
                        for k, lab in list(events.items())[:3]},
                     "log-rank p": format_p(fq.logrank_p, missing="n/a"),
                     f"Cox HR ({pct} CI)": _hr_text(fq.cox_hr, fq.cox_lower, fq.cox_upper)})
        if withheld:
            sentences.append(f"{label}: the headline model {headline} missed the convergence "
                             f"checks ({', '.join(unconverged_checks(ep, headline))}); its "
                             f"estimate is not reported ({ACCEPT_UNCONVERGED_OPTION} reports "
                             "it, flagged).")
        else:
            sentences.append(answer_sentence(con, fq, label))
        card = ep.fits[headline].card
        if not card.passed:
            failed.append(f"{name} ({', '.join(c.name for c in card.failures)})")
        for c in getattr(card, "loo_caveats", ()):
            caveats.append(f"{name}: {c.reason}")
        if fq.times:
            interval.append(f"{name}: the log-rank test and the Cox model are {fq.times}; "
                            f"{fq.interval_text(first.conf_level)}")
        if _finite(fq.logrank_p) and fq.logrank_groups > 2:
            global_lr.append(f"{name}: the global test over the {fq.logrank_groups} levels of "
                             f"{con.term}, not the pairwise {con.contrast} test")
        if not _finite(fq.logrank_p):
            missing.append(f"{name}, log-rank p: "
                           f"{fq.logrank_missing or f'no log-rank test of {con.term}'}")
        if not _finite(fq.cox_hr):
            missing.append(f"{name}, Cox HR: "
                           f"{fq.cox_missing or f'no univariable Cox estimate of {con.contrast}'}")
    table = pd.DataFrame(rows)
    adjusted = _adjusted(r.settings.headline, first.term)
    sec.table(table, groups=[("", 2), (f"Bayesian, {headline}{' (adjusted)' if adjusted else ''}",
                                       4),
                             ("frequentist (unadjusted)", 2)])
    for text in sentences:
        sec.text(text, css="sentence")
    if failed:
        sec.text(f"The diagnostics of {headline} FAILED for {'; '.join(failed)}: these numbers "
                 "are not reliable yet (see the diagnostics below).", css="fail")
    else:
        sec.text(f"Every sampler check of {headline} passes.", css="pass")
    if caveats:
        sec.text(f"LOO caveat of {headline} (its estimates stand; its PSIS-LOO estimate, used "
                 f"in the model comparison, is not reliable): {'; '.join(caveats)}.")
    sec.text(f"HR < 1 favours {first.level}. Bayesian: posterior median and equal-tailed "
             f"{pct} credible interval of the headline model {headline}"
             f"{', adjusted for its other covariates' if adjusted else ''}, and the posterior "
             "probabilities of any benefit, of a benefit beyond "
             f"HR {first.decision.benefit:g} and of harm beyond HR {first.decision.harm:g}. "
             "Frequentist: the log-rank test and the univariable Cox model, as a published "
             "analysis reports them. The sections below give the details.", css="small")
    if global_lr:
        sec.text("log-rank p: " + "; ".join(global_lr) + ".", css="small")
    for text in interval:
        sec.text(f"Interval-censored endpoint {text.rstrip('.')}.", css="small")
    if missing:
        sec.text("n/a: " + "; ".join(missing) + ".", css="small")
    return sec


def _adjusted(spec, term: str) -> bool:
    """Whether ``spec`` has covariates other than ``term``: only then are its effects
    adjusted (a spec that does not list its covariates is taken as adjusted)."""
    covariates = getattr(spec, "covariates", None)
    return covariates is None or any(cv.column != term for cv in covariates)


def _adjusted_words(spec, term: str) -> str:
    return ("adjusted for the model's other covariates" if _adjusted(spec, term) else
            f"no covariate but {term}: not adjusted")


def summary_section(r: ReanalysisResult) -> Section:
    c = next(iter(r.endpoints.values())).contrast.result
    return Section("Summary").pre(r.summary).text(
        f"Effect of interest: {c.term} {c.level} vs {c.reference}. HR < 1 favours "
        f"{c.level}. Bayesian numbers are posterior medians with equal-tailed "
        f"{r.settings.conf_level:.0%} credible intervals from the headline model "
        f"{r.settings.headline.name} ({r.settings.headline.title or r.settings.headline.family}, "
        f"{_adjusted_words(r.settings.headline, c.term)}); the frequentist numbers are the "
        "unadjusted "
        "log-rank test and univariable Cox model, as a published analysis reports them.")


def data_section(r: ReanalysisResult) -> Section:
    desc = r.describe.description
    p = r.provenance
    sec = Section("Data")
    sec.text(f"File {p['source']}, content hash {p['data_hash']}, {p['n_units']} units.")
    for n in p.get("policy_notes", ()):
        sec.text(f"Data change: {n}.")
    if len(desc.centres):
        sec.table(desc.centres, "Centres")
    ends = desc.endpoints.assign(**{c: desc.endpoints[c].map(
        lambda v: "NR" if pd.isna(v) else f"{v:.1f}") for c in ("median", "median_follow_up")})
    sec.table(ends, f"Endpoints, {desc.time_unit} (Kaplan-Meier medians, NR = not reached; "
              "follow-up by reverse KM)", floatfmt="{:.1f}")
    sec.table(desc.factors, "Categorical covariates")
    return sec


def _interval_rows(fq: FrequentistContrast, contrast: str, pct: str) -> list[dict]:
    """The frequentist rows that respect the intervals of an interval-censored endpoint: the
    interval-censored Weibull HR and Finkelstein's score test (none for an endpoint without
    intervals)."""
    if not fq.times:
        return []
    hr, lo, hi, p = fq.interval_hr
    weibull = ({"estimate": f"{hr:.2f}", "interval": f"{pct} CI {lo:.2f}-{hi:.2f}",
                "p / probability": f"Wald p {format_equals(p)}"} if _finite(hr) else
               {"estimate": "n/a", "interval": "", "p / probability": "no estimate"})
    test = (format_p(fq.interval_logrank_p) if _finite(fq.interval_logrank_p) else
            "not computed (see the baseline notes)")
    return [{"analysis": f"interval-censored Weibull, HR {contrast} (respects the intervals)",
             **weibull},
            {"analysis": f"{fq.interval_logrank_name.removesuffix(' p')} (log-rank-type, "
                         "respects the intervals)", "estimate": "", "interval": "",
             "p / probability": test}]


def contrast_section(r: ReanalysisResult, ep: EndpointResult) -> Section:
    """The question: frequentist and Bayesian answers, HR posterior, standardised curves."""
    rep = r.baselines.reports[ep.endpoint]
    con = ep.contrast.result
    headline = r.settings.headline.name
    pct = f"{r.settings.conf_level:.0%}"
    sec = Section(endpoint_heading(ep.endpoint, rep.endpoint_label))
    fq = frequentist_contrast(rep, con.term, con.level, con.reference)
    cox = ({"estimate": f"{fq.cox_hr:.2f}",
            "interval": f"{pct} CI {fq.cox_lower:.2f}-{fq.cox_upper:.2f}",
            "p / probability": f"p {format_equals(fq.cox_p)}"} if _finite(fq.cox_hr) else
           {"estimate": "n/a", "interval": "", "p / probability": fq.cox_missing})
    when = f", {fq.times}" if fq.times else ""
    lr_name = (f"log-rank test (unadjusted{when})" if fq.logrank_groups <= 2 else
               f"log-rank test, global over the {fq.logrank_groups} levels of {con.term} "
               f"(unadjusted{when})")
    bayes = {"analysis": f"Bayesian {headline}, HR {con.contrast}",
             "estimate": f"{con.hr[0]:.2f}",
             "interval": f"{pct} CrI {con.hr[1]:.2f}-{con.hr[2]:.2f}", "p / probability": ""}
    rows = [{"analysis": lr_name, "estimate": "", "interval": "",
             "p / probability": format_p(fq.logrank_p, missing=f"n/a ({fq.logrank_missing})")},
            {"analysis": f"Cox univariable, HR {con.contrast}{when}", **cox},
            *_interval_rows(fq, con.contrast, pct), bayes]
    rows += [{"analysis": f"Bayesian {headline}, {x.event}", "estimate": "", "interval": "",
              "p / probability": format_prob(x.probability)}
             for x in con.probabilities.itertuples()]
    d = getattr(ep, "detection", None)  # interval-censored endpoints only
    if d is not None:  # the fits use the interval likelihood; detection times beside
        bayes["analysis"] += " (interval likelihood)"
        rows += [{"analysis": f"Bayesian {headline}, HR {con.contrast} (progression at its "
                              "detecting assessment)", "estimate": f"{d.detection_hr[0]:.2f}",
                  "interval": f"{pct} CrI {d.detection_hr[1]:.2f}-{d.detection_hr[2]:.2f}",
                  "p / probability": ""},
                 {"analysis": "difference in log HR, interval minus detection time",
                  "estimate": f"{d.difference:+.3f}", "interval": "", "p / probability": ""}]
    sec.table(pd.DataFrame(rows), f"The {con.term} question, frequentist and Bayesian")
    km = r.baselines.figures.get(f"km_{ep.endpoint}")
    if km is not None:
        sec.figure(km, "Kaplan-Meier curves with numbers at risk" + (
            f", {ON_DETECTION_TIMES}" if fq.times else ""))
    sec.figure(ep.contrast.figures["hr"], "Posterior of the hazard ratio with the decision "
                                          "thresholds and the region of practical equivalence")
    sec.table(_probabilities_as_text(con.medians[[
        "group", "estimate", "lower", "upper", "prob_positive", "not_reached"]].rename(
            columns={"group": "median survival", "prob_positive": "P(> 0)",
                     "not_reached": "share not reached"})),
              f"Standardised (g-computation) median survival, {con.time_unit}",
              floatfmt="{:.2f}")
    sec.table(_probabilities_as_text(
        con.rmst[["horizon", "group", "estimate", "lower", "upper", "prob_positive"]]
        .rename(columns={"group": "RMST", "prob_positive": "P(> 0)"})),
              f"Standardised restricted mean survival time, {con.time_unit}",
              floatfmt="{:.2f}")
    beyond = rmst_follow_up_caveats(con, r.baselines.reports.get(ep.endpoint)
                                    if r is not None else None)
    if beyond:
        sec.text("Caveat: " + "; ".join(beyond) + ".", css="small")
    sec.figure(ep.contrast.figures["standardised"],
               f"Covariate-adjusted survival by {con.term}, standardised over the cohort "
               f"(solid, {pct} band) and the unadjusted Kaplan-Meier curves (dashed)")
    if len(con.centres):
        group = group_word(con)
        sec.table(con.new_centre[["quantity", "group", "estimate", "lower", "upper", "note"]],
                  f"A new {group} ({pct} prediction intervals)", floatfmt="{:.2f}")
        sec.figure(ep.contrast.figures["centres"],
                   f"{group.capitalize()} effects (caterpillar)")
    if d is not None:
        said = d.to_text(con.contrast, r.settings.conf_level)
        sec.text(f"Interval censoring: {d.interval_censored} progressions are known "
                 "only between two assessments; every Bayesian fit of this endpoint uses the "
                 "interval likelihood log(S(lower) - S(upper)). The headline model refitted with "
                 f"each progression at its detecting assessment: {said}.")
    for n in r.notes.get(ep.endpoint, ()):
        sec.text(f"Not estimated: {n}")
    for n in con.notes:
        sec.text(f"Note: {n}")
    for n in con.extrapolation_caveats:
        sec.text(f"Caveat: {n}.")
    return sec


def comparison_section(r: ReanalysisResult, ep: EndpointResult) -> Section:
    cmp = ep.compare.report
    term = ep.contrast.result.term
    sub = Section(f"{ep.endpoint}: model comparison and Cox side by side", level=3)
    verdict = cmp.verdict_text()
    sub.table(cmp.loo.drop(columns=["k_threshold"]), "PSIS-LOO (best first); weight: "
              "stacking", floatfmt="{:.2f}")
    sub.text(f"PSIS-LOO estimates each model's expected log predictive density for a unit "
             f"left out (ELPD); a model is preferred only when its ELPD exceeds every other "
             f"model's by more than {LOO_SE_MULTIPLE:g} SE of the difference (dse). "
             f"{verdict[:1].upper()}{verdict[1:]}.")
    sub.figure(ep.compare.figures["elpd"], "ELPD with SE, and difference to the best")
    avg = ep.compare.average
    if avg is not None and "extrapolation" in ep.compare.figures:
        weights = ", ".join(f"{m} {w:.2f}" for m, w in avg.weights.items())
        sub.figure(ep.compare.figures["extrapolation"],
                   f"Each model's cohort survival beyond the longest follow-up "
                   f"({avg.follow_up:.1f} {avg.time_unit}) over the Kaplan-Meier curve, and "
                   f"the model-averaged curve (stacking weights: {weights}); averaged survival, "
                   "median and RMST in compare/<endpoint>/averaged.csv")
    con = ep.contrast.result
    sub.table(format_side_by_side(cmp.wide, list(cmp.models), conf_level=con.conf_level,
                                  orient=(con.term, con.level, con.reference)),
              "Every covariate effect: Cox (same covariates; plain and stratified by "
              f"centre{_cox_times(r, ep)}) next to each model's posterior")
    sub.table(_probabilities_as_text(ep.contrast.across.drop(columns=["endpoint"])),
              f"The {term} HR across the model set", floatfmt="{:.3f}")
    return sub


def _cox_times(r: ReanalysisResult, ep: EndpointResult) -> str:
    """What times the side-by-side Cox models of an interval-censored endpoint rest on, as its
    rows' method says ("" for an endpoint without intervals)."""
    rep = None if r is None else r.baselines.reports.get(ep.endpoint)
    if not getattr(rep, "interval", None):
        return ""
    eff = ep.compare.report.effects
    methods = eff.loc[eff["quantity"] == "hazard_ratio", "method"].dropna().astype(str)
    cox = methods[methods.str.startswith("Cox")]
    if len(cox) and cox.str.contains("detection").all():
        return f"; {ON_DETECTION_TIMES}"
    return ("; NOT on detection times: these Cox models take each event at the time the fit "
            "stores, the lower bound of its interval; the baseline Cox models are "
            f"{ON_DETECTION_TIMES}")


def grid_section(r: ReanalysisResult, ep: EndpointResult) -> Section:
    g = ep.grid.result
    sub = Section(f"{ep.endpoint}: prior sensitivity", level=3)
    t = g.table
    rw = int((t["method"] == "reweighted").sum()) if "method" in t else 0
    first = ("the job's fit of the headline model" if g.provenance.get("base_given") else
             "sampled")
    how = (f"The other priors reweight its draws by the ratio of the two priors "
           f"(Pareto-smoothed importance sampling; method \"reweighted\", with the weights' "
           f"Pareto k and effective draws): {rw} of {len(t) - 1}. A prior whose weights fail "
           "(Pareto k above min(1 - 1/log10(S), 0.7) for S draws, or fewer effective draws "
           "than a fit needs) is sampled (\"sampled\")." if g.provenance.get(
               "grid_method", "reweight") == "reweight" else
           "Every other prior is sampled (one compiled model, the prior's mean and SD as data).")
    sub.text(f"The headline model under each prior of the grid on the log HR {g.contrast} "
             "(neutral, optimistic, pessimistic x weak, moderate, strong), every other prior "
             f"as in the model file. The first row is the model file's own prior: {first}. "
             f"{how} Compile {g.timings['compile_s']:.1f} s, sampling "
             f"{g.timings['sampling_s']:.1f} s.")
    sub.table(_probabilities_as_text(g.table.drop(columns=["prior_mu", "prior_sd"])),
              "Per prior", floatfmt="{:.3f}")
    sub.figure(ep.grid.figures["grid"], "Prior (grey) and posterior (blue) of the HR")
    return sub


def crossval_section(r: ReanalysisResult, ep: EndpointResult) -> Section:
    sub = Section(f"{ep.endpoint}: leave-one-centre-out cross-validation", level=3)
    cv = ep.crossval.comparison
    if cv is not None:
        sub.text("Each centre predicted by refits of each model on the other centres: the joint "
                 "log predictive density of the centre's units, a model's centre intercept "
                 "integrated over N(0, sd_centre) as a new centre's. A model is preferred only "
                 f"when its sum exceeds every other's by more than {LOO_SE_MULTIPLE:g} SE of "
                 f"the per-centre differences; with {len(cv.centres)} centres the SE is rough. "
                 f"{cv.verdict_text()[:1].upper()}{cv.verdict_text()[1:]}.")
        sub.table(cv.table, "Leave-one-centre-out ELPD (best first)", floatfmt="{:.2f}")
        sub.table(cv.centres, "Per centre: each model's ELPD and its difference to the best",
                  floatfmt="{:.2f}")
    for n in ep.crossval.notes:
        sub.text(f"Note: {n}")
    return sub


def diagnostics_section(r: ReanalysisResult, ep: EndpointResult) -> Section:
    headline = r.settings.headline.name
    sub = Section(f"{ep.endpoint}: diagnostics", level=3)
    rows = []
    grid_cards = ep.grid.result.cards if ep.grid is not None else ()
    for name, card in [*((n, f.card) for n, f in ep.fits.items()),
                       *((c.model, c) for c in grid_cards)]:
        row = {"model": name}
        for ch in card.checks:
            row[ch.name] = ch.shown + ("" if ch.passed is not False else " FAIL")
        row["status"] = "pass" if card.passed else "FAIL"
        rows.append(row)
    sub.table(pd.DataFrame(rows), "Run cards; thresholds: " + ", ".join(
        f"{k} {v}" for k, v in {**DEFAULT_THRESHOLDS, **(r.settings.thresholds or {})}.items()))
    figures = ep.fits[headline].figures
    for key, cap in _DIAGNOSTIC_FIGURES:
        key = key.format(term=ep.contrast.result.term)
        if key in figures:
            sub.figure(figures[key], f"{cap} ({headline})")
    card = ep.fits[headline].card
    if card.power_scaling:
        sub.table(pd.DataFrame(list(card.power_scaling)),
                  f"Power-scaling sensitivity of {headline} (cumulative Jensen-Shannon "
                  "distance when the prior or the likelihood is raised to a power near 1; "
                  "above 0.05 flags the parameter)", floatfmt="{:.3f}")
    return sub


def published_section(r: ReanalysisResult) -> Section:
    pub = r.published.result
    c = pub.comparison
    sec = Section("The published comparison, from its numbers alone")
    sec.text(f"Not computed from the analysed cohort: this reanalyses the published "
             f"P = {c.p:g} ({c.label}, {c.n} units) with the summary-level method "
             "(Parmar/Tierney), under every prior of the grid.")
    sec.pre(pub.to_text())
    sec.table(_probabilities_as_text(pub.table.drop(columns=["prior_mu", "prior_sd",
                                                             "posterior_mu", "posterior_sd"])),
              "Posterior per prior (flat prior first)", floatfmt="{:.3f}")
    sec.figure(r.published.figures["summary"], "Prior, likelihood and posterior per prior")
    sec.figure(r.published.figures["sweep"], "P(HR < 1) across assumed events and group sizes")
    return sec


def provenance_section(r: ReanalysisResult) -> Section:
    p, s = r.provenance, r.settings
    prov = Section("Provenance")
    prov.table(pd.DataFrame([{"item": "data file", "value": p["source"]},
                             {"item": "data hash", "value": p["data_hash"]},
                             {"item": "synthetic", "value": str(r.synthetic)},
                             {"item": "seed", "value": str(s.sampling.seed)},
                             {"item": "sampler", "value": s.sampling.describe()},
                             *[{"item": f"spec {sp.name}", "value": sp.hash} for sp in s.specs],
                             *[{"item": k, "value": v} for k, v in r.versions.items()]]))
    prov.table(pd.DataFrame([{"step": k, "seconds": v} for k, v in r.timings.items()]),
               "Step timings", floatfmt="{:.1f}")
    return prov


def report_sections(r: ReanalysisResult) -> list[Section]:
    """Every section, in the report's order."""
    secs = [answer_section(r), summary_section(r), data_section(r)]
    for ep in r.endpoints.values():
        secs += [contrast_section(r, ep), comparison_section(r, ep)]
        if ep.grid is not None:
            secs.append(grid_section(r, ep))
        if ep.crossval is not None:
            secs.append(crossval_section(r, ep))
        secs.append(diagnostics_section(r, ep))
    if r.published is not None:
        secs.append(published_section(r))
    secs.append(provenance_section(r))
    return secs

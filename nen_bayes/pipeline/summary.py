"""The main job's answer in a few lines per endpoint: the frequentist analysis the study
published next to the Bayesian reanalysis, the diagnostics, the prior grid and the preferred
model. Built from the typed step results; the same text is printed, written to summary.txt and
shown first in the report."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nen_bayes.cohorts.schema import endpoint_heading
from nen_bayes.formatting import format_equals, format_prob
from nen_bayes.frequentist.baselines import BaselineReport
from nen_bayes.frequentist.interval import NO_INTERVAL_LOGRANK
from nen_bayes.pipeline.steps import EndpointResult, PublishedStep
from nen_bayes.posterior.compare import LOO_SE_MULTIPLE, CompareReport
from nen_bayes.posterior.diagnostics import CONVERGENCE_CHECKS

__all__ = ["FrequentistContrast", "endpoint_lines", "endpoint_record", "frequentist_contrast",
           "rmst_follow_up_caveats", "summary_text"]


def rmst_follow_up_caveats(con, rep: BaselineReport) -> list[str]:
    """A sentence for each RMST horizon of the contrast ``con`` beyond a level's own longest
    follow-up (the last time of that level's Kaplan-Meier curve in ``rep``): there that
    level's RMST rests on the model's extrapolation, not on its data."""
    curves = (getattr(rep, "curves", None) or {}).get(con.term, {})
    horizons = sorted({float(h) for h in con.rmst.get("horizon", ()) if np.isfinite(h)})
    out = []
    for level, km in curves.items():
        last = km.max_time
        beyond = [h for h in horizons if np.isfinite(last) and h > last]
        if beyond:
            out.append(f"RMST horizon(s) {', '.join(f'{h:g}' for h in beyond)} "
                       f"{con.time_unit} lie beyond the follow-up of {con.term} = {level} "
                       f"(its longest time {last:.1f} {con.time_unit}): its RMST there is the "
                       "model's extrapolation, not observed")
    return out


@dataclass(frozen=True)
class FrequentistContrast:
    """The unadjusted analysis of a contrast, as a published study reports it: the log-rank p
    of the term and the univariable Cox HR of ``level`` vs ``reference``. A value that is
    absent is NaN, and ``logrank_missing`` / ``cox_missing`` say why."""

    logrank_p: float = np.nan
    cox_hr: float = np.nan
    cox_lower: float = np.nan
    cox_upper: float = np.nan
    cox_p: float = np.nan
    logrank_missing: str = ""
    cox_missing: str = ""
    logrank_groups: int = 2
    #: ``on detection times`` for an interval-censored endpoint (the log-rank test and the Cox
    #: model put each event at the upper bound of its interval), else empty
    times: str = ""
    #: the interval-censored Weibull HR of the contrast (estimate, lower, upper, p), the one
    #: frequentist HR that respects the intervals; NaN when the endpoint has none
    interval_hr: tuple[float, float, float, float] = (np.nan, np.nan, np.nan, np.nan)
    #: Finkelstein's score test of the term (respects the intervals): its p, NaN when absent
    interval_logrank_p: float = np.nan

    @property
    def logrank_name(self) -> str:
        """``log-rank p``, or ``global log-rank p (3 levels)`` when the test compares more
        levels than the two of the contrast (the k-group test, not the pairwise one)."""
        return ("log-rank p" if self.logrank_groups <= 2 else
                f"global log-rank p ({self.logrank_groups} levels)")

    def to_dict(self) -> dict:
        """The values (``None`` where absent) and, where one is absent, why; for an
        interval-censored endpoint the times of the tests and the interval-censored HR."""
        out = {k: _value(getattr(self, k))
               for k in ("logrank_p", "cox_hr", "cox_lower", "cox_upper", "cox_p")}
        if self.times:
            out |= {"times": self.times} | {
                f"interval_weibull_{k}": _value(v)
                for k, v in zip(("hr", "lower", "upper", "p"), self.interval_hr, strict=True)}
            out["interval_logrank_p"] = _value(self.interval_logrank_p)
        return out | {k: getattr(self, k) for k in ("logrank_missing", "cox_missing")
                      if getattr(self, k)}

    @property
    def interval_logrank_name(self) -> str:
        """``Finkelstein score test p``, with the number of levels when it is the global
        test of more than the contrast's two."""
        return ("Finkelstein score test p" if self.logrank_groups <= 2 else
                f"global Finkelstein score test p ({self.logrank_groups} levels)")

    def interval_text(self, conf_level: float) -> str:
        """``interval-censored Weibull HR 1.30 (95% CI 0.95-1.78), Wald p = 0.10;
        Finkelstein score test p = 0.08 (both respect the intervals)``, or "" for an endpoint
        without intervals."""
        if not self.times:
            return ""
        hr, lo, hi, p = self.interval_hr
        est = (f"interval-censored Weibull HR {hr:.2f} ({conf_level:.0%} CI {lo:.2f}-{hi:.2f}), "
               f"Wald p {format_equals(p)}" if np.isfinite(hr) else
               "no interval-censored Weibull HR of this contrast")
        test = (f"{self.interval_logrank_name} {format_equals(self.interval_logrank_p)}"
                if np.isfinite(self.interval_logrank_p) else
                NO_INTERVAL_LOGRANK[:1].lower() + NO_INTERVAL_LOGRANK[1:].rstrip("."))
        return f"{est}; {test} (respecting the intervals)"

    def to_text(self, conf_level: float) -> str:
        """``log-rank p = 0.078; Cox HR 1.35 (95% CI 0.97-1.88), p = 0.080 (univariable)``,
        with ``n/a (why)`` in place of a value that is absent."""
        if self.logrank_missing and self.logrank_missing == self.cox_missing:
            return f"n/a ({self.logrank_missing})"
        lr = (f"log-rank p n/a ({self.logrank_missing})" if self.logrank_missing else
              f"{self.logrank_name} {format_equals(self.logrank_p)}")
        when = f", {self.times}" if self.times else ""
        if self.times and not self.logrank_missing:
            lr += f" ({self.times})"
        if self.cox_missing:
            return f"{lr}; Cox HR n/a ({self.cox_missing})"
        return (f"{lr}; Cox HR {self.cox_hr:.2f} ({conf_level:.0%} CI {self.cox_lower:.2f}-"
                f"{self.cox_upper:.2f}), p {format_equals(self.cox_p)} (univariable{when})")


def _value(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def frequentist_contrast(rep: BaselineReport, term: str, level: str, reference: str
                         ) -> FrequentistContrast:
    """Read the contrast from a baseline report (the Cox table may hold either direction);
    where a value is absent, say why."""
    if term not in rep.logrank and term not in rep.cox_univariable:
        why = f"{term} is not among the baseline factors"
        return FrequentistContrast(logrank_missing=why, cox_missing=why)
    p = rep.logrank[term].p_value if term in rep.logrank else np.nan
    p_missing = "" if np.isfinite(p) else f"no log-rank test of {term}"
    k = len(rep.logrank[term].levels) if term in rep.logrank else 2
    out = _frequentist_contrast(rep, term, level, reference, p, p_missing)
    if not getattr(rep, "interval", None):  # no interval columns: the times as given
        return replace(out, logrank_groups=k)
    res = rep.interval.get(term)
    test = getattr(res, "score_test", None)
    return replace(out, logrank_groups=k, times="on detection times",
                   interval_hr=_interval_hr(rep, term, level, reference),
                   interval_logrank_p=np.nan if test is None else test.p_value)


def _interval_hr(rep: BaselineReport, term: str, level: str, reference: str
                 ) -> tuple[float, float, float, float]:
    """The interval-censored Weibull HR of ``level`` vs ``reference`` (either direction in the
    table), NaN where there is none."""
    res = rep.interval.get(term)
    if res is None:
        return (np.nan,) * 4
    for r in res.hazard_ratios.itertuples():
        if r.group == f"{level} vs {reference}":
            return r.estimate, r.lower, r.upper, r.p_value
        if r.group == f"{reference} vs {level}":
            return 1 / r.estimate, 1 / r.upper, 1 / r.lower, r.p_value
    return (np.nan,) * 4


def _frequentist_contrast(rep: BaselineReport, term: str, level: str, reference: str,
                          p: float, p_missing: str) -> FrequentistContrast:
    if term not in rep.cox_univariable:
        return FrequentistContrast(p, logrank_missing=p_missing, cox_missing=(
            f"the univariable Cox model of {term} was left out: see the baseline notes"))
    for _, r in rep.cox_univariable[term].table.iterrows():
        if {r["level"], r["reference"]} != {level, reference}:
            continue
        if not np.isfinite(r["hr"]):
            return FrequentistContrast(p, logrank_missing=p_missing, cox_missing=(
                f"the univariable Cox model gave no estimate of {level} vs {reference}: see "
                "the baseline notes"))
        if r["level"] == level:
            return FrequentistContrast(p, r["hr"], r["lower"], r["upper"], r["p"],
                                       logrank_missing=p_missing)
        return FrequentistContrast(p, 1 / r["hr"], 1 / r["upper"], 1 / r["lower"], r["p"],
                                   logrank_missing=p_missing)
    return FrequentistContrast(p, logrank_missing=p_missing, cox_missing=(
        f"no {level} vs {reference} row in the univariable Cox table"))


def _failed(ep: EndpointResult) -> list[str]:
    grid = ep.grid.result.cards if ep.grid is not None else ()  # the prior-grid refits too
    return [f"{cd.model} ({', '.join(x.name for x in cd.failures)})"
            for cd in (*ep.cards, *grid) if not cd.passed]


#: The option of the main job that reports a headline fit which missed the convergence checks.
ACCEPT_UNCONVERGED_OPTION = "--accept-unconverged"


def unconverged_checks(ep: EndpointResult, headline: str) -> list[str]:
    """The convergence checks (R-hat, ESS, divergences, E-BFMI) the headline fit failed."""
    fs = ep.fits.get(headline)
    card = getattr(fs, "card", fs)  # a FitStep's run card
    if card is None or card.passed:
        return []
    return [c.name for c in card.failures if c.name in CONVERGENCE_CHECKS]


def _withheld(ep: EndpointResult, headline: str, accept_unconverged: bool) -> str:
    """Why the headline model's answer is withheld ("" when it is reported)."""
    bad = unconverged_checks(ep, headline)
    if not bad or accept_unconverged:
        return ""
    return (f"not reported: the headline model {headline} missed the convergence checks "
            f"({', '.join(bad)}), so its estimates are not a result; rerun with more --tune/"
            f"--draws or a higher --target-accept, or pass {ACCEPT_UNCONVERGED_OPTION} to "
            "report it anyway (flagged)")


def endpoint_lines(ep: EndpointResult, rep: BaselineReport, *, headline: str,
                   benefit: float, conf_level: float,
                   accept_unconverged: bool = False) -> list[str]:
    """The summary lines of one endpoint. A headline fit that missed the convergence checks
    gives no Bayesian answer unless ``accept_unconverged`` (then it is flagged)."""
    con = ep.contrast.result
    fq = frequentist_contrast(rep, con.term, con.level, con.reference)
    p = con.probabilities.set_index("quantity")["probability"]
    failed = _failed(ep)
    pct = f"{conf_level:.0%}"
    lines = ["", f"{endpoint_heading(ep.endpoint, rep.endpoint_label)}: {rep.overall.n} "
                 f"units, {rep.overall.events} events",
             f"  frequentist  {fq.to_text(conf_level)}"]
    if fq.times:
        lines.append(f"               {fq.interval_text(conf_level)}")
    sd_txt = "".join(f", between-{g} SD {sd[0]:.2f} ({sd[1]:.2f}-{sd[2]:.2f})"
                     for g, sd in list(con.group_sd.items())[:1])
    withheld = _withheld(ep, headline, accept_unconverged)
    detection = getattr(ep, "detection", None)  # interval-censored endpoints only
    if detection is not None and withheld:
        lines.append(f"  interval     the Bayesian fits use the interval likelihood "
                     f"log(S(lower) - S(upper)) ({detection.interval_censored} progressions "
                     "known only between two assessments)")
    if withheld:
        lines += [f"  Bayesian     {withheld}",
                  "  diagnostics  FAILED: " + "; ".join(failed)]
        lines += [f"  note         {n}" for n in rep.not_estimated + ep.notes]
        return lines
    if unconverged_checks(ep, headline):
        lines.append(f"  Bayesian     NOT CONVERGED ({', '.join(unconverged_checks(ep, headline))})"
                     f"; reported because of {ACCEPT_UNCONVERGED_OPTION}:")
    lines.append(f"  Bayesian     HR {con.hr[0]:.2f} ({pct} CrI {con.hr[1]:.2f}-{con.hr[2]:.2f}), "
                 f"P(HR < 1) {format_equals(p['prob_hr_below_1'])}, P(HR < {benefit:g}) "
                 f"{format_equals(p.iloc[1])}{sd_txt} [{headline}, adjusted]")
    md = con.medians[con.medians["what"] == "difference"]
    if len(md):
        md = md.iloc[0]
        lines.append("               standardised median difference " + (
            f"{md['estimate']:+.1f} {con.time_unit} ({pct} CrI {md['lower']:+.1f} to "
            f"{md['upper']:+.1f})" if np.isfinite(md["estimate"]) else
            f"n/a (median not reached in {md.get('not_reached', 1.0):.0%} of draws)"))
    if detection is not None:
        lines.append(f"  interval     {detection.to_text(con.contrast, conf_level)}; the "
                     "Bayesian fits use the interval likelihood log(S(lower) - S(upper))")
    lines += [f"  caveat       {c}" for c in con.extrapolation_caveats]
    n_grid = len(ep.grid.result.cards) if ep.grid is not None else 0
    passed = _all_pass(len(ep.fits)) + (f" and in all {n_grid} prior-grid posteriors"
                                        if n_grid else "")
    lines.append("  diagnostics  " + (passed if not failed else "FAILED: " + "; ".join(failed)))
    if ep.grid is not None:
        gt = ep.grid.result.table.iloc[1:]
        lo_r, hi_r = gt["P(HR < 1)"].idxmin(), gt["P(HR < 1)"].idxmax()
        lines.append(f"  prior grid   P(HR < 1) from {format_prob(gt.loc[lo_r, 'P(HR < 1)'])} "
                     f"({gt.loc[lo_r, 'prior']}) to {format_prob(gt.loc[hi_r, 'P(HR < 1)'])} "
                     f"({gt.loc[hi_r, 'prior']}); HR from {gt['median'].min():.2f} to "
                     f"{gt['median'].max():.2f}")
    cmp = ep.compare.report
    if len(cmp.loo) > 1:  # with one model there is nothing to prefer
        lines.append(f"  preferred    {_preferred_text(cmp)}")
    lines += [f"  note         {n}" for n in rep.not_estimated + ep.notes]
    return lines


def _preferred_text(cmp: CompareReport) -> str:
    """The preferred model with its weight, or "none" with the models within
    :data:`LOO_SE_MULTIPLE` SEs of the best and their weights."""
    method = cmp.metadata.get("weights", "stacking")
    if cmp.preferred is not None:
        return (f"{cmp.preferred} (highest PSIS-LOO ELPD; {method} weight "
                f"{cmp.weights_of([cmp.preferred])[0]:.2f})")
    names = cmp.indistinguishable
    return (f"none: {', '.join(names)} within {LOO_SE_MULTIPLE:g} SE of the best PSIS-LOO ELPD "
            f"({method} weights {', '.join(f'{w:.2f}' for w in cmp.weights_of(names))})")


def _all_pass(n_fits: int) -> str:
    return {1: "all checks pass", 2: "all checks pass in both fits"}.get(
        n_fits, f"all checks pass in all {n_fits} fits")


def endpoint_record(ep: EndpointResult, rep: BaselineReport, *, headline: str,
                    accept_unconverged: bool = False) -> dict:
    """The same answer as data (run.json's ``summary``); a headline fit that missed the
    convergence checks gives ``"bayesian": {"model", "converged": False, "withheld"}`` unless
    ``accept_unconverged``."""
    con = ep.contrast.result
    p = con.probabilities.set_index("quantity")["probability"]
    sd = next(iter(con.group_sd.values()), None)
    failed = _failed(ep)
    withheld = _withheld(ep, headline, accept_unconverged)
    bayes = ({"model": headline, "converged": False, "withheld": withheld} if withheld else
             {"model": headline, "hr": con.hr, **{k: float(v) for k, v in p.items()},
              "group_sd": sd, "converged": not unconverged_checks(ep, headline)})
    return {"frequentist": frequentist_contrast(rep, con.term, con.level,
                                                con.reference).to_dict(),
            "bayesian": bayes,
            "diagnostics_passed": not failed, "failed": failed,
            "preferred": ep.compare.report.preferred,
            "indistinguishable": list(ep.compare.report.indistinguishable),
            "notes": list(rep.not_estimated + ep.notes)}


def summary_text(*, source: str, data_hash: str, n_units: int, notice: str,
                 endpoints: dict[str, EndpointResult], baselines: dict[str, BaselineReport],
                 published: PublishedStep | None, headline: str, benefit: float,
                 conf_level: float, data_notes: tuple[str, ...] = (),
                 accept_unconverged: bool = False) -> str:
    """The whole summary (starting and ending with the synthetic notice where it applies);
    ``data_notes``: every change the missing-value and zero-time policies made to the data
    (``Cohort.notes``, with the ids), listed after the first line."""
    lines = [notice] if notice else []
    first = next(iter(endpoints.values())).contrast.result
    lines.append(f"Bayesian reanalysis of {source} ({data_hash[:19]}...), {n_units} units; "
                 f"{first.term}: {first.level} vs {first.reference}")
    lines += [f"data change  {n}" for n in data_notes]
    for name, ep in endpoints.items():
        lines += endpoint_lines(ep, baselines[name], headline=headline, benefit=benefit,
                                conf_level=conf_level, accept_unconverged=accept_unconverged)
    if published is not None:
        lines += ["", published.result.summary_line()]
    if notice:
        lines.append(notice)
    return "\n".join(lines) + "\n"

"""The main job's answer in a few lines per endpoint: the frequentist analysis the study
published next to the Bayesian reanalysis, the diagnostics, the prior grid and the preferred
model. Built from the typed step results; the same text is printed, written to summary.txt and
shown first in the report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nen_bayes.formatting import format_equals, format_prob
from nen_bayes.frequentist.baselines import BaselineReport
from nen_bayes.pipeline.steps import EndpointResult, PublishedStep

__all__ = ["FrequentistContrast", "endpoint_lines", "endpoint_record", "frequentist_contrast",
           "summary_text"]


@dataclass(frozen=True)
class FrequentistContrast:
    """The unadjusted analysis of a contrast, as a published study reports it: the log-rank p
    of the term and the univariable Cox HR of ``level`` vs ``reference`` (NaN when absent)."""

    logrank_p: float = np.nan
    cox_hr: float = np.nan
    cox_lower: float = np.nan
    cox_upper: float = np.nan
    cox_p: float = np.nan

    def to_dict(self) -> dict:
        return {"logrank_p": self.logrank_p, "cox_hr": self.cox_hr, "cox_lower": self.cox_lower,
                "cox_upper": self.cox_upper, "cox_p": self.cox_p}


def frequentist_contrast(rep: BaselineReport, term: str, level: str, reference: str
                         ) -> FrequentistContrast:
    """Read the contrast from a baseline report (the Cox table may hold either direction)."""
    p = rep.logrank[term].p_value if term in rep.logrank else np.nan
    if term in rep.cox_univariable:
        for _, r in rep.cox_univariable[term].table.iterrows():
            if r["level"] == level and r["reference"] == reference:
                return FrequentistContrast(p, r["hr"], r["lower"], r["upper"], r["p"])
            if r["level"] == reference and r["reference"] == level:
                return FrequentistContrast(p, 1 / r["hr"], 1 / r["upper"], 1 / r["lower"],
                                           r["p"])
    return FrequentistContrast(logrank_p=p)


def _failed(ep: EndpointResult) -> list[str]:
    return [f"{cd.model} ({', '.join(x.name for x in cd.failures)})"
            for cd in ep.cards if not cd.passed]


def endpoint_lines(ep: EndpointResult, rep: BaselineReport, *, headline: str,
                   benefit: float, conf_level: float) -> list[str]:
    """The summary lines of one endpoint."""
    con = ep.contrast.result
    fq = frequentist_contrast(rep, con.term, con.level, con.reference)
    p = con.probabilities.set_index("quantity")["probability"]
    failed = _failed(ep)
    pct = f"{conf_level:.0%}"
    lines = ["", f"{ep.endpoint} ({rep.endpoint_label or ep.endpoint}): {rep.overall.n} units, "
                 f"{rep.overall.events} events",
             f"  frequentist  log-rank p {format_equals(fq.logrank_p)}; Cox HR "
             f"{fq.cox_hr:.2f} ({pct} CI {fq.cox_lower:.2f}-{fq.cox_upper:.2f}), "
             f"p {format_equals(fq.cox_p)} (univariable)"]
    sd_txt = "".join(f", between-{g} SD {sd[0]:.2f} ({sd[1]:.2f}-{sd[2]:.2f})"
                     for g, sd in list(con.group_sd.items())[:1])
    lines.append(f"  Bayesian     HR {con.hr[0]:.2f} ({pct} CrI {con.hr[1]:.2f}-{con.hr[2]:.2f}), "
                 f"P(HR < 1) {format_equals(p['prob_hr_below_1'])}, P(HR < {benefit:g}) "
                 f"{format_equals(p.iloc[1])}{sd_txt} [{headline}, adjusted]")
    md = con.medians[con.medians["what"] == "difference"]
    if len(md):
        md = md.iloc[0]
        lines.append(f"               standardised median difference {md['estimate']:+.1f} "
                     f"{con.time_unit} ({pct} CrI {md['lower']:+.1f} to {md['upper']:+.1f})")
    n = len(ep.fits)
    lines.append("  diagnostics  " + (f"all checks pass in all {n} fits" if not failed
                                      else "FAILED: " + "; ".join(failed)))
    if ep.grid is not None:
        gt = ep.grid.result.table.iloc[1:]
        lo_r, hi_r = gt["P(HR < 1)"].idxmin(), gt["P(HR < 1)"].idxmax()
        lines.append(f"  prior grid   P(HR < 1) from {format_prob(gt.loc[lo_r, 'P(HR < 1)'])} "
                     f"({gt.loc[lo_r, 'prior']}) to {format_prob(gt.loc[hi_r, 'P(HR < 1)'])} "
                     f"({gt.loc[hi_r, 'prior']}); HR from {gt['median'].min():.2f} to "
                     f"{gt['median'].max():.2f}")
    best = ep.compare.report.loo.iloc[0]
    lines.append(f"  preferred    {best['model']} (highest PSIS-LOO ELPD; stacking weight "
                 f"{best['weight']:.2f})")
    return lines


def endpoint_record(ep: EndpointResult, rep: BaselineReport, *, headline: str) -> dict:
    """The same answer as data (run.json's ``summary``)."""
    con = ep.contrast.result
    p = con.probabilities.set_index("quantity")["probability"]
    sd = next(iter(con.group_sd.values()), None)
    failed = _failed(ep)
    return {"frequentist": frequentist_contrast(rep, con.term, con.level,
                                                con.reference).to_dict(),
            "bayesian": {"model": headline, "hr": con.hr,
                         **{k: float(v) for k, v in p.items()}, "group_sd": sd},
            "diagnostics_passed": not failed, "failed": failed,
            "preferred": str(ep.compare.report.loo.iloc[0]["model"])}


def summary_text(*, source: str, data_hash: str, n_units: int, notice: str,
                 endpoints: dict[str, EndpointResult], baselines: dict[str, BaselineReport],
                 published: PublishedStep | None, headline: str, benefit: float,
                 conf_level: float) -> str:
    """The whole summary (starting and ending with the synthetic notice where it applies)."""
    lines = [notice] if notice else []
    first = next(iter(endpoints.values())).contrast.result
    lines.append(f"Bayesian reanalysis of {source} ({data_hash[:19]}...), {n_units} units; "
                 f"{first.term}: {first.level} vs {first.reference}")
    for name, ep in endpoints.items():
        lines += endpoint_lines(ep, baselines[name], headline=headline, benefit=benefit,
                                conf_level=conf_level)
    if published is not None:
        lines += ["", published.result.summary_line()]
    if notice:
        lines.append(notice)
    return "\n".join(lines) + "\n"

"""A published trial reanalysed from its paper card.

Each arm is reconstructed from its digitised curve and at-risk table (Guyot et al. 2012, with the
reconstruction layer's every check: the curve's cleaning, the at-risk table against the curve,
the reconstructed curve within ``FAR`` of every point); the reconstructed units get the
frequentist baselines (Kaplan-Meier medians, log-rank, Cox) and a Bayesian Weibull PH model of
arm with weak priors (:func:`weibull_spec`, written out); the published HR gets the summary-level
reanalysis under the prior grid; and what was reconstructed is set against what was published.

When reconstructed and published disagree
-----------------------------------------
The round trips of the reconstruction on public patient data
(:mod:`nen_bayes.reconstruction.roundtrip`, ``summarise_study``) set its targets: the Cox HR
within 5% (relative), the events within 2%, the median within 2 distinct event times of the
original's. A published figure is taken to disagree with the reconstruction when it lies beyond
those targets, widened by the rounding of the published number (half a unit of its last digit):

* HR and each CI limit: ``|ln rec - ln pub| > ln 1.05 + ln(1 + h/pub)``;
* p: the two-sided normal deviates ``z = Phi^-1(1 - p/2)`` differ by more than
  ``ln 1.05 / SE`` (the HR's tolerance on the z scale, SE of the published log HR from its CI),
  plus the deviate range of the rounding;
* a median: more than 2 of the reconstructed arm's distinct event times lie between the
  reconstructed and the published median (after widening the published one by ``h``);
* events: ``|rec - pub| > 0.02 pub`` (with the published events given to the reconstruction they
  are met exactly, unless a warning of the reconstruction says why not); N: any difference.

Beyond reconstruction error, a disagreement in the HR often means the published model is not
an unadjusted Cox model of arm (stratified, adjusted, another ties method): the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from nen_bayes.bayes.families import WEIBULL
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.priors import lognormal_table
from nen_bayes.bayes.spec import ModelSpec, spec_from_dict
from nen_bayes.cohorts.cohort import Cohort, load_cohort
from nen_bayes.cohorts.read import read_table
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.effects import effects_frame
from nen_bayes.formatting import format_p, format_prob
from nen_bayes.frequentist.baselines import BaselineReport, run_baselines
from nen_bayes.posterior.summary import posterior_effects
from nen_bayes.reconstruction.guyot import (
    Reconstruction,
    check_fit,
    check_risk_table,
    clean_curve,
    reconstruct_arm,
)
from nen_bayes.sensitivity.grid import zampieri_grid
from nen_bayes.sensitivity.summary_level import (
    SummaryEstimate,
    from_interval,
    summary_level_text,
    summary_reanalysis,
)
from nen_bayes.settings import Sampling
from nen_bayes.trials.card import CardError, TrialCard

__all__ = ["ENDPOINT", "EVENTS_TOLERANCE", "HR_TOLERANCE", "MEDIAN_STEPS", "TrialReanalysis",
           "compare_published", "ipd_cohort", "reanalyse_trial", "reconstruct_card",
           "rounding", "weibull_spec"]

#: The round-trip targets of the reconstruction (``roundtrip.summarise_study``).
HR_TOLERANCE = 0.05
EVENTS_TOLERANCE = 0.02
MEDIAN_STEPS = 2
#: The endpoint's name in the reconstructed cohort.
ENDPOINT = "endpoint"


def rounding(x: float) -> float:
    """Half a unit of the last digit of ``x`` as written (``0.69`` -> 0.005, ``12`` -> 0.5)."""
    text = repr(float(x))
    if "e" in text:
        return 0.0
    digits = len(text.split(".")[1].rstrip("0")) if "." in text else 0
    return 0.5 * 10.0 ** -digits


def reconstruct_card(card: TrialCard, *, last_interval: str = "guyot", snap: float = 0.005,
                     swap_window: float = 0.01) -> Reconstruction:
    """Reconstruct every arm of the card, each with the reconstruction layer's checks; messages
    name the card, the arm and its curve file."""
    arms = []
    for arm in card.arms:
        raw = read_table(arm.curve)
        frame = raw.frame
        for col in ("time", "survival"):
            if col not in frame.columns:
                raise CardError(f"{card.source}: arm {arm.name!r}: curve file {raw.source} has "
                                f"no column {col!r}; columns are {list(frame.columns)}")
        src = f"{raw.source} (card {card.source}, arm {arm.name})"
        curve = clean_curve(frame["time"].tolist(), frame["survival"].tolist(), source=src,
                            rows=raw.first_row + np.arange(len(frame)),
                            swap_window=swap_window, decimal_comma=raw.decimal_comma)
        rsrc = f"{card.source}: arm {arm.name!r}, table at_risk"
        table = check_risk_table(list(arm.risk_times), list(arm.risk_n), curve=curve,
                                 source=rsrc)
        rec = reconstruct_arm(curve, table, total_events=arm.events, arm=arm.name,
                              last_interval=last_interval, snap=snap * curve.time[-1])
        check_fit(rec, rsrc)
        arms.append(rec)
    settings = {"scale": "auto", "scales": {a.arm: a.curve.scale for a in arms},
                "rescale_start": False, "last_interval": last_interval, "snap": snap,
                "swap_window": swap_window,
                "events": {a.name: a.events for a in card.arms if a.events is not None}}
    return Reconstruction(tuple(arms), settings)


def ipd_cohort(card: TrialCard, ipd: pd.DataFrame) -> Cohort:
    """The reconstructed units as a validated cohort: endpoint ``ENDPOINT``, factor ``arm``
    with the card's reference first, time in the card's unit."""
    schema = CohortSchema.custom(
        {ENDPOINT: ("time", "event")}, id_column="id", time_unit=card.time_unit,
        factors=(Factor("arm", (card.reference, card.experimental), reference=card.reference),))
    return load_cohort(ipd[["id", "time", "event", "arm"]], schema, synthetic=False)


def weibull_spec(card: TrialCard) -> ModelSpec:
    """Weibull proportional hazards of arm, weak priors (each with its reason)."""
    return spec_from_dict({
        "model": {"name": "weibull_ph_arm", "title": "Weibull PH of arm",
                  "description": f"Weibull PH, {card.experimental} vs {card.reference}",
                  "family": WEIBULL.name, "parameterisation": WEIBULL.parameterisation,
                  "time_unit": "months"},
        "outcome": {"endpoint": ENDPOINT},
        "covariates": [{"column": "arm", "type": "categorical", "reference": card.reference}],
        "priors": {
            "coefficient": {"dist": "Normal", "mu": 0.0, "sigma": 1.0,
                            "reason": "log HR of arm: 95% of the prior on HR 0.14-7.1, centred "
                                      "on no effect; weak against any trial's events"},
            "shape": lognormal_table(0.0, 1.0,
                      "Weibull shape: median 1 (constant hazard), 95% 0.14-7.1"),
            "scale": lognormal_table(math.log(24.0), 2.0,
                      "baseline scale in months: median 24, 95% between 0.5 and "
                      "1,200 months, wide for any clinical endpoint"),
        },
    }, source="trial model (weibull_ph_arm)")


def _row(quantity, published, reconstructed, agree, rule) -> dict:
    return {"quantity": quantity, "published": published, "reconstructed": reconstructed,
            "agree": agree, "rule": rule}


def _z(p: float) -> float:
    return float(norm.isf(p / 2))


def _median_agrees(arm_data: pd.DataFrame, rec: float, pub: float) -> bool | None:
    if math.isnan(rec):
        return None
    et = np.unique(arm_data.loc[arm_data["event"] == 1, "time"].to_numpy())
    h = rounding(pub)
    lo, hi = min(rec, pub - h), max(rec, pub + h)
    between = ((et > lo) & (et < hi)).sum() if pub - h <= rec <= pub + h else \
        ((et > min(rec, pub)) & (et <= max(rec, pub))).sum()
    return bool(between <= MEDIAN_STEPS)


def _hr_rows(card: TrialCard, cox: pd.Series) -> list[dict]:
    pub = card.published
    tol = math.log1p(HR_TOLERANCE)
    rows = []
    for label, p_val, r_val in (("HR", pub.hr, cox["estimate"]),
                                ("CI lower", pub.lower, cox["lower"]),
                                ("CI upper", pub.upper, cox["upper"])):
        limit = tol + math.log1p(rounding(p_val) / p_val)
        agree = bool(abs(math.log(r_val) - math.log(p_val)) <= limit)
        rows.append(_row(label, p_val, r_val, agree, f"|ln ratio| <= {limit:.3f}"))
    return rows


def _p_row(card: TrialCard, p_rec: float) -> dict:
    pub = card.published
    se = (math.log(pub.upper) - math.log(pub.lower)) / (2 * norm.ppf((1 + pub.conf_level) / 2))
    h = rounding(pub.p)
    z_lo, z_hi = _z(min(pub.p + h, 1.0)), _z(max(pub.p - h, 1e-300))
    z = _z(p_rec)
    tol = math.log1p(HR_TOLERANCE) / se
    gap = 0.0 if z_lo <= z <= z_hi else min(abs(z - z_lo), abs(z - z_hi))
    return _row(f"p ({pub.test or 'as published'})", pub.p, p_rec, bool(gap <= tol),
                f"|dz| <= {tol:.2f}")


def compare_published(card: TrialCard, rec: Reconstruction, baselines: BaselineReport
                      ) -> pd.DataFrame:
    """Published against reconstructed, one row per figure, with the rule of the module
    docstring (``agree`` None where the reconstruction has no value: a median not reached)."""
    eff = baselines.effects
    cox = eff[(eff["quantity"] == "hazard_ratio") & (eff["term"] == "arm")].iloc[0]
    rows = _hr_rows(card, cox)
    if card.published.p is not None:
        lr = eff[(eff["quantity"] == "logrank") & (eff["term"] == "arm")].iloc[0]
        test = card.published.test.lower()
        p_rec = float(cox["p_value"] if "cox" in test or "wald" in test else lr["p_value"])
        rows.append(_p_row(card, p_rec))
    for a in rec.arms:
        arm = card.arm(a.arm)
        pub_median = card.published.median(a.arm)
        if pub_median is not None:
            m = float(a.km.median()[0])
            rows.append(_row(f"median {a.arm}", pub_median, m,
                             _median_agrees(a.data, m, pub_median),
                             f"<= {MEDIAN_STEPS} event times apart"))
        if arm.events is not None:
            ok = abs(a.events - arm.events) <= EVENTS_TOLERANCE * arm.events
            rows.append(_row(f"events {a.arm}", arm.events, a.events, bool(ok),
                             f"within {EVENTS_TOLERANCE:.0%}"))
        rows.append(_row(f"N {a.arm}", arm.n, len(a.data), len(a.data) == arm.n, "equal"))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TrialReanalysis:
    """Everything ``nen-bayes trial`` reports about one card."""

    card: TrialCard
    reconstruction: Reconstruction
    cohort: Cohort
    baselines: BaselineReport
    comparison: pd.DataFrame
    estimate: SummaryEstimate
    summary_level: pd.DataFrame
    bayes: pd.DataFrame | None          # posterior effects of the Weibull fit, or None
    spec: ModelSpec | None = None

    @property
    def disagreements(self) -> pd.DataFrame:
        return self.comparison[self.comparison["agree"].eq(False)]

    @property
    def effects(self) -> pd.DataFrame:
        """The shared effects table: the published HR, the baselines of the reconstructed
        units, the Weibull posterior and the summary-level posterior (flat prior)."""
        pub, card = self.card.published, self.card
        group = f"{card.experimental} vs {card.reference}"
        flat = self.summary_level.iloc[0]
        rows = [
            {"endpoint": ENDPOINT, "quantity": "hazard_ratio", "term": "arm", "group": group,
             "estimate": pub.hr, "lower": pub.lower, "upper": pub.upper, "interval": "CI",
             "conf_level": pub.conf_level, "p_value": pub.p,
             "method": f"published ({pub.model})", "synthetic": False},
            {"endpoint": ENDPOINT, "quantity": "hazard_ratio", "term": "arm", "group": group,
             "estimate": flat["median"], "lower": flat["lower"], "upper": flat["upper"],
             "interval": "CrI", "conf_level": 0.95,
             "method": "summary-level reanalysis of the published HR, flat prior",
             "synthetic": False},
        ]
        parts = [effects_frame(rows), self.baselines.effects]
        if self.bayes is not None:
            parts.append(self.bayes)
        return pd.concat([p for p in parts if len(p)], ignore_index=True)

    def comparison_text(self) -> str:
        card = self.card
        lines = [f"Trial {card.name}: {card.citation}",
                 f"{card.endpoint}, {card.experimental} vs {card.reference} (time in "
                 f"{card.time_unit}); published HR from: {card.published.model}", "",
                 f"{'':<22}{'published':>12}{'reconstructed':>15}  agree  rule"]
        for _, r in self.comparison.iterrows():
            fmt = (lambda v: format_p(v)) if r["quantity"].startswith("p ") else \
                (lambda v: f"{v:.4g}")
            agree = "-" if r["agree"] is None else ("yes" if r["agree"] else "NO")
            lines.append(f"{r['quantity']:<22}{fmt(r['published']):>12}"
                         f"{fmt(r['reconstructed']):>15}  {agree:<5}  {r['rule']}")
        lines.append("")
        bad = self.disagreements
        if len(bad):
            lines.append("Reconstructed and published disagree beyond reconstruction error on: "
                         + ", ".join(bad["quantity"]) + ".")
            if bad["quantity"].isin(["HR", "CI lower", "CI upper"]).any():
                lines.append("An HR that disagrees may come from another model than an "
                             "unadjusted Cox model of arm (published: "
                             f"{card.published.model}), or from a curve or at-risk table "
                             "read wrongly.")
        else:
            lines.append("Every published figure is met within reconstruction error.")
        lines.append(f"Rule: the round-trip targets of the reconstruction (HR within "
                     f"{HR_TOLERANCE:.0%}, events within {EVENTS_TOLERANCE:.0%}, median within "
                     f"{MEDIAN_STEPS} event times), widened by the rounding of the published "
                     "number; p compared on the normal-deviate scale.")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        parts = [self.comparison_text(), self.reconstruction.summary_text(self.card.time_unit),
                 "Frequentist baselines of the reconstructed units", "",
                 self.baselines.to_text()]
        if self.bayes is not None:
            hr = self.bayes[self.bayes["quantity"] == "hazard_ratio"]
            priors = "; ".join(
                f"{k} {v.dist}(" + ", ".join(f"{n}={x:.3g}" for n, x in v.params.items()) + ")"
                for k, v in self.spec.priors.items())
            parts += [f"Bayesian Weibull PH of arm (weak priors, time in "
                      f"{self.spec.time_unit}: {priors})"]
            parts += [hr[["group", "estimate", "lower", "upper", "method"]].to_string(
                index=False, float_format=lambda v: f"{v:.3f}"), ""]
            prob = self.bayes[self.bayes["quantity"].str.startswith("prob_")]
            if len(prob):
                parts += [f"{r.quantity} ({r.group}): {format_prob(r.estimate)}"
                          for r in prob.itertuples()] + [""]
        parts.append(summary_level_text(self.estimate, self.summary_level,
                                        header="Summary-level reanalysis of the published HR"))
        return "\n".join(parts)


def reanalyse_trial(card: TrialCard, *, sampling: Sampling | None = None, bayes: bool = True,
                    progressbar: bool = False) -> TrialReanalysis:
    """Reconstruct, fit and compare (``bayes=False`` skips the Weibull fit)."""
    rec = reconstruct_card(card)
    cohort = ipd_cohort(card, rec.ipd)
    baselines = run_baselines(cohort, ENDPOINT, ["arm"], dcr=False)
    comparison = compare_published(card, rec, baselines)
    pub = card.published
    estimate = from_interval(pub.hr, pub.lower, pub.upper, conf_level=pub.conf_level)
    table = summary_reanalysis(estimate, zampieri_grid())
    effects, spec = None, None
    if bayes:
        spec = weibull_spec(card)
        result = fit(spec, cohort, sampling=sampling, progressbar=progressbar)
        effects = posterior_effects(result.tree)
    return TrialReanalysis(card, rec, cohort, baselines, comparison, estimate, table, effects,
                           spec)

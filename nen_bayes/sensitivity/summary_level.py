"""Bayesian reanalysis from published numbers alone (no patient data).

The published result becomes a normal likelihood for the log effect (log HR, OR or RR):

* from an estimate and its 95% CI: ln(estimate), SE = (ln U - ln L) / (2 z), z = 1.96 for 95%;
  or, as some reanalyses do, the SE from one limit: (ln U - ln estimate) / z;
* from a log-rank p-value with D events split n1:n2 (Parmar et al. 1998, Tierney et al. 2007):
  V = D n1 n2 / (n1 + n2)^2, |ln HR| = z(1 - p/2) / sqrt(V), SE = 1 / sqrt(V), with the sign
  given by which group did better.

Each prior N(m, s^2) then gives the conjugate posterior
N((m/s^2 + y/se^2) / (1/s^2 + 1/se^2), 1 / (1/s^2 + 1/se^2)); a flat prior gives N(y, se^2).

Under a flat prior, P(HR < 1) from a two-sided p-value is 1 - p/2 whatever D, n1 and n2 are:
the assumptions about events and group sizes matter only through the informative priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from scipy.stats import norm

from nen_bayes.errors import SpecError
from nen_bayes.formatting import format_prob
from nen_bayes.sensitivity.grid import GridPrior, normal_probabilities
from nen_bayes.settings import Decision

__all__ = ["SummaryEstimate", "assumption_sweep", "from_interval", "from_logrank",
           "normal_update", "summary_level_text", "summary_reanalysis"]


@dataclass(frozen=True)
class SummaryEstimate:
    """A published effect as a normal likelihood on the log scale."""

    log_effect: float
    se: float
    measure: str
    description: str
    assumptions: dict = field(default_factory=dict)

    @property
    def effect(self) -> float:
        return math.exp(self.log_effect)


def from_interval(estimate: float, lower: float, upper: float, *, measure: str = "HR",
                  conf_level: float = 0.95, se_from: str = "interval") -> SummaryEstimate:
    """A ratio estimate with its confidence interval. ``se_from``: ``"interval"`` (both
    limits), ``"upper"`` or ``"lower"`` (one limit, for asymmetric published intervals)."""
    if not (0 < lower < estimate < upper):
        raise SpecError(f"need 0 < lower < estimate < upper; got {lower}, {estimate}, {upper}")
    if se_from not in ("interval", "upper", "lower"):
        raise SpecError(f"se_from {se_from!r}; allowed: interval, upper, lower")
    z = norm.ppf((1 + conf_level) / 2)
    y = math.log(estimate)
    se = {"interval": (math.log(upper) - math.log(lower)) / (2 * z),
          "upper": (math.log(upper) - y) / z, "lower": (y - math.log(lower)) / z}[se_from]
    return SummaryEstimate(y, se, measure,
                           f"{measure} {estimate:g} ({conf_level:.0%} CI {lower:g}-{upper:g}); "
                           f"SE of the log {measure} from the "
                           f"{'interval' if se_from == 'interval' else se_from + ' limit'}: "
                           f"{se:.4f}",
                           {"se_from": se_from, "conf_level": conf_level})


def from_logrank(p: float, events: float, n1: float, n2: float, *, favours: str = "group 1"
                 ) -> SummaryEstimate:
    """A two-sided log-rank p-value with ``events`` events and group sizes ``n1`` (the group of
    interest) and ``n2``; ``favours`` says which group did better ("group 1" gives HR < 1 for
    group 1 vs group 2, "group 2" gives HR > 1)."""
    if not 0 < p < 1:
        raise SpecError(f"p = {p}; allowed: 0 < p < 1")
    if not (events > 0 and n1 > 0 and n2 > 0) or events > n1 + n2:
        raise SpecError(f"need events > 0, n1 > 0, n2 > 0 and events <= n1 + n2; got "
                        f"{events}, {n1}, {n2}")
    if favours not in ("group 1", "group 2"):
        raise SpecError(f"favours {favours!r}; allowed: 'group 1', 'group 2'")
    v = events * n1 * n2 / (n1 + n2) ** 2
    size = norm.ppf(1 - p / 2) / math.sqrt(v)
    y = -size if favours == "group 1" else size
    return SummaryEstimate(
        y, 1 / math.sqrt(v), "HR",
        f"log-rank p = {p:g} with {events:g} events, groups {n1:g}:{n2:g} (Parmar/Tierney: "
        f"V = {v:.2f}, HR = {math.exp(y):.3f}, SE = {1 / math.sqrt(v):.4f})",
        {"p": p, "events": events, "n1": n1, "n2": n2, "favours": favours})


def normal_update(prior_mu: float, prior_sd: float, y: float, se: float) -> tuple[float, float]:
    """Conjugate normal posterior (mean, SD); ``prior_sd = inf`` is the flat prior."""
    if math.isinf(prior_sd):
        return y, se
    w0, w1 = 1 / prior_sd**2, 1 / se**2
    return (w0 * prior_mu + w1 * y) / (w0 + w1), 1 / math.sqrt(w0 + w1)


def summary_reanalysis(estimate: SummaryEstimate, priors: list[GridPrior], *,
                       decision: Decision | None = None, flat: bool = True) -> pd.DataFrame:
    """Posterior under every prior (and a flat prior first, as the reference): median effect,
    95% CrI and the decision probabilities of ``decision`` (default :class:`Decision`'s
    thresholds); the prior's own median and interval beside it."""
    kw = {"decision": decision}
    rows = []
    pri = ([("flat", "reference", "", math.nan, math.inf)] if flat else []) + \
        [(p.name, p.direction, p.strength, p.mu, p.sigma) for p in priors]
    for name, direction, strength, m, s in pri:
        mu, sd = normal_update(m, s, estimate.log_effect, estimate.se)
        post = normal_probabilities(mu, sd, **kw)
        row = {"prior": name, "direction": direction, "strength": strength,
               "prior_mu": m, "prior_sd": s}
        if math.isfinite(s):
            pp = normal_probabilities(m, s, **kw)
            row.update({"prior_median": pp["hr"], "prior_lower": pp["lower"],
                        "prior_upper": pp["upper"]})
        else:
            row.update({"prior_median": math.nan, "prior_lower": math.nan,
                         "prior_upper": math.nan})
        row.update({"posterior_mu": mu, "posterior_sd": sd, "median": post.pop("hr"),
                    "lower": post.pop("lower"), "upper": post.pop("upper"), **post})
        rows.append(row)
    return pd.DataFrame(rows)


def assumption_sweep(p: float, events, shares, n_total: float, priors: list[GridPrior], *,
                     favours: str = "group 1") -> pd.DataFrame:
    """P(HR < 1) from a log-rank p-value over plausible numbers of events and shares of the
    units in group 1, under a flat prior and each given prior."""
    rows = []
    for d in events:
        for share in shares:
            n1 = share * n_total
            est = from_logrank(p, d, n1, n_total - n1, favours=favours)
            row = {"events": d, "share_group_1": share, "n1": n1, "n2": n_total - n1,
                   "hr": est.effect, "se": est.se,
                   "P(HR < 1) flat": float(norm.cdf(-est.log_effect / est.se))}
            for pr in priors:
                mu, sd = normal_update(pr.mu, pr.sigma, est.log_effect, est.se)
                row[f"P(HR < 1) {pr.name}"] = float(norm.cdf(-mu / sd))
            rows.append(row)
    return pd.DataFrame(rows)


def summary_level_text(estimate: SummaryEstimate, table: pd.DataFrame,
                       sweep: pd.DataFrame | None = None, *, header: str = "") -> str:
    """The printed summary of a summary-level reanalysis: ``header`` (what was published and
    what is assumed), the likelihood, the posterior under each prior (:func:`summary_reanalysis`)
    and, with a ``sweep`` (:func:`assumption_sweep`), the range of P(HR < 1) under each prior
    over the assumptions. Probabilities follow :func:`nen_bayes.formatting.format_prob`."""
    lines = [header, ""] if header else []
    lines.append(f"Likelihood: {estimate.description}")
    show = table.drop(columns=["prior_mu", "prior_sd", "posterior_mu", "posterior_sd"])
    lines.append(show.to_string(index=False, float_format=lambda v: f"{v:.3f}",
                                formatters={c: format_prob for c in show.columns
                                            if c.startswith("P(")}))
    if sweep is not None:
        lines += ["", "P(HR < 1) across assumed events and shares of units in group 1 "
                  "(flat prior: 1 - p/2 whatever they are):"]
        for c in (c for c in sweep.columns if c.startswith("P(HR < 1)")):
            lines.append(f"  {c}: {format_prob(sweep[c].min())} to "
                         f"{format_prob(sweep[c].max())}")
    return "\n".join(lines) + "\n"

"""Compare fits: PSIS-LOO expected log predictive density, stacking weights, and every
covariate effect of the Bayesian models next to the Cox model it reanalyses.

Fits are comparable only when they were fitted to the same data (content hash of the data file
and number of units) and the same endpoint: a LOO difference between fits to different data
means nothing, so :func:`check_comparable` refuses, naming what differs.

A model is preferred only when its ELPD exceeds every other model's by more than
:data:`LOO_SE_MULTIPLE` (2) SEs of the difference; otherwise the models within that of the best
are reported as indistinguishable by PSIS-LOO (:func:`loo_verdict`), with their weights.

The frequentist side is computed from the fit itself: a Cox model (Efron ties) on the stored
design matrix, times and events, that is with exactly the covariates and reference levels of the
Bayesian model, once plain and once stratified by the first grouping level (the Cox analogue of
centre random intercepts). Beside an interval-censored fit the Cox models take each event at its
detection time (the upper bound of its interval, as the baselines do), never at the lower bound
the fit stores as its time, and their method says so.

Fits whose outcomes are represented differently (an interval-likelihood fit and a detection-time
fit of the same endpoint) are refused too: their LOO values score different observations.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nen_bayes.bayes.predict import outcomes_of
from nen_bayes.effects import effects_frame, with_checks
from nen_bayes.errors import BaselineError, BaselineWarning, ComparisonError
from nen_bayes.formatting import format_p, format_prob
from nen_bayes.frequentist.baselines import ON_DETECTION_TIMES
from nen_bayes.frequentist.cox import Term, cox_fit
from nen_bayes.posterior.diagnostics import fit_checks, psis_loo
from nen_bayes.posterior.summary import posterior_effects
from nen_bayes.provenance import Provenanced, is_synthetic

__all__ = ["LOO_SE_MULTIPLE", "CompareReport", "check_comparable", "compare_report",
           "cox_effects", "format_side_by_side", "loo_table", "loo_verdict", "oriented_wide",
           "side_by_side"]

#: A model is preferred only when its ELPD exceeds every other model's by more than this many
#: SEs of the difference (``dse``); models within it of the best are indistinguishable.
LOO_SE_MULTIPLE = 2.0

WEIGHTS_CAUTION = ("the weights say how to combine the models' predictions, not how likely "
                   "each model is")


def check_comparable(trees: dict) -> None:
    """Raise :class:`ComparisonError` unless all fits share data hash, units and endpoint."""
    if len(trees) < 1:
        raise ComparisonError("no fits to compare")
    for key, what in (("data_hash", "data (content hash)"), ("endpoint", "endpoint"),
                      ("n_units", "number of units")):
        values = {name: str(t.attrs.get(key)) for name, t in trees.items()}
        if len(set(values.values())) > 1:
            listing = "; ".join(f"{n}: {v}" for n, v in values.items())
            raise ComparisonError(
                f"these fits differ in {what}, so their predictive accuracy cannot be "
                f"compared: {listing}. Compare only fits of one endpoint of one data file.")
    kinds = {name: _outcome_form(t) for name, t in trees.items()}
    if len(set(kinds.values())) > 1:
        listing = "; ".join(f"{n}: {v}" for n, v in kinds.items())
        raise ComparisonError(
            "these fits represent the endpoint's outcomes differently, so their PSIS-LOO "
            f"values score different observations and cannot be compared: {listing}. Fit "
            "every model with the same outcome form (all with the interval likelihood, or all "
            "on detection times) and compare those.")


def _outcome_form(tree) -> str:
    """How a fit represents its outcomes: with the interval likelihood (its ``constant_data``
    holds ``upper`` and some events lie in an interval) or as exact and right-censored times."""
    const = tree["constant_data"] if "constant_data" in tree.children else None
    has_upper = const is not None and "upper" in const
    n_interval = int(tree.attrs.get("interval_censored", 0) or 0)
    if has_upper and n_interval > 0:
        return f"interval likelihood ({n_interval} interval-censored events)"
    return "exact and right-censored times (no interval-censored events)"


def loo_table(trees: dict, *, method: str = "stacking", loos: dict | None = None
              ) -> pd.DataFrame:
    """PSIS-LOO of each fit and their comparison, best first.

    Columns: ``model, rank, elpd_loo, se, p_loo, elpd_diff, dse, weight`` (stacking by
    default), ``n_high_k`` (units whose Pareto k exceeds ``k_threshold``), ``max_k`` and
    ``warning`` (why the LOO estimate of that fit is not reliable, else empty).
    """
    import arviz_stats as azs

    check_comparable(trees)
    given = loos or {}
    loos = {name: given[name] if name in given else psis_loo(t) for name, t in trees.items()}
    rows = []
    weights = {name: 1.0 for name in loos}
    if len(loos) > 1:
        cmp = azs.compare(_without_log_weights(loos), method=method, round_to="none")
        weights = {name: float(cmp.loc[name, "weight"]) for name in loos}
    best = max(loos, key=lambda n: float(loos[n].elpd))
    best_i = np.asarray(loos[best].elpd_i.values, float).ravel()
    for name, lo in loos.items():
        k = np.asarray(lo.pareto_k.values, float).ravel()
        good = float(lo.good_k)
        high = int(np.sum(k > good))
        diff_i = np.asarray(lo.elpd_i.values, float).ravel() - best_i
        rows.append({
            "model": name, "elpd_loo": float(lo.elpd), "se": float(lo.se), "p_loo": float(lo.p),
            # difference to the best fit and its SE, sqrt(n var(pointwise differences))
            "elpd_diff": float(diff_i.sum()),
            "dse": float(np.sqrt(len(diff_i) * np.var(diff_i, ddof=1))),
            "weight": weights[name], "n_high_k": high, "max_k": float(k.max()),
            "k_threshold": good,
            "warning": (f"{high} unit(s) with Pareto k > {good:.2f}: the LOO estimate is "
                        "unreliable (consider K-fold CV)") if high else ""})
    out = pd.DataFrame(rows).sort_values("elpd_loo", ascending=False, ignore_index=True)
    out.insert(1, "rank", np.arange(len(out)))
    cols = ["model", "rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight",
            "n_high_k", "max_k", "k_threshold", "warning"]
    return out[cols]


def _without_log_weights(loos: dict) -> dict:
    """Shallow copies of the PSIS-LOO results without their smoothed log weights (one
    draws x units array each, 960 MB at 30,000 units x 4,000 draws), which ArviZ's
    ``compare`` deep-copies but does not use: the comparison's memory then does not grow with
    the number of draws."""
    out = {}
    for name, lo in loos.items():
        slim = copy.copy(lo)
        if getattr(slim, "log_weights", None) is not None:
            slim.log_weights = None
        out[name] = slim
    return out


def loo_verdict(loo: pd.DataFrame, *, se_multiple: float = LOO_SE_MULTIPLE
                ) -> tuple[str | None, tuple[str, ...]]:
    """``(preferred, indistinguishable)`` from a :func:`loo_table` (best first).

    The best model is preferred only when every other model's ELPD is more than
    ``se_multiple`` SEs of the difference below it (``-elpd_diff > se_multiple * dse``); then
    ``indistinguishable`` is empty. Otherwise ``preferred`` is ``None`` and
    ``indistinguishable`` names the best and every model within ``se_multiple`` SEs of it, best
    first. A single model is its own answer: ``(model, ())``.
    """
    # a difference whose SE cannot be computed (NaN) never makes a model preferred
    within = loo[~(-loo["elpd_diff"] > se_multiple * loo["dse"])]
    names = tuple(str(m) for m in within["model"])
    if len(loo) == 1 or len(names) <= 1:
        return str(loo.iloc[0]["model"]), ()
    return None, names


def _cox_frame(tree) -> tuple[pd.DataFrame, list[str], str | None]:
    const = tree["constant_data"].dataset
    cov = [str(c) for c in const["covariate"].values]
    df = pd.DataFrame(const["X"].values, columns=cov)
    seen = outcomes_of(tree)  # an interval-censored event at its detection time
    df["__time"] = seen.detection_time
    df["__event"] = seen.event
    if seen.entry is not None:  # late entry: the Cox risk sets start at entry, as the fit's do
        df["__entry"] = seen.entry
    strata = None
    for name in const.data_vars:
        if name.endswith("_index"):
            strata = name[:-len("_index")]
            df[f"__{strata}"] = const[name].values
            break
    return df, cov, strata


def _detection(tree) -> bool:
    """Whether the fit has interval-censored events, which its Cox models take at their
    detection times."""
    return bool(outcomes_of(tree).interval.any())


def cox_effects(tree, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Cox hazard ratios of the fit's covariates (same design), plain and stratified by the
    first grouping level, as effects-table rows (``interval = CI``)."""
    df, cov, strata = _cox_frame(tree)
    a = tree.attrs
    terms, contrasts = json.loads(a["terms"]), json.loads(a["contrasts"])
    base = {"endpoint": a["endpoint"], "interval": "CI", "conf_level": conf_level,
            "data_hash": a["data_hash"], "synthetic": is_synthetic(a)}
    rows = []
    late = ", late entry" if "__entry" in df else ""
    if _detection(tree):
        late += f", {ON_DETECTION_TIMES}"
    variants = [(f"Cox PH (Efron ties), same covariates as the model{late}", None)]
    if strata is not None:
        variants.append((f"Cox PH (Efron ties), same covariates, stratified by {strata}{late}",
                         f"__{strata}"))
    for method, st in variants:
        try:
            res = cox_fit(df, "__time", "__event", [Term(c) for c in cov], strata=st,
                          conf_level=conf_level, zph=False,
                          entry="__entry" if "__entry" in df else None)
        except BaselineError as exc:  # one model that cannot be estimated stops nothing
            warnings.warn(f"{method}: could not be estimated and is left out of the "
                          f"comparison ({exc}); the Bayesian fits are compared without it.",
                          BaselineWarning, stacklevel=2)
            continue
        for _, r in res.table.iterrows():
            c = r["column"]
            rows.append({**base, "quantity": "hazard_ratio", "term": terms[c],
                         "group": contrasts[c], "estimate": r["hr"], "lower": r["lower"],
                         "upper": r["upper"], "statistic": r["z"], "p_value": r["p"],
                         "method": method, "n": res.n, "events": res.events})
    return effects_frame(rows)


def side_by_side(trees: dict, *, conf_level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every covariate effect: Cox HR (CI, p), plain and centre-stratified, next to each
    model's posterior HR (CrI) and P(HR < 1).

    Returns ``(wide, effects)``: a display table with one row per contrast, and the same numbers
    in the shared effects-table format (one row per method and quantity).
    """
    check_comparable(trees)
    parts = []
    wide: dict = {}
    seen = set()
    for name, t in trees.items():
        design_key = (t.attrs["terms"], t.attrs["contrasts"])
        if design_key not in seen:
            seen.add(design_key)
            cox = cox_effects(t, conf_level=conf_level)
            parts.append(cox)
            for r in cox.itertuples():
                row = wide.setdefault((r.term, r.group), {"term": r.term, "contrast": r.group})
                tag = "cox_strat" if "stratified" in r.method else "cox"
                if f"{tag}_hr" not in row:
                    row.update({f"{tag}_hr": r.estimate, f"{tag}_lower": r.lower,
                                f"{tag}_upper": r.upper, f"{tag}_p": r.p_value})
        pe = posterior_effects(t, conf_level=conf_level)
        pe = with_checks(pe[pe["quantity"].isin(["hazard_ratio", "prob_hr_below_1"])],
                         fit_checks(t))
        parts.append(pe)
        for r in pe.itertuples():
            row = wide.setdefault((r.term, r.group), {"term": r.term, "contrast": r.group})
            if r.quantity == "hazard_ratio":
                row.update({f"{name}_hr": r.estimate, f"{name}_lower": r.lower,
                            f"{name}_upper": r.upper})
            else:
                row[f"{name}_p_hr_below_1"] = r.estimate
    return pd.DataFrame(list(wide.values())), pd.concat(parts, ignore_index=True)


def format_side_by_side(wide: pd.DataFrame, models: list[str], *, conf_level: float = 0.95,
                        orient: tuple[str, str, str] | None = None) -> pd.DataFrame:
    """The wide table as text cells: 'HR (lower-upper)', 'p', 'P(HR<1)', the interval labels
    at ``conf_level``. ``orient = (term, level, reference)`` writes that contrast as ``level vs
    reference`` where the table holds it the other way round (HR and interval inverted,
    P(HR<1) its complement; p-values are the same in either direction)."""
    pct = f"{conf_level:.0%}"

    def cell(r, tag):
        h, lo, hi = r.get(f"{tag}_hr"), r.get(f"{tag}_lower"), r.get(f"{tag}_upper")
        if h is None or not np.isfinite(h):
            return ""
        return f"{h:.2f} ({lo:.2f}-{hi:.2f})"

    out = []
    for _, r in wide.iterrows():
        r = _oriented(r, models, orient)
        row = {"term": r["term"], "contrast": r["contrast"],
               f"Cox HR ({pct} CI)": cell(r, "cox"), "Cox p": format_p(r.get("cox_p")),
               f"Cox strat. HR ({pct} CI)": cell(r, "cox_strat"),
               "Cox strat. p": format_p(r.get("cox_strat_p"))}
        for m in models:
            row[f"{m} HR ({pct} CrI)"] = cell(r, m)
            row[f"{m} P(HR<1)"] = format_prob(r.get(f"{m}_p_hr_below_1"))
        out.append(row)
    return pd.DataFrame(out)


def oriented_wide(wide: pd.DataFrame, models: list[str],
                  orient: tuple[str, str, str] | None) -> pd.DataFrame:
    """The numeric wide table (:func:`side_by_side`) with the row of ``orient = (term, level,
    reference)`` written as ``level vs reference`` (HRs and intervals inverted, P(HR<1) its
    complement), as the text and the report write it: ``side_by_side.csv`` in the contrast's
    coding, not the model's."""
    if orient is None or wide.empty:
        return wide
    return pd.DataFrame([_oriented(r, models, orient) for _, r in wide.iterrows()],
                        columns=wide.columns).reset_index(drop=True)


def _oriented(r: pd.Series, models: list[str], orient) -> pd.Series:
    """The row of ``reference vs level`` turned into ``level vs reference``."""
    if orient is None:
        return r
    term, level, reference = orient
    if r["term"] != term or r["contrast"] != f"{reference} vs {level}":
        return r
    r = r.copy()
    r["contrast"] = f"{level} vs {reference}"
    for tag in ("cox", "cox_strat", *models):
        h, lo, hi = (r.get(f"{tag}_{k}") for k in ("hr", "lower", "upper"))
        if h is not None:
            r[f"{tag}_hr"], r[f"{tag}_lower"], r[f"{tag}_upper"] = 1 / h, 1 / hi, 1 / lo
    for m in models:
        if r.get(f"{m}_p_hr_below_1") is not None:
            r[f"{m}_p_hr_below_1"] = 1 - r[f"{m}_p_hr_below_1"]
    return r


@dataclass(frozen=True)
class CompareReport(Provenanced):
    """A comparison of fits of one endpoint: LOO table and Bayesian vs Cox effects
    (``effects``: the shared effects table, Cox and posterior rows)."""

    endpoint: str
    loo: pd.DataFrame
    wide: pd.DataFrame
    effects: pd.DataFrame
    models: tuple[str, ...]
    metadata: dict

    @property
    def provenance(self) -> dict:
        """The metadata: data hash and source, synthetic flag and notice, models."""
        return self.metadata

    @property
    def preferred(self) -> str | None:
        """The model with the highest ELPD when it exceeds every other by more than
        :data:`LOO_SE_MULTIPLE` SEs of the difference, else ``None``."""
        return loo_verdict(self.loo)[0]

    @property
    def indistinguishable(self) -> tuple[str, ...]:
        """When no model is preferred: the best and every model within
        :data:`LOO_SE_MULTIPLE` SEs of it, best first; else empty."""
        return loo_verdict(self.loo)[1]

    def weights_of(self, models) -> tuple[float, ...]:
        """The stacking (or pseudo-BMA) weights of ``models``, in that order."""
        w = self.loo.set_index("model")["weight"]
        return tuple(float(w[m]) for m in models)

    def verdict_text(self) -> str:
        """The preferred model, or the indistinguishable ones with their weights."""
        k, method = f"{LOO_SE_MULTIPLE:g}", self.metadata.get("weights", "stacking")
        if self.preferred is not None:
            w = self.weights_of([self.preferred])[0]
            if len(self.loo) == 1:
                return f"only model: {self.preferred} (nothing to compare)"
            return (f"preferred: {self.preferred} (PSIS-LOO ELPD more than {k} SE above every "
                    f"other model's; {method} weight {w:.2f})")
        names = self.indistinguishable
        ws = ", ".join(f"{x:.2f}" for x in self.weights_of(names))
        return (f"no model preferred: {', '.join(names)} within {k} SE of the best PSIS-LOO "
                f"ELPD ({method} weights {ws}; {WEIGHTS_CAUTION})")

    def to_text(self, *, orient: tuple[str, str, str] | None = None) -> str:
        """The comparison as text; ``orient`` as :func:`format_side_by_side`'s."""
        lines = [self.notice] if self.notice else []
        lines.append(f"Model comparison, endpoint {self.endpoint} (PSIS-LOO; data "
                     f"{self.metadata['data_hash'][:19]}...)")
        for r in self.loo.itertuples():
            lines.append(f"  {r.model:<28} elpd {r.elpd_loo:9.1f} (SE {r.se:5.1f})  p_loo "
                         f"{r.p_loo:5.1f}  diff {r.elpd_diff:7.1f} (SE {r.dse:4.1f})  "
                         f"weight {r.weight:.2f}{'  ' + r.warning if r.warning else ''}")
        lines.append(f"  {self.verdict_text()}")
        lines.append("")
        methods = self.effects.get("method", pd.Series(dtype=object)).dropna().astype(str)
        on = (f" {ON_DETECTION_TIMES}" if methods.str.contains(ON_DETECTION_TIMES,
                                                                regex=False).any() else "")
        lines.append(f"Hazard ratios: Cox (same covariates){on} next to the Bayesian models")
        lines.append(format_side_by_side(self.wide, list(self.models),
                                         conf_level=self.metadata.get("conf_level", 0.95),
                                         orient=orient)
                     .to_string(index=False))
        if self.notice:
            lines.append(self.notice)
        return "\n".join(lines) + "\n"


def compare_report(trees: dict, *, method: str = "stacking", conf_level: float = 0.95,
                   loos: dict | None = None) -> CompareReport:
    """LOO comparison and side-by-side effects of comparable fits (see :func:`check_comparable`).
    """
    check_comparable(trees)
    loo = loo_table(trees, method=method, loos=loos)
    wide, effects = side_by_side(trees, conf_level=conf_level)
    first = next(iter(trees.values())).attrs
    synthetic = is_synthetic(first)
    meta = {"endpoint": first["endpoint"], "data_hash": first["data_hash"],
            "data_source": first.get("data_source"), "synthetic": synthetic,
            "notice": first.get("notice", ""), "weights": method, "conf_level": conf_level,
            "models": {n: {"spec_hash": t.attrs.get("spec_hash"), "seed": t.attrs.get("seed")}
                       for n, t in trees.items()}}
    return CompareReport(first["endpoint"], loo, wide, effects, tuple(trees), meta)

"""The frequentist baseline analysis of one endpoint of a cohort.

:func:`run_baselines` computes, for an endpoint and a set of grouping factors, everything the
Bayesian reanalysis stands next to: Kaplan-Meier curves with medians and survival at horizons,
RMSTs and their differences, log-rank tests (k-group, trend for ordered factors, stratified by
centre), Cox models (univariable; multivariable plain, stratified by centre and with
centre-clustered robust SEs) with the Schoenfeld test of proportional hazards, and disease
control rates. All numbers land in one tidy effects table (:mod:`nen_bayes.effects`).

An endpoint with interval columns (the event in ``(lower, upper]``) is analysed twice: every
Kaplan-Meier curve, RMST, log-rank test and Cox model on its detection times (each event at
the upper bound of its interval, the first assessment that saw it; a censored unit at its
censoring time), which their method says, and the analyses that respect the intervals
(:func:`~nen_bayes.frequentist.interval.interval_baselines`: the Turnbull estimate and the
interval-censored Weibull hazard ratios).

Where the cohort has centres, every Cox model (univariable and multivariable) is also given
with centre-clustered robust SEs, unless there are fewer than
:data:`~nen_bayes.frequentist.cox.MIN_CLUSTERS` centres (refused with a note) or late entry.

One model that cannot be estimated never stops the others: a Cox model that fails is left out
with a note naming it and the error, and coefficients the data cannot identify (e.g. covariates
constant within every centre of the stratified model) are rows without an estimate, with a
note (:attr:`BaselineReport.not_estimated`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.cohorts.schema import Endpoint, endpoint_heading
from nen_bayes.effects import effects_frame
from nen_bayes.errors import BaselineError, BaselineWarning
from nen_bayes.formatting import format_equals
from nen_bayes.frequentist.cox import CoxResult, Term, cox_fit
from nen_bayes.frequentist.interval import IntervalResult, interval_baselines
from nen_bayes.frequentist.km import KaplanMeier, kaplan_meier
from nen_bayes.frequentist.logrank import LogrankResult, logrank_test
from nen_bayes.frequentist.response import disease_control
from nen_bayes.frequentist.rmst import km_mean, rmst_difference, rmst_from_km
from nen_bayes.provenance import Provenanced

__all__ = ["DEFAULT_HORIZONS", "DETECTION_NOTE", "ON_DETECTION_TIMES", "BaselineReport",
           "detection_times", "run_baselines"]

#: Said of the Kaplan-Meier, log-rank and Cox analyses of an interval-censored endpoint.
DETECTION_NOTE = ("Kaplan-Meier, RMST, log-rank and Cox on detection times (each event at the "
                  "upper bound of its interval, the first assessment that saw it); the "
                  "Turnbull estimate and the interval-censored Weibull hazard ratios respect "
                  "the intervals.")

#: The suffix of their method in the effects table.
ON_DETECTION_TIMES = "on detection times (upper bound of the interval)"

#: Survival horizons reported by default for cohorts whose time unit is months.
DEFAULT_HORIZONS = (12.0, 24.0, 36.0, 60.0)


@dataclass(frozen=True)
class BaselineReport(Provenanced):
    """Everything :func:`run_baselines` computed for one endpoint; ``effects`` is its tidy
    effects table (:data:`nen_bayes.effects.EFFECT_COLUMNS`).

    ``notes`` holds every warning the analysis gave; ``not_estimated`` those (also in ``notes``)
    that name a Cox model left out, with its error, or covariates without an estimate, and why.
    ``references`` is the reference level of each factor's comparisons; ``centre`` the centre
    column (the stratified log-rank tests and Cox models), if any.
    """

    endpoint: str
    endpoint_label: str
    time_unit: str
    factors: tuple[str, ...]
    horizons: tuple[float, ...]
    tau: float
    conf_type: str
    overall: KaplanMeier
    curves: dict[str, dict[str, KaplanMeier]]
    logrank: dict[str, LogrankResult]
    logrank_stratified: dict[str, LogrankResult]
    cox_univariable: dict[str, CoxResult]
    cox_multivariable: dict[str, CoxResult]
    dcr: dict[str, pd.DataFrame]
    effects: pd.DataFrame
    provenance: dict
    notes: tuple[str, ...] = field(default_factory=tuple)
    not_estimated: tuple[str, ...] = field(default_factory=tuple)
    references: dict[str, str] = field(default_factory=dict)
    centre: str | None = None
    interval: dict[str, IntervalResult] = field(default_factory=dict)
    cox_univariable_cluster: dict[str, CoxResult] = field(default_factory=dict)

    @property
    def on_detection_times(self) -> bool:
        """Whether the endpoint is interval-censored, so that its Kaplan-Meier, log-rank and
        Cox analyses are on detection times."""
        return bool(self.interval)

    def to_text(self) -> str:
        """A plain-text summary (medians, log-rank tests, hazard ratios, PH tests, DCR)."""
        u = self.time_unit
        lines = []
        if self.synthetic:
            lines += [self.notice, ""]
        lines.append(f"Baselines: {endpoint_heading(self.endpoint, self.endpoint_label)}; "
                     f"data {self.provenance['source']} ({self.provenance['data_hash'][:19]}...)")
        lines += [f"  data change: {n}" for n in self.provenance.get("policy_notes", ())]
        if self.on_detection_times:
            lines.append(f"  {DETECTION_NOTE}")
        m, lo, hi = self.overall.median()
        lines.append(f"  n = {self.overall.n}, events = {self.overall.events}, median "
                     f"{_num(m)} {u} ({self.overall.conf_level:.0%} CI {_num(lo)}-{_num(hi)}; "
                     f"KM {self.conf_type} CI)")
        for f in self.factors:
            lines.append("")
            lines.append(f"  {f}:")
            for lv, km in self.curves[f].items():
                m, lo, hi = km.median()
                lines.append(f"    {lv:<16} n={km.n:<4} events={km.events:<4} median "
                             f"{_num(m)} ({_num(lo)}-{_num(hi)})")
            lr = self.logrank[f]
            lines.append(f"    log-rank chi2 = {lr.statistic:.2f} on {lr.df} df, p "
                         f"{_p(lr.p_value)}")
            if lr.trend_statistic is not None:
                lines.append(f"    trend chi2 = {lr.trend_statistic:.2f} on 1 df, p "
                             f"{_p(lr.trend_p_value)}")
            if f in self.logrank_stratified:
                s = self.logrank_stratified[f]
                lines.append(f"    stratified by {self.centre or 'centre'}: " + (
                    f"chi2 = {s.statistic:.2f}, p {_p(s.p_value)}" if np.isfinite(s.statistic)
                    else "no test (zero variance: see notes)"))
            if f in self.cox_univariable:
                for _, r in self.cox_univariable[f].table.iterrows():
                    lines.append(f"    HR {r['level']} vs {r['reference']}: {_hr(r)}")
            if f in self.cox_univariable_cluster:
                for _, r in self.cox_univariable_cluster[f].table.iterrows():
                    lines.append(f"    HR {r['level']} vs {r['reference']}, "
                                 f"{self.centre}-clustered SE: {_hr(r)}")
        for name, res in self.cox_multivariable.items():
            lines.append("")
            lines.append(f"  Multivariable {res.method} (n={res.n}, events={res.events}):")
            for _, r in res.table.iterrows():
                lines.append(f"    {r['column']:<32} HR {_hr(r)}")
            if res.zph is not None and name == "plain":
                g = res.zph.iloc[-1]
                lines.append(f"    Schoenfeld test of PH (global): chi2 = {g['chisq']:.2f} on "
                             f"{int(g['df'])} df, p {_p(g['p'])}")
        for when, tab in self.dcr.items():
            a = tab.iloc[0]
            lines.append("")
            lines.append(f"  Disease control at {when}: {a['controlled']}/{a['assessed']} = "
                         f"{100 * a['dcr']:.1f}% (Wilson 95% CI {100 * a['lower']:.1f}-"
                         f"{100 * a['upper']:.1f}%)")
        for res in self.interval.values():
            lines += ["", "  " + res.to_text().replace("\n", "\n  ")]
        if self.notes:
            lines += ["", "  Notes:"] + [f"    - {n}" for n in self.notes]
        if self.synthetic:
            lines += ["", self.notice]
        return "\n".join(lines) + "\n"


def _num(x, digits: int = 1) -> str:
    return "NR" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _p(p) -> str:
    """``= 0.084``, ``< 0.001`` or ``> 0.999`` (after "p")."""
    return format_equals(p)


def _hr(r) -> str:
    """A Cox row's ``HR (lower-upper), p``, or why there is none."""
    if not np.isfinite(r["hr"]):
        return "no estimate (see notes)"
    return f"{r['hr']:.2f} ({r['lower']:.2f}-{r['upper']:.2f}), p {_p(r['p'])}"


def _factor_levels(cohort: Cohort, name: str) -> tuple[str, ...]:
    col = cohort.data[name]
    present = set(col.dropna().astype(str))
    if isinstance(col.dtype, pd.CategoricalDtype):
        return tuple(str(c) for c in col.cat.categories if str(c) in present)
    return tuple(sorted(present))


def run_baselines(cohort: Cohort, endpoint: str, factors: list[str] | None = None, *,
                  horizons=None, tau: float | None = None, conf_type: str = "log",
                  conf_level: float = 0.95, numerics: list[str] | None = None,
                  dcr: bool = True, references: dict[str, str] | None = None
                  ) -> BaselineReport:
    """Frequentist baselines of ``endpoint`` by each of ``factors``.

    Parameters
    ----------
    cohort
        A validated cohort.
    endpoint
        Endpoint name in the cohort's schema.
    factors
        Grouping factors (default: every factor of the schema).
    horizons
        Times at which survival is reported (default 12, 24, 36, 60 when time is in months).
    tau
        RMST horizon (default: the largest time every compared group is followed to).
    conf_type
        Kaplan-Meier interval transform: ``"log"`` (R's default), ``"log-log"``, ``"plain"``.
    numerics
        Numeric covariates added to the multivariable Cox models.
    dcr
        Report disease control rates when RECIST columns are present.
    references
        Reference level by factor for the hazard ratios and RMST differences (e.g. the
        comparator of the contrast of interest); other factors use their declared reference,
        else their first level.

    Raises
    ------
    BaselineError
        An unknown endpoint or factor, a factor with a single level, an endpoint without
        events, or a reference that is not a level present. A Cox model that cannot be fitted
        raises nothing: it is left out with a note (``not_estimated``).
    """
    inp = _inputs(cohort, endpoint, factors=factors, numerics=numerics, horizons=horizons,
                  conf_type=conf_type, conf_level=conf_level, references=references)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BaselineWarning)
        parts = _compute(inp, tau=tau, dcr=dcr)
    notes: list[str] = []
    for w in caught:
        if str(w.message) not in notes:
            notes.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for msg in parts.multivariable.notes:
        if msg not in notes:
            notes.append(msg)
    interval = _interval_parts(inp, parts)
    effects = effects_frame(parts.rows())
    if interval:
        timed = effects["quantity"] != "dcr"
        effects.loc[timed, "method"] = effects.loc[timed, "method"] + f"; {ON_DETECTION_TIMES}"
        extra = pd.concat([r.effects for r in interval.values()], ignore_index=True)
        extra = extra.drop_duplicates(["quantity", "term", "group", "horizon"])
        effects = pd.concat([effects, extra], ignore_index=True)
    return BaselineReport(
        endpoint=endpoint, endpoint_label=inp.endpoint.label, time_unit=cohort.schema.time_unit,
        factors=inp.factors, horizons=inp.horizons, tau=parts.tau, conf_type=conf_type,
        overall=parts.overall.curves["all"],
        curves={f: part.curves for f, part in parts.curves.items()},
        logrank={f: part.plain for f, part in parts.logrank.items()},
        logrank_stratified={f: part.stratified for f, part in parts.logrank.items()
                            if part.stratified is not None},
        cox_univariable={f: part.result for f, part in parts.univariable.items()
                         if part.result is not None},
        cox_univariable_cluster={f: part.result for f, part in parts.clustered.items()
                                 if part.result is not None},
        cox_multivariable=parts.multivariable.results, dcr=parts.dcr.tables,
        effects=effects, provenance=cohort.provenance(),
        notes=tuple(notes), not_estimated=parts.not_estimated(),
        references={f: inp.reference(f, parts.levels[f]) for f in inp.factors},
        centre=cohort.schema.centre_column, interval=interval)


def _interval_parts(inp: _Inputs, parts) -> dict[str, IntervalResult]:
    """Turnbull curves and interval-censored Weibull fits by each factor, when the endpoint
    has interval columns (the detection-time analyses above are unchanged)."""
    bounds = inp.cohort.interval(inp.endpoint.name)
    if bounds is None:
        return {}
    out = {}
    for f in inp.factors or ("",):
        out[f or "all"] = interval_baselines(
            *bounds, endpoint=inp.endpoint.name, term=f or "all",
            groups=inp.groups(f) if f else None,
            levels=parts.levels[f] if f else (),
            reference=inp.reference(f, parts.levels[f]) if f else None,
            conf_level=inp.conf_level, data_hash=inp.cohort.data_hash,
            synthetic=inp.cohort.synthetic, horizons=inp.horizons)
    return out


# -- the inputs of every step ---------------------------------------------------------------

@dataclass(frozen=True)
class _Inputs:
    """The checked endpoint and covariates, the endpoint's arrays and the settings that every
    step reads."""

    cohort: Cohort
    endpoint: Endpoint
    factors: tuple[str, ...]
    numerics: tuple[str, ...]
    time: np.ndarray
    event: np.ndarray
    horizons: tuple[float, ...]
    conf_type: str
    conf_level: float
    references: dict[str, str]

    @property
    def base(self) -> dict:
        """The columns shared by every row of the effects table."""
        return {"endpoint": self.endpoint.name, "data_hash": self.cohort.data_hash,
                "synthetic": self.cohort.synthetic, "conf_level": self.conf_level}

    @property
    def entry(self) -> np.ndarray | None:
        """Late-entry times of the endpoint (left truncation), or None."""
        return self.cohort.entry(self.endpoint.name)

    @property
    def data(self) -> pd.DataFrame:
        """The cohort's data with the endpoint's time column holding :attr:`time` (the
        detection times of an interval-censored endpoint), for the Cox models (a new frame;
        the cohort is unchanged)."""
        col = self.endpoint.time
        if np.array_equal(self.cohort.data[col].to_numpy(float), self.time, equal_nan=True):
            return self.cohort.data
        return self.cohort.data.assign(**{col: self.time})

    def groups(self, factor: str) -> np.ndarray:
        """The level of ``factor`` of each unit, as text."""
        return self.cohort.data[factor].astype(str).to_numpy()

    def reference(self, factor: str, levels: tuple[str, ...]) -> str:
        """The reference asked for, else the factor's declared reference level, else its first
        level present."""
        if factor in self.references:
            ref = self.references[factor]
            if ref not in levels:
                raise BaselineError(
                    f"{self.cohort.source}: reference {ref!r} of {factor!r} is not a level "
                    f"present in the data. Allowed: {list(levels)}")
            return ref
        ref = self.cohort.schema.factor(factor).reference
        return ref if ref in levels else levels[0]


def _inputs(cohort: Cohort, endpoint: str, *, factors: list[str] | None,
            numerics: list[str] | None, horizons, conf_type: str, conf_level: float,
            references: dict[str, str] | None = None) -> _Inputs:
    schema = cohort.schema
    try:
        ep = schema.endpoint(endpoint)
    except KeyError:
        raise BaselineError(
            f"{cohort.source}: no endpoint {endpoint!r}. Allowed: "
            f"{[e.name for e in schema.endpoints]}") from None
    factors = _check_factors(cohort, factors)
    references = dict(references or {})
    unknown = [f for f in references if f not in factors]
    if unknown:
        raise BaselineError(
            f"{cohort.source}: references: {', '.join(map(repr, unknown))} is not an analysed "
            f"factor. Allowed: {factors}")
    numerics = list(schema.numerics if numerics is None else numerics)
    t = detection_times(cohort, endpoint)
    e = cohort.event(endpoint)
    if e.sum() == 0:
        raise BaselineError(
            f"{cohort.source}: endpoint {endpoint!r} ({ep.event}) has no events: every unit is "
            "censored, so no survival comparison can be made.")
    if horizons is None:
        horizons = DEFAULT_HORIZONS if schema.time_unit == "months" else ()
    return _Inputs(cohort, ep, tuple(factors), tuple(numerics), t, e,
                   tuple(float(h) for h in horizons), conf_type, conf_level, references)


def detection_times(cohort: Cohort, endpoint: str) -> np.ndarray:
    """The times of the right-censored analyses of ``endpoint``: for an interval-censored
    endpoint, each event at its detection time (the upper bound of its interval, never the
    lower bound, which may be 0), a censored unit at its censoring time; else its times."""
    return cohort.outcomes(endpoint).detection_time


def _check_factors(cohort: Cohort, factors: list[str] | None) -> list[str]:
    known = [f.name for f in cohort.schema.factors]
    factors = list(known if factors is None else factors)
    missing = [f for f in factors if f not in known]
    if missing:
        raise BaselineError(
            f"{cohort.source}: factor(s) {missing} are not in the data's schema. Allowed: "
            f"{known}")
    return factors


def _levels(cohort: Cohort, factors: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The levels present of each factor; a factor needs two."""
    levels = {f: _factor_levels(cohort, f) for f in factors}
    for f in factors:
        if len(levels[f]) < 2:
            raise BaselineError(
                f"{cohort.source}: factor {f!r} has a single level {list(levels[f])} in the "
                "data; a comparison needs at least two. Leave it out of --factor.")
    return levels


def _rmst_horizon(inp: _Inputs, levels: dict[str, tuple[str, ...]], tau: float | None) -> float:
    """The RMST horizon: every compared group must be followed at least that long."""
    t = inp.time
    limits = {("all", "all"): float(t.max())}
    for f, lvs in levels.items():
        g = inp.groups(f)
        for lv in lvs:
            limits[(f, lv)] = float(t[g == lv].max())
    limit = min(limits.values())
    if tau is None:
        return float(limit)
    short = {f"{f}={lv}": v for (f, lv), v in limits.items() if v < tau}
    if short:
        raise BaselineError(
            f"{inp.cohort.source}: RMST horizon tau = {tau:g} {inp.cohort.schema.time_unit} "
            f"lies beyond the follow-up of group(s) {short}; the Kaplan-Meier curve is not "
            f"estimated there. Allowed: tau <= {limit:g}.")
    return float(tau)


# -- the typed pieces each step returns -----------------------------------------------------

@dataclass(frozen=True)
class _Curves:
    """Kaplan-Meier curves by level (``"all"`` for the whole cohort) and their rows."""

    curves: dict[str, KaplanMeier]
    rows: list[dict]


@dataclass(frozen=True)
class _Logrank:
    """The log-rank test of a factor, plain and stratified by centre, and their rows."""

    plain: LogrankResult
    stratified: LogrankResult | None
    rows: list[dict]


@dataclass(frozen=True)
class _CoxModel:
    """One Cox model (None: it could not be fitted, ``failure`` says why) and its rows."""

    result: CoxResult | None
    rows: list[dict]
    failure: str | None = None


@dataclass(frozen=True)
class _CoxModels:
    """Cox models by variant name (those that could be fitted), their rows, the notes they
    left and those on what they could not estimate (models left out included)."""

    results: dict[str, CoxResult]
    rows: list[dict]
    notes: tuple[str, ...] = ()
    not_estimated: tuple[str, ...] = ()


@dataclass(frozen=True)
class _DiseaseControl:
    """Disease control tables by assessment time and their rows."""

    tables: dict[str, pd.DataFrame]
    rows: list[dict]


@dataclass(frozen=True)
class _Parts:
    """Every step's piece, in the order their rows enter the effects table."""

    tau: float
    levels: dict[str, tuple[str, ...]]
    overall: _Curves
    curves: dict[str, _Curves]
    rmst_differences: dict[str, list[dict]]
    logrank: dict[str, _Logrank]
    univariable: dict[str, _CoxModel]
    multivariable: _CoxModels
    dcr: _DiseaseControl
    clustered: dict[str, _CoxModel] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        rows = list(self.overall.rows)
        for f in self.curves:
            rows += self.curves[f].rows + self.rmst_differences[f]
            rows += self.logrank[f].rows + self.univariable[f].rows
            rows += self.clustered[f].rows if f in self.clustered else []
        return rows + self.multivariable.rows + self.dcr.rows

    def not_estimated(self) -> tuple[str, ...]:
        """The notes on Cox models left out and rows without an estimate, in report order."""
        out: list[str] = []
        for part in (*self.univariable.values(), *self.clustered.values()):
            found = [part.failure] if part.failure else list(part.result.not_estimated)
            out += [m for m in found if m not in out]
        return tuple(out + [m for m in self.multivariable.not_estimated if m not in out])


def _compute(inp: _Inputs, *, tau: float | None, dcr: bool) -> _Parts:
    """Run the steps in the order of the report (warnings are emitted in that order)."""
    factors, numerics = inp.factors, inp.numerics
    levels = _levels(inp.cohort, factors)
    refs = {f: inp.reference(f, levels[f]) for f in factors}
    tau = _rmst_horizon(inp, levels, tau)
    overall = _overall_km(inp, tau=tau)
    curves, differences, logrank, univariable, clustered = {}, {}, {}, {}, {}
    centre = inp.cohort.schema.centre_column
    for f in factors:
        ref = refs[f]
        curves[f] = _factor_km(inp, f, levels[f], tau=tau)
        differences[f] = _rmst_differences(inp, f, levels[f], reference=ref, tau=tau)
        logrank[f] = _factor_logrank(inp, f, levels[f])
        univariable[f] = _cox_univariable(inp, f, levels[f], reference=ref)
        if centre and not inp.endpoint.entry:  # no cluster-robust variance with late entry
            clustered[f] = _cox_univariable(inp, f, levels[f], reference=ref, cluster=centre)
    terms = [Term(f, levels[f], refs[f]) for f in factors]
    terms += [Term(x) for x in numerics]
    return _Parts(tau=tau, levels=levels, overall=overall, curves=curves,
                  rmst_differences=differences,
                  logrank=logrank, univariable=univariable,
                  multivariable=_cox_multivariable(inp, terms),
                  dcr=_disease_control(inp, factors) if dcr else _DiseaseControl({}, []),
                  clustered=clustered)


# -- the steps ------------------------------------------------------------------------------

def _km_rows(inp: _Inputs, km: KaplanMeier, *, term: str, group: str, tau: float) -> list[dict]:
    """Median, survival at the horizons and RMST of one curve."""
    base = inp.base
    km_method = f"Kaplan-Meier, Greenwood SE, {inp.conf_type} CI"
    m, lo, hi = km.median()
    if not np.isfinite(m):
        warnings.warn(f"{inp.endpoint.name}, {term}={group}: median not reached (the curve "
                      "stays above 0.5); reported as NaN.", BaselineWarning, stacklevel=3)
    rows = [{**base, "quantity": "median_survival", "term": term, "group": group,
             "estimate": m, "lower": lo, "upper": hi, "interval": "CI",
             "method": km_method, "n": km.n, "events": km.events}]
    if inp.horizons:
        at = km.survival_at(inp.horizons)
        for _, r in at.iterrows():
            rows.append({**base, "quantity": "survival", "term": term, "group": group,
                         "horizon": r["time"], "estimate": r["surv"], "lower": r["lower"],
                         "upper": r["upper"], "interval": "CI", "method": km_method,
                         "n": km.n, "events": km.events})
    r = rmst_from_km(km, tau, conf_level=inp.conf_level)
    rows.append({**base, "quantity": "rmst", "term": term, "group": group, "horizon": tau,
                 "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                 "interval": "CI", "method": "RMST (area under KM), Greenwood-type SE",
                 "n": r.n, "events": r.events})
    r = km_mean(km, conf_level=inp.conf_level)
    rows.append({**base, "quantity": "km_mean", "term": term, "group": group, "horizon": r.tau,
                 "estimate": r.estimate, "lower": r.lower, "upper": r.upper, "interval": "CI",
                 "method": "KM mean (SPSS 'mean survival time'): area under KM up to the "
                           "group's last follow-up time, Greenwood-type SE",
                 "n": r.n, "events": r.events})
    return rows


def _overall_km(inp: _Inputs, *, tau: float) -> _Curves:
    km = kaplan_meier(inp.time, inp.event, conf_type=inp.conf_type, conf_level=inp.conf_level,
                      label="all units", entry=inp.entry)
    return _Curves({"all": km}, _km_rows(inp, km, term="all", group="all", tau=tau))


def _factor_km(inp: _Inputs, factor: str, levels: tuple[str, ...], *, tau: float) -> _Curves:
    g = inp.groups(factor)
    curves: dict[str, KaplanMeier] = {}
    rows: list[dict] = []
    for lv in levels:
        m = g == lv
        km = kaplan_meier(inp.time[m], inp.event[m], conf_type=inp.conf_type,
                          conf_level=inp.conf_level, label=f"{factor}={lv}",
                          entry=None if inp.entry is None else inp.entry[m])
        curves[lv] = km
        if km.events == 0:
            warnings.warn(f"{inp.endpoint.name}: group {factor}={lv} has no events.",
                          BaselineWarning, stacklevel=2)
        rows += _km_rows(inp, km, term=factor, group=lv, tau=tau)
    return _Curves(curves, rows)


def _rmst_differences(inp: _Inputs, factor: str, levels: tuple[str, ...], *, reference: str,
                      tau: float) -> list[dict]:
    g = inp.groups(factor)
    rows = []
    for lv in levels:
        if lv == reference:
            continue
        d = rmst_difference(inp.time, inp.event, g, tau, reference=reference, level=lv,
                            conf_level=inp.conf_level)
        rows.append({**inp.base, "quantity": "rmst_difference", "term": factor,
                     "group": f"{lv} vs {reference}", "horizon": tau, "estimate": d.estimate,
                     "lower": d.lower, "upper": d.upper, "interval": "CI",
                     "statistic": d.z, "p_value": d.p_value,
                     "method": "RMST difference, Wald test", "n": d.group.n + d.reference.n,
                     "events": d.group.events + d.reference.events})
    return rows


def _logrank_row(inp: _Inputs, lr: LogrankResult, *, term: str, quantity: str, group: str,
                 statistic: float, df: int, p_value: float, method: str) -> dict:
    return {**inp.base, "quantity": quantity, "term": term, "group": group,
            "statistic": statistic, "df": df, "p_value": p_value, "method": method,
            "n": int(lr.table["n"].sum()), "events": int(lr.table["observed"].sum())}


def _factor_logrank(inp: _Inputs, factor: str, levels: tuple[str, ...]) -> _Logrank:
    """The log-rank test (with the trend test for an ordered factor of three levels or more)
    and the test stratified by centre when the cohort has centres."""
    fac = inp.cohort.schema.factor(factor)
    g = inp.groups(factor)
    lr = logrank_test(inp.time, inp.event, g, levels=levels,
                      trend=fac.ordered and len(levels) > 2, name=factor, entry=inp.entry)
    rows = [_logrank_row(inp, lr, term=factor, quantity="logrank", group=" / ".join(lr.levels),
                         statistic=lr.statistic, df=lr.df, p_value=lr.p_value,
                         method=lr.method)]
    if lr.trend_statistic is not None:
        rows.append(_logrank_row(inp, lr, term=factor, quantity="logrank_trend",
                                 group=" < ".join(lr.levels), statistic=lr.trend_statistic,
                                 df=1, p_value=lr.trend_p_value,
                                 method=f"log-rank test for trend, scores {list(lr.scores)}"))
    centre = inp.cohort.schema.centre_column
    stratified = None
    if centre:
        stratified = logrank_test(inp.time, inp.event, g, levels=levels,
                                  strata=inp.cohort.data[centre].astype(str), name=factor,
                                  entry=inp.entry)
        rows.append(_logrank_row(inp, stratified, term=factor, quantity="logrank",
                                 group=" / ".join(stratified.levels),
                                 statistic=stratified.statistic, df=stratified.df,
                                 p_value=stratified.p_value,
                                 method=f"log-rank, stratified by {centre}"))
    return _Logrank(lr, stratified, rows)


def _cox_univariable(inp: _Inputs, factor: str, levels: tuple[str, ...], *,
                     reference: str, cluster: str | None = None) -> _CoxModel:
    """The Cox model of one factor (with ``cluster``: its cluster-robust SEs); one that cannot
    be fitted is left out with a note."""
    ep = inp.endpoint
    label = f"Univariable Cox model of {factor!r}" + (
        f" with {cluster!r}-clustered SEs" if cluster else "")
    try:
        res = cox_fit(inp.data, ep.time, ep.event, [Term(factor, levels, reference)],
                      conf_level=inp.conf_level, entry=ep.entry, cluster=cluster,
                      zph=cluster is None)
    except BaselineError as exc:
        return _CoxModel(None, [], _left_out(label, exc))
    return _CoxModel(res, _cox_rows(res, inp.base, "Cluster-robust Cox univariable" if cluster
                                    else "Cox univariable"))


def _left_out(model: str, exc: BaselineError) -> str:
    """The note (and warning) on a Cox model that could not be fitted."""
    msg = (f"{model} could not be estimated and is left out ({exc}); every other analysis "
           "stands.")
    warnings.warn(msg, BaselineWarning, stacklevel=3)
    return msg


def _cox_multivariable(inp: _Inputs, terms: list[Term]) -> _CoxModels:
    """Every factor and numeric together: plain, stratified by centre and with
    centre-clustered robust SEs (no model with a single term)."""
    if len(terms) < 2:
        return _CoxModels({}, [])
    centre = inp.cohort.schema.centre_column
    variants: dict[str, tuple[str, dict]] = {"plain": ("Multivariable Cox model", {})}
    if centre:
        variants["centre_strata"] = (f"Multivariable Cox model stratified by {centre!r}",
                                     {"strata": centre})
    if centre and not inp.endpoint.entry:  # no cluster-robust variance with late entry
        variants["centre_cluster"] = (f"Multivariable Cox model with {centre!r}-clustered SEs",
                                      {"cluster": centre})
    results: dict[str, CoxResult] = {}
    rows: list[dict] = []
    notes: list[str] = []
    missing: list[str] = []
    ep = inp.endpoint
    for name, (label, kw) in variants.items():
        try:
            res = cox_fit(inp.data, ep.time, ep.event, terms, conf_level=inp.conf_level,
                          entry=ep.entry, **kw)
        except BaselineError as exc:
            found = [_left_out(label, exc)]
        else:
            results[name] = res
            rows += _cox_rows(res, inp.base, "Cox multivariable")
            found = list(res.not_estimated)
            notes += [m for m in res.notes if m not in notes]
        notes += [m for m in found if m not in notes]
        missing += [m for m in found if m not in missing]
    return _CoxModels(results, rows, tuple(notes), tuple(missing))


def _disease_control(inp: _Inputs, factors: tuple[str, ...]) -> _DiseaseControl:
    """Disease control overall and by factor, for each response column present; the
    assessment time is read from the column name (``recist_3m`` -> ``3m``, 3)."""
    data = inp.cohort.data
    tables: dict[str, pd.DataFrame] = {}
    rows: list[dict] = []
    for resp in inp.cohort.schema.responses:
        if resp.name not in data.columns:
            continue
        when = resp.name.removeprefix("recist_")
        horizon = float(when.removesuffix("m")) if when.endswith("m") else float("nan")
        tab = disease_control(data[resp.name])
        tables[when] = tab
        rows += _dcr_rows(tab, inp.base, "all", horizon)
        for f in (f for f in factors if f in data.columns):
            by = disease_control(data[resp.name], data[f]).iloc[1:]
            rows += _dcr_rows(by, inp.base, f, horizon)
    return _DiseaseControl(tables, rows)


def _cox_rows(res: CoxResult, base: dict, label: str) -> list[dict]:
    rows = []
    method = f"{label}: {res.method}"
    for _, r in res.table.iterrows():
        group = f"{r['level']} vs {r['reference']}" if r["level"] is not None else "per unit"
        rows.append({**base, "quantity": "hazard_ratio", "term": r["term"], "group": group,
                     "estimate": r["hr"], "lower": r["lower"], "upper": r["upper"],
                     "interval": "CI", "statistic": r["z"], "p_value": r["p"],
                     "method": method, "n": res.n, "events": res.events})
    if res.zph is not None:
        for _, z in res.zph.iterrows():
            rows.append({**base, "quantity": "ph_test", "term": z["term"], "group": "",
                         "statistic": z["chisq"], "df": z["df"], "p_value": z["p"],
                         "method": f"{method}; Schoenfeld score test (KM time transform)",
                         "n": res.n, "events": res.events})
    return rows


def _dcr_rows(tab: pd.DataFrame, base: dict, term: str, horizon: float) -> list[dict]:
    return [{**base, "quantity": "dcr", "term": term, "group": r["group"], "horizon": horizon,
             "estimate": r["dcr"], "lower": r["lower"], "upper": r["upper"], "interval": "CI",
             "method": f"disease control (CR+PR+SD) among assessed; Wilson CI; "
                       f"{r['missing']} not assessed",
             "n": r["assessed"], "events": r["controlled"]} for _, r in tab.iterrows()]

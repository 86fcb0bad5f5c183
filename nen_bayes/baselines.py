"""The frequentist baseline analysis of one endpoint of a cohort.

:func:`run_baselines` computes, for an endpoint and a set of grouping factors, everything the
Bayesian reanalysis stands next to: Kaplan-Meier curves with medians and survival at horizons,
RMSTs and their differences, log-rank tests (k-group, trend for ordered factors, stratified by
centre), Cox models (univariable; multivariable plain, stratified by centre and with
centre-clustered robust SEs) with the Schoenfeld test of proportional hazards, and disease
control rates. All numbers land in one tidy effects table (:mod:`nen_bayes.effects`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cohort import SYNTHETIC_NOTICE, Cohort
from .cox import CoxResult, Term, cox_fit
from .effects import effects_frame
from .errors import BaselineError, BaselineWarning
from .km import KaplanMeier, kaplan_meier
from .logrank import LogrankResult, logrank_test
from .response import disease_control
from .rmst import rmst_difference, rmst_from_km

__all__ = ["DEFAULT_HORIZONS", "BaselineReport", "run_baselines"]

#: Survival horizons reported by default for cohorts whose time unit is months.
DEFAULT_HORIZONS = (12.0, 24.0, 36.0, 60.0)


@dataclass(frozen=True)
class BaselineReport:
    """Everything :func:`run_baselines` computed for one endpoint."""

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

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    def to_text(self) -> str:
        """A plain-text summary (medians, log-rank tests, hazard ratios, PH tests, DCR)."""
        u = self.time_unit
        lines = []
        if self.synthetic:
            lines += [SYNTHETIC_NOTICE, ""]
        lines.append(f"Baselines: {self.endpoint_label or self.endpoint} ({self.endpoint}); "
                     f"data {self.provenance['source']} ({self.provenance['data_hash'][:19]}...)")
        m, lo, hi = self.overall.median()
        lines.append(f"  n = {self.overall.n}, events = {self.overall.events}, median "
                     f"{_num(m)} {u} (95% CI {_num(lo)}-{_num(hi)}; KM {self.conf_type} CI)")
        for f in self.factors:
            lines.append("")
            lines.append(f"  {f}:")
            for lv, km in self.curves[f].items():
                m, lo, hi = km.median()
                lines.append(f"    {lv:<16} n={km.n:<4} events={km.events:<4} median "
                             f"{_num(m)} ({_num(lo)}-{_num(hi)})")
            lr = self.logrank[f]
            lines.append(f"    log-rank chi2 = {lr.statistic:.2f} on {lr.df} df, p = "
                         f"{_p(lr.p_value)}")
            if lr.trend_statistic is not None:
                lines.append(f"    trend chi2 = {lr.trend_statistic:.2f} on 1 df, p = "
                             f"{_p(lr.trend_p_value)}")
            if f in self.logrank_stratified:
                s = self.logrank_stratified[f]
                lines.append(f"    stratified by centre: chi2 = {s.statistic:.2f}, p = "
                             f"{_p(s.p_value)}")
            if f in self.cox_univariable:
                for _, r in self.cox_univariable[f].table.iterrows():
                    lines.append(f"    HR {r['level']} vs {r['reference']}: {_num(r['hr'], 2)} "
                                 f"({_num(r['lower'], 2)}-{_num(r['upper'], 2)}), "
                                 f"p = {_p(r['p'])}")
        for name, res in self.cox_multivariable.items():
            lines.append("")
            lines.append(f"  Multivariable {res.method} (n={res.n}, events={res.events}):")
            for _, r in res.table.iterrows():
                lab = r["column"]
                lines.append(f"    {lab:<32} HR {_num(r['hr'], 2)} ({_num(r['lower'], 2)}-"
                             f"{_num(r['upper'], 2)}), p = {_p(r['p'])}")
            if res.zph is not None and name == "plain":
                g = res.zph.iloc[-1]
                lines.append(f"    Schoenfeld test of PH (global): chi2 = {g['chisq']:.2f} on "
                             f"{int(g['df'])} df, p = {_p(g['p'])}")
        for when, tab in self.dcr.items():
            a = tab.iloc[0]
            lines.append("")
            lines.append(f"  Disease control at {when}: {a['controlled']}/{a['assessed']} = "
                         f"{100 * a['dcr']:.1f}% (Wilson 95% CI {100 * a['lower']:.1f}-"
                         f"{100 * a['upper']:.1f}%)")
        if self.notes:
            lines += ["", "  Notes:"] + [f"    - {n}" for n in self.notes]
        if self.synthetic:
            lines += ["", SYNTHETIC_NOTICE]
        return "\n".join(lines) + "\n"


def _num(x, digits: int = 1) -> str:
    return "NR" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _p(p) -> str:
    if p is None or not np.isfinite(p):
        return "NA"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _factor_levels(cohort: Cohort, name: str) -> tuple[str, ...]:
    col = cohort.data[name]
    present = set(col.dropna().astype(str))
    if isinstance(col.dtype, pd.CategoricalDtype):
        return tuple(str(c) for c in col.cat.categories if str(c) in present)
    return tuple(sorted(present))


def run_baselines(cohort: Cohort, endpoint: str, factors: list[str] | None = None, *,
                  horizons=None, tau: float | None = None, conf_type: str = "log",
                  conf_level: float = 0.95, numerics: list[str] | None = None,
                  dcr: bool = True) -> BaselineReport:
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
    """
    schema = cohort.schema
    try:
        ep = schema.endpoint(endpoint)
    except KeyError:
        raise BaselineError(
            f"{cohort.source}: no endpoint {endpoint!r}. Allowed: "
            f"{[e.name for e in schema.endpoints]}") from None
    known = [f.name for f in schema.factors]
    factors = list(known if factors is None else factors)
    missing = [f for f in factors if f not in known]
    if missing:
        raise BaselineError(
            f"{cohort.source}: factor(s) {missing} are not in the data's schema. Allowed: "
            f"{known}")
    numerics = list(schema.numerics if numerics is None else numerics)
    t = cohort.time(endpoint)
    e = cohort.event(endpoint)
    if e.sum() == 0:
        raise BaselineError(
            f"{cohort.source}: endpoint {endpoint!r} ({ep.event}) has no events: every unit is "
            "censored, so no survival comparison can be made.")
    if horizons is None:
        horizons = DEFAULT_HORIZONS if schema.time_unit == "months" else ()
    horizons = tuple(float(h) for h in horizons)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BaselineWarning)
        report = _compute(cohort, endpoint, ep, factors, numerics, t, e, horizons, tau,
                          conf_type, conf_level, dcr)
    for w in caught:
        msg = str(w.message)
        if msg not in notes:
            notes.append(msg)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for msg in report.pop("extra_notes"):
        if msg not in notes:
            notes.append(msg)
    return BaselineReport(**report, notes=tuple(notes))


def _compute(cohort, endpoint, ep, factors, numerics, t, e, horizons, tau, conf_type,
             conf_level, dcr):
    schema = cohort.schema
    data = cohort.data
    prov = cohort.provenance()
    base = {"endpoint": endpoint, "data_hash": cohort.data_hash, "synthetic": cohort.synthetic,
            "conf_level": conf_level}
    rows: list[dict] = []
    extra_notes: list[str] = []
    km_method = f"Kaplan-Meier, Greenwood SE, {conf_type} CI"

    overall = kaplan_meier(t, e, conf_type=conf_type, conf_level=conf_level, label="all units")
    levels = {f: _factor_levels(cohort, f) for f in factors}
    for f in factors:
        if len(levels[f]) < 2:
            raise BaselineError(
                f"{cohort.source}: factor {f!r} has a single level {list(levels[f])} in the "
                "data; a comparison needs at least two. Leave it out of --factor.")

    # RMST horizon: every compared group must be followed at least that long.
    limits = {("all", "all"): float(t.max())}
    for f in factors:
        g = data[f].astype(str).to_numpy()
        for lv in levels[f]:
            limits[(f, lv)] = float(t[g == lv].max())
    limit = min(limits.values())
    if tau is None:
        tau = limit
    else:
        short = {f"{f}={lv}": v for (f, lv), v in limits.items() if v < tau}
        if short:
            raise BaselineError(
                f"{cohort.source}: RMST horizon tau = {tau:g} {schema.time_unit} lies beyond the "
                f"follow-up of group(s) {short}; the Kaplan-Meier curve is not estimated there. "
                f"Allowed: tau <= {limit:g}.")

    def km_rows(km: KaplanMeier, term: str, group: str) -> None:
        m, lo, hi = km.median()
        if not np.isfinite(m):
            warnings.warn(f"{ep.name}, {term}={group}: median not reached (the curve stays above "
                          "0.5); reported as NaN.", BaselineWarning, stacklevel=3)
        rows.append({**base, "quantity": "median_survival", "term": term, "group": group,
                     "estimate": m, "lower": lo, "upper": hi, "interval": "CI",
                     "method": km_method, "n": km.n, "events": km.events})
        if horizons:
            at = km.survival_at(horizons)
            for _, r in at.iterrows():
                rows.append({**base, "quantity": "survival", "term": term, "group": group,
                             "horizon": r["time"], "estimate": r["surv"], "lower": r["lower"],
                             "upper": r["upper"], "interval": "CI", "method": km_method,
                             "n": km.n, "events": km.events})
        r = rmst_from_km(km, tau, conf_level=conf_level)
        rows.append({**base, "quantity": "rmst", "term": term, "group": group, "horizon": tau,
                     "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                     "interval": "CI", "method": "RMST (area under KM), Greenwood-type SE",
                     "n": r.n, "events": r.events})

    km_rows(overall, "all", "all")
    curves: dict[str, dict[str, KaplanMeier]] = {}
    lr_all: dict[str, LogrankResult] = {}
    lr_strat: dict[str, LogrankResult] = {}
    cox_uni: dict[str, CoxResult] = {}
    centre = schema.centre_column
    for f in factors:
        fac = schema.factor(f)
        g = data[f].astype(str).to_numpy()
        curves[f] = {}
        for lv in levels[f]:
            m = g == lv
            km = kaplan_meier(t[m], e[m], conf_type=conf_type, conf_level=conf_level,
                              label=f"{f}={lv}")
            curves[f][lv] = km
            if km.events == 0:
                warnings.warn(f"{ep.name}: group {f}={lv} has no events.", BaselineWarning,
                              stacklevel=2)
            km_rows(km, f, lv)
        ref = fac.reference if fac.reference in levels[f] else levels[f][0]
        for lv in levels[f]:
            if lv == ref:
                continue
            d = rmst_difference(t, e, g, tau, reference=ref, level=lv, conf_level=conf_level)
            rows.append({**base, "quantity": "rmst_difference", "term": f,
                         "group": f"{lv} vs {ref}", "horizon": tau, "estimate": d.estimate,
                         "lower": d.lower, "upper": d.upper, "interval": "CI",
                         "statistic": d.z, "p_value": d.p_value,
                         "method": "RMST difference, Wald test", "n": d.group.n + d.reference.n,
                         "events": d.group.events + d.reference.events})
        lr = logrank_test(t, e, g, levels=levels[f], trend=fac.ordered and len(levels[f]) > 2,
                          name=f)
        lr_all[f] = lr
        rows.append({**base, "quantity": "logrank", "term": f, "group": " / ".join(lr.levels),
                     "statistic": lr.statistic, "df": lr.df, "p_value": lr.p_value,
                     "method": lr.method, "n": int(lr.table["n"].sum()),
                     "events": int(lr.table["observed"].sum())})
        if lr.trend_statistic is not None:
            rows.append({**base, "quantity": "logrank_trend", "term": f,
                         "group": " < ".join(lr.levels), "statistic": lr.trend_statistic,
                         "df": 1, "p_value": lr.trend_p_value,
                         "method": f"log-rank test for trend, scores {list(lr.scores)}",
                         "n": int(lr.table["n"].sum()),
                         "events": int(lr.table["observed"].sum())})
        if centre:
            s = logrank_test(t, e, g, levels=levels[f], strata=data[centre].astype(str), name=f)
            lr_strat[f] = s
            rows.append({**base, "quantity": "logrank", "term": f,
                         "group": " / ".join(s.levels), "statistic": s.statistic, "df": s.df,
                         "p_value": s.p_value, "method": f"log-rank, stratified by {centre}",
                         "n": int(s.table["n"].sum()),
                         "events": int(s.table["observed"].sum())})
        res = cox_fit(data, ep.time, ep.event, [Term(f, levels[f], ref)],
                      conf_level=conf_level)
        cox_uni[f] = res
        rows += _cox_rows(res, base, "Cox univariable")

    cox_multi: dict[str, CoxResult] = {}
    terms = [Term(f, levels[f], schema.factor(f).reference
                  if schema.factor(f).reference in levels[f] else levels[f][0]) for f in factors]
    terms += [Term(x) for x in numerics]
    if len(terms) > 1:
        variants = {"plain": {}}
        if centre:
            variants["centre_strata"] = {"strata": centre}
            variants["centre_cluster"] = {"cluster": centre}
        for name, kw in variants.items():
            res = cox_fit(data, ep.time, ep.event, terms, conf_level=conf_level, **kw)
            cox_multi[name] = res
            for msg in res.notes:
                if msg not in extra_notes:
                    extra_notes.append(msg)
            rows += _cox_rows(res, base, "Cox multivariable")

    dcr_tables = {}
    if dcr:
        for resp in schema.responses:
            if resp.name not in data.columns:
                continue
            when = resp.name.removeprefix("recist_")
            horizon = float(when.removesuffix("m")) if when.endswith("m") else float("nan")
            by = [f for f in factors if f in data.columns]
            tab = disease_control(data[resp.name])
            dcr_tables[when] = tab
            rows += _dcr_rows(tab, base, "all", horizon)
            for f in by:
                t2 = disease_control(data[resp.name], data[f]).iloc[1:]
                rows += _dcr_rows(t2, base, f, horizon)
    effects = effects_frame(rows)
    return {
        "endpoint": endpoint, "endpoint_label": ep.label, "time_unit": schema.time_unit,
        "factors": tuple(factors), "horizons": horizons, "tau": float(tau),
        "conf_type": conf_type, "overall": overall, "curves": curves, "logrank": lr_all,
        "logrank_stratified": lr_strat, "cox_univariable": cox_uni,
        "cox_multivariable": cox_multi, "dcr": dcr_tables, "effects": effects,
        "provenance": prov, "extra_notes": extra_notes,
    }


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

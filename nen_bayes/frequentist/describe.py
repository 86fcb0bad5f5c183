"""Descriptive summary of a validated cohort: size, centres, endpoints, covariates, missingness.

Follow-up is summarised by the reverse Kaplan-Meier median (censoring treated as the event), the
standard estimate of median potential follow-up; survival medians are Kaplan-Meier medians.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.frequentist.km import kaplan_meier
from nen_bayes.provenance import Provenanced

__all__ = ["CohortDescription", "describe_cohort"]


@dataclass(frozen=True)
class CohortDescription(Provenanced):
    """Tables describing a cohort (each a tidy DataFrame) and its provenance."""

    provenance: dict
    centres: pd.DataFrame
    endpoints: pd.DataFrame
    factors: pd.DataFrame
    numerics: pd.DataFrame
    responses: pd.DataFrame
    time_unit: str = "months"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        def records(df):
            return json.loads(df.to_json(orient="records"))

        return {
            "provenance": self.provenance,
            "time_unit": self.time_unit,
            "centres": records(self.centres),
            "endpoints": records(self.endpoints),
            "factors": records(self.factors),
            "numerics": records(self.numerics),
            "responses": records(self.responses),
        }

    def to_text(self) -> str:
        p = self.provenance
        out = []
        if self.synthetic:
            out += ["=" * 78, self.notice, "=" * 78]
        out += [
            f"cohort      {p['source']}",
            f"data hash   {p['data_hash']}",
            f"units       {p['n_units']}",
        ]
        if len(self.centres):
            out.append(f"centres     {len(self.centres)}")
        for note in p["policy_notes"]:
            out.append(f"note        {note}")

        def block(title, df, floatfmt="{:.1f}"):
            if not len(df):
                return []
            shown = df.copy()
            for c in shown.columns:
                if pd.api.types.is_float_dtype(shown[c]):
                    shown[c] = shown[c].map(lambda v: "NR" if pd.isna(v) else floatfmt.format(v))
            return ["", title, shown.to_string(index=False)]

        out += block("Centres", self.centres)
        out += block(f"Endpoints (times in {self.time_unit}; medians: Kaplan-Meier, "
                     "NR = not reached; follow-up: reverse Kaplan-Meier)", self.endpoints)
        out += block("Categorical covariates", self.factors)
        out += block("Numeric covariates", self.numerics, "{:.2f}")
        out += block("Response assessments (missing = not assessed)", self.responses)
        if self.synthetic:
            out += ["", self.notice]
        return "\n".join(out) + "\n"


def _km_median(t: np.ndarray, e: np.ndarray) -> float:
    """Kaplan-Meier median with R's conventions (see :mod:`nen_bayes.frequentist.km`); NaN if
    not reached."""
    if len(t) == 0:
        return float("nan")
    return kaplan_meier(t, e).median()[0]


def describe_cohort(cohort: Cohort) -> CohortDescription:
    """Describe a validated cohort (n, centres, endpoints, covariate levels, missing values)."""
    df, schema = cohort.data, cohort.schema
    n = len(df)
    if schema.centre_column:
        counts = df[schema.centre_column].value_counts(sort=False)
        centres = pd.DataFrame({"centre": counts.index.astype(str), "n": counts.to_numpy(),
                                "percent": 100 * counts.to_numpy() / n})
    else:
        centres = pd.DataFrame(columns=["centre", "n", "percent"])

    rows = []
    for ep in schema.endpoints:
        t, e = cohort.time(ep.name), cohort.event(ep.name)
        rows.append({
            "endpoint": ep.name,
            "n": len(t),
            "events": int(e.sum()),
            "censored": int((e == 0).sum()),
            "percent_events": 100 * e.mean(),
            "median": _km_median(t, e),
            "median_follow_up": _km_median(t, 1 - e),
            "max_time": float(t.max()),
        })
    endpoints = pd.DataFrame(rows)

    def level_table(factors):
        rows = []
        for f in factors:
            col = df[f.name]
            for lv in col.cat.categories:
                k = int((col == lv).sum())
                rows.append({"variable": f.name, "level": str(lv), "n": k,
                             "percent": 100 * k / n})
            k = int(col.isna().sum())
            if k:
                rows.append({"variable": f.name, "level": "(missing)", "n": k,
                             "percent": 100 * k / n})
        return pd.DataFrame(rows, columns=["variable", "level", "n", "percent"])

    nums = []
    for name in schema.numerics:
        v = df[name].to_numpy(float)
        ok = v[~np.isnan(v)]
        nums.append({"variable": name, "n": len(ok), "missing": int(np.isnan(v).sum()),
                     "mean": ok.mean(), "sd": ok.std(ddof=1) if len(ok) > 1 else np.nan,
                     "median": np.median(ok), "min": ok.min(), "max": ok.max()})
    numerics = pd.DataFrame(nums, columns=["variable", "n", "missing", "mean", "sd", "median",
                                           "min", "max"])
    return CohortDescription(
        provenance=cohort.provenance(),
        centres=centres,
        endpoints=endpoints,
        factors=level_table(schema.factors),
        numerics=numerics,
        responses=level_table(schema.responses),
        time_unit=schema.time_unit,
    )

"""The tidy effects table shared by the frequentist baselines and the Bayesian models.

One row per reported quantity, the same columns whatever produced it, so that a comparison of
the two paradigms is a concatenation, not a translation:

==============  =================================================================================
column          meaning
==============  =================================================================================
endpoint        endpoint name (``os``, ``hpfs``, ``pfs``, or a user's)
quantity        ``median_survival``, ``survival``, ``rmst``, ``km_mean`` (area under a group's
                KM curve up to its own last time), ``rmst_difference``, ``hazard_ratio``,
                ``logrank``, ``logrank_trend``, ``ph_test``, ``dcr``,
                ``interval_hazard_ratio`` and ``interval_median_survival`` (interval-censored
                Weibull fits of an endpoint with interval columns), ``time_ratio`` (an
                accelerated-failure-time model's exp(coefficient); above 1: longer survival)
                (and, from the models, posterior quantities: ``prob_hr_below_1`` or
                ``prob_tr_above_1``, the posterior probability of benefit)
term            the factor or covariate (``all`` for the whole cohort)
group           a level, or a contrast written ``level vs reference``
horizon         time point of the quantity (survival, RMST, DCR), else empty
estimate        point estimate (empty for pure tests)
lower, upper    interval limits
interval        ``CI`` (confidence) or ``CrI`` (credible)
conf_level      level of the interval, e.g. 0.95
statistic, df   test statistic and degrees of freedom where there is a test
p_value         p-value where there is one
method          how it was computed, in words
n, events       units and events it rests on
data_hash       content hash of the data file (``sha256:...``)
synthetic       True when computed on synthetic data
checks          for a fit's rows, ``pass`` or ``FAIL``: whether every sampler check of the fit
                passed (its convergence verdict; a high Pareto k is a LOO caveat, not a
                failure), so that no number of a failed fit travels without the flag; empty
                for frequentist rows
==============  =================================================================================
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from nen_bayes.errors import OutputExistsError
from nen_bayes.files import atomic_write_text

__all__ = ["EFFECT_COLUMNS", "effects_frame", "read_effects", "with_checks", "write_effects"]

EFFECT_COLUMNS = (
    "endpoint", "quantity", "term", "group", "horizon", "estimate", "lower", "upper",
    "interval", "conf_level", "statistic", "df", "p_value", "method", "n", "events",
    "data_hash", "synthetic", "checks",
)


def effects_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts keyed by :data:`EFFECT_COLUMNS`) as a table in the standard column order.

    Unknown keys are an error, so a typo cannot silently drop a value.
    """
    for r in rows:
        unknown = set(r) - set(EFFECT_COLUMNS)
        if unknown:
            raise KeyError(f"effects row has unknown column(s) {sorted(unknown)}; "
                           f"allowed: {list(EFFECT_COLUMNS)}")
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


def with_checks(frame: pd.DataFrame, status: str) -> pd.DataFrame:
    """A copy of ``frame`` (a fit's effects rows) with its ``checks`` column set to ``status``
    (``"pass"`` or ``"FAIL"``)."""
    if status not in ("pass", "FAIL"):
        raise ValueError(f"checks status must be 'pass' or 'FAIL', got {status!r}")
    out = frame.copy()
    out["checks"] = status
    return out[[c for c in EFFECT_COLUMNS if c in out.columns] +
               [c for c in out.columns if c not in EFFECT_COLUMNS]]


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def write_effects(frame: pd.DataFrame, stem: str | os.PathLike, *, metadata: dict | None = None,
                  force: bool = False) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.json`` atomically; refuse to overwrite without force.

    The JSON holds ``{"metadata": ..., "effects": [records]}`` with NaN written as null.
    """
    stem = Path(stem)
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    if not force:
        for p in (csv_path, json_path):
            if p.exists():
                raise OutputExistsError(f"{p} exists; pass --force to overwrite it.")
    records = [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    payload = {"metadata": metadata or {}, "columns": list(frame.columns), "effects": records}
    atomic_write_text(csv_path, frame.to_csv(index=False, lineterminator="\n"), force=force)
    atomic_write_text(json_path, json.dumps(payload, indent=1, default=str) + "\n", force=force)
    return csv_path, json_path


def read_effects(path: str | os.PathLike) -> pd.DataFrame:
    """Read an effects table written by :func:`write_effects` (CSV or JSON)."""
    p = Path(path)
    if p.suffix == ".json":
        payload = json.loads(p.read_text())
        return pd.DataFrame(payload["effects"], columns=payload["columns"])
    return pd.read_csv(p)

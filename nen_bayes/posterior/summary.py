"""Posterior and prior summaries of a fit, in the tidy effects table shared with the baselines.

Hazard ratios are summarised by their posterior median and equal-tailed credible interval (the
interval of exp(beta) is exp of the interval of beta, so the HR scale and the log scale agree),
and by the posterior probability of benefit P(HR < 1). Rows:

=====================  ============================================================
quantity               content
=====================  ============================================================
``hazard_ratio``       exp(beta) per coefficient; ``group`` is the contrast (not for a
                       covariate whose effect changes with time, which has no single HR)
``interval_hazard_ratio``  a time-varying covariate's HR in one interval (``group`` names it)
``weibull_shape_ratio``  a level's Weibull shape over the reference's (shape per level)
``prob_hr_below_1``    P(HR < 1 | data) per coefficient (estimate column)
``weibull_shape``      Weibull shape (Weibull family)
``baseline_scale``     baseline scale in time units (Weibull, exponential)
``median_survival``    median survival of a reference unit in a typical group
``group_sd``           between-group SD of the log hazard (per group)
``varying_sd``         between-group SD of a varying coefficient
=====================  ============================================================
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from nen_bayes.bayes import families
from nen_bayes.bayes.predict import flat_draws
from nen_bayes.effects import effects_frame
from nen_bayes.formatting import format_equals
from nen_bayes.provenance import SYNTHETIC_NOTICE, is_synthetic
from nen_bayes.units import PER_MONTH, canonical_unit

__all__ = ["divergent_transitions", "fit_summary_text", "interval", "plausible_time_range",
           "posterior_effects", "prior_predictive_check", "prior_predictive_draws",
           "prior_predictive_warnings", "weighted_interval"]


def interval(x, level: float) -> tuple[float, float, float]:
    """Posterior median and equal-tailed ``level`` interval of draws: ``(median, lower,
    upper)``, the ``(1 - level) / 2``, 0.5 and ``(1 + level) / 2`` quantiles (NumPy's default
    linear interpolation). Missing values (NaN, e.g. a median not reached in a draw) are left
    out; with no value left the three are NaN."""
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    lo, mid, hi = np.quantile(x, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return float(mid), float(lo), float(hi)


def weighted_interval(x, weights, level: float) -> tuple[float, float, float]:
    """:func:`interval` of draws with importance weights: ``(median, lower, upper)`` read from
    the weighted empirical distribution function, each draw's weight centred on it (equal
    weights give the quantiles of :func:`interval` to within one draw's spacing)."""
    x = np.asarray(x, float).ravel()
    w = np.asarray(weights, float).ravel()
    order = np.argsort(x)
    x, w = x[order], w[order] / w.sum()
    cdf = np.cumsum(w) - w / 2
    lo, mid, hi = np.interp([(1 - level) / 2, 0.5, (1 + level) / 2], cdf, x)
    return float(mid), float(lo), float(hi)


def _time_varying_rows(ds, tv: dict, contrasts: dict, base: dict, method: str,
                       conf_level: float) -> list[dict]:
    """The effect that changes with time, never as one HR: its HR in each interval
    (``interval_hazard_ratio``), or the ratio of the level's Weibull shape to the reference's
    (``weibull_shape_ratio``)."""
    rows = []
    for j, name in enumerate(tv["columns"]):
        if "hr_interval" in ds:
            arr = flat_draws(ds, "hr_interval")[:, j, :]
            for k, label in enumerate(ds["interval_tv"].to_numpy()):
                est, lo, hi = interval(arr[:, k], conf_level)
                rows.append({**base, "quantity": "interval_hazard_ratio",
                             "term": tv["covariate"], "group": f"{contrasts[name]}, {label}",
                             "estimate": est, "lower": lo, "upper": hi,
                             "method": f"{method}; the HR in this interval only"})
        elif "shape_change" in ds:
            est, lo, hi = interval(np.exp(flat_draws(ds, "shape_change")[:, j]), conf_level)
            rows.append({**base, "quantity": "weibull_shape_ratio", "term": tv["covariate"],
                         "group": contrasts[name], "estimate": est, "lower": lo, "upper": hi,
                         "method": f"{method}; the level's Weibull shape over the "
                                   "reference's (its HR changes with time)"})
    return rows


def posterior_effects(tree, *, conf_level: float = 0.95, group: str = "posterior"
                      ) -> pd.DataFrame:
    """The effects table of a fit (``group="prior"`` summarises the prior the same way)."""
    ds = tree[group].dataset
    a = tree.attrs
    contrasts = json.loads(a["contrasts"])
    terms = json.loads(a["terms"])
    synthetic = is_synthetic(a)
    label = "posterior" if group == "posterior" else "prior"
    base = {"endpoint": a["endpoint"], "interval": "CrI", "conf_level": conf_level,
            "n": int(a["n_units"]), "events": int(a["n_events"]),
            "data_hash": a["data_hash"], "synthetic": synthetic}
    method = (f"Bayesian {a['model']} ({a['family']} PH), {label} median and equal-tailed "
              f"{conf_level:.0%} CrI")
    rows = []
    tv = json.loads(a.get("time_varying", "null"))
    if tv is not None:
        rows += _time_varying_rows(ds, tv, contrasts, base, method, conf_level)
    fam = families.get_family(a["family"])
    if "beta" in ds:  # HRs of a PH family; time ratios (benefit: TR > 1) of an AFT family
        beta = flat_draws(ds, "beta")
        sign, prob, what = ((-1.0, "prob_hr_below_1", "P(HR < 1)") if fam.proportional
                            else (1.0, "prob_tr_above_1", "P(TR > 1)"))
        for j, name in enumerate(ds["covariate"].to_numpy()):
            if tv is not None and name in tv["columns"]:
                continue  # no single HR: its rows by time are above
            est, lo, hi = interval(np.exp(beta[:, j]), conf_level)
            rows.append({**base, "quantity": fam.effect, "term": terms[name],
                         "group": contrasts[name], "estimate": est, "lower": lo, "upper": hi,
                         "method": method})
            rows.append({**base, "quantity": prob, "term": terms[name],
                         "group": contrasts[name],
                         "estimate": float(np.mean(sign * beta[:, j] > 0)),
                         "interval": "", "conf_level": np.nan,
                         "method": f"Bayesian {a['model']}, {label} probability {what}"})
    baseline = [(par.name, par.quantity, "baseline",
                 f"reference unit ({a['time_unit']})" if par.time else par.name)
                for par in fam.parameters if par.quantity]
    for var, quantity, term, grp in (
            *baseline,
            ("median_baseline", "median_survival", "baseline",
             f"reference unit, typical group ({a['time_unit']})")):
        if var in ds:
            est, lo, hi = interval(flat_draws(ds, var), conf_level)
            rows.append({**base, "quantity": quantity, "term": term, "group": grp,
                         "estimate": est, "lower": lo, "upper": hi, "method": method})
    for name in ds.data_vars:
        if name.startswith("sd_") and not name.endswith("_varying"):
            est, lo, hi = interval(flat_draws(ds, name), conf_level)
            rows.append({**base, "quantity": "group_sd", "term": name[3:],
                         "group": "SD of log hazard", "estimate": est, "lower": lo,
                         "upper": hi, "method": method})
        elif name.startswith("sd_") and name.endswith("_varying"):
            arr = flat_draws(ds, name)
            gname = name[3:-len("_varying")]
            for j, cov in enumerate(ds[name].coords[f"{gname}_varying"].to_numpy()):
                est, lo, hi = interval(arr[:, j], conf_level)
                rows.append({**base, "quantity": "varying_sd", "term": gname,
                             "group": f"SD of log-HR {cov}", "estimate": est, "lower": lo,
                             "upper": hi, "method": method})
    return effects_frame(rows)


def prior_predictive_draws(tree) -> dict[str, np.ndarray]:
    """Draws of what the prior implies: the median survival of a reference unit, the median of
    the predicted times of the cohort (per draw), and every group's hazard ratios exp(u)."""
    prior = tree["prior"].dataset
    out = {"median_reference": flat_draws(prior, "median_baseline")}
    if "prior_predictive" in tree.children:
        t = flat_draws(tree["prior_predictive"].dataset, "time")
        out["median_cohort"] = np.median(t, axis=1)
    for name in prior.data_vars:
        if name.startswith("u_") and not name.endswith("_varying"):
            out[f"hr_{name[2:]}"] = np.exp(flat_draws(prior, name)).ravel()
    if "beta" in prior:
        out["hr_coefficient"] = np.exp(flat_draws(prior, "beta")).ravel()
    return out


_LABELS = {
    "median_reference": "median survival, reference unit in a typical group",
    "median_cohort": "median of the predicted times of the cohort",
    "hr_coefficient": "covariate hazard ratios (all coefficients pooled)",
}


# plausible median survival: 1 month to 20 years, in the cohort's time unit


def plausible_time_range(unit: str) -> tuple[float, float]:
    """1 month to 240 months (20 years) in ``unit`` (months when the unit is not known)."""
    k = PER_MONTH.get(canonical_unit(unit), 1.0)
    return 1.0 * k, 240.0 * k


def prior_predictive_check(tree, *, probs=(0.025, 0.25, 0.5, 0.75, 0.975)) -> pd.DataFrame:
    """Quantiles of the prior-implied median survival and group hazard ratios, with the share
    of draws outside a plausible range (median below 1 or above 240 months, in the cohort's
    time unit; HR, or an accelerated-failure-time family's time ratio, outside
    0.1-10) so that an over-wide or over-narrow prior shows at a glance."""
    unit = tree.attrs["time_unit"]
    ph = families.get_family(tree.attrs["family"]).proportional
    ratio, ratios = ("HR", "hazard ratios") if ph else ("TR", "time ratios")
    rows = []
    for key, x in prior_predictive_draws(tree).items():
        x = x[np.isfinite(x)]
        is_time = key.startswith("median")
        label = _LABELS.get(key, f"{key[3:]} hazard ratios exp(u) (all levels pooled)")
        label = label.replace("hazard ratios", ratios)
        row = {"quantity": label, "unit": unit if is_time else ratio, "draws": len(x)}
        for p, q in zip(probs, np.quantile(x, probs), strict=True):
            row[f"q{p * 100:g}".replace(".", "_")] = float(q)
        if is_time:
            lo, hi = plausible_time_range(unit)
            row["outside"] = f"below {lo:.4g} or above {hi:.4g}"
            row["share_outside"] = float(np.mean((x < lo) | (x > hi)))
        else:
            row["outside"] = "below 0.1 or above 10"
            row["share_outside"] = float(np.mean((x < 0.1) | (x > 10)))
        rows.append(row)
    return pd.DataFrame(rows)


#: Share of prior draws outside the plausible range above which the check warns.
PRIOR_OUTSIDE_WARN = 0.5


def prior_predictive_warnings(ppc: pd.DataFrame, attrs) -> list[str]:
    """A warning line for each prior-implied time (median survival) with more than half its
    draws outside the plausible range, naming the likely causes. A warning, not a refusal:
    vague priors are a legitimate choice."""
    out = []
    placed = _baseline_placed_from_data(attrs)
    for r in ppc.itertuples():
        if r.unit not in ("HR", "TR") and r.share_outside > PRIOR_OUTSIDE_WARN and placed:
            out.append(
                f"note: {r.share_outside:.0%} of the prior's {r.quantity} lie outside "
                f"{r.outside} {r.unit}, a range for median survival in general; the baseline "
                "prior is placed from this cohort's own follow-up (total time over events, in "
                "its own unit), so this is its width, not a time-unit mismatch. The fit goes "
                "on.")
        elif r.unit not in ("HR", "TR") and r.share_outside > PRIOR_OUTSIDE_WARN:
            spec_unit = attrs.get("spec_time_unit", r.unit)
            out.append(
                f"warning: {r.share_outside:.0%} of the prior's {r.quantity} lie outside the "
                f"plausible range ({r.outside} {r.unit}). Likely causes: a time-unit mismatch "
                f"(the cohort's times are taken to be in {r.unit} and the model's numbers in "
                f"{spec_unit}: check --time-unit and the model file's time_unit), or a baseline "
                "prior far from the data's time scale. The fit goes on: a vague prior is a "
                "legitimate choice.")
    return out


def _baseline_placed_from_data(attrs) -> bool:
    """Whether the fit's baseline prior was placed from the cohort's own follow-up (a
    formula's model: its prior's reason says so), read from the spec in ``attrs``."""
    try:
        spec = json.loads(attrs.get("spec", "{}"))
        base = families.get_family(spec["model"]["family"]).baseline_parameter.name
        return "placed from this cohort's follow-up" in spec["priors"][base].get("reason", "")
    except (KeyError, ValueError, TypeError):
        return False


def divergent_transitions(tree) -> int:
    """Divergent transitions after tuning, over all chains (0 without the sampler statistic)."""
    if "sample_stats" not in tree.children or "diverging" not in tree["sample_stats"]:
        return 0
    return int(tree["sample_stats"]["diverging"].sum())


def fit_summary_text(tree, effects: pd.DataFrame, ppc: pd.DataFrame, *, title: str,
                     seconds: float) -> str:
    """The summary of one fit as printed by ``scripts/fit.py``: the model on the cohort, the
    sampler run, every effect of :func:`posterior_effects` (hazard ratios with P(HR < 1)) and
    the prior predictive check (:func:`prior_predictive_check`); framed by the synthetic-data
    notice when the cohort is synthetic.

    ``title`` is the model's title (its specification's), ``seconds`` the sampling time."""
    a = tree.attrs
    lines = [f"Model {a['model']} ({title}) on {a['data_source']}, endpoint "
             f"{a['endpoint']}: {a['n_units']} units, {a['n_events']} events",
             f"{a['chains']} chains x {a['draws']} draws ({a['sampler']}, seed {a['seed']}): "
             f"{seconds:.1f} s, {divergent_transitions(tree)} divergent transitions", ""]
    if a.get("time_unit_conversion"):
        lines[-1:-1] = [a["time_unit_conversion"]]
    if int(a.get("interval_censored", 0)):
        lines[-1:-1] = [f"interval likelihood log(S(lower) - S(upper)): {a['interval_censored']} "
                        "events known only between two assessments"]
    for col, levels in json.loads(a.get("orders", "{}")).items():
        lines[-1:-1] = [f"order of {col} (declared, lowest first): {' < '.join(levels)}"]
    show = effects[effects["quantity"] != "prob_hr_below_1"]
    # one probability per coefficient: its term and contrast together name it (numeric
    # covariates all read "per unit", so the contrast alone does not)
    prob = {(r.term, r.group): r.estimate for r in
            effects[effects["quantity"] == "prob_hr_below_1"].itertuples()}
    for r in show.itertuples():
        extra = (f"   P(HR < 1) {format_equals(prob[(r.term, r.group)])}"
                 if r.quantity == "hazard_ratio" else "")
        lines.append(f"  {r.quantity:<16} {r.term:<14} {r.group:<38} {r.estimate:8.3f} "
                     f"({r.lower:.3f}-{r.upper:.3f}){extra}")
    lines += ["", "Prior predictive check (what the priors imply):"]
    for r in ppc.itertuples():
        lines.append(f"  {r.quantity:<58} median {r.q50:8.2f} {r.unit:<7} 95% "
                     f"{r.q2_5:.2f}-{r.q97_5:.2f}; {r.share_outside:.1%} {r.outside}")
    lines += prior_predictive_warnings(ppc, a)
    if is_synthetic(a):
        lines = [SYNTHETIC_NOTICE, *lines, SYNTHETIC_NOTICE]
    return "\n".join(lines) + "\n"

"""The effect of one categorical covariate (e.g. a treatment line) with its uncertainty.

:func:`contrast_effects` answers, from one fit, what a reanalysis of "level vs reference"
needs:

* the posterior hazard ratio of ``level`` against ``reference`` (median, equal-tailed CrI) and
  the posterior probabilities P(HR < 1), P(HR < benefit), P(HR > harm) and
  P(rope_low < HR < rope_high) (region of practical equivalence);
* covariate-adjusted survival curves by level, standardised over the cohort (g-computation):
  for each posterior draw, every unit is given the level while keeping its other covariates and
  its own centre effect, and the unit curves S(t | x_i, u_c(i)) are averaged (each distinct
  unit, its covariates and centres, once, weighted by how many units share it: the same mean,
  at a cost that does not grow with the number of units when the covariates are categorical);
* the posterior of the difference (level minus reference) in the median of those curves and in
  the restricted mean survival time (RMST) at each horizon. A curve still above 0.5 at its
  horizon (1000 x the longest follow-up) has no median in that draw: medians and their
  difference are computed over the draws in which they exist, and the share without one is
  reported (``not_reached``, with a note whenever it is above 0);
* the between-centre SD, each centre's hazard ratio against the typical centre (caterpillar),
  and the effect predicted for a new centre: its HR against the typical centre
  exp(u_new), u_new ~ N(0, sd), and, for models with a centre-varying line effect, the line
  hazard ratio in that centre.

Every probability is a share of posterior draws; the curves, medians and RMSTs use
``max_draws`` evenly thinned draws (1000 by default) and are exact functions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nen_bayes.bayes import families
from nen_bayes.bayes.predict import (
    baseline_params,
    cuts_of,
    draw_indices,
    flat_draws,
    group_indexes,
    linear_predictor,
    set_level,
    standardised_survival,
    survival_quantile,
    term_levels,
    time_varying_of,
    unit_patterns,
)
from nen_bayes.effects import effects_frame
from nen_bayes.errors import ModelDataError, ResultError
from nen_bayes.formatting import format_prob
from nen_bayes.posterior.summary import interval
from nen_bayes.provenance import Provenanced, is_synthetic
from nen_bayes.settings import (
    DEFAULT_SEED,
    Contrast,
    Decision,
    decision_probabilities,
    default_horizons,
)

__all__ = ["ContrastResult", "contrast_effects"]

_CURVE_COLUMNS = ["time", "level", "estimate", "lower", "upper"]
_MEDIAN_COLUMNS = ["what", "group", "estimate", "lower", "upper", "prob_positive",
                   "not_reached", "note"]
_RMST_COLUMNS = ["horizon", "what", "group", "estimate", "lower", "upper", "prob_positive"]
#: The median search stops at this multiple of the longest follow-up (the curve's horizon);
#: a curve still above 0.5 there has no median in that draw.
_MEDIAN_HORIZON = 1e3
_TIME_HR_COLUMNS = ["quantity", "start", "end", "estimate", "lower", "upper", "prob_below_1"]
_CENTRE_COLUMNS = ["group_name", "level", "n", "hr", "lower", "upper", "line_hr", "line_lower",
                   "line_upper"]
_PROVENANCE_KEYS = ("data_hash", "data_source", "n_units", "n_events", "spec_hash", "seed",
                    "sampler")


@dataclass(frozen=True)
class ContrastResult(Provenanced):
    """Everything :func:`contrast_effects` computed for one fit."""

    model: str
    endpoint: str
    term: str
    level: str
    reference: str
    time_unit: str
    conf_level: float
    hr: tuple[float, float, float]             # median, lower, upper
    probabilities: pd.DataFrame                # quantity, event, probability
    curves: pd.DataFrame                       # time, level, estimate, lower, upper
    medians: pd.DataFrame                      # level | difference, estimate, lower, upper, ...
    rmst: pd.DataFrame                         # horizon, level | difference, estimate, ...
    centres: pd.DataFrame                      # group level, n, hr, lower, upper (+ line HR)
    group_sd: dict                             # name -> (median, lower, upper)
    new_centre: pd.DataFrame                   # quantity, estimate, lower, upper, note
    n_draws: int
    n_draws_curves: int
    provenance: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    hr_draws: np.ndarray = field(default=None, repr=False)
    decision: Decision = field(default_factory=Decision)
    levels: tuple[str, ...] = ()                # the term's levels in the model's order
    follow_up: float = float("nan")             # the longest observed time of the fit
    #: a model whose effect of the term changes with time has no single HR (``hr`` is NaN and
    #: there are no decision probabilities): its HR by interval (``interval_hazard_ratio``,
    #: start, end) or at each horizon (``hazard_ratio_at_time``, start = end = the time)
    time_hrs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=_TIME_HR_COLUMNS))

    @property
    def proportional(self) -> bool:
        """Whether the model's effect of the term is one hazard ratio at all times."""
        return len(self.time_hrs) == 0

    @property
    def extrapolation_caveats(self) -> list[str]:
        """A sentence for each standardised median and each RMST horizon beyond the longest
        follow-up: those numbers come from the parametric model's extrapolation, not from
        observed follow-up."""
        if not np.isfinite(self.follow_up):
            return []
        u, fu = self.time_unit, self.follow_up
        out = [f"the standardised median of {r.group} ({r.estimate:.1f} {u}) lies beyond the "
               f"longest follow-up ({fu:.1f} {u}): extrapolated by the parametric model, and "
               "so is the median difference"
               for r in self.medians.itertuples()
               if r.what == "level" and np.isfinite(r.estimate) and r.estimate > fu]
        beyond = sorted({float(h) for h in self.rmst.get("horizon", ()) if h > fu})
        if beyond:
            out.append(f"RMST horizon(s) {', '.join(f'{h:g}' for h in beyond)} {u} lie beyond "
                       f"the longest follow-up ({fu:.1f} {u}): extrapolated by the parametric "
                       "model")
        return out

    @property
    def contrast(self) -> str:
        return f"{self.level} vs {self.reference}"

    @property
    def effects(self) -> pd.DataFrame:
        """The results as rows of the shared effects table."""
        p = self.provenance
        base = {"endpoint": self.endpoint, "term": self.term, "interval": "CrI",
                "conf_level": self.conf_level, "n": p.get("n_units"),
                "events": p.get("n_events"), "data_hash": p.get("data_hash"),
                "synthetic": self.synthetic}
        m = f"Bayesian {self.model}"
        g_comp = f"{m}, g-computation over the cohort ({self.time_unit})"
        rows = [{**base, "quantity": "hazard_ratio", "group": self.contrast,
                 "estimate": self.hr[0], "lower": self.hr[1], "upper": self.hr[2],
                 "method": f"{m}, posterior median and equal-tailed CrI"}
                ] if self.proportional else []
        for r in self.time_hrs.itertuples():
            at = (f"{r.start:g} to {r.end:g} {self.time_unit}" if r.quantity ==
                  "interval_hazard_ratio" else f"at {r.start:g} {self.time_unit}")
            rows.append({**base, "quantity": r.quantity, "group": f"{self.contrast}, {at}",
                         "horizon": r.start if r.quantity == "hazard_ratio_at_time" else
                         np.nan, "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                         "method": f"{m}, non-proportional: the HR {at} only, posterior "
                                   "median and equal-tailed CrI"})
        for r in self.probabilities.itertuples():
            rows.append({**base, "quantity": r.quantity, "group": self.contrast,
                         "estimate": r.probability, "interval": "", "conf_level": np.nan,
                         "method": f"{m}, posterior probability {r.event}"})
        for r in self.medians.itertuples():
            rows.append({**base, "quantity": "standardised_median" if r.what == "level" else
                         "standardised_median_difference", "group": r.group,
                         "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                         "method": g_comp + (f", {_note(r)}" if _note(r) else "")})
        for r in self.rmst.itertuples():
            rows.append({**base, "quantity": "standardised_rmst" if r.what == "level" else
                         "standardised_rmst_difference", "group": r.group,
                         "horizon": r.horizon, "estimate": r.estimate, "lower": r.lower,
                         "upper": r.upper, "method": g_comp})
        for name, (est, lo, hi) in self.group_sd.items():
            rows.append({**base, "quantity": "group_sd", "term": name,
                         "group": "SD of log hazard", "estimate": est, "lower": lo,
                         "upper": hi, "method": f"{m}, posterior"})
        for r in self.centres.itertuples():
            rows.append({**base, "quantity": "group_hr", "term": r.group_name,
                         "group": f"{r.level} vs typical", "estimate": r.hr, "lower": r.lower,
                         "upper": r.upper, "n": r.n,
                         "method": f"{m}, exp(centre effect), posterior"})
        for r in self.new_centre.itertuples():
            # a new group against the typical one is a quantity of the grouping (as the
            # group's SD and each group's HR); the contrast in a new group is the term's
            term = r.group if r.quantity == "new_group_hr" else self.term
            rows.append({**base, "quantity": r.quantity, "term": term, "group": r.group,
                         "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                         "interval": "PrI", "method": f"{m}, posterior predictive: {r.note}"})
        return effects_frame(rows)

    def to_text(self) -> str:
        u = self.time_unit
        lines = [f"{self.term}: {self.contrast}, endpoint {self.endpoint} ({self.model})"]
        if self.proportional:
            lines.append(f"  HR {self.hr[0]:.2f} ({self.conf_level:.0%} CrI {self.hr[1]:.2f}-"
                         f"{self.hr[2]:.2f})")
        else:
            lines.append("  no single HR: the model's HR changes with time")
        for r in self.time_hrs.itertuples():
            at = (f"{r.start:g}-{r.end:g} {u}" if r.quantity == "interval_hazard_ratio"
                  else f"at {r.start:g} {u}")
            lines.append(f"  HR {at:<18} {r.estimate:.2f} ({self.conf_level:.0%} CrI "
                         f"{r.lower:.2f}-{r.upper:.2f}), P(HR < 1) "
                         f"{format_prob(r.prob_below_1)}")
        lines += [f"  {r.event:<24} {format_prob(r.probability)}"
                  for r in self.probabilities.itertuples()]
        for r in self.medians.itertuples():
            missing = ("" if not getattr(r, "not_reached", 0) > 0 else
                       f"; not reached in {_pct(r.not_reached)} of draws, {_note(r)}")
            lines.append(f"  standardised median, {r.group:<26} {r.estimate:7.1f} {u} "
                         f"({r.lower:.1f} to {r.upper:.1f}){missing}")
        for r in self.rmst.itertuples():
            lines.append(f"  RMST({r.horizon:g}), {r.group:<34} {r.estimate:7.1f} {u} "
                         f"({r.lower:.1f} to {r.upper:.1f})")
        for name, (est, lo, hi) in self.group_sd.items():
            lines.append(f"  between-{name} SD {est:.2f} ({lo:.2f}-{hi:.2f})")
        labels = {"new_group_hr": "HR against the typical one",
                  "new_group_contrast_hr": f"{self.term} HR"}
        for r in self.new_centre.itertuples():
            lines.append(f"  new {r.group}: {labels[r.quantity]} {r.estimate:.2f} "
                         f"({self.conf_level:.0%} PrI {r.lower:.2f}-{r.upper:.2f})")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  caveat: {c}" for c in self.extrapolation_caveats]
        return "\n".join(lines) + "\n"


# --- the contrast and its hazard ratio -----------------------------------------------------
def _resolve(tree, contrast: Contrast) -> tuple[str, str, str, dict[str, int]]:
    """``(model reference, level, versus, design column of each non-reference level)``:
    ``level=None`` is the model's first non-reference level, ``versus=None`` its reference."""
    term = contrast.term
    try:
        model_ref, levels, level_cols = term_levels(tree, term)
    except ValueError as exc:
        raise ResultError(str(exc)) from None
    level = next(iter(level_cols)) if contrast.level is None else contrast.level
    versus = model_ref if contrast.versus is None else contrast.versus
    for name, lv in (("level", level), ("versus", versus)):
        if lv not in levels:
            raise ResultError(f"{name} {lv!r} is not a level of {term!r} in "
                              f"{tree.attrs['model']!r}; levels: {list(levels)}")
    if level == versus:
        raise ResultError(f"level and versus are both {level!r}")
    return model_ref, level, versus, level_cols


def _log_hr(post, model_ref: str, level_cols: dict, level: str, versus: str) -> np.ndarray:
    """Draws of log HR(level vs versus) = beta_level - beta_versus (0 for the reference)."""
    beta = flat_draws(post, "beta")

    def coef(lv):
        return np.zeros(beta.shape[0]) if lv == model_ref else beta[:, level_cols[lv]]

    return coef(level) - coef(versus)


def _probability_table(hr_draws: np.ndarray, decision: Decision) -> pd.DataFrame:
    """The decision probabilities as rows: quantity (machine name), event (label),
    probability."""
    probs = decision_probabilities(hr_draws, decision)
    return pd.DataFrame([(key, label, probs[label]) for key, label in decision.events.items()],
                        columns=["quantity", "event", "probability"])


# --- standardised curves (g-computation) ----------------------------------------------------
def _units(n_units: int, max_units: int, rng, seed: int, notes: list) -> np.ndarray:
    """All units, or a seeded random subsample of ``max_units`` of them (noted)."""
    units = np.arange(n_units)
    if n_units > max_units:
        units = np.sort(rng.choice(units, max_units, replace=False))
        notes.append(f"standardised over a random subsample of {max_units} of "
                     f"{n_units} units (seed {seed})")
    return units


def _time_grid(tmax: float, horizons: tuple, grid_points: int) -> np.ndarray:
    """Evenly spaced times up to the longest follow-up (or the last horizon), plus the
    horizons themselves (those beyond the follow-up are named by
    :attr:`ContrastResult.extrapolation_caveats`)."""
    return np.unique(np.r_[np.linspace(0.0, max(tmax, *horizons) if horizons else tmax,
                                       grid_points), horizons])


def _reached_note(share_missing: float, what: str, horizon: float, time_unit: str) -> str:
    """The convention of a median computed over the draws in which it is reached ("" when every
    draw reaches it)."""
    if share_missing == 0:
        return ""
    return (f"computed over the {_pct(1 - share_missing)} of draws in which {what} reached "
            f"within the curve's horizon ({horizon:g} {time_unit}, {_MEDIAN_HORIZON:g} x the "
            "longest follow-up)")


def _note(row) -> str:
    """A medians row's convention ("" when the row has none, as in tables built without the
    column)."""
    note = getattr(row, "note", "")
    return note if isinstance(note, str) else ""


def _pct(x: float) -> str:
    """A share as a percentage, with a decimal when it would round to 0% or 100%."""
    s = f"{x:.0%}"
    return f"{x:.1%}" if (s == "0%" and x > 0) or (s == "100%" and x < 1) else s


def _median_rows(med: dict, level: str, reference: str, conf_level: float, horizon: float,
                 time_unit: str) -> list[dict]:
    """The standardised medians by level and their difference, each over the draws in which
    it exists: ``not_reached`` is the share of draws whose curve stays above 0.5 up to
    ``horizon`` (for the difference: in which either level's does), and ``note`` states the
    convention whenever that share is above 0."""
    rows = []
    for lv in (reference, level):
        m = med[lv]
        miss = float(np.mean(~np.isfinite(m)))
        est, lo, hi = interval(np.where(np.isfinite(m), m, np.nan), conf_level)
        rows.append({"what": "level", "group": lv, "estimate": est, "lower": lo, "upper": hi,
                     "prob_positive": np.nan, "not_reached": miss,
                     "note": _reached_note(miss, "the median is", horizon, time_unit)})
    both = np.isfinite(med[level]) & np.isfinite(med[reference])
    d = np.full(both.shape, np.nan)
    d[both] = med[level][both] - med[reference][both]
    miss = float(np.mean(~both))
    est, lo, hi = interval(d, conf_level)
    rows.append({"what": "difference", "group": f"{level} minus {reference}",
                 "estimate": est, "lower": lo, "upper": hi,
                 "prob_positive": float(np.mean(d[both] > 0)) if both.any() else np.nan,
                 "not_reached": miss,
                 "note": _reached_note(miss, "both medians are", horizon, time_unit)})
    return rows


def _medians_table(med: dict, level: str, reference: str, conf_level: float, horizon: float,
                   time_unit: str, notes: list) -> pd.DataFrame:
    """The medians table; when the difference lacks some draws, a note says over which."""
    table = pd.DataFrame(_median_rows(med, level, reference, conf_level, horizon, time_unit),
                         columns=_MEDIAN_COLUMNS)
    d = table.iloc[-1]
    if d["not_reached"] > 0:
        notes.append(f"standardised median difference {d['group']}: {_pct(d['not_reached'])} of "
                     f"draws have no median for {level} or {reference}; the difference is "
                     f"{d['note']}")
    return table


def _rmst_rows(surv: dict, grid: np.ndarray, horizons: tuple, level: str, reference: str,
               conf_level: float) -> list[dict]:
    rows = []
    for h in horizons:
        k = grid <= h
        area = {lv: np.trapezoid(surv[lv][:, k], grid[k], axis=1) for lv in surv}
        for lv in (reference, level):
            est, lo, hi = interval(area[lv], conf_level)
            rows.append({"horizon": h, "what": "level", "group": lv, "estimate": est,
                         "lower": lo, "upper": hi, "prob_positive": np.nan})
        dd = area[level] - area[reference]
        est, lo, hi = interval(dd, conf_level)
        rows.append({"horizon": h, "what": "difference", "group": f"{level} minus {reference}",
                     "estimate": est, "lower": lo, "upper": hi,
                     "prob_positive": float(np.mean(dd > 0))})
    return rows


def _standardised(tree, post, *, term, level, reference, horizons, conf_level, max_draws,
                  grid_points, max_units, rng, seed, notes):
    """g-computation over the cohort (thinned draws, possibly a subsample of units): the
    standardised curves by level, their medians and RMSTs and the differences."""
    family = tree.attrs["family"]
    cuts = cuts_of(tree)
    idx = draw_indices(tree, max_draws)
    X = tree["constant_data"]["X"].values
    covariates = [str(c) for c in tree["constant_data"]["covariate"].values]
    units = _units(X.shape[0], max_units, rng, seed, notes)
    Xs = X[units]
    gs = {g: ix[units] for g, ix in group_indexes(tree).items()}
    params = baseline_params(tree, idx)
    tmax = float(tree["observed_data"]["time"].values.max())
    horizons = (default_horizons(tmax, tree.attrs["time_unit"]) if horizons is None else
                tuple(float(h) for h in horizons))
    grid = _time_grid(tmax, horizons, grid_points)
    q = [(1 - conf_level) / 2, 0.5, (1 + conf_level) / 2]
    curve_rows, surv, med = [], {}, {}
    for lv in (reference, level):
        # the units that share covariates and groups share their curve: each distinct
        # pattern once, weighted by its share of the units (the same mean over the units)
        X_lv, g_lv, w = unit_patterns(set_level(tree, Xs, term, lv), gs)
        eta = linear_predictor(post, X_lv, g_lv, idx, covariates=covariates)
        tv = time_varying_of(tree, X_lv)
        surv[lv] = standardised_survival(family, grid, params, eta, cuts, tv=tv, weights=w)
        med[lv] = survival_quantile(family, params, eta, cuts, upper=_MEDIAN_HORIZON * tmax,
                                    tv=tv, weights=w)
        lo, mid, hi = np.quantile(surv[lv], q, axis=0)
        curve_rows.append(pd.DataFrame({"time": grid, "level": lv, "estimate": mid,
                                        "lower": lo, "upper": hi}))
    return (pd.concat(curve_rows, ignore_index=True),
            _medians_table(med, level, reference, conf_level, _MEDIAN_HORIZON * tmax,
                           tree.attrs["time_unit"], notes),
            pd.DataFrame(_rmst_rows(surv, grid, horizons, level, reference, conf_level)),
            len(idx))


# --- centres ---------------------------------------------------------------------------------
def _group_effects(post, g: str, ix: np.ndarray, *, term, level, reference, model_ref,
                   log_hr, hr, conf_level, rng) -> tuple[tuple, list[dict], list[dict]]:
    """One grouping level: its SD, each group's HR against the typical group (and the
    contrast's HR in it when the contrast varies by group), and a new group's predictions."""
    sd = flat_draws(post, f"sd_{g}")
    u = flat_draws(post, f"u_{g}")
    glevels = [str(v) for v in post[g].values]
    counts = np.bincount(ix, minlength=len(glevels))
    uv_name = f"u_{g}_varying"
    vary_cols = ([str(c) for c in post[uv_name].coords[f"{g}_varying"].values]
                 if uv_name in post else [])
    term_cols = {lv: f"{term}[{lv}]" for lv in (level, reference) if lv != model_ref}
    signs = ((level, 1), (reference, -1))
    varies = any(c in vary_cols for c in term_cols.values())
    rows = []
    for j, lv in enumerate(glevels):
        est, lo, hi = interval(np.exp(u[:, j]), conf_level)
        row = {"group_name": g, "level": lv, "n": int(counts[j]), "hr": est, "lower": lo,
               "upper": hi}
        if varies:
            uv = flat_draws(post, uv_name)[:, j, :]
            shift = sum(sign * uv[:, vary_cols.index(term_cols[lv2])] for lv2, sign in signs
                        if lv2 in term_cols and term_cols[lv2] in vary_cols)
            row.update(dict(zip(("line_hr", "line_lower", "line_upper"),
                                interval(np.exp(log_hr + shift), conf_level), strict=True)))
        rows.append(row)
    u_new = sd * rng.standard_normal(sd.shape)
    est, lo, hi = interval(np.exp(u_new), conf_level)
    new = [{"quantity": "new_group_hr", "group": g, "estimate": est, "lower": lo, "upper": hi,
            "note": f"HR of a new {g} against the typical {g}, exp(u_new), u_new ~ N(0, sd_{g})"}]
    if varies:
        sdv = flat_draws(post, f"sd_{g}_varying")
        shift = np.zeros_like(log_hr)
        for lv2, sign in signs:
            c = term_cols.get(lv2)
            if c in vary_cols:
                shift += sign * sdv[:, vary_cols.index(c)] * rng.standard_normal(len(shift))
        est, lo, hi = interval(np.exp(log_hr + shift), conf_level)
        note = f"{term} HR in a new {g}: exp(log HR + v_new), v_new ~ N(0, sd_{g}_varying)"
    else:
        est, lo, hi = hr
        note = (f"the model has no {g}-varying {term} effect, so the {term} HR in a new "
                f"{g} equals the population HR")
    if np.isfinite(est):  # a non-proportional effect has no single HR, in a new group either
        new.append({"quantity": "new_group_contrast_hr", "group": g, "estimate": est,
                    "lower": lo, "upper": hi, "note": note})
    return interval(sd, conf_level), rows, new


def _centres(tree, post, **kw) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Every grouping level with a between-group SD: the caterpillar table, the SDs and the
    new-group predictions."""
    centre_rows, group_sd, new_rows = [], {}, []
    for g, ix in group_indexes(tree).items():
        if f"sd_{g}" not in post:
            continue
        group_sd[g], rows, new = _group_effects(post, g, ix, **kw)
        centre_rows += rows
        new_rows += new
    return (pd.DataFrame(centre_rows, columns=_CENTRE_COLUMNS), group_sd,
            pd.DataFrame(new_rows))


def _time_hrs(tree, post, log_hr, *, term, level, reference, model_ref, horizons,
              conf_level) -> pd.DataFrame:
    """The contrast's HR by interval, or at each horizon, when the model's effect of ``term``
    changes with time (empty when it is proportional). At a time t, for any covariate pattern
    and centre (the other effects are proportional and cancel): with a line HR by interval,
    exp(log HR + change of the interval); with a shape per level a, for the reference unit
    exp(log HR) (a_level / a_ref) (t / scale)^(a_level - a_ref)."""
    tv = time_varying_of(tree)
    if tv is None or tv["covariate"] != term:
        return pd.DataFrame(columns=_TIME_HR_COLUMNS)
    cols = {lv: tv["columns"].index(f"{term}[{lv}]") for lv in (level, reference)
            if lv != model_ref}

    rows = []
    if tv["effect"] == "hazard_ratio":
        g = flat_draws(post, "hr_change")  # (S, C, K-1): the level's change minus the reference's
        change = sum(sign * g[:, cols[lv]] for lv, sign in ((level, 1.0), (reference, -1.0))
                     if lv in cols)
        edges = np.r_[0.0, tv["cuts"], np.inf]
        for k in range(len(edges) - 1):
            lh = log_hr + (change[:, k - 1] if k else 0.0)
            est, lo, hi = interval(np.exp(lh), conf_level)
            rows.append(("interval_hazard_ratio", edges[k], edges[k + 1], est, lo, hi,
                         float(np.mean(lh < 0))))
    else:
        shape, scale = flat_draws(post, "shape"), flat_draws(post, "scale")
        delta = flat_draws(post, "shape_change")
        a = {lv: shape * np.exp(delta[:, cols[lv]]) if lv in cols else shape
             for lv in (level, reference)}
        for t in horizons:
            lh = (log_hr + np.log(a[level] / a[reference])
                  + (a[level] - a[reference]) * np.log(t / scale))
            est, lo, hi = interval(np.exp(lh), conf_level)
            rows.append(("hazard_ratio_at_time", t, t, est, lo, hi, float(np.mean(lh < 0))))
    return pd.DataFrame(rows, columns=_TIME_HR_COLUMNS)


def contrast_effects(tree, contrast: Contrast, *, decision: Decision | None = None,
                     horizons=None, conf_level: float = 0.95, max_draws: int = 1000,
                     grid_points: int = 200, max_units: int = 3000, seed: int = DEFAULT_SEED,
                     standardise: bool = True) -> ContrastResult:
    """Hazard ratio, decision probabilities, standardised curves and their differences, and
    the centre effects for ``contrast.level`` vs ``contrast.versus`` of ``contrast.term``
    (``None`` levels: the model's first non-reference level and its reference).

    ``decision`` gives the thresholds of the probabilities (default :class:`Decision`'s);
    ``horizons`` the RMST horizons (``None``: :func:`~nen_bayes.settings.default_horizons` of
    the fit's longest follow-up, in its time unit);
    ``standardise=False`` skips the curves, medians and RMSTs (empty tables). Raises
    :class:`ResultError` when the term or a level is not the model's."""
    decision = Decision() if decision is None else decision
    if not families.get_family(tree.attrs["family"]).proportional:
        raise ModelDataError(
            f"{tree.attrs['model']}: a contrast's hazard ratio, decision probabilities and "
            f"centre HRs need a proportional-hazards family; {tree.attrs['family']!r} is an "
            "accelerated-failure-time family, whose coefficients are time ratios: read them "
            "from the fit's effects (posterior_effects, effects.csv)")
    model_ref, level, reference, level_cols = _resolve(tree, contrast)
    a = tree.attrs
    post = tree["posterior"].dataset
    rng = np.random.default_rng(seed)
    notes = []
    log_hr = _log_hr(post, model_ref, level_cols, level, reference)
    hr_draws = np.exp(log_hr)
    hr = interval(hr_draws, conf_level)
    tmax = float(tree["observed_data"]["time"].values.max())
    time_hrs = _time_hrs(tree, post, log_hr, term=contrast.term, level=level,
                         reference=reference, model_ref=model_ref,
                         horizons=(default_horizons(tmax, a["time_unit"]) if horizons is None
                                   else tuple(float(h) for h in horizons)),
                         conf_level=conf_level)
    probabilities = _probability_table(hr_draws, decision)
    if len(time_hrs):  # no single HR: never reported as one
        hr = (np.nan, np.nan, np.nan)
        probabilities = probabilities.iloc[:0]
        notes.append(f"the model's {contrast.term} effect is not proportional: its HR is "
                     "given by time (interval or horizon), never as one number; compare the "
                     "standardised survival, median and RMST")
    if standardise:
        curves, medians, rmst, n_curve_draws = _standardised(
            tree, post, term=contrast.term, level=level, reference=reference,
            horizons=horizons, conf_level=conf_level, max_draws=max_draws,
            grid_points=grid_points, max_units=max_units, rng=rng, seed=seed, notes=notes)
    else:
        curves, medians, rmst, n_curve_draws = (pd.DataFrame(columns=_CURVE_COLUMNS),
                                                pd.DataFrame(columns=_MEDIAN_COLUMNS),
                                                pd.DataFrame(columns=_RMST_COLUMNS), 0)
    centres, group_sd, new_centre = _centres(
        tree, post, term=contrast.term, level=level, reference=reference, model_ref=model_ref,
        log_hr=log_hr, hr=hr, conf_level=conf_level, rng=rng)
    prov = {k: a.get(k) for k in _PROVENANCE_KEYS}
    prov["synthetic"] = is_synthetic(a)
    return ContrastResult(
        model=a["model"], endpoint=a["endpoint"], term=contrast.term, level=level,
        reference=reference, time_unit=a.get("time_unit", ""), conf_level=conf_level, hr=hr,
        probabilities=probabilities, curves=curves, medians=medians,
        rmst=rmst, centres=centres, group_sd=group_sd, new_centre=new_centre,
        n_draws=len(hr_draws), n_draws_curves=n_curve_draws, provenance=prov,
        notes=tuple(notes), hr_draws=hr_draws, decision=decision,
        levels=(model_ref, *level_cols), follow_up=tmax, time_hrs=time_hrs)

"""The effect of one categorical covariate (the treatment line) with its uncertainty.

:func:`contrast_effects` answers, from one fit, what a reanalysis of "RE as second-line vs
salvage" needs:

* the posterior hazard ratio of ``level`` against ``reference`` (median, equal-tailed CrI) and
  the posterior probabilities P(HR < 1), P(HR < benefit), P(HR > harm) and
  P(rope_low < HR < rope_high) (region of practical equivalence);
* covariate-adjusted survival curves by level, standardised over the cohort (g-computation):
  for each posterior draw, every unit is given the level while keeping its other covariates and
  its own centre effect, and the unit curves S(t | x_i, u_c(i)) are averaged;
* the posterior of the difference (level minus reference) in the median of those curves and in
  the restricted mean survival time (RMST) at each horizon;
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

from .effects import effects_frame
from .errors import ResultError
from .predict import (
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
)

__all__ = ["ContrastResult", "contrast_effects"]


def _summ(x, level: float) -> tuple[float, float, float]:
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    if x.size == 0:  # e.g. a median not reached in any draw
        return np.nan, np.nan, np.nan
    lo, mid, hi = np.quantile(x, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return float(mid), float(lo), float(hi)


@dataclass(frozen=True)
class ContrastResult:
    """Everything :func:`contrast_effects` computed for one fit."""

    model: str
    endpoint: str
    term: str
    level: str
    reference: str
    time_unit: str
    conf_level: float
    hr: tuple[float, float, float]             # median, lower, upper
    probabilities: pd.DataFrame                # event, threshold text, probability
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

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    @property
    def contrast(self) -> str:
        return f"{self.level} vs {self.reference}"

    def effects(self) -> pd.DataFrame:
        """The results as rows of the shared effects table."""
        p = self.provenance
        base = {"endpoint": self.endpoint, "term": self.term, "interval": "CrI",
                "conf_level": self.conf_level, "n": p.get("n_units"),
                "events": p.get("n_events"), "data_hash": p.get("data_hash"),
                "synthetic": self.synthetic}
        m = f"Bayesian {self.model}"
        rows = [{**base, "quantity": "hazard_ratio", "group": self.contrast,
                 "estimate": self.hr[0], "lower": self.hr[1], "upper": self.hr[2],
                 "method": f"{m}, posterior median and equal-tailed CrI"}]
        for r in self.probabilities.itertuples():
            rows.append({**base, "quantity": r.quantity, "group": self.contrast,
                         "estimate": r.probability, "interval": "", "conf_level": np.nan,
                         "method": f"{m}, posterior probability {r.event}"})
        for r in self.medians.itertuples():
            rows.append({**base, "quantity": "standardised_median" if r.what == "level" else
                         "standardised_median_difference", "group": r.group,
                         "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                         "method": f"{m}, g-computation over the cohort ({self.time_unit})"})
        for r in self.rmst.itertuples():
            rows.append({**base, "quantity": "standardised_rmst" if r.what == "level" else
                         "standardised_rmst_difference", "group": r.group,
                         "horizon": r.horizon, "estimate": r.estimate, "lower": r.lower,
                         "upper": r.upper,
                         "method": f"{m}, g-computation over the cohort ({self.time_unit})"})
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
            rows.append({**base, "quantity": r.quantity, "group": r.group,
                         "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                         "interval": "PrI", "method": f"{m}, posterior predictive: {r.note}"})
        return effects_frame(rows)

    def to_text(self) -> str:
        u = self.time_unit
        lines = [f"{self.term}: {self.contrast}, endpoint {self.endpoint} ({self.model})",
                 f"  HR {self.hr[0]:.2f} ({self.conf_level:.0%} CrI {self.hr[1]:.2f}-"
                 f"{self.hr[2]:.2f})"]
        lines += [f"  {r.event:<24} {r.probability:.3f}" for r in self.probabilities.itertuples()]
        for r in self.medians.itertuples():
            lines.append(f"  standardised median, {r.group:<26} {r.estimate:7.1f} {u} "
                         f"({r.lower:.1f} to {r.upper:.1f})")
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
        return "\n".join(lines) + "\n"


def _standardised(tree, post, *, term, level, reference, horizons, conf_level, max_draws,
                  grid_points, max_units, rng, seed, notes):
    """g-computation over the cohort (thinned draws, possibly a subsample of units): the
    standardised curves by level, their medians and RMSTs and the differences."""
    a = tree.attrs
    family = a["family"]
    cuts = cuts_of(tree)
    groups = group_indexes(tree)
    idx = draw_indices(tree, max_draws)
    X = tree["constant_data"]["X"].values
    covariates = [str(c) for c in tree["constant_data"]["covariate"].values]
    units = np.arange(X.shape[0])
    if len(units) > max_units:
        units = np.sort(rng.choice(units, max_units, replace=False))
        notes.append(f"standardised over a random subsample of {max_units} of "
                     f"{X.shape[0]} units (seed {seed})")
    Xs = X[units]
    gs = {g: ix[units] for g, ix in groups.items()}
    params = baseline_params(tree, idx)
    t_obs = tree["observed_data"]["time"].values
    tmax = float(t_obs.max())
    horizons = tuple(float(h) for h in horizons)
    beyond = [h for h in horizons if h > tmax]
    if beyond:
        notes.append(f"RMST horizon(s) {beyond} lie beyond the longest follow-up "
                     f"({tmax:.1f} {a['time_unit']}): extrapolated by the parametric model")
    grid = np.unique(np.r_[np.linspace(0.0, max(tmax, *horizons) if horizons else tmax,
                                       grid_points), horizons])
    q = [(1 - conf_level) / 2, 0.5, (1 + conf_level) / 2]
    curve_rows, med_rows, rmst_rows = [], [], []
    surv, med = {}, {}
    for lv in (reference, level):
        eta = linear_predictor(post, set_level(tree, Xs, term, lv), gs, idx,
                               covariates=covariates)
        surv[lv] = standardised_survival(family, grid, params, eta, cuts)
        med[lv] = survival_quantile(family, params, eta, cuts, upper=1e3 * tmax)
        lo, mid, hi = np.quantile(surv[lv], q, axis=0)
        curve_rows.append(pd.DataFrame({"time": grid, "level": lv, "estimate": mid,
                                        "lower": lo, "upper": hi}))
    for lv in (reference, level):
        m = med[lv]
        est, lo, hi = _summ(np.where(np.isfinite(m), m, np.nan), conf_level)
        share_nr = float(np.mean(~np.isfinite(m)))
        med_rows.append({"what": "level", "group": lv, "estimate": est, "lower": lo,
                         "upper": hi, "prob_positive": np.nan, "not_reached": share_nr})
    d = med[level] - med[reference]
    est, lo, hi = _summ(np.where(np.isfinite(d), d, np.nan), conf_level)
    med_rows.append({"what": "difference", "group": f"{level} minus {reference}",
                     "estimate": est, "lower": lo, "upper": hi,
                     "prob_positive": float(np.mean(d[np.isfinite(d)] > 0)),
                     "not_reached": float(np.mean(~np.isfinite(d)))})
    for h in horizons:
        k = grid <= h
        area = {lv: np.trapezoid(surv[lv][:, k], grid[k], axis=1) for lv in surv}
        for lv in (reference, level):
            est, lo, hi = _summ(area[lv], conf_level)
            rmst_rows.append({"horizon": h, "what": "level", "group": lv, "estimate": est,
                              "lower": lo, "upper": hi, "prob_positive": np.nan})
        dd = area[level] - area[reference]
        est, lo, hi = _summ(dd, conf_level)
        rmst_rows.append({"horizon": h, "what": "difference",
                          "group": f"{level} minus {reference}", "estimate": est,
                          "lower": lo, "upper": hi, "prob_positive": float(np.mean(dd > 0))})
    return (pd.concat(curve_rows, ignore_index=True), pd.DataFrame(med_rows),
            pd.DataFrame(rmst_rows), len(idx))


def contrast_effects(tree, *, term: str = "line", level: str | None = None,
                     reference: str | None = None, benefit: float = 0.8, harm: float = 1.25,
                     rope: tuple[float, float] = (0.91, 1.10), horizons=(24.0, 60.0),
                     conf_level: float = 0.95, max_draws: int = 1000, grid_points: int = 200,
                     max_units: int = 3000, seed: int = 20261123,
                     standardise: bool = True) -> ContrastResult:
    """Hazard ratio, probabilities, standardised curves and their differences for
    ``level`` vs ``reference`` of ``term`` (default: the model's own contrast).
    ``standardise=False`` skips the curves, medians and RMSTs (empty tables)."""
    if not (0 < benefit < 1 < harm) or not (rope[0] < 1 < rope[1]):
        raise ResultError(f"thresholds must satisfy benefit < 1 < harm and rope_low < 1 < "
                          f"rope_high; got benefit {benefit}, harm {harm}, rope {rope}")
    try:
        model_ref, levels, level_cols = term_levels(tree, term)
    except ValueError as exc:
        raise ResultError(str(exc)) from None
    if level is None:
        level = next(iter(level_cols))
    reference = model_ref if reference is None else reference
    for name, lv in (("level", level), ("reference", reference)):
        if lv not in levels:
            raise ResultError(f"{name} {lv!r} is not a level of {term!r} in "
                              f"{tree.attrs['model']!r}; levels: {list(levels)}")
    if level == reference:
        raise ResultError(f"level and reference are both {level!r}")
    a = tree.attrs
    post = tree["posterior"].dataset
    rng = np.random.default_rng(seed)
    notes = []

    # --- hazard ratio and probabilities (all draws) -----------------------------------------
    beta = flat_draws(post, "beta")

    def coef(lv, b):
        return np.zeros(b.shape[0]) if lv == model_ref else b[:, level_cols[lv]]

    log_hr = coef(level, beta) - coef(reference, beta)
    hr_draws = np.exp(log_hr)
    hr = _summ(hr_draws, conf_level)
    probs = pd.DataFrame([
        ("prob_hr_below_1", "P(HR < 1)", float(np.mean(hr_draws < 1))),
        (f"prob_hr_below_{benefit:g}", f"P(HR < {benefit:g})",
         float(np.mean(hr_draws < benefit))),
        (f"prob_hr_above_{harm:g}", f"P(HR > {harm:g})", float(np.mean(hr_draws > harm))),
        (f"prob_rope_{rope[0]:g}_{rope[1]:g}", f"P({rope[0]:g} < HR < {rope[1]:g})",
         float(np.mean((hr_draws > rope[0]) & (hr_draws < rope[1])))),
    ], columns=["quantity", "event", "probability"])

    # --- standardised curves ----------------------------------------------------------------
    groups = group_indexes(tree)
    if standardise:
        curves, medians, rmst, n_curve_draws = _standardised(
            tree, post, term=term, level=level, reference=reference, horizons=horizons,
            conf_level=conf_level, max_draws=max_draws, grid_points=grid_points,
            max_units=max_units, rng=rng, seed=seed, notes=notes)
    else:
        curves = pd.DataFrame(columns=["time", "level", "estimate", "lower", "upper"])
        medians = pd.DataFrame(columns=["what", "group", "estimate", "lower", "upper",
                                        "prob_positive", "not_reached"])
        rmst = pd.DataFrame(columns=["horizon", "what", "group", "estimate", "lower", "upper",
                                     "prob_positive"])
        n_curve_draws = 0

    # --- centres ---------------------------------------------------------------------------
    centre_rows, group_sd, new_rows = [], {}, []
    for g, ix in groups.items():
        if f"sd_{g}" not in post:
            continue
        sd = flat_draws(post, f"sd_{g}")
        group_sd[g] = _summ(sd, conf_level)
        u = flat_draws(post, f"u_{g}")
        glevels = [str(v) for v in post[g].values]
        counts = np.bincount(ix, minlength=len(glevels))
        uv_name = f"u_{g}_varying"
        vary_cols = ([str(c) for c in post[uv_name].coords[f"{g}_varying"].values]
                     if uv_name in post else [])
        term_cols = {lv: f"{term}[{lv}]" for lv in (level, reference) if lv != model_ref}
        varies = any(c in vary_cols for c in term_cols.values())
        for j, lv in enumerate(glevels):
            est, lo, hi = _summ(np.exp(u[:, j]), conf_level)
            row = {"group_name": g, "level": lv, "n": int(counts[j]), "hr": est, "lower": lo,
                   "upper": hi}
            if varies:
                uv = flat_draws(post, uv_name)[:, j, :]
                shift = sum(sign * uv[:, vary_cols.index(term_cols[lv2])]
                            for lv2, sign in ((level, 1), (reference, -1))
                            if lv2 in term_cols and term_cols[lv2] in vary_cols)
                row.update(dict(zip(("line_hr", "line_lower", "line_upper"),
                                    _summ(np.exp(log_hr + shift), conf_level), strict=True)))
            centre_rows.append(row)
        u_new = sd * rng.standard_normal(sd.shape)
        est, lo, hi = _summ(np.exp(u_new), conf_level)
        new_rows.append({"quantity": "new_group_hr", "group": g, "estimate": est, "lower": lo,
                         "upper": hi, "note": f"HR of a new {g} against the typical {g}, "
                                              f"exp(u_new), u_new ~ N(0, sd_{g})"})
        if varies:
            sdv = flat_draws(post, f"sd_{g}_varying")
            shift = np.zeros_like(log_hr)
            for lv2, sign in ((level, 1), (reference, -1)):
                c = term_cols.get(lv2)
                if c in vary_cols:
                    shift += sign * sdv[:, vary_cols.index(c)] * rng.standard_normal(len(shift))
            est, lo, hi = _summ(np.exp(log_hr + shift), conf_level)
            note = (f"{term} HR in a new {g}: exp(log HR + v_new), v_new ~ "
                    f"N(0, sd_{g}_varying)")
        else:
            est, lo, hi = hr
            note = (f"the model has no {g}-varying {term} effect, so the {term} HR in a new "
                    f"{g} equals the population HR")
        new_rows.append({"quantity": "new_group_contrast_hr", "group": g, "estimate": est,
                         "lower": lo, "upper": hi, "note": note})
    centres = pd.DataFrame(centre_rows, columns=["group_name", "level", "n", "hr", "lower",
                                                 "upper", "line_hr", "line_lower",
                                                 "line_upper"])
    prov = {k: a.get(k) for k in ("data_hash", "data_source", "n_units", "n_events",
                                  "spec_hash", "seed", "sampler")}
    prov["synthetic"] = bool(int(a.get("synthetic", 0)))
    return ContrastResult(
        model=a["model"], endpoint=a["endpoint"], term=term, level=level, reference=reference,
        time_unit=a.get("time_unit", ""), conf_level=conf_level, hr=hr, probabilities=probs,
        curves=curves, medians=medians, rmst=rmst, centres=centres, group_sd=group_sd,
        new_centre=pd.DataFrame(new_rows), n_draws=len(hr_draws), n_draws_curves=n_curve_draws,
        provenance=prov, notes=tuple(notes), hr_draws=hr_draws)

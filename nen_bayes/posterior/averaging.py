"""Model averaging across families: the cohort's survival curve, its median and RMST, as a
stacking mixture of the fitted models' posterior predictive distributions.

Each fit gives the cohort-standardised survival curve (g-computation over the units as fitted,
each with its own covariates and group effects: :func:`~nen_bayes.bayes.predict.
standardised_survival`) per posterior draw, on a common grid that reaches beyond the longest
follow-up (where the families disagree most: the extrapolation). With weights ``w_m`` summing
to 1 (stacking of the PSIS-LOO predictive densities, Yao et al. 2018, from
:func:`~nen_bayes.posterior.compare.loo_table`), the averaged posterior is the mixture that
takes a draw from model m with probability ``w_m``. Its estimate is the stacked predictive
survival, the mixture's mean curve ``sum_m w_m E[S_m(t)]``, and the survival at a horizon, the
RMST and the median are those of that curve; their intervals are the equal-tailed quantiles of
the quantity over the mixture's draws. Each model's own rows are its posterior median and
interval. A median a curve does not reach within the grid is ``inf`` (not reached).

Stacking weights say how to combine the models' predictions of these data, not how likely
each model is; beyond follow-up no data inform them.
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
    group_indexes,
    linear_predictor,
    standardised_survival,
    time_varying_of,
    unit_patterns,
)
from nen_bayes.effects import effects_frame
from nen_bayes.errors import ComparisonError
from nen_bayes.posterior.summary import interval
from nen_bayes.provenance import Provenanced, is_synthetic

__all__ = ["AVERAGED", "ModelAverage", "model_average"]

#: The method of the averaged rows of the effects table.
AVERAGED = "model-averaged (stacking)"


@dataclass(frozen=True)
class ModelAverage(Provenanced):
    """Each model's and the stacking mixture's cohort survival curve (``curves``: time, model,
    estimate, lower, upper; the mixture's model is :data:`AVERAGED`), the weights, the horizons
    and the follow-up, and the quantities as rows of the effects table (:attr:`effects`)."""

    endpoint: str
    time_unit: str
    weights: dict
    curves: pd.DataFrame
    quantities: pd.DataFrame      # model, quantity, horizon, estimate, lower, upper
    follow_up: float
    conf_level: float
    provenance: dict = field(default_factory=dict)

    @property
    def effects(self) -> pd.DataFrame:
        p = self.provenance
        base = {"endpoint": self.endpoint, "term": "all", "group": "cohort (standardised)",
                "interval": "CrI", "conf_level": self.conf_level, "n": p.get("n_units"),
                "events": p.get("n_events"), "data_hash": p.get("data_hash"),
                "synthetic": self.synthetic}
        names = ", ".join(f"{m} {w:.2f}" for m, w in self.weights.items())
        label = AVERAGED.replace("stacking", self.provenance.get("weights", "stacking"))
        rows = []
        for r in self.quantities.itertuples():
            method = (f"{label} over {names}" if r.model == AVERAGED
                      else f"Bayesian {r.model}, g-computation over the cohort")
            if np.isfinite(r.horizon) and r.horizon > self.follow_up:
                method += ", beyond the longest follow-up: extrapolated"
            rows.append({**base, "quantity": r.quantity,
                         "horizon": r.horizon if np.isfinite(r.horizon) else np.nan,
                         "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                         "method": method})
        return effects_frame(rows)

    def to_text(self) -> str:
        u = self.time_unit
        lines = [self.notice] if self.notice else []
        lines.append(f"Model averaging (stacking), endpoint {self.endpoint}; weights: "
                     + ", ".join(f"{m} {w:.2f}" for m, w in self.weights.items()))
        q = self.quantities
        for model in q["model"].unique():
            sub = q[q["model"] == model]
            parts = []
            for r in sub.itertuples():
                what = ("median" if r.quantity == "standardised_median" else
                        f"{'S' if r.quantity == 'standardised_survival' else 'RMST'}"
                        f"({r.horizon:g})")
                parts.append(f"{what} {r.estimate:.3g} ({r.lower:.3g}-{r.upper:.3g})")
            lines.append(f"  {model:<28} " + "; ".join(parts))
        lines.append(f"  times in {u}; the longest follow-up is {self.follow_up:.1f} {u}: "
                     "beyond it every curve is the family's extrapolation")
        if self.notice:
            lines.append(self.notice)
        return "\n".join(lines) + "\n"


def _curves(tree, grid: np.ndarray, max_draws: int) -> np.ndarray:
    """The cohort-standardised survival of one fit on ``grid`` for thinned draws: (S, T)."""
    post = tree["posterior"].dataset
    idx = draw_indices(tree, max_draws)
    X = tree["constant_data"]["X"].values
    covariates = [str(c) for c in tree["constant_data"]["covariate"].values]
    X_u, g_u, w = unit_patterns(X, group_indexes(tree))
    eta = linear_predictor(post, X_u, g_u, idx, covariates=covariates)
    return standardised_survival(tree.attrs["family"], grid, baseline_params(tree, idx), eta,
                                 cuts_of(tree), tv=time_varying_of(tree, X_u), weights=w)


def _median(curves: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The time each curve (rows) first reaches 1/2, linearly interpolated; inf if never."""
    below = curves <= 0.5
    reached = below.any(axis=1)
    k = np.argmax(below, axis=1)
    k0 = np.maximum(k - 1, 0)
    rows = np.arange(len(curves))
    s0, s1 = curves[rows, k0], curves[rows, k]
    frac = np.where(s0 > s1, (s0 - 0.5) / np.where(s0 > s1, s0 - s1, 1.0), 0.0)
    out = grid[k0] + frac * (grid[k] - grid[k0])
    return np.where(reached, out, np.inf)


def _rmst(curves: np.ndarray, grid: np.ndarray, tau: float) -> np.ndarray:
    keep = grid <= tau
    return np.trapezoid(curves[:, keep], grid[keep], axis=1)


def model_average(trees: dict, weights: dict, *, horizons=None, extend: float = 2.0,
                  grid_points: int = 241, max_draws: int = 1000, conf_level: float = 0.95,
                  seed: int = 0, method: str = "stacking") -> ModelAverage:
    """The stacking mixture of ``trees`` (model name -> fit of one endpoint on one cohort)
    with ``weights`` (model name -> weight, summing to 1; the stacking weights of
    :func:`~nen_bayes.posterior.compare.loo_table`), module docstring.

    ``horizons``: the times of the survival and RMST rows (default: the longest follow-up and
    ``extend`` times it, rounded); the grid reaches ``extend`` times the longest follow-up.
    ``method``: how the weights were computed (``stacking``, or the pseudo-BMA weights of
    :func:`~nen_bayes.posterior.compare.loo_table`), named in the averaged rows' method.

    Raises
    ------
    ComparisonError
        Fits of different data, endpoints or time units, weights that do not name the fits or
        do not sum to 1.
    """
    if set(weights) != set(trees):
        raise ComparisonError(f"the weights name {sorted(weights)}; the fits are "
                              f"{sorted(trees)}")
    w = np.array([float(weights[m]) for m in trees])
    if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
        raise ComparisonError(f"weights must be >= 0 and sum to 1; got {dict(weights)}")
    for what in ("data_hash", "endpoint", "time_unit", "n_units"):
        values = {m: t.attrs.get(what) for m, t in trees.items()}
        if len(set(values.values())) > 1:
            raise ComparisonError(f"these fits differ in {what}: {values}; average only fits "
                                  "of one endpoint of one cohort")
    first = next(iter(trees.values()))
    follow_up = float(max(float(t["observed_data"]["time"].values.max()) for t in
                          trees.values()))
    upper = first["constant_data"].get("upper") if "constant_data" in first.children else None
    if upper is not None:
        follow_up = max(follow_up, float(np.nanmax(np.where(np.isfinite(upper.values),
                                                            upper.values, 0.0))))
    end = extend * follow_up
    horizons = (tuple(float(h) for h in horizons) if horizons is not None
                else (round(follow_up, 1), round(end, 1)))
    grid = np.unique(np.concatenate([np.linspace(0.0, end, grid_points), horizons]))
    curves = {m: _curves(t, grid, max_draws) for m, t in trees.items()}
    rng = np.random.default_rng(seed)
    n_mix = max(len(c) for c in curves.values())
    pick = rng.choice(len(trees), size=n_mix, p=w / w.sum())
    mixture = np.empty((n_mix, len(grid)))
    for j, c in enumerate(curves.values()):
        sel = pick == j
        mixture[sel] = c[rng.integers(len(c), size=int(sel.sum()))]
    q = [(1 - conf_level) / 2, 0.5, (1 + conf_level) / 2]
    curve_rows, rows = [], []
    for model, c in [*curves.items(), (AVERAGED, mixture)]:
        lo, mid, hi = np.quantile(c, q, axis=0)
        if model == AVERAGED:  # the stacked predictive: the mixture's mean curve
            mid = c.mean(axis=0)
        curve_rows.append(pd.DataFrame({"time": grid, "model": model, "estimate": mid,
                                        "lower": lo, "upper": hi}))

        def summary(draws, of_mean, model=model):
            est, lo_, hi_ = interval(draws, conf_level)
            return {"estimate": float(of_mean) if model == AVERAGED else est,
                    "lower": lo_, "upper": hi_}
        rows.append({"model": model, "quantity": "standardised_median", "horizon": np.inf,
                     **summary(_median(c, grid), _median(mid[None], grid)[0])})
        for h in horizons:
            k = int(np.searchsorted(grid, h))
            rows.append({"model": model, "quantity": "standardised_survival", "horizon": h,
                         **summary(c[:, k], mid[k])})
            rows.append({"model": model, "quantity": "standardised_rmst", "horizon": h,
                         **summary(_rmst(c, grid, h), _rmst(mid[None], grid, h)[0])})
    prov = {k: first.attrs.get(k) for k in ("data_hash", "n_units", "n_events")}
    prov["synthetic"] = is_synthetic(first.attrs)
    prov["families"] = {m: t.attrs["family"] for m, t in trees.items()}
    prov["effects"] = {m: families.get_family(t.attrs["family"]).effect
                       for m, t in trees.items()}
    return ModelAverage(endpoint=first.attrs["endpoint"], time_unit=first.attrs["time_unit"],
                        weights={m: float(weights[m]) for m in trees},
                        curves=pd.concat(curve_rows, ignore_index=True),
                        quantities=pd.DataFrame(rows), follow_up=follow_up,
                        conf_level=conf_level, provenance={**prov, "weights": method})

"""Predictions from a stored fit: linear predictors and survival curves of any covariate pattern.

Everything here works from the ``DataTree`` alone (``posterior``, ``constant_data`` and the
attrs), so a fit read back from disk predicts exactly as the one in memory. Draws are addressed
by their *flat* index ``chain * n_draw + draw``.

Linear predictor of unit *i* in draw *s*::

    eta[s, i] = X[i] @ beta[s] + sum_g u_g[s, g(i)] + sum_g X[i, V_g] @ u_g_varying[s, g(i), :]

where ``V_g`` are the design columns whose coefficients vary by group *g*.
"""

from __future__ import annotations

import json

import numpy as np

from nen_bayes.bayes import families
from nen_bayes.cohorts.outcomes import Outcomes

__all__ = [
    "baseline_params",
    "cuts_of",
    "draw_indices",
    "flat_draws",
    "group_indexes",
    "linear_predictor",
    "outcomes_of",
    "set_level",
    "standardised_survival",
    "survival_quantile",
    "term_levels",
    "time_varying_of",
    "unit_cells",
    "unit_levels",
    "unit_patterns",
]


def flat_draws(ds, name: str, idx=None) -> np.ndarray:
    """Variable ``name`` of a dataset with (chain, draw) leading dims, as (S, ...)."""
    a = ds[name].to_numpy()
    a = a.reshape((-1, *a.shape[2:]))
    return a if idx is None else a[idx]


def draw_indices(tree, max_draws: int | None = None) -> np.ndarray:
    """Flat indices of all posterior draws, or of ``max_draws`` evenly spaced ones (thinning
    keeps every chain represented and is deterministic)."""
    post = tree["posterior"]
    n = post.sizes["chain"] * post.sizes["draw"]
    if max_draws is None or max_draws >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_draws).round().astype(int))


def baseline_params(tree, idx=None, group: str = "posterior") -> dict[str, np.ndarray]:
    """The family's baseline parameters as (S,) arrays (``log_hazard``: (S, K))."""
    ds = tree[group].dataset
    names = families.get_family(tree.attrs["family"]).parameter_names
    names += tuple(n for n, _ in families.STRUCTURE_PARAMETERS.values() if n in ds)
    return {n: flat_draws(ds, n, idx) for n in names}


def time_varying_of(tree, X: np.ndarray | None = None) -> dict | None:
    """The fit's time-varying effect (attrs ``time_varying``) with ``x``, its columns of ``X``
    (default: the fit's design matrix), as :mod:`~nen_bayes.bayes.families` takes it; None
    when every effect of the model is proportional."""
    tv = json.loads(tree.attrs.get("time_varying", "null"))
    if tv is None:
        return None
    covariates = [str(c) for c in tree["constant_data"]["covariate"].values]
    X = tree["constant_data"]["X"].values if X is None else X
    tv["x"] = np.asarray(X, float)[:, [covariates.index(c) for c in tv["columns"]]]
    if "cuts" in tv:
        tv["cuts"] = np.asarray(tv["cuts"], float)
    return tv


def outcomes_of(tree) -> Outcomes:
    """What the fit observed of each unit (:class:`~nen_bayes.cohorts.outcomes.Outcomes`), from
    its ``observed_data`` and ``constant_data``: the times, the event indicator, late-entry
    times and the upper bounds of interval-censored events where the fit has them."""
    const = tree["constant_data"]
    time = tree["observed_data"]["time"].values
    entry = const["entry"].values if "entry" in const else None
    upper = const["upper"].values if "upper" in const else None
    return Outcomes(np.asarray(time, float), const["time"].values.astype(np.int64),
                    None if entry is None else np.asarray(entry, float),
                    None if upper is None else np.asarray(upper, float))


def cuts_of(tree) -> np.ndarray | None:
    c = json.loads(tree.attrs.get("cuts", "null"))
    return None if c is None else np.asarray(c, float)


def group_indexes(tree) -> dict[str, np.ndarray]:
    """Each grouping level's per-unit index, from ``constant_data``."""
    const = tree["constant_data"].dataset
    return {name[:-len("_index")]: const[name].to_numpy().astype(int)
            for name in const.data_vars if name.endswith("_index")}


def linear_predictor(ds, X: np.ndarray, groups: dict[str, np.ndarray], idx, *,
                     covariates, cells=None) -> np.ndarray:
    """``eta`` (S, n) for draws ``idx`` of dataset ``ds`` (posterior or prior), design matrix
    ``X`` (n, p) whose columns are named ``covariates``, and per-unit group indexes. Units
    sharing covariates and groups share eta: it is computed once per pattern and copied when
    :func:`unit_cells` finds few patterns (``cells``: its result for these units, computed
    here when not given; pass it when calling block by block)."""
    idx = np.asarray(idx)
    X = np.asarray(X, float)
    cells = unit_cells(X, groups) if cells is None else cells
    if not cells:
        return _eta(ds, X, groups, idx, list(covariates))
    first, which = cells
    return _eta(ds, X[first], {g: index[first] for g, index in groups.items()}, idx,
                list(covariates))[:, which]


def _eta(ds, X: np.ndarray, groups: dict[str, np.ndarray], idx: np.ndarray,
         covariates: list) -> np.ndarray:
    """:func:`linear_predictor` unit by unit."""
    eta = np.zeros((len(idx), X.shape[0]))
    if X.shape[1] and "beta" in ds:
        eta += flat_draws(ds, "beta", idx) @ X.T
    for g, index in groups.items():
        u_name = f"u_{g}"
        if u_name in ds:
            eta += flat_draws(ds, u_name, idx)[:, index]
        v_name = f"u_{g}_varying"
        if v_name in ds:
            cols = [covariates.index(str(c)) for c in ds[v_name].coords[f"{g}_varying"].values]
            uv = flat_draws(ds, v_name, idx)  # (S, G, V)
            eta += np.einsum("snv,nv->sn", uv[:, index, :], X[:, cols])
    return eta


def _patterns(X: np.ndarray, groups: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The units' distinct patterns of covariates and group levels: the first unit of each (in
    the order of their first units) and every unit's pattern (an index into the former)."""
    n = X.shape[0]
    code = np.zeros(n, np.int64)
    for col in [*np.asarray(X, float).T, *groups.values()]:  # one integer per pattern
        _, inv = np.unique(np.asarray(col), return_inverse=True)
        code = code * (int(inv.max(initial=0)) + 1) + inv.ravel()
        _, code = np.unique(code, return_inverse=True)  # renumbered: no overflow
        code = code.ravel()
    _, first, which = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[which.ravel()]


def unit_cells(X: np.ndarray, groups: dict[str, np.ndarray]):
    """:func:`_patterns` of the units when there are fewer than half as many patterns as units
    (then :func:`linear_predictor` computes eta per pattern and copies it: the same numbers to
    rounding, the matrix product summing in another order); else ``()``."""
    n = X.shape[0]
    if n < 64:
        return ()
    first, which = _patterns(X, groups)
    return () if 2 * len(first) > n else (first, which)


def unit_patterns(X: np.ndarray, groups: dict[str, np.ndarray]
                  ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The distinct units of a design: rows of ``X`` with the same covariates and the same
    group of every grouping level have the same linear predictor and survival curve in every
    draw, so a cohort average over the units is the average over the distinct patterns
    weighted by how many units share each. Returns ``(X, groups, weights)`` of the patterns
    (in the order of their first unit), the weights summing to 1. With categorical covariates
    only there are at most (number of covariate patterns) x (groups) of them, whatever the
    number of units; with a continuous covariate nearly every unit is its own pattern."""
    X = np.asarray(X, float)
    first, which = _patterns(X, groups)
    counts = np.bincount(which, minlength=len(first))
    return (X[first], {g: np.asarray(ix)[first] for g, ix in groups.items()},
            counts / counts.sum())


def _unit_mean(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Mean over the units' axis (1) of ``values`` (S, n[, T]), weighted by ``weights``
    (:func:`unit_patterns`) when given."""
    if weights is None:
        return values.mean(axis=1)
    return np.einsum("sn...,n->s...", values, np.asarray(weights, float))


def _h0_grid(family: str, grid: np.ndarray, params: dict, cuts) -> np.ndarray:
    """H0 on a common time grid for every draw: (S, T)."""
    fam = families.get_family(family)
    return fam.cumulative_hazard(grid, fam.expand(params), cuts)


def _h0_each(family: str, t: np.ndarray, params: dict, cuts) -> np.ndarray:
    """H0 at one time per draw: t (S,) -> (S,)."""
    fam = families.get_family(family)
    return fam.cumulative_hazard(t, {k: v for k, v in params.items()
                                     if k in fam.parameter_names}, cuts)


def _tv_blocks(params: dict, tv: dict, sel) -> tuple[dict, np.ndarray]:
    """The Weibull/exponential params (b, 1, 1) and the time-varying offsets of draws ``sel``
    shaped (b, n, 1[, K]) for a time grid along the last axis."""
    p = {k: np.asarray(v, float)[sel][:, None, None] for k, v in params.items()
         if k in ("shape", "scale")}
    off = families.tv_offsets(tv, {k: np.asarray(v)[sel] for k, v in params.items()})
    return p, off[:, :, None, ...]


def standardised_survival(family: str, grid, params: dict, eta: np.ndarray, cuts=None, *,
                          block: int = 64, tv: dict | None = None,
                          weights: np.ndarray | None = None) -> np.ndarray:
    """Cohort-averaged (g-computation) survival on ``grid``: mean over units of
    exp(-H0(t) exp(eta_i)) (an accelerated-failure-time family: of S0(t exp(-eta_i))), per
    draw. ``eta`` is (S, n); returns (S, T). With a time-varying
    effect ``tv`` (:func:`time_varying_of`, its ``x`` the units' columns) each unit's
    cumulative hazard is :func:`~nen_bayes.bayes.families.tv_cumulative_hazard`. ``weights``
    (n,): a weighted mean over the columns of ``eta`` (the distinct units of
    :func:`unit_patterns` and their shares) instead of the plain mean.

    Computed in blocks of draws so that memory stays at block x n x T floats.
    """
    grid = np.asarray(grid, float)
    if tv is not None:
        out = np.empty((eta.shape[0], len(grid)))
        for a in range(0, eta.shape[0], block):
            b = slice(a, a + block)
            p, off = _tv_blocks(params, tv, b)
            h = families.tv_cumulative_hazard(family, grid[None, None, :], p,
                                              eta[b][:, :, None], tv, off)
            out[b] = _unit_mean(np.exp(-h), weights)
        return out
    fam = families.get_family(family)
    if not fam.proportional:  # S(t | eta) = S0(t exp(-eta)): no common baseline curve
        out = np.empty((eta.shape[0], len(grid)))
        base = {k: v for k, v in params.items() if k in fam.parameter_names}
        for a in range(0, eta.shape[0], block):
            b = slice(a, a + block)
            p = fam.expand({k: np.asarray(v)[b] for k, v in base.items()}, axes=2)
            out[b] = _unit_mean(fam.survival(grid[None, None, :], p, eta[b][:, :, None],
                                             cuts), weights)
        return out
    h0 = _h0_grid(family, grid, params, cuts)  # (S, T)
    r = np.exp(eta)  # (S, n)
    out = np.empty_like(h0)
    for a in range(0, h0.shape[0], block):
        b = slice(a, a + block)
        out[b] = _unit_mean(np.exp(-h0[b, None, :] * r[b, :, None]), weights)
    return out


def survival_quantile(family: str, params: dict, eta: np.ndarray, cuts=None, *,
                      p: float = 0.5, upper: float = 1e5, iterations: int = 80,
                      tv: dict | None = None, weights: np.ndarray | None = None
                      ) -> np.ndarray:
    """Per draw, the time t at which the standardised survival mean_i S(t | eta_i) = p (with
    a time-varying effect ``tv``: each unit's survival as in :func:`standardised_survival`;
    ``weights``: its weighted mean over the columns of ``eta``, as there).

    Bisection on log time in (1e-8, ``upper``); draws whose curve stays above p up to ``upper``
    give ``inf`` (not reached)."""
    n_draws = eta.shape[0]
    r = np.exp(eta)
    if tv is not None:
        pp = {k: np.asarray(v, float)[:, None] for k, v in params.items()
              if k in ("shape", "scale")}
        off = families.tv_offsets(tv, params)

    fam = families.get_family(family)
    base = fam.expand({k: v for k, v in params.items() if k in fam.parameter_names})

    def s_at(t):
        if not fam.proportional:  # each unit's own curve, S0(t exp(-eta))
            return _unit_mean(fam.survival(t[:, None], base, eta, cuts), weights)
        if tv is not None:
            return _unit_mean(np.exp(-families.tv_cumulative_hazard(
                family, t[:, None], pp, eta, tv, off)), weights)
        return _unit_mean(np.exp(-_h0_each(family, t, params, cuts)[:, None] * r), weights)

    lo = np.full(n_draws, np.log(1e-8))
    hi = np.full(n_draws, np.log(upper))
    reached = s_at(np.exp(hi)) <= p
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = s_at(np.exp(mid)) <= p
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid)
    out = np.exp(0.5 * (lo + hi))
    out[~reached] = np.inf
    return out


def term_levels(tree, term: str) -> tuple[str, tuple[str, ...], dict[str, int]]:
    """A treatment-coded categorical term of a fit: its reference level, all its levels
    (reference first) and the design column of each non-reference level.

    Raises ``ValueError`` when ``term`` is not such a term of the model."""
    terms = json.loads(tree.attrs["terms"])
    contrasts = json.loads(tree.attrs["contrasts"])
    covariates = [str(c) for c in tree["constant_data"]["covariate"].values]
    cols = {c: j for j, c in enumerate(covariates) if terms.get(c) == term}
    if not cols:
        raise ValueError(f"{term!r} is not a covariate of the model {tree.attrs['model']!r}; "
                         f"its covariates: {sorted(set(terms.values()))}")
    refs = {contrasts[c].split(" vs ", 1)[1] for c in cols if " vs " in contrasts[c]}
    if len(refs) != 1:
        raise ValueError(f"{term!r} is not a treatment-coded categorical covariate of "
                         f"{tree.attrs['model']!r} (contrasts: {[contrasts[c] for c in cols]})")
    ref = refs.pop()
    level_cols = {c[len(term) + 1:-1]: j for c, j in cols.items()}
    return ref, (ref, *level_cols), level_cols


def unit_levels(tree, term: str) -> np.ndarray:
    """Each unit's level of a categorical term, recovered from the stored design matrix."""
    ref, _, level_cols = term_levels(tree, term)
    X = tree["constant_data"]["X"].values
    out = np.full(X.shape[0], ref, dtype=object)
    for lv, j in level_cols.items():
        out[X[:, j] == 1] = lv
    return out


def set_level(tree, X: np.ndarray, term: str, level: str) -> np.ndarray:
    """A copy of ``X`` in which every unit has ``level`` of ``term`` (g-computation)."""
    ref, levels, level_cols = term_levels(tree, term)
    if level not in levels:
        raise ValueError(f"{level!r} is not a level of {term!r}; levels: {list(levels)}")
    X = np.array(X, float, copy=True)
    X[:, list(level_cols.values())] = 0.0
    if level != ref:
        X[:, level_cols[level]] = 1.0
    return X

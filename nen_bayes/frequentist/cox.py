"""Cox proportional hazards models and the Schoenfeld-residual test of proportional hazards.

The hazard of unit *i* is :math:`h_0(t)\\exp(x_i^T\\beta)` (with a separate :math:`h_0` per
stratum when ``strata`` is given), so :math:`\\exp(\\beta_j)` is the hazard ratio of a one-unit
change, or of a factor level against its reference level. Fitting uses lifelines' partial
likelihood with Efron's handling of ties (R ``coxph``'s default). ``cluster`` gives the
cluster-robust (grouped-jackknife sandwich) variance, as R's ``coxph(..., cluster = centre)``:
:math:`D^T D` with :math:`D = U I^{-1}`, where the rows of :math:`U` are the score residuals
under Efron's approximation (:func:`efron_score_residuals`) summed within each cluster and
:math:`I^{-1}` is the model-based variance. With fewer than :data:`MIN_CLUSTERS` clusters it is
refused: the cluster scores sum to the total score, which is zero at the estimate, so with one
cluster :math:`D = 0` (a zero-width interval), and with a few clusters the sandwich is biased
downward (it estimates a variance from that many sums with a rank at most clusters - 1; see
Cameron and Miller 2015, J Hum Resour 50:317, on few clusters).

:func:`cox_zph` is the score test of R ``survival`` >= 3.0's ``cox.zph``: for each term, the
score test that the coefficients :math:`\\gamma` of the added time-varying covariates
:math:`x\\,g(t)` are zero, computed at :math:`(\\hat\\beta, \\gamma = 0)` with the full
information matrix of the augmented model (Efron ties), where :math:`g` is the transformed time
centred at its mean over events. ``transform="km"`` (the default) uses
:math:`g(t) = 1 - \\hat S(t-)`, the left-continuous pooled Kaplan-Meier estimate.

Aliased coefficients are handled as R's ``coxph`` handles them: before fitting, the columns of
the design matrix that the partial likelihood cannot identify are found (:func:`aliased_columns`)
and left out, the other coefficients are fitted without them, and their rows have no estimate
(R prints NA and warns "X matrix deemed to be singular"). A column is aliased when it is
constant within every stratum (the stratum's own baseline hazard absorbs it: e.g. a patient's
sex when each patient is a stratum) or a linear combination of the columns before it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from nen_bayes.errors import BaselineError, BaselineWarning
from nen_bayes.frequentist.km import kaplan_meier

__all__ = ["ALIAS_TOLERANCE", "MIN_CLUSTERS", "CoxResult", "Term", "aliased_columns", "cox_fit",
           "cox_zph", "design_matrix", "efron_score_residuals"]


#: The fewest clusters with which a cluster-robust (sandwich) variance is given: with one it is
#: zero, with few it is biased downward (module docstring).
MIN_CLUSTERS = 5


@dataclass(frozen=True)
class Term:
    """A model term: a factor (with levels, first = reference unless given) or a numeric."""

    name: str
    levels: tuple[str, ...] | None = None
    reference: str | None = None

    @property
    def is_factor(self) -> bool:
        return self.levels is not None


def design_matrix(data: pd.DataFrame, terms: list[Term]) -> tuple[pd.DataFrame, dict[str, list]]:
    """Treatment-coded design matrix and the columns belonging to each term.

    A factor with levels L and reference r gets one 0/1 column ``name=level`` per other level.
    """
    cols = {}
    groups: dict[str, list[str]] = {}
    for term in terms:
        if term.name not in data.columns:
            raise BaselineError(
                f"covariate {term.name!r} is not a column of the data. "
                f"Allowed: {sorted(map(str, data.columns))}")
        if term.is_factor:
            values = data[term.name].astype(str).to_numpy()
            ref = term.reference or term.levels[0]
            names = []
            for lv in term.levels:
                if lv == ref:
                    continue
                col = f"{term.name}={lv}"
                cols[col] = (values == lv).astype(float)
                names.append(col)
            groups[term.name] = names
        else:
            cols[term.name] = pd.to_numeric(data[term.name]).to_numpy(float)
            groups[term.name] = [term.name]
    return pd.DataFrame(cols, index=data.index), groups


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model: one row per coefficient in ``table``.

    ``table`` columns: ``term, column, level, reference, coef, se, hr, lower, upper, z, p``.
    ``not_estimated`` holds the notes (also in ``notes``) that say which rows have no estimate
    and why (aliased columns, factor levels without events).
    """

    table: pd.DataFrame
    n: int
    events: int
    strata: str | None
    cluster: str | None
    method: str
    loglik: float
    concordance: float
    zph: pd.DataFrame | None
    notes: tuple[str, ...] = ()
    not_estimated: tuple[str, ...] = ()


def cox_zph(time, event, X: np.ndarray, beta: np.ndarray, *, strata=None,
            groups: dict[str, list[int]] | None = None, transform: str = "km") -> pd.DataFrame:
    """R ``cox.zph`` (survival >= 3.0) score tests of proportional hazards.

    Parameters
    ----------
    time, event
        Follow-up and event indicator.
    X, beta
        Design matrix (n x p) and the fitted coefficients.
    strata
        Stratum of each unit (None: one stratum).
    groups
        Term name -> column indices (a multi-column factor is tested jointly); default one term
        per column.
    transform
        ``"km"`` (default), ``"rank"``, ``"identity"`` or ``"log"``.

    Returns
    -------
    DataFrame with ``term, chisq, df, p``; the last row is ``GLOBAL``.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    X = np.asarray(X, float)
    beta = np.asarray(beta, float)
    n, p = X.shape
    ttimes = _transformed_time(time, event, transform)
    gtime = ttimes - ttimes[event == 1].mean()
    strata = np.zeros(n) if strata is None else pd.factorize(np.asarray(strata))[0]
    eta = X @ beta
    r = np.exp(eta - eta.max())
    u = np.zeros(p)
    imat = np.zeros((2 * p, 2 * p))
    for s in np.unique(strata):
        m = strata == s
        _add_stratum(u, imat, time[m], event[m], X[m], r[m], gtime[m])
    groups = groups or {f"x{j}": [j] for j in range(p)}
    rows = []
    for name, cols in groups.items():
        kk = list(range(p)) + [p + c for c in cols]
        uu = np.r_[np.zeros(p), u[cols]]
        stat = float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        rows.append((name, stat, len(cols), float(chi2.sf(stat, len(cols)))))
    uu = np.r_[np.zeros(p), u]
    stat = float(uu @ np.linalg.solve(imat, uu))
    rows.append(("GLOBAL", stat, p, float(chi2.sf(stat, p))))
    return pd.DataFrame(rows, columns=["term", "chisq", "df", "p"])


def _transformed_time(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    """The time transform g(t) of :func:`cox_zph`, before centring."""
    if transform == "km":
        km = kaplan_meier(time, event).table
        idx = np.searchsorted(km["time"].to_numpy(), time, side="left")  # last time < t
        return 1.0 - np.r_[1.0, km["surv"].to_numpy()][idx]
    if transform == "rank":
        return pd.Series(time).rank().to_numpy()
    if transform == "identity":
        return time.copy()
    if transform == "log":
        return np.log(time)
    raise ValueError(f"transform {transform!r}: allowed km, rank, identity, log")


def _risk_sets(ts, es, xs, rs):
    """The sums over the risk set and over the events at each distinct time of one stratum,
    shared by the score/information and the score residuals under Efron ties: the index of each
    unit's time ``inv``, the number of times ``k``, the event mask ``de``, the risk-set sums of
    r and r x (``r0``, ``r1``), and the number of events ``d`` with their sums of r and r x
    (``d0``, ``d1``) at each time."""
    p = xs.shape[1]
    uniq, inv = np.unique(ts, return_inverse=True)
    k = len(uniq)
    r0 = np.bincount(inv, weights=rs, minlength=k)[::-1].cumsum()[::-1]
    a1 = np.zeros((k, p))
    np.add.at(a1, inv, rs[:, None] * xs)
    r1 = a1[::-1].cumsum(0)[::-1]
    de = es == 1
    d = np.bincount(inv[de], minlength=k)
    d0 = np.bincount(inv[de], weights=rs[de], minlength=k)
    d1 = np.zeros((k, p))
    np.add.at(d1, inv[de], rs[de, None] * xs[de])
    return inv, k, de, r0, r1, d, d0, d1


def _add_stratum(u: np.ndarray, imat: np.ndarray, ts, es, xs, rs, gs) -> None:
    """Add one stratum's score ``u`` and information ``imat`` of the augmented model
    (Efron ties), in place: ``ts, es, xs, rs, gs`` are its times, events, covariates, relative
    risks and centred transformed times."""
    p = xs.shape[1]
    inv, k, de, r0, r1, d, d0, d1 = _risk_sets(ts, es, xs, rs)
    a2 = np.zeros((k, p, p))
    np.add.at(a2, inv, rs[:, None, None] * xs[:, :, None] * xs[:, None, :])
    r2 = a2[::-1].cumsum(0)[::-1]
    d2 = np.zeros((k, p, p))
    np.add.at(d2, inv[de], rs[de, None, None] * xs[de, :, None] * xs[de, None, :])
    xsum = np.zeros((k, p))
    np.add.at(xsum, inv[de], xs[de])
    g_at = np.zeros(k)
    g_at[inv] = gs
    for j in np.nonzero(d)[0]:
        f = np.arange(d[j]) / d[j]  # Efron weights
        s0 = r0[j] - f * d0[j]
        s1 = r1[j][None, :] - f[:, None] * d1[j][None, :]
        s2 = r2[j][None] - f[:, None, None] * d2[j][None]
        mean = s1 / s0[:, None]
        cov = (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :]).sum(0)
        g = g_at[j]
        u += g * (xsum[j] - mean.sum(0))
        imat[:p, :p] += cov
        imat[:p, p:] += g * cov
        imat[p:, :p] += g * cov
        imat[p:, p:] += g * g * cov


#: Relative tolerance of :func:`aliased_columns`: a column is aliased when the part of its
#: information (standardised columns) not explained by the columns before it is at most this
#: fraction of the largest diagonal element, i.e. its R-squared on them, in the partial
#: likelihood's metric, exceeds 1 - 1e-9. R's ``coxph`` uses eps^0.75 (1.8e-12) on its scaled
#: matrix; the looser value allows for the rounding of cumulative sums over large cohorts.
ALIAS_TOLERANCE = 1e-9


def aliased_columns(X, time, event, *, strata=None, tol: float = ALIAS_TOLERANCE
                    ) -> dict[int, str]:
    """Columns of a design matrix whose coefficients the partial likelihood cannot identify.

    The information matrix at :math:`\\beta = 0` (Efron ties, one baseline hazard per stratum)
    of the columns standardised to unit variance is reduced column by column, in order, as
    R's ``coxph`` does with its Cholesky decomposition: column *j* is aliased when its pivot,
    the information it carries beyond the kept columns before it, is at most ``tol`` times the
    largest diagonal element. The earlier of two collinear columns is kept.

    Parameters
    ----------
    X
        Design matrix (n x p).
    time, event
        Follow-up and event indicator.
    strata
        Stratum of each unit (None: one stratum).

    Returns
    -------
    dict
        Column index -> ``"constant"`` (no information of its own: constant within every
        stratum, or among the units at risk at every event time) or ``"collinear"`` (a linear
        combination of the kept columns before it, within strata); kept columns are absent.
    """
    X = np.asarray(X, float)
    p = X.shape[1]
    if p == 0:
        return {}
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    strata = np.zeros(len(time)) if strata is None else pd.factorize(np.asarray(strata))[0]
    u = np.zeros(p)
    imat = np.zeros((2 * p, 2 * p))
    for s in np.unique(strata):
        m = strata == s
        _add_stratum(u, imat, time[m], event[m], Z[m], np.ones(m.sum()), np.zeros(m.sum()))
    info = imat[:p, :p]
    diag = np.diag(info)
    eps = tol * max(float(diag.max()), 0.0)
    aliased: dict[int, str] = {}
    kept: list[int] = []
    for j in range(p):
        if not diag[j] > eps:
            aliased[j] = "constant"
            continue
        b = info[kept, j]
        pivot = diag[j] - (b @ np.linalg.solve(info[np.ix_(kept, kept)], b) if kept else 0.0)
        if pivot > eps:
            kept.append(j)
        else:
            aliased[j] = "collinear"
    return aliased


def _alias_notes(aliased: dict[int, str], columns: list[str], groups: dict[str, list[str]],
                 strata: str | None, notes: list[str]) -> list[str]:
    """A note (returned and added to ``notes``) and a :class:`BaselineWarning` per kind of
    aliasing, naming the covariates (a whole term when all its columns are aliased, else its
    columns)."""
    added: list[str] = []
    for why in ("constant", "collinear"):
        names: list[str] = []
        for term, cols in groups.items():
            hit = [c for c in cols if aliased.get(columns.index(c)) == why]
            whole = all(columns.index(c) in aliased for c in cols)
            names += [term] if hit and whole else hit
        if not names:
            continue
        one = len(names) == 1
        listed = ", ".join(repr(x) for x in names)
        verb, it = ("is", "it") if one else ("are", "them")
        if why == "constant" and strata:
            what = (f"constant within every stratum of {strata!r} (each stratum has its own "
                    "baseline hazard, which absorbs them)")
        elif why == "constant":
            what = "constant among the units at risk at every event time"
        else:
            within = f" within strata of {strata!r}" if strata else ""
            what = f"a linear combination of the covariates before {it}{within}"
        model = f"Cox model stratified by {strata!r}" if strata else "Cox model"
        msg = (f"{model}: {listed} {verb} {what}, so no hazard ratio is estimated for {it} "
               f"(NA in R's coxph); the other coefficients are fitted without {it}.")
        notes.append(msg)
        added.append(msg)
        warnings.warn(msg, BaselineWarning, stacklevel=3)
    return added


# long: the documented options of one Cox fit, each a step (checks, aliasing, fit, rows)
def cox_fit(data: pd.DataFrame, duration: str, event: str, terms: list[Term], *,
            strata: str | None = None, cluster: str | None = None, conf_level: float = 0.95,
            zph: bool = True, entry: str | None = None) -> CoxResult:
    """Fit a Cox model (Efron ties) and, optionally, test proportional hazards.

    Parameters
    ----------
    data
        One row per unit; must hold ``duration``, ``event``, every term, ``strata``, ``cluster``.
    terms
        Covariates. A factor level with no events makes its hazard ratio not estimable: those
        units are set aside, the level's row is NaN and a warning says so. A column that is
        aliased (:func:`aliased_columns`: constant within every stratum, or a linear
        combination of the columns before it) is left out of the fit as R's ``coxph`` leaves
        it out: its row is NaN, a note and a warning name it, the other coefficients are those
        of the fit without it.
    strata
        Column whose levels get separate baseline hazards (e.g. centre).
    cluster
        Column defining clusters for the robust sandwich variance (e.g. centre): R's
        ``coxph(..., cluster = )``, from the Efron score residuals summed within clusters
        (:func:`efron_score_residuals`); refused with fewer than :data:`MIN_CLUSTERS` clusters
        among the units fitted.
    entry
        Late-entry column (R's ``Surv(entry, time, event)``, lifelines' ``entry_col``); with it
        no Schoenfeld test (see :func:`_late_entry`) and no ``cluster``.

    Raises
    ------
    BaselineError
        No events, a factor with fewer than two levels present, a ``cluster`` with fewer
        than :data:`MIN_CLUSTERS` clusters, or a fit that fails.
    """
    for col in [duration, event, strata, cluster, entry]:
        if col is not None and col not in data.columns:
            raise BaselineError(f"column {col!r} is not in the data. "
                                f"Allowed: {sorted(map(str, data.columns))}")
    ev = data[event].to_numpy(np.int64)
    if ev.sum() == 0:
        raise BaselineError(f"Cox model for {event!r}: no events (every unit censored); the "
                            "model cannot be fitted.")
    notes: list[str] = []
    keep, dropped_levels = _levels_without_events(data, ev, terms, notes)
    missing = list(notes)  # the notes on rows without an estimate
    sub = data.loc[keep]
    fit_terms = _fitted_terms(sub, terms, dropped_levels)
    X, groups = design_matrix(sub, fit_terms)
    frame = _cox_frame(sub, X, duration, event, strata, cluster, notes)
    if cluster:
        _enough_clusters(frame["__cluster"], cluster)
    zph = _late_entry(frame, sub, entry, cluster, zph, notes)
    cols = list(X.columns)
    aliased = aliased_columns(X.to_numpy(), frame["__time"], frame["__event"],
                              strata=frame["__strata"] if strata else None)
    missing += _alias_notes(aliased, cols, groups, strata, notes)
    kept = [c for j, c in enumerate(cols) if j not in aliased]
    cph = _fit_lifelines(frame.drop(columns=[cols[j] for j in aliased]), strata,
                         notes) if kept else None  # "__entry", when present: lifelines' entry
    robust = _robust_se(frame, X[kept], cph, strata) if cluster and kept else None
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    rows = []
    for term, fterm in zip(terms, fit_terms, strict=True):
        if term.is_factor:
            for lv in term.levels:
                if lv == fterm.reference:
                    continue
                col = f"{term.name}={lv}"
                rows.append(_row(cph, term.name, col, lv, fterm.reference, z, robust))
        else:
            rows.append(_row(cph, term.name, term.name, None, None, z, robust))
    table = pd.DataFrame(rows)
    zph_table = _zph(frame, X[kept], cph, groups, strata, notes) if zph and kept else None
    method = "Cox PH (Efron ties)"
    if strata:
        method += f", stratified by {strata}"
    if cluster:
        k = int(frame["__cluster"].nunique())
        method += f", cluster-robust SE by {cluster} ({k} clusters)"
        if k < 30:
            notes.append(f"Cox model: only {k} clusters of {cluster!r}; sandwich standard "
                         "errors are anti-conservative with fewer than about 30 clusters.")
    return CoxResult(table, len(frame), int(frame["__event"].sum()), strata, cluster,
                     method, float(cph.log_likelihood_) if cph else np.nan,
                     float(cph.concordance_index_) if cph else np.nan, zph_table, tuple(notes),
                     tuple(missing))


def _zph(frame: pd.DataFrame, X: pd.DataFrame, cph, groups: dict[str, list[str]],
         strata: str | None, notes: list[str]) -> pd.DataFrame | None:
    """The Schoenfeld test of the fitted columns ``X`` (terms without a fitted column left out);
    None with a note when its information matrix is singular."""
    kept = list(X.columns)
    idx = {name: [kept.index(c) for c in cs if c in kept] for name, cs in groups.items()}
    try:
        return cox_zph(frame["__time"], frame["__event"], X.to_numpy(),
                       cph.params_[kept].to_numpy(),
                       strata=frame["__strata"] if strata else None,
                       groups={name: ix for name, ix in idx.items() if ix})
    except np.linalg.LinAlgError:
        msg = ("Cox model: the Schoenfeld test of proportional hazards is not computed (its "
               "information matrix is singular).")
        notes.append(msg)
        warnings.warn(msg, BaselineWarning, stacklevel=3)
        return None


def _levels_without_events(data: pd.DataFrame, ev: np.ndarray, terms: list[Term],
                           notes: list[str]) -> tuple[np.ndarray, dict[str, list[str]]]:
    """The units kept (those of factor levels with events) and the levels set aside; a factor
    with fewer than two levels present is an error."""
    keep = np.ones(len(data), bool)
    dropped_levels: dict[str, list[str]] = {}
    for term in terms:
        if term.name not in data.columns:
            raise BaselineError(f"covariate {term.name!r} is not a column of the data. "
                                f"Allowed: {sorted(map(str, data.columns))}")
        if term.is_factor:
            vals = data[term.name].astype(str).to_numpy()
            present = [lv for lv in term.levels if (vals == lv).any()]
            if len(present) < 2:
                raise BaselineError(
                    f"Cox model: factor {term.name!r} has only the level(s) {present} in the "
                    "data; a hazard ratio needs at least two levels.")
            for lv in present:
                if ev[vals == lv].sum() == 0:
                    dropped_levels.setdefault(term.name, []).append(lv)
                    keep &= vals != lv
    if dropped_levels:
        msg = ("Cox model: level(s) with no events have no estimable hazard ratio; their units "
               f"are set aside and the rows are NaN: {dropped_levels}")
        notes.append(msg)
        warnings.warn(msg, BaselineWarning, stacklevel=3)
    return keep, dropped_levels


def _fitted_terms(sub: pd.DataFrame, terms: list[Term],
                  dropped_levels: dict[str, list[str]]) -> list[Term]:
    """The terms as fitted: each factor with the levels left in ``sub``."""
    fit_terms = []
    for term in terms:
        if term.is_factor:
            lv = tuple(x for x in term.levels if x not in dropped_levels.get(term.name, [])
                       and (sub[term.name].astype(str) == x).any())
            ref = term.reference if term.reference in lv else lv[0]
            if len(lv) < 2:
                raise BaselineError(
                    f"Cox model: factor {term.name!r} keeps fewer than two levels with events.")
            fit_terms.append(Term(term.name, lv, ref))
        else:
            fit_terms.append(term)
    return fit_terms


def _cox_frame(sub: pd.DataFrame, X: pd.DataFrame, duration: str, event: str,
               strata: str | None, cluster: str | None, notes: list[str]) -> pd.DataFrame:
    """The design matrix with the time, event, stratum and cluster columns lifelines reads."""
    frame = X.copy()
    frame["__time"] = sub[duration].to_numpy(float)
    frame["__event"] = sub[event].to_numpy(np.int64)
    if strata:
        frame["__strata"] = sub[strata].astype(str).to_numpy()
        sizes = frame["__strata"].value_counts()
        single = sorted(sizes[sizes == 1].index)
        if single:
            msg = (f"Cox model: stratum/strata {single} of {strata!r} hold a single unit and "
                   "contribute nothing to the partial likelihood.")
            notes.append(msg)
            warnings.warn(msg, BaselineWarning, stacklevel=3)
    if cluster:
        frame["__cluster"] = sub[cluster].astype(str).to_numpy()
    return frame


def _enough_clusters(clusters: pd.Series, cluster: str) -> None:
    """Refuse a cluster-robust variance from fewer than :data:`MIN_CLUSTERS` clusters."""
    k = int(clusters.nunique())
    if k < MIN_CLUSTERS:
        found = ", ".join(map(repr, sorted(clusters.unique())[:MIN_CLUSTERS]))
        raise BaselineError(
            f"Cox model with {cluster!r}-clustered SEs: {k} cluster(s) of {cluster!r} among the "
            f"units fitted ({found}); a cluster-robust variance needs at least {MIN_CLUSTERS}: "
            "with one cluster the sandwich is zero (the clusters' scores sum to the score, zero "
            "at the estimate), with few it is biased downward. The model-based SEs stand.")


def _late_entry(frame: pd.DataFrame, sub: pd.DataFrame, entry: str | None, cluster: str | None,
                zph: bool, notes: list[str]) -> bool:
    """Add the late-entry column ``__entry`` (lifelines' ``entry_col``) to ``frame``; whether
    the Schoenfeld test is still computed (not with late entry, with a note)."""
    if entry is None:
        return zph
    if cluster is not None:
        raise BaselineError("Cox model with late entry: the cluster-robust variance is not "
                            "offered (its risk sets start at 0); fit without cluster=")
    frame["__entry"] = sub[entry].to_numpy(float)
    if zph:
        notes.append("Cox model with late entry: the Schoenfeld test of proportional "
                     "hazards is not computed (not offered with late entry).")
    return False


def _fit_lifelines(frame: pd.DataFrame, strata: str | None, notes: list[str]):
    """lifelines' ``CoxPHFitter`` fitted to ``frame`` (model-based variance; the robust one is
    :func:`_robust_se`); its convergence and numerical warnings become notes (and
    :class:`BaselineWarning`)."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    cph = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph.fit(frame.drop(columns=["__cluster"], errors="ignore"), "__time", "__event",
                    strata=["__strata"] if strata else None,
                    entry_col="__entry" if "__entry" in frame.columns else None)
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            raise BaselineError(f"Cox model did not converge: {exc}") from None
    for w in caught:
        if issubclass(w.category, ConvergenceWarning | RuntimeWarning):
            msg = f"Cox model: {str(w.message).splitlines()[0]}"
            notes.append(msg)
            warnings.warn(msg, BaselineWarning, stacklevel=3)
    return cph


def efron_score_residuals(time, event, X: np.ndarray, beta: np.ndarray, *,
                          strata=None) -> np.ndarray:
    """Score residuals of a Cox model under Efron's approximation for ties, as R's
    ``residuals(coxph(..., ties = "efron"), type = "score")``.

    At an event time with :math:`d` tied events, Efron's partial likelihood has :math:`d`
    steps :math:`k = 0, \\dots, d-1` with denominator :math:`s_{0k} = \\sum_{risk} r -
    (k/d)\\sum_{dead} r` and mean :math:`\\bar x_k = s_{1k} / s_{0k}` (:math:`r = e^{x^T\\beta}`).
    A unit at risk that does not die there gets :math:`-r_i \\sum_k (x_i - \\bar x_k)/s_{0k}`;
    one of the dying units gets :math:`x_i - \\frac1d\\sum_k \\bar x_k - r_i \\sum_k
    (1 - k/d)(x_i - \\bar x_k)/s_{0k}`. These are the derivatives of the Efron score with
    respect to the units' case weights, so they sum to the score (zero at
    :math:`\\hat\\beta`), and :math:`U I^{-1}` is the infinitesimal jackknife (R's dfbeta).

    Parameters
    ----------
    time, event
        Follow-up and event indicator.
    X, beta
        Design matrix (n x p) and the coefficients.
    strata
        Stratum of each unit (None: one stratum); each has its own risk sets.

    Returns
    -------
    ndarray (n x p), in the order of the units.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, np.int64)
    X = np.asarray(X, float)
    eta = X @ np.asarray(beta, float)
    r = np.exp(eta - eta.max())
    strata = np.zeros(len(time)) if strata is None else pd.factorize(np.asarray(strata))[0]
    out = np.zeros(X.shape)
    for s in np.unique(strata):
        m = strata == s
        out[m] = _efron_residuals_stratum(time[m], event[m], X[m], r[m])
    return out


def _efron_residuals_stratum(ts, es, xs, rs) -> np.ndarray:
    """:func:`efron_score_residuals` of one stratum (relative risks ``rs``)."""
    p = xs.shape[1]
    inv, k, de, r0, r1, d, d0, d1 = _risk_sets(ts, es, xs, rs)
    a, b = np.zeros(k), np.zeros((k, p))  # sums over the Efron steps of 1/s0 and mean/s0
    af, bf = np.zeros(k), np.zeros((k, p))  # the same weighted by k/d (the dying units' share)
    mbar = np.zeros((k, p))  # the mean over the steps of the means
    for j in np.nonzero(d)[0]:
        f = np.arange(d[j]) / d[j]
        s0 = r0[j] - f * d0[j]
        mean = (r1[j][None, :] - f[:, None] * d1[j][None, :]) / s0[:, None]
        a[j], b[j] = (1 / s0).sum(), (mean / s0[:, None]).sum(0)
        af[j], bf[j] = (f / s0).sum(), (f[:, None] * mean / s0[:, None]).sum(0)
        mbar[j] = mean.mean(0)
    ca, cb = a.cumsum()[inv], b.cumsum(0)[inv]  # over the event times up to each unit's time
    res = -rs[:, None] * (xs * ca[:, None] - cb)
    j = inv[de]
    res[de] += (xs[de] - mbar[j]) + rs[de, None] * (xs[de] * af[j][:, None] - bf[j])
    return res


def _robust_se(frame: pd.DataFrame, X: pd.DataFrame, cph, strata: str | None) -> pd.Series:
    """Cluster-robust standard errors (R's ``coxph(..., cluster = )``, Efron ties): the
    square roots of the diagonal of :math:`D^T D`, :math:`D = U I^{-1}` with :math:`U` the
    Efron score residuals summed within the clusters of ``frame["__cluster"]``."""
    cols = list(X.columns)
    res = efron_score_residuals(frame["__time"], frame["__event"], X.to_numpy(),
                                cph.params_[cols].to_numpy(),
                                strata=frame["__strata"] if strata else None)
    ids, uniq = pd.factorize(frame["__cluster"])
    u = np.zeros((len(uniq), len(cols)))
    np.add.at(u, ids, res)
    dfbeta = u @ cph.variance_matrix_.loc[cols, cols].to_numpy()
    return pd.Series(np.sqrt(np.diag(dfbeta.T @ dfbeta)), index=cols)


def _row(cph, term, col, level, reference, z, robust: pd.Series | None = None):
    if cph is None or col not in cph.params_.index:
        return {"term": term, "column": col, "level": level, "reference": reference,
                "coef": np.nan, "se": np.nan, "hr": np.nan, "lower": np.nan, "upper": np.nan,
                "z": np.nan, "p": np.nan}
    b = float(cph.params_[col])
    se = float(cph.standard_errors_[col] if robust is None else robust[col])
    zz = b / se
    return {"term": term, "column": col, "level": level, "reference": reference, "coef": b,
            "se": se, "hr": float(np.exp(b)), "lower": float(np.exp(b - z * se)),
            "upper": float(np.exp(b + z * se)), "z": zz, "p": float(2 * norm.sf(abs(zz)))}

"""From a validated cohort and a model specification to the arrays a model needs.

The design matrix has one column per coefficient, named ``column[level]`` for a factor level
against its reference, ``column[step]`` for an ordered factor coded linearly (one coefficient per
step between adjacent levels) and ``column`` for a numeric covariate (centred and scaled as the
spec says; the centre and scale are recorded so that HRs are read per the stated unit).
The steps of an ordered factor follow its declared order, never the text order of its levels:
the model file's ``levels``, else ``--levels`` (an ordered factor of the cohort schema), else
the contract's own order; with none of them the design refuses (:func:`make_design`).
Grouping columns become integer indexes with their levels as coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from nen_bayes.bayes.families import get_family
from nen_bayes.bayes.spec import CovariateSpec, ModelSpec
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.cohorts.validate import UNKNOWN_LEVEL
from nen_bayes.errors import MissingColumnError, ModelDataError

__all__ = ["AUTO_CENTRED_MIN_EVENTS", "FEW_GROUPS", "Design", "GroupIndex", "choose_centring",
           "few_group_notes", "make_design", "time_varying_design"]

#: With this many groups or fewer, a between-group SD is mostly its prior (said, not refused).
FEW_GROUPS = 3


@dataclass(frozen=True)
class GroupIndex:
    """One grouping level: its dim name, column, levels and each unit's level index."""

    name: str
    column: str
    levels: tuple[str, ...]
    index: np.ndarray
    centered: bool = False
    varying: tuple[int, ...] = ()  # design-matrix columns whose coefficients vary by group
    auto: bool = False  # the parameterisation was chosen from the data (``centered = "auto"``)

    @property
    def varying_dim(self) -> str:
        return f"{self.name}_varying"


@dataclass(frozen=True)
class Design:
    """Everything the model builder needs, as arrays."""

    endpoint: str
    time: np.ndarray
    event: np.ndarray
    X: np.ndarray
    coefficients: tuple[str, ...]
    terms: tuple[str, ...]          # covariate column of each coefficient
    contrasts: tuple[str, ...]      # "b vs a", "per step (a < b < c)", "per 10 age"
    groups: tuple[GroupIndex, ...]
    ids: np.ndarray
    cuts: np.ndarray | None = None
    time_unit: str = "months"
    transforms: dict = field(default_factory=dict)  # numeric covariate -> (centre, scale)
    orders: dict = field(default_factory=dict)  # linear ordered covariate -> its levels in order
    entry: np.ndarray | None = None  # late entry (left truncation) times; None: all enter at 0
    upper: np.ndarray | None = None  # events with upper > time happened in (time, upper]
    #: a covariate whose effect changes with time (:func:`time_varying_design`); None: none
    tv: dict | None = field(default=None, repr=False)
    #: the family of the model the design was made for (its registry name)
    family: str | None = None

    @property
    def n(self) -> int:
        return len(self.time)

    def coords(self) -> dict[str, list]:
        c: dict[str, list] = {"patient": [str(i) for i in self.ids],
                              "covariate": list(self.coefficients)}
        for g in self.groups:
            c[g.name] = list(g.levels)
            if g.varying:
                c[g.varying_dim] = [self.coefficients[j] for j in g.varying]
        if self.cuts is not None:
            edges = np.concatenate([[0.0], self.cuts])
            c["interval"] = [f"[{a:g}, {b:g})" for a, b in
                             zip(edges, np.concatenate([self.cuts, [np.inf]]), strict=True)]
        if self.tv is not None:
            c["covariate_tv"] = list(self.tv["columns"])
            if "cuts" in self.tv:
                edges = np.concatenate([[0.0], self.tv["cuts"]])
                ends = np.concatenate([self.tv["cuts"], [np.inf]])
                c["interval_tv"] = [f"[{a:g}, {b:g})" for a, b in zip(edges, ends, strict=True)]
                c["interval_tv_change"] = c["interval_tv"][1:]
        return c


def time_varying_design(spec: ModelSpec, time: np.ndarray, X: np.ndarray, names, terms,
                        unit: str) -> dict | None:
    """A covariate whose effect changes with time, as the model and the NumPy closed forms
    (:func:`nen_bayes.bayes.families.tv_offsets`) take it: ``effect``, ``cuts`` (in the
    cohort's unit), its design ``columns`` and their values ``x`` (n, C); None without one.

    Its dims: ``covariate_tv`` (the columns), ``interval_tv`` (every interval of its HR) and
    ``interval_tv_change`` (the intervals after the first, whose log-HR changes).

    Raises :class:`ModelDataError` when the last cut is at or beyond the longest follow-up."""
    tv = spec.time_varying
    if tv is None:
        return None
    cols = [j for j, t in enumerate(terms) if t == tv.covariate]
    out = {"effect": tv.effect, "covariate": tv.covariate,
           "columns": [names[j] for j in cols], "x": X[:, cols]}
    if tv.cuts is not None:
        cuts = np.asarray(tv.cuts, float)
        if not (time > cuts[-1]).any():
            raise ModelDataError(f"{spec.source} [time_varying]: the last cut {cuts[-1]:g} is "
                                 f"at or beyond the longest follow-up ({time.max():g} {unit}); "
                                 "its interval holds no data")
        out["cuts"] = cuts
    return out


def _resolve_cuts(spec: ModelSpec, time, event) -> np.ndarray | None:
    if not get_family(spec.family).needs_cuts:
        return None
    if isinstance(spec.cuts, str):
        k = int(spec.cuts.split(":")[1])
        ev = np.sort(time[event == 1])
        if len(ev) < 2 * k:
            raise ModelDataError(f"{spec.source}: cuts {spec.cuts!r} need at least {2 * k} "
                                 f"events; the data have {len(ev)}")
        cuts = np.unique(np.quantile(ev, np.arange(1, k) / k))
        return cuts
    cuts = np.asarray(spec.cuts, float)
    last = cuts[-1]
    if not (time > last).any():
        raise ModelDataError(f"{spec.source}: the last cut point {last:g} is at or beyond the "
                             f"longest follow-up ({time.max():g}); its interval holds no data")
    return cuts


def make_design(spec: ModelSpec, cohort: Cohort, endpoint: str) -> Design:
    """Arrays for ``spec`` on ``cohort``'s ``endpoint``.

    Raises
    ------
    MissingColumnError
        A covariate or grouping column is not in the data.
    ModelDataError
        The endpoint has no events, a factor level named in the spec is absent, a factor has
        a single observed level, a numeric covariate is constant, a ``within`` grouping is
        not nested, or an ordered covariate coded linearly has no declared order, a level
        outside it, or missing values kept as ``"unknown"``.
    """
    time = cohort.time(endpoint)
    event = cohort.event(endpoint).astype(np.int8)
    if not event.any():
        raise ModelDataError(
            f"{cohort.source}: endpoint {endpoint!r} has 0 events (column "
            f"{cohort.schema.endpoint(endpoint).event!r}: all {len(event)} units are censored); "
            "a survival model cannot be estimated from it (every hazard ratio would be its "
            "prior). Check the event column and --event-coding.")
    columns: list[_Columns] = []
    for cov in spec.covariates:
        if cov.column not in cohort.data.columns:
            raise MissingColumnError(
                f"{cohort.source}: the model {spec.name!r} ({spec.source}) uses covariate column "
                f"{cov.column!r}, which the data do not have; columns: "
                f"{list(cohort.data.columns)}")
        if cov.type == "numeric":
            columns.append(_numeric_column(cov, cohort))
        else:
            columns.append(_factor_columns(cov, spec, cohort))
    cols = [c for part in columns for c in part.values]
    names = tuple(n for part in columns for n in part.names)
    terms = tuple(part.term for part in columns for _ in part.names)
    contrasts = tuple(c for part in columns for c in part.contrasts)
    transforms = {part.term: part.transform for part in columns if part.transform is not None}
    orders = {part.term: part.order for part in columns if part.order is not None}
    X = np.column_stack(cols) if cols else np.zeros((len(time), 0))
    groups = tuple(replace(g, centered=choose_centring(g.index, len(g.levels), event),
                           auto=True) if g.centered == "auto" else g
                   for g in _group_indexes(spec, cohort, terms))
    bounds = cohort.interval(endpoint)  # interval-censored: time = lower, upper as given
    return Design(endpoint=endpoint, time=time if bounds is None else bounds[0], event=event,
                  X=X, coefficients=names, terms=terms, contrasts=contrasts, groups=groups,
                  ids=cohort.ids, cuts=_resolve_cuts(spec, time, event),
                  time_unit=cohort.schema.time_unit, transforms=transforms, orders=orders,
                  entry=cohort.entry(endpoint), upper=None if bounds is None else bounds[1],
                  tv=time_varying_design(spec, time, X, names, terms,
                                         cohort.schema.time_unit), family=spec.family)


#: ``centered = "auto"`` chooses centred group effects when every level of the group has at
#: least this many events, non-centred otherwise.
AUTO_CENTRED_MIN_EVENTS = 100


def choose_centring(index: np.ndarray, n_levels: int, event: np.ndarray) -> bool:
    """Centred (True) or non-centred (False) effects for a group, from the data.

    Each level's effect is informed by about as many units as it has events (the
    log-likelihood's curvature in ``u`` is the level's expected number of events). With
    :data:`AUTO_CENTRED_MIN_EVENTS` or more events in every level, each effect's likelihood is
    much narrower than any plausible between-level SD, the posterior of ``(u, sd)`` has no funnel
    and the centred form mixes better (measured: 30,000 units in 100 centres, see the README);
    with fewer in some level (the bundled cohort: 15 to 88 units per centre), the
    non-centred form ``u = sd * z`` avoids the funnel when ``sd`` is small."""
    events = np.bincount(np.asarray(index)[np.asarray(event) == 1], minlength=n_levels)
    return bool(events.min() >= AUTO_CENTRED_MIN_EVENTS)


@dataclass(frozen=True)
class _Columns:
    """The design-matrix columns of one covariate: values, names and what each contrasts;
    ``transform`` is the (centre, scale) of a numeric covariate, ``order`` the observed levels
    of a linear ordered factor in their declared order."""

    term: str
    values: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    contrasts: tuple[str, ...]
    transform: tuple[float, float] | None = None
    order: tuple[str, ...] | None = None


def _numeric_column(cov: CovariateSpec, cohort: Cohort) -> _Columns:
    """A numeric covariate, centred and scaled as the spec says."""
    src = cohort.source
    v = pd.to_numeric(cohort.data[cov.column], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(v))
    if len(bad):
        raise ModelDataError(f"{src}: numeric covariate {cov.column!r} has non-numeric "
                             f"values in rows {cohort.rows[bad[:5]].tolist()}")
    centre = float(v.mean()) if cov.center else 0.0
    scale = float(v.std(ddof=1)) if cov.scale == "sd" else float(cov.scale or 1.0)
    if scale <= 0 or not np.isfinite(scale):
        raise ModelDataError(f"{src}: numeric covariate {cov.column!r} is constant; "
                             "it cannot be scaled by its SD or estimated")
    # per SD: the SD to 3 significant digits ("per SD (6.11) of age", never "per 6.11338 age")
    contrast = ("per unit" if scale == 1 else
                f"per SD ({scale:.3g}) of {cov.column}" if cov.scale == "sd" else
                f"per {scale:g} {cov.column}")
    return _Columns(cov.column, ((v - centre) / scale,), (cov.column,), (contrast,),
                    (centre, scale))


def _factor_columns(cov: CovariateSpec, spec: ModelSpec, cohort: Cohort) -> _Columns:
    """A factor: one indicator per level against the reference, or one linear step
    coefficient for an ordered factor coded ``linear``."""
    src = cohort.source
    x = cohort.data[cov.column]
    cat = x.astype("category") if not isinstance(x.dtype, pd.CategoricalDtype) else x
    declared = [str(c) for c in cat.cat.categories]
    observed = [lv for lv in declared if (cat == lv).any()]
    linear = cov.type == "ordered" and cov.coding == "linear"
    if linear:
        cat, declared, observed = _in_declared_order(cov, spec, cohort, cat, observed)
    if cov.reference is not None and cov.reference not in declared:
        raise ModelDataError(f"{spec.source}: reference {cov.reference!r} of {cov.column!r}"
                             f" is not a level of the data; levels: {declared}")
    try:
        schema_ref = cohort.schema.factor(cov.column).reference
    except KeyError:
        schema_ref = None
    ref = cov.reference or schema_ref or (observed[0] if observed else None)
    if len(observed) < 2:
        raise ModelDataError(f"{src}: factor {cov.column!r} has a single observed level "
                             f"{observed}; its effect cannot be estimated")
    if ref not in observed:
        raise ModelDataError(f"{src}: reference level {ref!r} of {cov.column!r} never "
                             f"occurs in the data; observed levels: {observed}")
    if linear:
        score = {lv: i for i, lv in enumerate(observed)}
        return _Columns(cov.column, (cat.map(score).to_numpy(float) - score[ref],),
                        (f"{cov.column}[step]",), (f"per step ({' < '.join(observed)})",),
                        order=tuple(observed))
    others = [lv for lv in observed if lv != ref]
    return _Columns(cov.column, tuple((cat == lv).to_numpy(float) for lv in others),
                    tuple(f"{cov.column}[{lv}]" for lv in others),
                    tuple(f"{lv} vs {ref}" for lv in others))


def _declared_order(cov: CovariateSpec, cohort: Cohort) -> tuple[str, ...] | None:
    """The order of an ordered covariate: the model file's ``levels``, else the cohort schema's
    levels when it declares the factor ordered (``--levels``, the contract); else ``None``."""
    if cov.levels is not None:
        return cov.levels
    try:
        factor = cohort.schema.factor(cov.column)
    except KeyError:
        return None
    return factor.levels if factor.ordered and factor.levels is not None else None


def _in_declared_order(cov: CovariateSpec, spec: ModelSpec, cohort: Cohort, cat: pd.Series,
                       found: list[str]) -> tuple[pd.Series, list[str], list[str]]:
    """An ordered covariate's values, declared levels and observed levels in the declared order
    (spelt as declared; matched case-insensitively). Refuses an order taken from nowhere, a
    level outside the order and missing values kept as ``"unknown"``."""
    src, col = cohort.source, cov.column
    order = _declared_order(cov, cohort)
    how = (f"declare the order, lowest first: levels = [\"a\", \"b\", \"c\"] on the "
           f"covariate in {spec.source or 'the model file'}, or --levels {col}=a,b,c")
    if UNKNOWN_LEVEL in found and (order is None or UNKNOWN_LEVEL not in order):
        scale = " < ".join(order or [lv for lv in found if lv != UNKNOWN_LEVEL])
        raise ModelDataError(
            f"{src}: ordered covariate {col!r} has missing values kept as level "
            f"'{UNKNOWN_LEVEL}' (--missing unknown); an unknown value is not a step of the "
            f"ordered scale ({scale}). Use --missing drop (missing='drop') to leave those rows "
            f"out (they are reported), or code {col!r} as type = \"categorical\"")
    if order is None:
        raise ModelDataError(
            f"{src}: ordered covariate {col!r} of the model {spec.name!r} is coded linearly but "
            f"has no declared order; levels found in the data: {found}. An order is never "
            f"taken from the data (as text they sort {' < '.join(found)}): {how}")
    canon = {lv.casefold(): lv for lv in order}
    outside = [lv for lv in found if lv.casefold() not in canon]
    if outside:
        raise ModelDataError(
            f"{src}: ordered covariate {col!r} has level(s) {outside} in the data, which are "
            f"not in the declared order {list(order)}; {how} naming every level")
    values = cat.astype(object).map(lambda v: canon[str(v).casefold()] if pd.notna(v) else v)
    present = {canon[lv.casefold()] for lv in found}
    return values, list(order), [lv for lv in order if lv in present]


def _group_indexes(spec: ModelSpec, cohort: Cohort,
                   terms: tuple[str, ...]) -> tuple[GroupIndex, ...]:
    """Each grouping of the spec as an integer index, with nesting (``within``) checked."""
    src = cohort.source
    data = cohort.data
    groups: list[GroupIndex] = []
    by_name = {}
    for g in spec.groups:
        column = g.column or cohort.schema.centre_column
        if column is None:
            raise ModelDataError(f"{spec.source}: the model has a '{g.name}' grouping but the "
                                 "cohort has no centre column (single-centre analysis); use a "
                                 "model without groups")
        if column not in data.columns:
            raise MissingColumnError(f"{src}: grouping column {column!r} (group '{g.name}' of "
                                     f"{spec.source}) is not in the data; columns: "
                                     f"{list(data.columns)}")
        codes, uniques = pd.factorize(data[column].astype(str), sort=True)
        if len(uniques) == 1:
            raise ModelDataError(_one_group_message(spec, g.name, column, str(uniques[0]),
                                                    cohort))
        varying = tuple(j for j, t in enumerate(terms) if t in g.varying)
        gi = GroupIndex(g.name, column, tuple(str(u) for u in uniques), codes.astype(np.int64),
                        g.centered, varying)
        if g.within is not None:
            parent = by_name[g.within]
            pairs = pd.DataFrame({"child": codes, "parent": parent.index})
            n_par = pairs.groupby("child")["parent"].nunique()
            crossed = n_par[n_par > 1].index.to_numpy()
            if len(crossed):
                bad = [gi.levels[c] for c in crossed[:5]]
                raise ModelDataError(f"{src}: group '{g.name}' ({column}) is declared within "
                                     f"'{g.within}' ({parent.column}) but level(s) {bad} occur "
                                     f"in more than one {g.within}")
        groups.append(gi)
        by_name[g.name] = gi
    return tuple(groups)


def _one_group_message(spec: ModelSpec, name: str, column: str, level: str,
                       cohort: Cohort) -> str:
    """Why a grouping with a single level is refused, and what to fit instead."""
    instead = ("the pooled model (models/weibull_ph_pooled.toml, or a formula without "
               "(1 | centre)); with a cohort file, --no-centre says it is single-centre"
               if column == cohort.schema.centre_column else
               f"a model without the '{name}' grouping")
    return (f"{cohort.source}: the model {spec.name!r} ({spec.source}) has a '{name}' level "
            f"but column {column!r} holds a single value ({level!r}) in all {len(cohort)} "
            f"rows: a between-{name} SD cannot be estimated from one group (it would be its "
            f"prior, with the sampler struggling in the funnel). Fit {instead}.")


def few_group_notes(design: Design) -> list[str]:
    """A note for each grouping with 2 to :data:`FEW_GROUPS` levels: its SD rests mostly on
    its prior (the power-scaling check of the run card measures how much)."""
    return [f"'{g.name}' has only {len(g.levels)} groups ({', '.join(g.levels)}): the "
            f"between-{g.name} SD sd_{g.name} rests mostly on its prior; read it as the prior "
            "updated a little (power-scaling in diagnose.py shows how much), not as an estimate"
            for g in design.groups if 2 <= len(g.levels) <= FEW_GROUPS]

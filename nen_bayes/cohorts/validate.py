"""Validation of a raw table against a :class:`~nen_bayes.cohorts.schema.CohortSchema`.

The one place where the contract's rules live. Each rule raises its own exception type (see
:mod:`nen_bayes.errors`) with a message naming the file, the column, the first offending rows
(spreadsheet row number, unit id, value) and what is allowed.

Policies
--------
Missing values (``missing=``), for the centre, categorical and numeric covariates, and endpoints
whose time *and* event are both empty:

* ``"error"`` (default): a :class:`MissingValueError` that counts them per column;
* ``"unknown"``: categorical covariates get a level ``"unknown"`` (unordered from then on);
  missing centres, numeric covariates or endpoints still raise, as no level can stand for them;
* ``"drop"``: rows with any missing value in a used column are removed; the number and the ids
  are reported in ``Cohort.notes``.

A time without its event indicator (or the reverse) is always an error, never dropped. Missing
RECIST assessments are allowed (they are outcomes, not covariates). Missing unit ids are always
an error.

Zero times (``zero_time=``): ``"error"`` (default) because a Weibull or exponential likelihood
is degenerate at t = 0; ``"shift"`` replaces each zero with half the smallest positive time of
that column (e.g. a death on the day of treatment), reporting the ids in ``Cohort.notes``.
"""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from nen_bayes.cohorts.read import RawTable
from nen_bayes.cohorts.schema import EVENT_CODINGS, CohortSchema, Factor
from nen_bayes.errors import (
    ConsistencyWarning,
    DuplicateIdError,
    IncompleteEndpointError,
    InvalidEventError,
    InvalidTimeError,
    InvalidValueError,
    MissingColumnError,
    MissingValueError,
    SingletonCentreWarning,
    UnknownLevelError,
    ZeroTimeError,
)

__all__ = [
    "MISSING_POLICIES",
    "NA_TOKENS",
    "ZERO_TIME_POLICIES",
    "row_ids",
    "validate_table",
]

#: Cell contents read as missing (case-insensitive, after stripping spaces).
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "."})
MISSING_POLICIES = ("error", "unknown", "drop")
ZERO_TIME_POLICIES = ("error", "shift")
UNKNOWN_LEVEL = "unknown"
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_SHOW = 5  # offending rows shown in a message


# -- cell parsing --------------------------------------------------------------------------------
def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if isinstance(v, str):
        return v.strip().casefold() in NA_TOKENS
    return False


def missing_mask(col: pd.Series) -> np.ndarray:
    return np.fromiter((_is_missing(v) for v in col.to_numpy(dtype=object)), bool, len(col))


def parse_numeric(col: pd.Series, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(values, missing, unparseable)``; missing cells are NaN in ``values``."""
    miss = missing_mask(col)
    cells = col.to_numpy(dtype=object)
    out = np.full(len(cells), np.nan)
    bad = np.zeros(len(cells), bool)
    for i, v in enumerate(cells):
        if miss[i]:
            continue
        if isinstance(v, bool | np.bool_):
            bad[i] = True
            continue
        if isinstance(v, str):
            s = v.strip()
            if decimal_comma and _DECIMAL_COMMA.fullmatch(s):
                s = s.replace(",", ".")
            try:
                out[i] = float(s)
            except ValueError:
                bad[i] = True
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            bad[i] = True
    return out, miss, bad


def _as_text(v) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


# -- messages ------------------------------------------------------------------------------------
class _Rows:
    """Formats offending rows as 'row 7 (patient_id=P006): -2' (or 'row 7: -2' without ids)."""

    def __init__(self, raw: RawTable, ids: np.ndarray, id_label: str | None):
        self.raw, self.ids, self.id_label = raw, ids, id_label

    def show(self, mask: np.ndarray, values) -> str:
        idx = np.flatnonzero(mask)
        vals = np.asarray(values, dtype=object)
        def who(i):
            return "" if self.id_label is None else f" ({self.id_label}={self.ids[i]})"

        parts = [f"row {self.raw.first_row + i}{who(i)}: {vals[i]!r}" for i in idx[:_SHOW]]
        more = f"; ... and {len(idx) - _SHOW} more" if len(idx) > _SHOW else ""
        return "; ".join(parts) + more

    def where(self, column: str, problem: str, mask: np.ndarray, values, allowed: str) -> str:
        n = int(mask.sum())
        return (
            f"{self.raw.source}: column {column!r}: {n} {problem}: {self.show(mask, values)}. "
            f"Allowed: {allowed}."
        )


# -- the rules -----------------------------------------------------------------------------------
def _close_column(name: str, have: list) -> str | None:
    """The file's column closest to ``name``, ignoring case ("Aid" -> "aid", not "id")."""
    folded = {}
    for c in have:
        folded.setdefault(str(c).casefold(), c)
    if name.casefold() in folded:
        return folded[name.casefold()]
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _present_intervals(raw: RawTable, schema: CohortSchema) -> CohortSchema:
    """The schema without the optional interval columns (``Endpoint.interval_optional``) of
    endpoints whose file has neither of the two; with one of them, the other is required."""
    have = set(raw.frame.columns)
    eps = tuple(ep.detection_time() if ep.interval_optional and ep.interval
                and ep.lower not in have and ep.upper not in have else ep
                for ep in schema.endpoints)
    return replace(schema, endpoints=eps)


def _check_columns(raw: RawTable, schema: CohortSchema) -> None:
    have = list(raw.frame.columns)
    missing = [c for c in schema.columns if c not in have]
    if missing:
        hints = []
        for m in missing:
            close = _close_column(m, have)
            if close:
                hints.append(f"{m!r} (did you mean {close!r}?)")
        hint = f" Close matches: {', '.join(hints)}." if hints else ""
        err = MissingColumnError(
            f"{raw.source}: missing required column(s) {missing}. The file has {have}.{hint} "
            "Name other columns with the column options (e.g. --time/--event, --centre, --id)."
        )
        err.missing = tuple(missing)  # for callers that know where each column was asked for
        raise err
    if not schema.endpoints:
        raise MissingColumnError(
            f"{raw.source}: no endpoint columns found. The file has {have}; expected a "
            "time/event pair such as os_months/os_event, or name one (--time COL --event COL)."
        )


def row_ids(rows) -> np.ndarray:
    """Ids of units in a cohort without an id column: ``row-<spreadsheet row>``."""
    return np.array([f"row-{r}" for r in rows], dtype=object)


def _ids(raw: RawTable, schema: CohortSchema) -> np.ndarray:
    n = len(raw.frame)
    if schema.id_column is None:
        return row_ids(raw.first_row + np.arange(n))
    col = raw.frame[schema.id_column]
    miss = missing_mask(col)
    ids = np.array([_as_text(v) if not m else "" for v, m in zip(col, miss, strict=True)],
                   dtype=object)
    rows = _Rows(raw, ids, schema.id_column)
    if miss.any():
        raise MissingValueError(rows.where(schema.id_column, "missing unit id(s)", miss,
                                           col.to_numpy(dtype=object),
                                           "a non-empty identifier, unique per row"))
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        repeated = sorted(set(ids[dup]))
        raise DuplicateIdError(
            rows.where(schema.id_column, f"rows share {len(repeated)} repeated id(s) "
                       f"{repeated[:_SHOW]}", dup, ids,
                       "one row per analysed unit, each id once")
        )
    return ids


#: At most this many ids are written in one note of a data change.
_MAX_IDS = 200


def _id_list(ids) -> str:
    """The ids of the changed rows, every one up to :data:`_MAX_IDS`, else the first ones and
    how many there are in all."""
    ids = list(ids)
    if len(ids) <= _MAX_IDS:
        return str(ids)
    return f"{ids[:_MAX_IDS]} (the first {_MAX_IDS} of {len(ids)})"


def _endpoint(raw, schema, rows, ep, zero_time, notes):
    frame = raw.frame
    coding = EVENT_CODINGS[schema.event_coding]
    t, t_miss, t_bad = parse_numeric(frame[ep.time], raw.decimal_comma)
    cells_t = frame[ep.time].to_numpy(dtype=object)
    unit = schema.time_unit
    allowed_t = (f"a finite number >= 0 ({unit}); decimal point, or decimal comma in "
                 "files not separated by commas")
    if t_bad.any():
        raise InvalidTimeError(rows.where(ep.time, "non-numeric time(s)", t_bad, cells_t,
                                          allowed_t))
    if np.isinf(t).any():
        raise InvalidTimeError(rows.where(ep.time, "infinite time(s)", np.isinf(t), cells_t,
                                          allowed_t))
    neg = ~t_miss & (t < 0)
    if neg.any():
        raise InvalidTimeError(rows.where(ep.time, "negative time(s)", neg, cells_t, allowed_t))

    cells_e = frame[ep.event].to_numpy(dtype=object)
    e_num, e_miss, e_bad = parse_numeric(frame[ep.event], raw.decimal_comma)
    is_bool = np.array([isinstance(v, bool | np.bool_) for v in cells_e])
    if schema.event_coding == "0/1":  # True/False are accepted as 1/0
        e_num = np.where(is_bool, [bool(v) if b else 0 for v, b in zip(cells_e, is_bool,
                                                                       strict=True)], e_num)
        e_bad = e_bad & ~is_bool
    codes = np.array(sorted(coding))
    invalid = ~e_miss & (e_bad | ~np.isin(e_num, codes))
    if invalid.any():
        allowed = ", ".join(f"{k} ({'event' if v else 'censored'})" for k, v in coding.items())
        other = [c for c in EVENT_CODINGS if c != schema.event_coding]
        raise InvalidEventError(rows.where(
            ep.event, "invalid event indicator(s)", invalid, cells_e,
            f"{allowed} [event coding {schema.event_coding!r}; other documented codings: "
            f"{other}, chosen with event_coding= / --event-coding]"))
    event = np.full(len(e_num), -1, dtype=np.int64)  # -1 only where the cell is empty
    event[~e_miss] = [coding[int(x)] for x in e_num[~e_miss]]

    half = t_miss ^ e_miss
    if half.any():
        only_t = ~t_miss & e_miss
        which = only_t if only_t.any() else (t_miss & ~e_miss)
        col, other, vals = ((ep.event, ep.time, cells_e) if only_t.any()
                            else (ep.time, ep.event, cells_t))
        raise IncompleteEndpointError(rows.where(
            col, f"missing value(s) where {other!r} is given", which, vals,
            f"both {ep.time!r} and {ep.event!r} given, or both empty"))

    zero = ~t_miss & (t == 0)
    if zero.any():
        if zero_time == "error":
            raise ZeroTimeError(rows.where(
                ep.time, "zero time(s)", zero, cells_t,
                "a time > 0; zero times are rejected because Weibull/exponential likelihoods "
                "are degenerate at 0. zero_time='shift' (--zero-time shift) replaces them "
                "with half the smallest positive time"))
        shift = np.nanmin(t[~t_miss & (t > 0)]) / 2
        t = np.where(zero, shift, t)
        notes.append(f"{ep.time}: {int(zero.sum())} zero time(s) replaced by {shift:.4g} "
                     f"{unit} (half the smallest positive time), ids "
                     f"{_id_list(rows.ids[zero])}")
    return t, event, t_miss & e_miss


def _entry(raw, schema, rows, ep, t, t_miss):
    """Late-entry times of ``ep``: given wherever the time is, finite, 0 <= entry < time."""
    a, a_miss, a_bad = parse_numeric(raw.frame[ep.entry], raw.decimal_comma)
    cells = raw.frame[ep.entry].to_numpy(dtype=object)
    allowed = (f"a finite number >= 0 ({schema.time_unit}) and below the time in {ep.time!r} "
               "(the unit enters observation before its event or censoring)")
    for problem, mask in (("non-numeric entry time(s)", a_bad),
                          ("missing entry time(s) where the time is given", a_miss & ~t_miss),
                          ("infinite entry time(s)", np.isinf(a)),
                          ("negative entry time(s)", ~a_miss & (a < 0)),
                          (f"entry time(s) not below {ep.time!r}",
                           ~a_miss & ~t_miss & ~(a < np.where(t_miss, np.inf, t)))):
        if mask.any():
            raise InvalidTimeError(rows.where(ep.entry, problem, mask, cells, allowed))
    return a


def _bounds(raw, schema, rows, ep):
    """The interval columns of ``ep`` parsed: ``(lower, upper, lower missing, upper missing)``,
    an empty or infinite upper read as ``inf`` (right-censored at lower)."""
    unit = schema.time_unit
    lo, lo_miss, lo_bad = parse_numeric(raw.frame[ep.lower], raw.decimal_comma)
    up, up_miss, up_bad = parse_numeric(raw.frame[ep.upper], raw.decimal_comma)
    cells_lo = raw.frame[ep.lower].to_numpy(dtype=object)
    cells_up = raw.frame[ep.upper].to_numpy(dtype=object)
    allowed_lo = (f"a finite number >= 0 ({unit}): the last assessment without the event "
                  "(the start of the interval in which it happened)")
    allowed_up = (f"a number >= the lower bound in {ep.lower!r} ({unit}): the first assessment "
                  "showing the event; equal to the lower bound for an exact time; empty or "
                  "'inf' when the unit is right-censored at the lower bound")
    for col, problem, mask, cells, allowed in (
            (ep.lower, "non-numeric lower bound(s)", lo_bad, cells_lo, allowed_lo),
            (ep.lower, "infinite lower bound(s)", np.isinf(lo), cells_lo, allowed_lo),
            (ep.lower, "negative lower bound(s)", ~lo_miss & (lo < 0), cells_lo, allowed_lo),
            (ep.upper, "non-numeric upper bound(s)", up_bad, cells_up, allowed_up),
            (ep.lower, f"missing lower bound(s) where {ep.upper!r} is given", lo_miss & ~up_miss,
             cells_lo, allowed_lo),
            (ep.upper, f"upper bound(s) below the lower bound in {ep.lower!r}",
             ~lo_miss & ~up_miss & (up < lo), cells_up, allowed_up),
            (ep.upper, "event(s) at time 0 (upper bound 0)", ~up_miss & (up == 0), cells_up,
             allowed_up + "; an event at 0 makes the likelihood degenerate"),
            (ep.lower, "right-censored at 0 (lower bound 0 with no upper bound)",
             ~lo_miss & up_miss & (lo == 0), cells_lo,
             allowed_lo + "; a unit right-censored at 0 carries no information: leave it out")):
        if mask.any():
            raise InvalidTimeError(rows.where(col, problem, mask, cells, allowed))
    return lo, np.where(up_miss, np.inf, up), lo_miss, up_miss


def _interval(raw, schema, rows, ep, t, event, t_miss):
    """The interval bounds of ``ep`` beside its time/event columns, checked against them: given
    wherever the time is, an event has a finite upper bound and its time within
    ``[lower, upper]``, a censored unit no finite upper bound."""
    lo, up, lo_miss, _ = _bounds(raw, schema, rows, ep)
    cells_lo = raw.frame[ep.lower].to_numpy(dtype=object)
    cells_up = raw.frame[ep.upper].to_numpy(dtype=object)
    tt = np.where(t_miss, np.nan, t)
    ev = ~t_miss & (event == 1)
    allowed = (f"for an event ({ep.event!r} = event) the interval {ep.lower!r} <= "
               f"{ep.time!r} <= {ep.upper!r}; for a censored unit an empty {ep.upper!r}")
    for col, problem, mask, cells in (
            (ep.lower, f"missing lower bound(s) where {ep.time!r} is given", lo_miss & ~t_miss,
             cells_lo),
            (ep.upper, "event(s) without an upper bound", ev & np.isinf(up), cells_up),
            (ep.upper, "censored unit(s) with an upper bound", ~t_miss & (event == 0)
             & np.isfinite(up), cells_up),
            (ep.lower, f"event time(s) in {ep.time!r} outside [lower, upper]",
             ev & ~lo_miss & ((tt < lo - 1e-9) | (tt > up + 1e-9)), cells_lo)):
        if mask.any():
            raise InvalidTimeError(rows.where(col, problem, mask, cells, allowed))
    return lo, up


def _interval_only(raw, schema, rows, ep):
    """An endpoint named by its interval columns alone: its detection time (``upper``, or
    ``lower`` when right-censored), event indicator, and the units with both bounds empty."""
    lo, up, lo_miss, up_miss = _bounds(raw, schema, rows, ep)
    both = lo_miss & up_miss
    event = np.where(both, -1, np.isfinite(up).astype(np.int64))
    t = np.where(both, np.nan, np.where(np.isfinite(up), up, lo))
    return t, event, both, lo, up


def _factor(raw, rows, f: Factor):
    col = raw.frame[f.name]
    cells = col.to_numpy(dtype=object)
    miss = missing_mask(col)
    text = np.array([None if m else _as_text(v) for v, m in zip(cells, miss, strict=True)],
                    dtype=object)
    if f.levels is None:
        present = sorted(set(text[~miss]), key=_natural_key)
        return text, miss, Factor(f.name, tuple(present), f.ordered, f.reference, f.label)
    canon = {lv.casefold(): lv for lv in f.levels}
    out = np.array([None if m else canon.get(s.casefold()) for s, m in zip(text, miss,
                                                                        strict=True)],
                   dtype=object)
    unknown = ~miss & np.array([o is None for o in out])
    if unknown.any():
        raise UnknownLevelError(rows.where(
            f.name, "value(s) outside the declared levels", unknown, cells,
            f"{list(f.levels)} (case-insensitive), or empty; declare further levels with "
            f"--levels {f.name}=a,b,c"))
    return out, miss, f


def _natural_key(s: str):
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def validate_table(raw: RawTable, schema: CohortSchema, *, missing: str = "error",
                   zero_time: str = "error"):
    """Validate ``raw`` against ``schema`` and return the typed table.

    Returns
    -------
    (frame, schema, rows, notes)
        ``frame``: one row per kept unit, typed (ids and centres as text, times float, events
        0/1 integers, factors as pandas ``Categorical`` with the declared levels, numerics float);
        ``schema``: the schema with levels filled in for factors whose levels were inferred;
        ``rows``: spreadsheet row number of each kept unit; ``notes``: what the policies did.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing={missing!r}; allowed: {MISSING_POLICIES}")
    if zero_time not in ZERO_TIME_POLICIES:
        raise ValueError(f"zero_time={zero_time!r}; allowed: {ZERO_TIME_POLICIES}")
    schema = _present_intervals(raw, schema)
    _check_columns(raw, schema)
    notes: list[str] = []
    ids = _ids(raw, schema)
    rows = _Rows(raw, ids, schema.id_column)
    parsed = _parse_columns(raw, schema, rows, ids, zero_time=zero_time, notes=notes)
    parsed, keep = _missing_policy(raw, rows, ids, parsed, missing=missing, notes=notes)
    schema2 = replace(schema, factors=parsed.factors, responses=parsed.responses)
    typed = _typed_frame(parsed.columns, keep, schema, schema2)
    file_rows = (raw.first_row + np.arange(len(raw.frame)))[keep]
    _warn_singleton_centres(raw, schema, typed)
    _consistency(raw, schema2, typed, file_rows, ids[keep])
    return typed, schema2, file_rows, tuple(notes)


@dataclass(frozen=True)
class _Parsed:
    """The parsed columns, the missing mask of each column the missing policy applies to, and
    the factors and responses with their levels filled in."""

    columns: dict[str, np.ndarray]
    policed: dict[str, np.ndarray]
    can_be_unknown: frozenset[str]
    factors: tuple[Factor, ...]
    responses: tuple[Factor, ...]


def _parse_columns(raw: RawTable, schema: CohortSchema, rows: _Rows, ids: np.ndarray, *,
                   zero_time: str, notes: list[str]) -> _Parsed:
    """Parse every column of the schema (raising on values that break the contract)."""
    frame = raw.frame
    out: dict[str, object] = {}
    if schema.id_column:
        out[schema.id_column] = ids
    policed: dict[str, np.ndarray] = {}  # column -> missing mask, for the missing policy
    if schema.centre_column:
        c = frame[schema.centre_column]
        cmiss = missing_mask(c)
        out[schema.centre_column] = np.array(
            [None if m else _as_text(v) for v, m in zip(c, cmiss, strict=True)], dtype=object)
        policed[schema.centre_column] = cmiss
    for ep in schema.endpoints:
        if ep.derived:
            t, ev, both_missing, out[ep.lower], out[ep.upper] = _interval_only(raw, schema,
                                                                               rows, ep)
        else:
            t, ev, both_missing = _endpoint(raw, schema, rows, ep, zero_time, notes)
        if ep.interval and not ep.derived:
            out[ep.lower], out[ep.upper] = _interval(raw, schema, rows, ep, t, ev,
                                                     both_missing | np.isnan(t))
        out[ep.time], out[ep.event] = t, ev
        if ep.entry:
            out[ep.entry] = _entry(raw, schema, rows, ep, t, both_missing | np.isnan(t))
        policed[f"{ep.time}/{ep.event}"] = both_missing
    new_factors = []
    for f in schema.factors:
        vals, miss, f2 = _factor(raw, rows, f)
        new_factors.append(f2)
        out[f.name] = vals
        policed[f.name] = miss
    new_responses = []
    for r in schema.responses:
        vals, _miss, r2 = _factor(raw, rows, r)
        new_responses.append(r2)
        out[r.name] = vals
    for name in schema.numerics:
        cells = frame[name].to_numpy(dtype=object)
        v, miss, bad = parse_numeric(frame[name], raw.decimal_comma)
        bad |= np.isinf(v)
        if bad.any():
            raise InvalidValueError(rows.where(name, "value(s) that are not finite numbers", bad,
                                               cells, "a finite number, or empty"))
        out[name] = v
        policed[name] = miss
    return _Parsed(out, policed, frozenset(f.name for f in schema.factors), tuple(new_factors),
                   tuple(new_responses))


def _missing_policy(raw: RawTable, rows: _Rows, ids: np.ndarray, parsed: _Parsed, *,
                    missing: str, notes: list[str]) -> tuple[_Parsed, np.ndarray]:
    """Apply the missing-value policy: the columns (missing categories recoded under
    ``"unknown"``) and the mask of the rows kept (all but those dropped under ``"drop"``)."""
    n = len(raw.frame)
    keep = np.ones(n, bool)
    with_missing = {k: m for k, m in parsed.policed.items() if m.any()}
    if not with_missing:
        return parsed, keep
    cannot = {k: m for k, m in with_missing.items() if k not in parsed.can_be_unknown}
    if missing == "error" or (missing == "unknown" and cannot):
        bad = with_missing if missing == "error" else cannot
        lines = [
            f"  {k!r}: {int(m.sum())} missing: " + rows.show(m, np.full(n, "(empty)"))
            for k, m in bad.items()
        ]
        extra = ("" if missing == "error" else
                 " (missing='unknown' applies to categorical covariates only)")
        raise MissingValueError(
            f"{raw.source}: missing values in {len(bad)} column(s){extra}:\n"
            + "\n".join(lines)
            + "\nAllowed: no missing values, or choose a policy: missing='unknown' "
            "(--missing unknown) keeps them as level 'unknown', missing='drop' "
            "(--missing drop) removes those rows and reports them."
        )
    if missing == "unknown":
        out = dict(parsed.columns)
        new_factors = parsed.factors
        for k, m in with_missing.items():
            out[k] = np.where(m, UNKNOWN_LEVEL, out[k])
            new_factors = tuple(
                Factor(f.name, (*f.levels, UNKNOWN_LEVEL), False, f.reference, f.label)
                if f.name == k else f for f in new_factors
            )
            notes.append(f"{k}: {int(m.sum())} missing value(s) kept as level "
                         f"'{UNKNOWN_LEVEL}', ids {_id_list(ids[m])}")
        return replace(parsed, columns=out, factors=new_factors), keep
    for k, m in with_missing.items():  # drop
        notes.append(f"{k}: {int(m.sum())} row(s) with a missing value")
    keep = ~np.any(np.vstack(list(with_missing.values())), axis=0)
    notes.append(f"dropped {int((~keep).sum())} of {n} row(s) (missing='drop'), ids "
                 f"{_id_list(ids[~keep])}")
    if not keep.any():
        raise MissingValueError(f"{raw.source}: every row has a missing value in a "
                                "used column; nothing is left after missing='drop'.")
    return parsed, keep


def _typed_frame(columns: dict, keep: np.ndarray, schema: CohortSchema,
                 schema2: CohortSchema) -> pd.DataFrame:
    """The kept rows, typed: centres and factors categorical, times float, events integer."""
    typed = pd.DataFrame({k: np.asarray(v)[keep] for k, v in columns.items()})
    if schema.centre_column:
        typed[schema.centre_column] = pd.Categorical(
            typed[schema.centre_column].astype(str),
            categories=sorted(set(typed[schema.centre_column].astype(str)), key=_natural_key))
    for ep in schema.endpoints:
        typed[ep.time] = typed[ep.time].astype(float)
        typed[ep.event] = typed[ep.event].astype(np.int64)
        if ep.entry:
            typed[ep.entry] = typed[ep.entry].astype(float)
        if ep.interval:
            typed[ep.lower] = typed[ep.lower].astype(float)
            typed[ep.upper] = typed[ep.upper].astype(float)
    for f in (*schema2.factors, *schema2.responses):
        typed[f.name] = pd.Categorical(typed[f.name], categories=list(f.levels),
                                       ordered=f.ordered)
    for name in schema.numerics:
        typed[name] = typed[name].astype(float)
    return typed


def _warn_singleton_centres(raw: RawTable, schema: CohortSchema, typed: pd.DataFrame) -> None:
    if not schema.centre_column:
        return
    sizes = typed[schema.centre_column].value_counts()
    single = sorted(sizes[sizes == 1].index.astype(str))
    if single:
        warnings.warn(
            f"{raw.source}: column {schema.centre_column!r}: {len(single)} centre(s) with a "
            f"single unit: {single[:10]}. Allowed, but their centre effects rest on one "
            "observation each (a hierarchical model shrinks them to the mean).",
            SingletonCentreWarning, stacklevel=3)


def _consistency(raw, schema, typed, file_rows, ids) -> None:
    """Warn where the times of endpoints nested by definition (``schema.nested``) are not."""
    names = {e.name: e for e in schema.endpoints}
    for short, long in schema.nested:
        if short in names and long in names:
            a, b = typed[names[short].time].to_numpy(), typed[names[long].time].to_numpy()
            bad = np.nan_to_num(a, nan=-np.inf) > np.nan_to_num(b, nan=np.inf) + 1e-9
            if bad.any():
                idx = np.flatnonzero(bad)[:_SHOW]
                reason = f"; {schema.nested_reason}" if schema.nested_reason else ""
                warnings.warn(
                    f"{raw.source}: {int(bad.sum())} row(s) with {names[short].time} > "
                    f"{names[long].time} (rows {file_rows[idx].tolist()}, ids "
                    f"{ids[idx].tolist()}){reason}.",
                    ConsistencyWarning,
                    stacklevel=3)

"""The cohort data contract: which columns a cohort has and what each may hold.

One row per analysed unit. A contract names the unit's identifier and centre columns, the
right-censored endpoints (a time and an event column each), the categorical and numeric
covariates, the categorical responses, the event coding and the time unit; endpoints nested by
definition (``nested``) are checked for consistency. The case study's contract is
:data:`nen_bayes.re_nen.RE_NEN`.

The contract serves any right-censored cohort: :meth:`CohortSchema.custom` names the time/event,
centre, id and covariate columns of another data set, and :meth:`CohortSchema.select` keeps only
the columns an analysis uses, so that only those are required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

__all__ = [
    "DEFAULT_TIME_UNIT",
    "EVENT_CODINGS",
    "CohortSchema",
    "Endpoint",
    "Factor",
    "derived_event_column",
    "derived_time_column",
    "endpoint_heading",
    "time_unit_from_columns",
]

#: Allowed event codings: the stored value -> 1 (event) / 0 (censored).
#: ``"0/1"`` is the default; ``"1/2"`` is R survival's alternative (1 = censored, 2 = event).
EVENT_CODINGS: dict[str, dict[int, int]] = {
    "0/1": {0: 0, 1: 1},
    "1/2": {1: 0, 2: 1},
}

#: The time unit of a cohort that does not state one, the same for the case study's contract and
#: any other cohort (reported, never converted).
DEFAULT_TIME_UNIT = "months"

#: Column-name endings that state a time unit (``pfs_months``, ``os.days``, ``time_yrs``).
_UNIT_WORDS = {"days": "days", "day": "days", "weeks": "weeks", "week": "weeks",
               "months": "months", "month": "months", "years": "years", "year": "years",
               "yrs": "years"}


def time_unit_from_columns(columns) -> str | None:
    """The time unit the names of ``columns`` state by their last word (``_days``,
    ``.months``, ``-weeks``, ``_years``), when they all state one and the same; else ``None``
    (a column that states none, or columns that state different units)."""
    units = set()
    for c in columns:
        word = re.split(r"[_.\- ]", str(c).lower())[-1]
        if word not in _UNIT_WORDS or word == str(c).lower():
            return None
        units.add(_UNIT_WORDS[word])
    return units.pop() if len(units) == 1 else None


def derived_time_column(name: str) -> str:
    """The column holding the detection time of an endpoint named by its interval columns
    alone: ``upper``, or ``lower`` when right-censored."""
    return f"{name}:detection_time"


def derived_event_column(name: str) -> str:
    """The column holding the event indicator of an endpoint named by its interval columns."""
    return f"{name}:detection_event"


def endpoint_heading(name: str, label: str = "") -> str:
    """How an endpoint is named in a heading: ``os (overall survival)``, or the name alone when
    it has no other label (never ``os (os)``)."""
    return f"{name} ({label})" if label and label != name else name


@dataclass(frozen=True)
class Endpoint:
    """A right-censored endpoint: a time column and its event indicator column, and optionally
    a late-entry column (``entry``: the time, on the same clock, from which the unit was under
    observation; left truncation, ``0 <= entry < time``).

    ``lower``/``upper`` name interval columns: the event happened in ``(lower, upper]`` (the last
    assessment without it and the first with it); ``lower == upper`` is an exact time, an empty
    (or infinite) ``upper`` is right-censored at ``lower``. With ``derived`` the endpoint has
    only these two columns and ``time``/``event`` name columns built from them (the detection
    time ``upper``, or ``lower`` when censored); ``interval_optional``: the two columns are used
    only when the file has them (the bundled contract's)."""

    name: str
    time: str
    event: str
    label: str = ""
    entry: str | None = None
    lower: str | None = None
    upper: str | None = None
    derived: bool = False
    interval_optional: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns read from the file."""
        own = () if self.derived else (self.time, self.event)
        return own + ((self.entry,) if self.entry else ()) + (
            (self.lower, self.upper) if self.interval else ())

    @property
    def interval(self) -> bool:
        """Whether the endpoint has interval columns (``lower``/``upper``)."""
        return self.lower is not None

    def detection_time(self) -> Endpoint:
        """The endpoint without its interval columns: the event at its detection time."""
        return replace(self, lower=None, upper=None, interval_optional=False)

    @property
    def heading(self) -> str:
        """See :func:`endpoint_heading`."""
        return endpoint_heading(self.name, self.label)


@dataclass(frozen=True)
class Factor:
    """A categorical column.

    ``levels=None`` accepts any value (levels are taken from the data, sorted); declared levels
    are matched case-insensitively after stripping spaces and stored in their declared spelling.
    ``reference`` is the level other levels are contrasted with (default: the first level).
    ``ordered=True`` says that ``levels`` are in their order, lowest first, and needs them: an
    order is never taken from the data (sorted as text, "low, intermediate, high" would read
    high < intermediate < low).
    """

    name: str
    levels: tuple[str, ...] | None = None
    ordered: bool = False
    reference: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.ordered and self.levels is None:
            raise ValueError(f"factor {self.name!r} is ordered but its levels are not given; "
                             "declare them in order, lowest first (an order is never taken "
                             "from the data)")
        if self.levels is not None:
            if len(set(lv.casefold() for lv in self.levels)) != len(self.levels):
                raise ValueError(f"factor {self.name!r}: levels repeat: {self.levels}")
            if self.reference is not None and self.reference not in self.levels:
                raise ValueError(
                    f"factor {self.name!r}: reference {self.reference!r} is not among the "
                    f"levels {list(self.levels)}"
                )


@dataclass(frozen=True)
class CohortSchema:
    """Which columns a cohort has and what they may hold.

    Parameters
    ----------
    id_column
        Column identifying the unit; ``None`` numbers the rows instead (``row-1``, ...).
    centre_column
        Column naming the centre; ``None`` for a single-centre analysis.
    endpoints
        The right-censored endpoints.
    factors
        Categorical covariates (missing values follow the ``missing`` policy of validation).
    numerics
        Numeric covariates (e.g. age).
    responses
        Categorical outcomes in which a missing value is allowed (e.g. RECIST assessments).
    event_coding
        Key of :data:`EVENT_CODINGS`.
    time_unit
        Unit of every time column (reported, never converted); default
        :data:`DEFAULT_TIME_UNIT`.
    optional
        Names of the parts used only when the file has their columns (see :meth:`present_in`):
        endpoints, covariates and responses by name, and the centre column by its column name.
    nested
        Pairs ``(shorter, longer)`` of endpoint names whose times are nested by definition
        (e.g. progression-free survival ends no later than overall survival); validation warns
        about rows that break them, quoting ``nested_reason``.
    """

    id_column: str | None = None
    centre_column: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    factors: tuple[Factor, ...] = ()
    numerics: tuple[str, ...] = ()
    responses: tuple[Factor, ...] = ()
    event_coding: str = "0/1"
    time_unit: str = DEFAULT_TIME_UNIT
    name: str = "custom"
    optional: frozenset[str] = field(default_factory=frozenset)
    nested: tuple[tuple[str, str], ...] = ()
    nested_reason: str = ""

    def __post_init__(self) -> None:
        if self.event_coding not in EVENT_CODINGS:
            raise ValueError(
                f"event_coding {self.event_coding!r} is not one of {sorted(EVENT_CODINGS)}"
            )
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint names repeat: {names}")

    # -- look-ups ---------------------------------------------------------------------------
    def endpoint(self, name: str) -> Endpoint:
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(f"no endpoint {name!r}; the schema has {[e.name for e in self.endpoints]}")

    def factor(self, name: str) -> Factor:
        for f in self.factors + self.responses:
            if f.name == name:
                return f
        raise KeyError(f"no factor {name!r}; the schema has {[f.name for f in self.factors]}")

    @property
    def columns(self) -> list[str]:
        """Every column the schema reads, in contract order."""
        cols = [c for c in (self.id_column, self.centre_column) if c]
        for e in self.endpoints:
            cols += list(e.columns)
        cols += [f.name for f in self.factors] + list(self.numerics)
        cols += [r.name for r in self.responses]
        return cols

    # -- derived schemas (never mutate: always a new object) ----------------------------------
    def select(
        self,
        endpoints: list[str] | None = None,
        factors: list[str] | None = None,
        numerics: list[str] | None = None,
        responses: list[str] | None = None,
    ) -> CohortSchema:
        """A schema restricted to the named parts (``None`` keeps that part whole)."""

        def keep(items, wanted, key):
            if wanted is None:
                return items
            known = {key(i): i for i in items}
            unknown = [w for w in wanted if w not in known]
            if unknown:
                raise KeyError(f"not in the {self.name} schema: {unknown}; known: {list(known)}")
            return tuple(known[w] for w in wanted)

        return replace(
            self,
            endpoints=keep(self.endpoints, endpoints, lambda e: e.name),
            factors=keep(self.factors, factors, lambda f: f.name),
            numerics=keep(self.numerics, numerics, lambda n: n),
            responses=keep(self.responses, responses, lambda r: r.name),
            optional=frozenset(),
        )

    def present_in(self, columns) -> CohortSchema:
        """Keep the optional parts (endpoints, covariates, responses) whose columns all exist;
        an optional centre column the file lacks makes the analysis single-centre.

        Required parts (the id and anything not listed in ``optional``) stay, so that a
        missing required column still raises during validation. An endpoint with only one of its
        two columns present stays too, and validation names the missing one.
        """
        cols = set(columns)

        def stays(name: str, needed: tuple[str, ...]) -> bool:
            return name not in self.optional or any(c in cols for c in needed)

        centre = self.centre_column
        return replace(
            self,
            centre_column=centre if centre is None or stays(centre, (centre,)) else None,
            endpoints=tuple(e for e in self.endpoints if stays(
                e.name, e.detection_time().columns if e.interval_optional else e.columns)),
            factors=tuple(f for f in self.factors if stays(f.name, (f.name,))),
            numerics=tuple(n for n in self.numerics if stays(n, (n,))),
            responses=tuple(r for r in self.responses if stays(r.name, (r.name,))),
        )

    def with_levels(self, name: str, levels: list[str], *,
                    ordered: bool | None = None) -> CohortSchema:
        """Declare (or re-declare) the levels of a factor, keeping its reference if still valid;
        ``ordered`` (default: as before) says whether ``levels`` are in order, lowest first."""
        old = self.factor(name)
        ref = old.reference if old.reference in levels else None
        new = replace(old, levels=tuple(levels), reference=ref,
                      ordered=old.ordered if ordered is None else ordered)
        return replace(
            self,
            factors=tuple(new if f.name == name else f for f in self.factors),
            responses=tuple(new if f.name == name else f for f in self.responses),
        )

    @classmethod
    def custom(
        cls,
        endpoints: dict[str, tuple[str, str]],
        *,
        id_column: str | None = None,
        centre_column: str | None = None,
        factors: list[str] | tuple[Factor, ...] = (),
        numerics: list[str] | tuple[str, ...] = (),
        event_coding: str = "0/1",
        time_unit: str = DEFAULT_TIME_UNIT,
        optional: frozenset[str] = frozenset(),
        entries: dict[str, str] | None = None,
        intervals: dict[str, tuple[str, str]] | None = None,
    ) -> CohortSchema:
        """A schema for another cohort, naming its columns.

        ``endpoints`` maps an endpoint name to its ``(time column, event column)``; factors given
        by name accept any level present in the data. ``time_unit`` defaults to the contract's
        (:data:`DEFAULT_TIME_UNIT`); ``optional`` names the parts used only when present (e.g.
        the centre column, see :meth:`present_in`). ``entries`` maps an endpoint name to its
        late-entry column. ``intervals`` maps an endpoint name to its ``(lower, upper)``
        interval columns; a name not in ``endpoints`` is an endpoint of these two columns alone
        (its time and event derived from them, see :class:`Endpoint`).
        """
        entries, intervals = entries or {}, intervals or {}
        eps = [Endpoint(n, t, e, entry=entries.get(n), lower=intervals.get(n, (None, None))[0],
                        upper=intervals.get(n, (None, None))[1])
               for n, (t, e) in endpoints.items()]
        eps += [Endpoint(n, derived_time_column(n), derived_event_column(n),
                         entry=entries.get(n), lower=lo, upper=up, derived=True)
                for n, (lo, up) in intervals.items() if n not in endpoints]
        return cls(
            id_column=id_column,
            centre_column=centre_column,
            endpoints=tuple(eps),
            factors=tuple(f if isinstance(f, Factor) else Factor(f) for f in factors),
            numerics=tuple(numerics),
            event_coding=event_coding,
            time_unit=time_unit,
            optional=frozenset(optional),
        )

"""The cohort data contract: which columns a cohort has and what each may hold.

One row per analysed unit. The default contract, :data:`RE_NEN`, describes a radioembolization
(RE) cohort of neuroendocrine-neoplasm (NEN) liver metastases:

========================  ==========================================================
column                    content
========================  ==========================================================
``patient_id``            unique identifier of the analysed unit
``centre``                treating centre (the grouping level of hierarchical models)
``os_months/os_event``    overall survival: months from RE; 1 = death, 0 = censored
``hpfs_months/_event``    hepatic progression-free survival (hepatic progression or death)
``pfs_months/_event``     global progression-free survival (any progression or death)
``line``                  ``second_line`` or ``salvage`` (further levels when declared)
``grade``                 ``G1`` < ``G2`` < ``G3`` (ordered)
``tumour_burden``         ``low`` < ``intermediate`` < ``high`` (ordered; hepatic burden)
``extrahepatic``          ``no`` / ``yes``
``vascularisation``       ``hypervascular`` / ``isovascular`` / ``hypovascular``
``recist_3m/_12m``        RECIST 1.1 category ``CR``/``PR``/``SD``/``PD`` or missing
========================  ==========================================================

Global progression is the first of hepatic progression, extrahepatic progression and death, so a
consistent unit has ``pfs_months <= hpfs_months <= os_months``.

The contract serves any right-censored cohort: :meth:`CohortSchema.custom` names the time/event,
centre, id and covariate columns of another data set, and :meth:`CohortSchema.select` keeps only
the columns an analysis uses, so that only those are required.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = [
    "EVENT_CODINGS",
    "RECIST_LEVELS",
    "RE_NEN",
    "CohortSchema",
    "Endpoint",
    "Factor",
]

#: Allowed event codings: the stored value -> 1 (event) / 0 (censored).
#: ``"0/1"`` is the default; ``"1/2"`` is R survival's alternative (1 = censored, 2 = event).
EVENT_CODINGS: dict[str, dict[int, int]] = {
    "0/1": {0: 0, 1: 1},
    "1/2": {1: 0, 2: 1},
}

RECIST_LEVELS = ("CR", "PR", "SD", "PD")


@dataclass(frozen=True)
class Endpoint:
    """A right-censored endpoint: a time column and its event indicator column."""

    name: str
    time: str
    event: str
    label: str = ""

    @property
    def columns(self) -> tuple[str, str]:
        return (self.time, self.event)


@dataclass(frozen=True)
class Factor:
    """A categorical column.

    ``levels=None`` accepts any value (levels are taken from the data, sorted); declared levels
    are matched case-insensitively after stripping spaces and stored in their declared spelling.
    ``reference`` is the level other levels are contrasted with (default: the first level).
    """

    name: str
    levels: tuple[str, ...] | None = None
    ordered: bool = False
    reference: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
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
        Categorical outcomes in which a missing value is allowed (RECIST assessments).
    event_coding
        Key of :data:`EVENT_CODINGS`.
    time_unit
        Unit of every time column (reported, never converted).
    """

    id_column: str | None = "patient_id"
    centre_column: str | None = "centre"
    endpoints: tuple[Endpoint, ...] = ()
    factors: tuple[Factor, ...] = ()
    numerics: tuple[str, ...] = ()
    responses: tuple[Factor, ...] = ()
    event_coding: str = "0/1"
    time_unit: str = "months"
    name: str = "custom"
    optional: frozenset[str] = field(default_factory=frozenset)

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
        """Keep the optional parts (endpoints, covariates, responses) whose columns all exist.

        Required parts (id, centre and anything not listed in ``optional``) stay, so that a
        missing required column still raises during validation. An endpoint with only one of its
        two columns present stays too, and validation names the missing one.
        """
        cols = set(columns)

        def stays(name: str, needed: tuple[str, ...]) -> bool:
            return name not in self.optional or any(c in cols for c in needed)

        return replace(
            self,
            endpoints=tuple(e for e in self.endpoints if stays(e.name, e.columns)),
            factors=tuple(f for f in self.factors if stays(f.name, (f.name,))),
            numerics=tuple(n for n in self.numerics if stays(n, (n,))),
            responses=tuple(r for r in self.responses if stays(r.name, (r.name,))),
        )

    def with_levels(self, name: str, levels: list[str]) -> CohortSchema:
        """Declare (or re-declare) the levels of a factor, keeping its reference if still valid."""
        old = self.factor(name)
        ref = old.reference if old.reference in levels else None
        new = replace(old, levels=tuple(levels), reference=ref)
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
        time_unit: str = "time units",
    ) -> CohortSchema:
        """A schema for another cohort, naming its columns.

        ``endpoints`` maps an endpoint name to its ``(time column, event column)``; factors given
        by name accept any level present in the data.
        """
        return cls(
            id_column=id_column,
            centre_column=centre_column,
            endpoints=tuple(Endpoint(n, t, e) for n, (t, e) in endpoints.items()),
            factors=tuple(f if isinstance(f, Factor) else Factor(f) for f in factors),
            numerics=tuple(numerics),
            event_coding=event_coding,
            time_unit=time_unit,
        )


#: The radioembolization / neuroendocrine-neoplasm cohort contract (see the module docstring).
RE_NEN = CohortSchema(
    name="RE/NEN",
    id_column="patient_id",
    centre_column="centre",
    endpoints=(
        Endpoint("os", "os_months", "os_event", "overall survival"),
        Endpoint("hpfs", "hpfs_months", "hpfs_event", "hepatic progression-free survival"),
        Endpoint("pfs", "pfs_months", "pfs_event", "global progression-free survival"),
    ),
    factors=(
        Factor("line", ("second_line", "salvage"), reference="second_line",
               label="treatment line of RE"),
        Factor("grade", ("G1", "G2", "G3"), ordered=True, label="tumour grade (WHO)"),
        Factor("tumour_burden", ("low", "intermediate", "high"), ordered=True,
               label="hepatic tumour burden"),
        Factor("extrahepatic", ("no", "yes"), label="extrahepatic metastases"),
        Factor("vascularisation", ("hypervascular", "isovascular", "hypovascular"),
               label="angiographic vascularisation pattern"),
    ),
    responses=(
        Factor("recist_3m", RECIST_LEVELS, label="RECIST 1.1 at 3 months"),
        Factor("recist_12m", RECIST_LEVELS, label="RECIST 1.1 at 12 months"),
    ),
    optional=frozenset(
        {"os", "hpfs", "pfs", "line", "grade", "tumour_burden", "extrahepatic",
         "vascularisation", "recist_3m", "recist_12m"}
    ),
)

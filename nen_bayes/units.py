"""Time units: the one definition of days, weeks, months and years used everywhere.

A month is a twelfth of a Julian year: 365.25 / 12 = 30.4375 days; a week is 7 days. A model
file states the unit of its numbers (``[model] time_unit``) and a cohort the unit of its times
(``--time-unit``, the schema); :func:`unit_factor` gives the exact factor between two of the
units below, and :func:`canonical_unit` their one spelling.
"""

from __future__ import annotations

__all__ = ["DAYS_PER_MONTH", "PER_MONTH", "TIME_UNITS", "canonical_unit", "unit_factor"]

#: Days in a month: a twelfth of the Julian year.
DAYS_PER_MONTH = 365.25 / 12
#: Units per month of each known time unit.
PER_MONTH: dict[str, float] = {"days": DAYS_PER_MONTH, "weeks": DAYS_PER_MONTH / 7,
                               "months": 1.0, "years": 1.0 / 12}
#: The known units, shortest first.
TIME_UNITS = tuple(PER_MONTH)


def canonical_unit(unit: str | None) -> str | None:
    """``"days"`` for ``"day"``, ``"Days"``, ``" days "``; ``None`` for a unit that is not one
    of :data:`TIME_UNITS` (singular or plural, any case).

    Examples
    --------
    >>> canonical_unit("Day"), canonical_unit(" weeks ")
    ('days', 'weeks')
    >>> canonical_unit("fortnight") is None
    True
    """
    if unit is None:
        return None
    u = str(unit).strip().lower()
    u = u if u.endswith("s") else u + "s"
    return u if u in PER_MONTH else None


def unit_factor(from_unit: str, to_unit: str) -> float | None:
    """How many ``to_unit`` make one ``from_unit`` (30.4375 for months -> days): a time in
    ``from_unit`` times this factor is the same time in ``to_unit``. 1.0 when the two are the
    same text (case and plural aside), even for a unit that is not known; ``None`` when they
    differ and either is not one of :data:`TIME_UNITS`.

    Examples
    --------
    >>> unit_factor("months", "days")
    30.4375
    >>> 24 * unit_factor("months", "days")  # a 24-month horizon in a cohort counted in days
    730.5
    >>> unit_factor("years", "months")
    12.0
    >>> unit_factor("visits", "Visit"), unit_factor("visits", "days")
    (1.0, None)
    """
    a, b = canonical_unit(from_unit), canonical_unit(to_unit)
    if a is None or b is None:
        def stem(u):
            return str(u).strip().lower().rstrip("s")
        return 1.0 if stem(from_unit) == stem(to_unit) else None
    return PER_MONTH[b] / PER_MONTH[a]

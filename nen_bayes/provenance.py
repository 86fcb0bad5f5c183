"""Where a result comes from, said in one place: the synthetic-data notice and the flag that
carries it from a cohort to every result computed on it.

A cohort is synthetic when a truth file written by the generator sits beside it (see
:func:`nen_bayes.cohorts.cohort.load_cohort`). The flag travels in each result's provenance
(``Cohort.provenance()``, a fit's DataTree attrs, a run card), and every text, table and figure
made from a synthetic cohort says so.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SYNTHETIC_NOTICE", "Provenanced", "is_synthetic"]

SYNTHETIC_NOTICE = (
    "SYNTHETIC DATA: simulated from assumptions calibrated to published summary figures; "
    "not patient data, and not the published study's results."
)


def is_synthetic(provenance: Mapping | None) -> bool:
    """The synthetic flag of a provenance mapping or DataTree attrs (stored as a bool, or as
    0/1 in NetCDF attributes); missing means not synthetic."""
    if not provenance:
        return False
    value = provenance.get("synthetic", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(int(value))


class Provenanced:
    """Mixin for result objects with a ``provenance`` mapping: the ``synthetic`` flag and the
    notice to print with them."""

    provenance: Mapping

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.provenance)

    @property
    def notice(self) -> str:
        return SYNTHETIC_NOTICE if self.synthetic else ""

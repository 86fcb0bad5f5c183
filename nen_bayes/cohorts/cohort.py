"""A validated cohort: typed data plus where it came from.

:func:`load_cohort` is the entry point: read a file (or take a DataFrame), validate it against a
schema, and recognise synthetic cohorts. A cohort is *synthetic* when a truth file written by a
generator (the case study's is :mod:`nen_bayes.re_nen.simulate`) sits beside it
(``<stem>.truth.json``) and records the file's content hash; every output computed on such a
cohort says so (:mod:`nen_bayes.provenance`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from nen_bayes.cohorts.outcomes import Outcomes
from nen_bayes.cohorts.read import RawTable, read_table, table_from_frame
from nen_bayes.cohorts.schema import CohortSchema, derived_time_column
from nen_bayes.cohorts.validate import row_ids, validate_table
from nen_bayes.provenance import SYNTHETIC_NOTICE

__all__ = ["Cohort", "load_cohort", "truth_path_for"]


def truth_path_for(path: str | os.PathLike) -> Path:
    """Where the ground-truth file of a simulated cohort lives: ``<stem>.truth.json``."""
    p = Path(path)
    return p.with_name(p.stem + ".truth.json")


@dataclass(frozen=True)
class Cohort:
    """A validated cohort.

    Attributes
    ----------
    data
        One row per unit, typed by :func:`nen_bayes.cohorts.validate.validate_table`.
    schema
        The schema it satisfies (factor levels filled in).
    source, data_hash
        The file it was read from and the ``sha256:`` hash of its bytes.
    rows
        Spreadsheet row number of each unit in the source (header = row 1).
    notes
        What the missing-value and zero-time policies did.
    synthetic
        True when the data are simulated (a matching truth file sits beside the file).
    truth
        The generator's ground truth for a synthetic cohort, else ``None``.
    """

    data: pd.DataFrame
    schema: CohortSchema
    source: str
    data_hash: str
    rows: np.ndarray
    notes: tuple[str, ...] = ()
    synthetic: bool = False
    truth: dict | None = None

    def __len__(self) -> int:
        return len(self.data)

    def time(self, endpoint: str) -> np.ndarray:
        return self.data[self.schema.endpoint(endpoint).time].to_numpy(float)

    def event(self, endpoint: str) -> np.ndarray:
        return self.data[self.schema.endpoint(endpoint).event].to_numpy(np.int64)

    def entry(self, endpoint: str) -> np.ndarray | None:
        """Late-entry times of ``endpoint`` (left truncation), or None when it has none."""
        col = self.schema.endpoint(endpoint).entry
        return None if col is None else self.data[col].to_numpy(float)

    def interval(self, endpoint: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(lower, upper)`` of an interval-censored endpoint (the event in ``(lower,
        upper]``, ``upper`` inf when right-censored at ``lower``), or None when it has none."""
        ep = self.schema.endpoint(endpoint)
        if not ep.interval:
            return None
        return self.data[ep.lower].to_numpy(float), self.data[ep.upper].to_numpy(float)

    def outcomes(self, endpoint: str) -> Outcomes:
        """What was observed of each unit for ``endpoint`` (:class:`Outcomes`): for an
        interval-censored endpoint, ``time`` is the lower bound of an event's interval (the
        censoring time of a censored unit) and ``upper`` its upper bound."""
        bounds = self.interval(endpoint)
        event = self.event(endpoint)
        if bounds is None:
            return Outcomes(self.time(endpoint), event, self.entry(endpoint))
        lower, upper = bounds
        return Outcomes(lower, event, self.entry(endpoint),
                        np.where(event == 1, upper, lower))

    def detection_times(self) -> Cohort:
        """The same cohort with every event at its detection time: the interval columns set
        aside, an interval-censored endpoint's time the upper bound of each event's interval
        (:attr:`Outcomes.detection_time`; its time column may hold any time in the interval)
        and a censored unit's time its censoring time."""
        data, eps = self.data, []
        for e in self.schema.endpoints:
            if e.interval and e.lower in data.columns and e.upper in data.columns:
                column = derived_time_column(e.name)
                if data is self.data:
                    data = self.data.copy()
                data[column] = self.outcomes(e.name).detection_time
                e = replace(e, time=column)
            eps.append(e.detection_time())
        return replace(self, data=data, schema=replace(self.schema, endpoints=tuple(eps)))

    @property
    def ids(self) -> np.ndarray:
        col = self.schema.id_column
        if col is None:
            return row_ids(self.rows)
        return self.data[col].to_numpy(dtype=object)

    @property
    def centres(self) -> pd.Categorical | None:
        col = self.schema.centre_column
        return None if col is None else self.data[col].array

    def provenance(self) -> dict:
        """What a result computed on this cohort must record about it."""
        return {
            "source": self.source,
            "data_hash": self.data_hash,
            "n_units": len(self),
            "synthetic": self.synthetic,
            "notice": SYNTHETIC_NOTICE if self.synthetic else "",
            "policy_notes": list(self.notes),
        }


def _truth_for(raw: RawTable) -> dict | None:
    if raw.source.startswith("<"):
        return None
    tp = truth_path_for(raw.source)
    if not tp.exists():
        return None
    try:
        truth = json.loads(tp.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return truth if truth.get("data_hash") == raw.data_hash else None


def load_cohort(
    data: str | os.PathLike | pd.DataFrame,
    schema: CohortSchema,
    *,
    missing: str = "error",
    zero_time: str = "error",
    sep: str | None = None,
    sheet: str | int | None = None,
    lenient: bool = False,
    synthetic: bool | None = None,
) -> Cohort:
    """Read and validate a cohort.

    Parameters
    ----------
    data
        A file path (CSV, Excel, Parquet) or a DataFrame.
    schema
        The contract to check (the case study's is :data:`nen_bayes.re_nen.RE_NEN`). Use
        :meth:`CohortSchema.select` so that only the columns an analysis uses are required.
    missing, zero_time
        Policies, see :mod:`nen_bayes.cohorts.validate`.
    lenient
        Keep only the optional parts of the schema whose columns exist (for describing a file
        that carries part of the contract).
    synthetic
        Force the synthetic flag (``None``: recognised from a truth file beside the data).
    """
    raw = table_from_frame(data) if isinstance(data, pd.DataFrame) else read_table(
        data, sep=sep, sheet=sheet)
    if lenient:
        schema = schema.present_in(raw.frame.columns)
    frame, schema2, rows, notes = validate_table(raw, schema, missing=missing,
                                                 zero_time=zero_time)
    truth = _truth_for(raw)
    flag = truth is not None if synthetic is None else synthetic
    return Cohort(frame, schema2, raw.source, raw.data_hash, rows, notes, flag, truth)

"""What was observed of each unit of an endpoint: one object that every analysis asks.

A unit's outcome is one of three kinds, plus late entry:

``exact``      an event at ``time``;
``right``      censored at ``time`` (event 0);
``interval``   an event known only to lie in ``(time, upper]`` (event 1, upper > time; time is
               then the last assessment without it, and may be 0);
late entry     any of them observed from ``entry`` > 0 on (left truncation).

The Bayesian likelihood terms of each kind are in :mod:`nen_bayes.bayes.outcomes`; an analysis
for right-censored data (Kaplan-Meier, log-rank, Cox) takes an interval-censored event at its
:attr:`Outcomes.detection_time`, the upper bound (never the lower bound, which may be 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "Outcomes"]

#: The outcome kinds, in the order :attr:`Outcomes.kinds` codes them (0, 1, 2).
KINDS = ("exact", "right", "interval")


@dataclass(frozen=True)
class Outcomes:
    """The outcomes of ``n`` units: ``time`` and ``event`` (n,), late-entry times ``entry``
    (None: every unit observed from 0), upper bounds ``upper`` (None: no interval-censored
    event; else ``upper`` = time for an exact event and inf or time for a censored unit)."""

    time: np.ndarray
    event: np.ndarray
    entry: np.ndarray | None = None
    upper: np.ndarray | None = None

    @classmethod
    def of(cls, design) -> Outcomes:
        """The outcomes of anything with ``time``, ``event``, ``entry`` and ``upper`` (a
        design, an outcomes object)."""
        return cls(np.asarray(design.time, float), np.asarray(design.event),
                   None if design.entry is None else np.asarray(design.entry, float),
                   None if design.upper is None else np.asarray(design.upper, float))

    @property
    def n(self) -> int:
        return len(self.time)

    @property
    def interval(self) -> np.ndarray:
        """Which units had their event in ``(time, upper]``."""
        if self.upper is None:
            return np.zeros(self.n, bool)
        return (self.event == 1) & (self.upper > self.time)

    @property
    def detection_time(self) -> np.ndarray:
        """Each unit's time for an analysis of right-censored data: an interval-censored event
        at its upper bound, every other unit at its time."""
        inside = self.interval
        return np.where(inside, self.upper, self.time) if inside.any() else self.time

    @property
    def kinds(self) -> np.ndarray:
        """Each unit's kind as a code into :data:`KINDS`."""
        return np.where(self.interval, 2, np.where(self.event == 1, 0, 1))

    def counts(self) -> dict[str, int]:
        """How many units of each kind, and how many enter late."""
        k = self.kinds
        out = {name: int((k == i).sum()) for i, name in enumerate(KINDS)}
        out["late_entry"] = 0 if self.entry is None else int((self.entry > 0).sum())
        return out

    def subset(self, units):
        """The outcomes of the units selected (a boolean mask or indexes), of this type."""
        def pick(a):
            return None if a is None else np.asarray(a)[units]
        return type(self)(pick(self.time), pick(self.event), pick(self.entry), pick(self.upper))

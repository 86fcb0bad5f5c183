"""The study's published treatment-line comparison, reanalysed from its numbers alone.

Published (``calibration.toml``, ``[targets]``, the single place for the study's figures): OS
after RE as second line vs salvage, two-sided log-rank P = 0.078 (second line longer), 297
evaluations. Not published: the number of deaths and the group sizes. They are *assumptions*,
stated with every result (by default 75% of the evaluations died, groups split evenly), and a
sweep over plausible values shows how much they matter. Under a flat prior they do not matter
at all (P(HR < 1) = 1 - p/2); they move only the posteriors under informative priors.

The computation is the generic summary-level reanalysis of
:mod:`nen_bayes.sensitivity.summary_level`; this module supplies the case study's inputs and
words.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nen_bayes.formatting import format_equals, format_prob
from nen_bayes.re_nen.simulate import load_calibration
from nen_bayes.sensitivity.grid import GridPrior, zampieri_grid
from nen_bayes.sensitivity.summary_level import (
    SummaryEstimate,
    assumption_sweep,
    from_logrank,
    summary_reanalysis,
)
from nen_bayes.settings import Decision

__all__ = ["PublishedComparison", "PublishedReanalysis", "published_line_comparison",
           "reanalyse_published"]

#: The priors whose posteriors the assumption sweep follows (beside the flat prior).
SWEEP_PRIORS = ("neutral_moderate", "pessimistic_moderate")


@dataclass(frozen=True)
class PublishedComparison:
    """A published two-group log-rank comparison: what was published (``p``, ``n``) and what is
    assumed (the share of units with an event, the share in group 1, the sweep's ranges)."""

    label: str                 # e.g. "OS, second line vs salvage"
    group1: str                # the group of interest (HR < 1 favours it)
    group2: str
    p: float
    n: int
    favours: str = "group 1"
    event_share: float = 0.75  # assumption
    group_share: float = 0.5   # assumption: share of the units in group 1
    sweep_events: tuple[int, ...] = (150, 175, 200, 225, 250, 275, 297)
    sweep_shares: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)

    @property
    def events(self) -> int:
        return round(self.event_share * self.n)

    @property
    def n1(self) -> float:
        return self.group_share * self.n

    @property
    def n2(self) -> float:
        return self.n - self.n1

    def to_dict(self) -> dict:
        return {"label": self.label, "p": self.p, "n": self.n, "favours": self.favours,
                "assumed_events": self.events, "assumed_n1": self.n1, "assumed_n2": self.n2,
                "sweep_events": list(self.sweep_events),
                "sweep_shares": list(self.sweep_shares)}


def published_line_comparison(calibration: dict | None = None) -> PublishedComparison:
    """The study's line comparison for OS, its figures read from the calibration file."""
    targets = (load_calibration() if calibration is None else calibration)["targets"]
    n = int(targets["n"]["value"])
    return PublishedComparison(
        label="OS, second line vs salvage", group1="second line", group2="salvage",
        p=float(targets["p_line_os"]["value"]), n=n,
        sweep_events=tuple(d for d in (150, 175, 200, 225, 250, 275, n) if d <= n))


@dataclass(frozen=True)
class PublishedReanalysis:
    """The posterior under a flat prior and each prior of the grid, and the assumption sweep."""

    comparison: PublishedComparison
    estimate: SummaryEstimate
    table: pd.DataFrame
    sweep: pd.DataFrame
    priors: tuple[GridPrior, ...]
    events: float
    n1: float
    n2: float

    @property
    def sweep_columns(self) -> list[str]:
        return [k for k in self.sweep.columns if k.startswith("P(HR < 1)")]

    @property
    def even_split(self) -> bool:
        return self.n1 == self.n2

    def to_text(self) -> str:
        """The likelihood, the assumptions and the sweep's ranges (the report's text)."""
        c = self.comparison
        share = f" ({self.events / c.n:.0%} of {c.n})"
        sweep = self.sweep
        lo_e, hi_e = min(sweep["events"]), max(sweep["events"])
        lo_s, hi_s = min(sweep["share_group_1"]), max(sweep["share_group_1"])
        return (f"Likelihood: {self.estimate.description}\nASSUMPTIONS (not published): "
                f"{self.events:g} events{share}, groups {self.n1:g}:{self.n2:g}.\n"
                + "\n".join(f"  {k}: {format_prob(sweep[k].min())} to "
                            f"{format_prob(sweep[k].max())} over events {lo_e:g}-{hi_e:g} and "
                            f"{lo_s * 100:.0f}-{hi_s:.0%} in {c.group1}"
                            for k in self.sweep_columns))

    def summary_line(self) -> str:
        """One line for the main job's summary."""
        c, t = self.comparison, self.table
        flat = t.iloc[0]
        nm = t.set_index("prior").loc["neutral_moderate"] if "neutral_moderate" in \
            set(t["prior"]) else t.iloc[1]
        split = "even split" if self.even_split else f"groups {self.n1:g}:{self.n2:g}"
        return (f"published line comparison (P = {c.p:g}, summary level, not the bundled data): "
                f"flat prior HR {flat['median']:.2f} ({flat['lower']:.2f}-{flat['upper']:.2f}), "
                f"P(HR < 1) {format_equals(flat['P(HR < 1)'])}; neutral moderate prior HR "
                f"{nm['median']:.2f}, P(HR < 1) {format_equals(nm['P(HR < 1)'])} (assumed "
                f"{self.events:g} events, {split}; see the report for the sweep)")

    def header(self) -> str:
        """What was published and what is assumed, for the command's printed summary."""
        c = self.comparison
        return (f"Published: {c.label.replace(', ', ', RE as ', 1)}, log-rank P = {c.p:g} "
                f"({c.group1} longer), {c.n} evaluations.\n"
                f"ASSUMPTIONS (not published): {self.events:g} events; group sizes "
                f"{self.n1:g} ({c.group1}) : {self.n2:g} ({c.group2}). Change them with "
                "--events/--n1/--n2; the sweep below varies them.")


def reanalyse_published(comparison: PublishedComparison, priors=None, *,
                        decision: Decision | None = None, events: float | None = None,
                        n1: float | None = None, n2: float | None = None,
                        sweep_events=None, sweep_shares=None) -> PublishedReanalysis:
    """The summary-level reanalysis of ``comparison`` under a flat prior and every prior of the
    grid (default: :func:`~nen_bayes.sensitivity.grid.zampieri_grid`), with the assumed events
    and group sizes (defaults: the comparison's) and the sweep over plausible values."""
    c = comparison
    priors = list(priors) if priors else zampieri_grid()
    events = c.events if events is None else events
    if n1 is None and n2 is None:
        n1, n2 = c.n1, c.n2
    elif n1 is None:
        n1 = c.n - n2
    elif n2 is None:
        n2 = c.n - n1
    est = from_logrank(c.p, events, n1, n2, favours=c.favours)
    table = summary_reanalysis(est, priors, decision=decision)
    chosen = [q for q in priors if q.name in SWEEP_PRIORS] or priors[:2]
    sweep_events = [d for d in (sweep_events or c.sweep_events) if d <= n1 + n2]
    sweep = assumption_sweep(c.p, sweep_events, tuple(sweep_shares or c.sweep_shares),
                             n1 + n2, chosen, favours=c.favours)
    return PublishedReanalysis(c, est, table, sweep, tuple(priors), events, n1, n2)

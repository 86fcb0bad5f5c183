"""The main job's typed result: every step's result, the summary and the provenance."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nen_bayes.pipeline.settings import ReanalysisSettings
from nen_bayes.pipeline.steps import BaselineStep, DescribeStep, EndpointResult, PublishedStep
from nen_bayes.provenance import Provenanced

__all__ = ["ReanalysisResult"]


@dataclass(frozen=True)
class ReanalysisResult(Provenanced):
    """What :func:`nen_bayes.pipeline.reanalysis.reanalyse` computed and wrote.

    ``provenance`` is the cohort's (source, data hash, units, synthetic flag); ``endpoints``
    holds, per endpoint, the fits' run cards, the comparison, the contrast and the prior grid.
    """

    settings: ReanalysisSettings
    provenance: dict
    describe: DescribeStep
    baselines: BaselineStep
    endpoints: dict[str, EndpointResult]
    factors: tuple[str, ...]
    published: PublishedStep | None
    summary: str
    records: dict                  # the summary as data, by endpoint
    versions: dict
    timings: dict

    @property
    def effects(self) -> pd.DataFrame:
        """The contrast's effects table of every endpoint (the headline model's)."""
        return pd.concat([ep.contrast.result.effects for ep in self.endpoints.values()],
                         ignore_index=True)

    @property
    def across_models(self) -> pd.DataFrame:
        return pd.concat([ep.contrast.across for ep in self.endpoints.values()],
                         ignore_index=True)

    @property
    def notes(self) -> dict[str, tuple[str, ...]]:
        """By endpoint, what could not be estimated: the baseline Cox models left out and their
        coefficients without an estimate, then the models of the set left out, each a sentence
        naming the model and why."""
        reports = self.baselines.reports
        return {name: reports[name].not_estimated + ep.notes
                for name, ep in self.endpoints.items()}

    def to_dict(self) -> dict:
        """run.json: settings, provenance, versions, step timings and the summary as data."""
        p = self.provenance
        return {"settings": {**self.settings.to_dict(), "endpoints": list(self.endpoints),
                             "factors": list(self.factors)},
                **p, "versions": self.versions, "timings_s": self.timings,
                "notes": {name: list(n) for name, n in self.notes.items()},
                "summary": {"endpoints": self.records}}

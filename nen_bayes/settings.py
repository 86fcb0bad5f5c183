"""Typed settings with their defaults written once: how to sample, which contrast to report,
and which decision thresholds to apply to a hazard ratio.

Every function and command that samples, contrasts or reports decision probabilities takes these
objects (or builds them from its options), so that a default changes in one place.

:func:`decision_probabilities` is the one computation of the decision probabilities of a hazard
ratio (HR < 1 favours the level of interest):

* P(HR < 1), the probability of any benefit;
* P(HR < benefit), the probability of a clinically important benefit;
* P(HR > harm), the probability of clinically important harm;
* P(rope_low < HR < rope_high), the probability of practical equivalence (ROPE).

It works on posterior draws of the HR (Monte Carlo) and on a closed-form distribution given by its
cumulative distribution function (the normal approximations of the prior grid and the
summary-level reanalysis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nen_bayes.units import unit_factor

__all__ = ["DEFAULT_HORIZONS", "DEFAULT_SEED", "FIGURE_FORMATS", "SAMPLERS", "Contrast",
           "Decision", "Sampling", "decision_probabilities", "default_horizons"]

#: The seed of every seeded computation unless the user gives another.
DEFAULT_SEED = 20261123

#: The NUTS implementations :class:`Sampling` accepts.
SAMPLERS = ("nutpie", "pymc")

#: Figure file formats the commands and the main job can write.
FIGURE_FORMATS = ("png", "svg", "pdf")

#: Horizons of the restricted mean survival times unless the user gives others, in months;
#: :func:`default_horizons` gives them in a cohort's time unit.
DEFAULT_HORIZONS = (24.0, 60.0)


def default_horizons(longest: float, time_unit: str) -> tuple[float, ...]:
    """The RMST horizons used when none is given, in the cohort's own time unit: the study's
    :data:`DEFAULT_HORIZONS` (24 and 60 months, i.e. 2 and 5 years) put in ``time_unit``
    (730.5 and 1826.25 days) for a cohort in a known unit followed at least that long, so that
    the same cohort in months or in days gets the same horizons; otherwise a third and two
    thirds of the longest follow-up ``longest``, to two significant digits (52 weeks: 17 and
    35; 1500 days: 500 and 1000), so that no default horizon lies beyond the follow-up."""
    factor = unit_factor("months", time_unit)
    if factor is not None and longest >= DEFAULT_HORIZONS[-1] * factor:
        return tuple(h * factor for h in DEFAULT_HORIZONS)
    return tuple(float(f"{longest * f:.2g}") for f in (1 / 3, 2 / 3))


@dataclass(frozen=True)
class Sampling:
    """NUTS settings: draws and tuning steps per chain, chains, parallel chains (``None``:
    min(chains, CPUs)), seed, sampler (``nutpie`` or ``pymc``) and target acceptance."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int | None = None
    seed: int = DEFAULT_SEED
    sampler: str = "nutpie"
    target_accept: float = 0.9

    def __post_init__(self):
        for name in ("draws", "tune", "chains"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.target_accept < 1:
            raise ValueError(f"target_accept must lie in (0, 1), got {self.target_accept}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {self.sampler!r}")

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`nen_bayes.bayes.inference.fit`."""
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains,
                "cores": self.cores, "seed": self.seed, "sampler": self.sampler,
                "target_accept": self.target_accept}

    def describe(self) -> str:
        return (f"{self.sampler}, {self.chains} chains x {self.draws} draws after {self.tune} "
                f"tuning steps, target accept {self.target_accept}")


@dataclass(frozen=True)
class Contrast:
    """``level`` vs ``versus`` of the categorical covariate ``term``; ``None`` levels mean the
    model's first non-reference level and the model's reference."""

    term: str
    level: str | None = None
    versus: str | None = None

    def __post_init__(self):
        if not self.term:
            raise ValueError("a contrast needs a term (a categorical covariate)")
        if self.level is not None and self.level == self.versus:
            raise ValueError(f"level and versus are both {self.level!r}")

    def describe(self) -> str:
        return f"{self.term}: {self.level} vs {self.versus}"


@dataclass(frozen=True)
class Decision:
    """Decision thresholds on a hazard ratio (HR < 1 favours the level of interest):
    ``benefit`` < 1 < ``harm``, and the region of practical equivalence ``rope`` around 1."""

    benefit: float = 0.8
    harm: float = 1.25
    rope: tuple[float, float] = (0.91, 1.10)

    def __post_init__(self):
        rope = tuple(float(x) for x in self.rope)
        object.__setattr__(self, "rope", rope)
        if len(rope) != 2 or not (0 < self.benefit < 1 < self.harm) or \
                not (0 < rope[0] < 1 < rope[1]):
            raise ValueError(f"thresholds must satisfy 0 < benefit < 1 < harm and "
                             f"0 < rope_low < 1 < rope_high; got benefit {self.benefit}, "
                             f"harm {self.harm}, rope {self.rope}")

    @property
    def events(self) -> dict[str, str]:
        """Machine name -> label of each decision probability, in the order they are reported."""
        lo, hi = self.rope
        return {"prob_hr_below_1": "P(HR < 1)",
                f"prob_hr_below_{self.benefit:g}": f"P(HR < {self.benefit:g})",
                f"prob_hr_above_{self.harm:g}": f"P(HR > {self.harm:g})",
                f"prob_rope_{lo:g}_{hi:g}": f"P({lo:g} < HR < {hi:g})"}


#: How a prior grid's posteriors are obtained (:mod:`nen_bayes.sensitivity.refits`): the draws
#: under the model's own prior reweighted by importance sampling (a prior whose weights fail
#: their checks is refitted), or a refit under every prior.
GRID_METHODS = ("reweight", "refit")


def decision_probabilities(hr: np.ndarray | Callable[[float], float],
                           decision: Decision | None = None, *,
                           weights: np.ndarray | None = None) -> dict[str, float]:
    """The decision probabilities of a hazard ratio, keyed by their labels
    (``"P(HR < 1)"``, ``"P(HR < 0.8)"``, ``"P(HR > 1.25)"``, ``"P(0.91 < HR < 1.1)"``).

    ``hr`` is either an array of draws of the HR (the probabilities are the shares of draws, with
    strict inequalities; with ``weights``, importance weights of the draws, their weighted
    shares) or the HR's cumulative distribution function ``x -> P(HR < x)`` of a continuous
    closed-form distribution.
    """
    d = Decision() if decision is None else decision
    lo, hi = d.rope
    labels = list(d.events.values())
    if callable(hr):
        values = [hr(1.0), hr(d.benefit), 1.0 - hr(d.harm), hr(hi) - hr(lo)]
    else:
        x = np.asarray(hr, dtype=float).ravel()
        if x.size == 0:
            raise ValueError("no draws of the hazard ratio")
        w = None if weights is None else np.asarray(weights, float).ravel()
        values = [np.average(e, weights=w) for e in
                  (x < 1.0, x < d.benefit, x > d.harm, (x > lo) & (x < hi))]
    return {k: float(v) for k, v in zip(labels, values, strict=True)}

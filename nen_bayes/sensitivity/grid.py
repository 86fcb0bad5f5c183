"""The prior grid for a treatment effect on the log hazard-ratio scale, and what a normal prior
implies.

The grid follows Zampieri et al. (Am J Respir Crit Care Med 2021;203:543-552): three
directions x three strengths, all normal on log HR (HR < 1 = benefit of the level of interest):

* **neutral** (sceptical): centred on no effect, mu = 0; its strength is the prior probability
  of an effect at least as large as the expected one, P(HR < expected);
* **optimistic**: centred on the expected effect, mu = ln(expected); strength = the prior
  probability of harm, P(HR > 1);
* **pessimistic**: centred on the mirror image of the expected effect, mu = -ln(expected);
  strength = the prior probability of benefit, P(HR < 1).

A prior with tail probability p beyond a threshold x has SD = |ln x - mu| / z(1 - p); here
|ln x - mu| = |ln expected| for every direction, so the three directions of one strength share
one SD. Defaults: expected HR 0.8 and tail probabilities 0.30 (weak), 0.15 (moderate) and
0.05 (strong); all are options. Each prior is a small TOML file (``models/priors/line/``), so a
user adds or changes a prior by editing a file, and :func:`zampieri_grid` regenerates the set.
"""

from __future__ import annotations

import itertools
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from nen_bayes.errors import SpecError
from nen_bayes.files import atomic_write_text
from nen_bayes.settings import Decision, decision_probabilities

__all__ = ["DEFAULT_TAILS", "DIRECTIONS", "STRENGTHS", "GridPrior", "grid_table",
           "load_prior_grid", "normal_probabilities", "write_prior_grid", "zampieri_grid"]

DIRECTIONS = ("neutral", "optimistic", "pessimistic")
STRENGTHS = ("weak", "moderate", "strong")
DEFAULT_TAILS = {"weak": 0.30, "moderate": 0.15, "strong": 0.05}


@dataclass(frozen=True)
class GridPrior:
    """A normal prior on the log hazard ratio of the contrast of interest."""

    name: str
    direction: str
    strength: str
    mu: float
    sigma: float
    expected_hr: float
    tail: float
    tail_event: str
    reason: str = ""
    source: str = "<generated>"

    @property
    def label(self) -> str:
        return f"{self.direction} {self.strength}"

    def hr_interval(self, level: float = 0.95) -> tuple[float, float, float]:
        z = norm.ppf((1 + level) / 2)
        return (math.exp(self.mu), math.exp(self.mu - z * self.sigma),
                math.exp(self.mu + z * self.sigma))

    def to_toml(self) -> str:
        med, lo, hi = self.hr_interval()
        return (
            f"# Prior on the log hazard ratio of the contrast of interest (HR < 1 = benefit).\n"
            f"# {self.label}: HR median {med:.3f}, 95% prior interval {lo:.3f}-{hi:.3f}.\n"
            f"[prior]\n"
            f'name = "{self.name}"\n'
            f'direction = "{self.direction}"\n'
            f'strength = "{self.strength}"\n'
            f'dist = "Normal"\n'
            f"mu = {self.mu!r}\n"
            f"sigma = {self.sigma!r}\n"
            f'reason = """{self.reason}"""\n\n'
            f"[definition]\n"
            f"expected_hr = {self.expected_hr!r}\n"
            f"tail_probability = {self.tail!r}\n"
            f'tail_event = "{self.tail_event}"\n'
        )


def zampieri_grid(expected_hr: float = 0.8, tails: dict | None = None) -> list[GridPrior]:
    """The nine priors (neutral, optimistic, pessimistic x weak, moderate, strong)."""
    if not 0 < expected_hr < 1:
        raise SpecError(f"expected HR {expected_hr} must lie in (0, 1): the grid is defined "
                        "for a beneficial expected effect (HR < 1)")
    tails = {**DEFAULT_TAILS, **(tails or {})}
    unknown = set(tails) - set(STRENGTHS)
    if unknown:
        raise SpecError(f"unknown strength(s) {sorted(unknown)}; allowed: {list(STRENGTHS)}")
    for s, p in tails.items():
        if not 0 < p < 0.5:
            raise SpecError(f"tail probability of {s!r} is {p}; allowed: 0 < p < 0.5")
    # a stronger prior has a smaller tail probability, hence a smaller SD
    ordered = [tails[s] for s in STRENGTHS]
    if any(hi <= lo for hi, lo in itertools.pairwise(ordered)):
        given = ", ".join(f"{s}={tails[s]:g}" for s in STRENGTHS)
        raise SpecError(f"tail probabilities {given} are not in decreasing order: a stronger "
                        "prior needs a smaller tail probability (narrower prior), e.g. "
                        "weak=0.30, moderate=0.15, strong=0.05")
    d = abs(math.log(expected_hr))
    e = expected_hr
    out = []
    for strength in STRENGTHS:
        p = tails[strength]
        sigma = d / norm.ppf(1 - p)
        for direction, mu, event in (
                ("neutral", 0.0, f"HR < {e:g}"),
                ("optimistic", math.log(e), "HR > 1"),
                ("pessimistic", -math.log(e), "HR < 1")):
            what = {"neutral": f"centred on no effect (HR 1) with P({event}) = {p:g}",
                    "optimistic": f"centred on the expected effect (HR {e:g}) with "
                                  f"P({event}) = {p:g}",
                    "pessimistic": f"centred on the mirror of the expected effect (HR "
                                   f"{1 / e:.3g}) with P({event}) = {p:g}"}[direction]
            out.append(GridPrior(
                name=f"{direction}_{strength}", direction=direction, strength=strength,
                mu=float(mu), sigma=float(sigma), expected_hr=float(e), tail=float(p),
                tail_event=event,
                reason=f"{direction.capitalize()} {strength} prior (Zampieri et al. 2021 "
                       f"grid): {what}; SD = |ln {e:g}| / z(1 - {p:g}) = {sigma:.4f}."))
    return out


def write_prior_grid(priors: list[GridPrior], directory: str | os.PathLike, *,
                     force: bool = False) -> list[Path]:
    """One TOML file per prior, written atomically (existing files need ``force``)."""
    directory = Path(directory)
    return [atomic_write_text(directory / f"{p.name}.toml", p.to_toml(), force=force)
            for p in priors]


def load_prior_grid(directory: str | os.PathLike) -> list[GridPrior]:
    """Every ``*.toml`` prior of a directory, in grid order (direction, then strength) where
    the names follow the grid, else alphabetically. Errors name the file and the key."""
    directory = Path(directory)
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise SpecError(f"{directory}: no prior files (*.toml)")
    out = []
    for f in files:
        try:
            d = tomllib.loads(f.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{f}: not valid TOML ({exc})") from None
        pr, de = d.get("prior", {}), d.get("definition", {})
        for key in ("name", "dist", "mu", "sigma"):
            if key not in pr:
                raise SpecError(f"{f}: [prior] needs {key!r}")
        if pr["dist"] != "Normal":
            raise SpecError(f"{f}: [prior] dist = {pr['dist']!r}; allowed: 'Normal' (the "
                            "grid is normal on the log-HR scale)")
        if not float(pr["sigma"]) > 0:
            raise SpecError(f"{f}: [prior] sigma = {pr['sigma']}; allowed: > 0")
        out.append(GridPrior(
            name=str(pr["name"]), direction=str(pr.get("direction", "custom")),
            strength=str(pr.get("strength", "custom")), mu=float(pr["mu"]),
            sigma=float(pr["sigma"]), expected_hr=float(de.get("expected_hr", np.nan)),
            tail=float(de.get("tail_probability", np.nan)),
            tail_event=str(de.get("tail_event", "")), reason=str(pr.get("reason", "")),
            source=str(f)))

    def key(p):
        known = p.direction in DIRECTIONS and p.strength in STRENGTHS
        return (not known, DIRECTIONS.index(p.direction) if known else 0,
                STRENGTHS.index(p.strength) if known else 0, p.name)

    return sorted(out, key=key)


def normal_probabilities(mu, sd, *, decision: Decision | None = None,
                         level: float = 0.95) -> dict:
    """Median HR, its ``level`` interval and the decision probabilities
    (:func:`~nen_bayes.settings.decision_probabilities`) of log HR ~ N(mu, sd^2), in closed
    form: P(HR < x) = Phi((ln x - mu) / sd). ``sd = inf`` is not allowed: pass the estimate's
    SE for a flat prior's posterior."""
    z = norm.ppf((1 + level) / 2)

    def cdf(x):
        return float(norm.cdf((math.log(x) - mu) / sd))

    return {"hr": math.exp(mu), "lower": math.exp(mu - z * sd), "upper": math.exp(mu + z * sd),
            **decision_probabilities(cdf, decision)}


def grid_table(priors: list[GridPrior], *, decision: Decision | None = None,
               level: float = 0.95) -> pd.DataFrame:
    """The priors themselves: location, SD, median HR and ``level`` interval, their decision
    probabilities."""
    rows = []
    for p in priors:
        rows.append({"prior": p.name, "direction": p.direction, "strength": p.strength,
                     "mu": p.mu, "sigma": p.sigma,
                     **normal_probabilities(p.mu, p.sigma, decision=decision, level=level)})
    return pd.DataFrame(rows)

"""The paper card: one TOML file describing a published two-arm trial.

A card names the trial (citation, endpoint, time unit), its two arms (each: a digitised
Kaplan-Meier curve CSV relative to the card, the numbers-at-risk table printed under the figure,
the number randomised and, if reported, the number of events) and what was published (the hazard
ratio with its confidence interval and the model it came from, the p-value, the medians)::

    [trial]
    name = "trial-a"
    citation = "<authors, title, journal, year>"
    endpoint = "overall survival"
    time_unit = "months"
    reference = "control"       # the arm the hazard ratio is against

    [[arms]]
    name = "control"
    curve = "control.csv"       # columns time, survival (probability or percent)
    n = 120
    events = 80                 # optional
    at_risk = { times = [0, 6, 12, 18], n = [120, 95, 60, 31] }

    [[arms]]
    name = "treatment"
    ...

    [published]
    hr = 0.75                   # treatment vs control
    ci = [0.55, 1.02]
    conf_level = 0.95           # optional, default 0.95
    model = "Cox, unadjusted"
    p = 0.07                    # optional
    test = "log-rank"           # optional: what the p-value came from
    medians = { control = 10.5, treatment = 13.0 }   # optional, per arm

(the numbers above only illustrate the syntax).

Parsed once at the boundary (:func:`load_card`) into a frozen :class:`TrialCard`; every problem
raises :class:`CardError` naming the file, the table (and the arm) and what is allowed; unknown
keys are refused.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from nen_bayes.errors import CohortError
from nen_bayes.units import TIME_UNITS, canonical_unit

__all__ = ["ArmCard", "CardError", "Published", "TrialCard", "card_from_dict", "load_card"]

_TOP = {"trial", "arms", "published"}
_TRIAL = {"name", "citation", "endpoint", "time_unit", "reference"}
_ARM = {"name", "curve", "n", "events", "at_risk"}
_AT_RISK = {"times", "n"}
_PUBLISHED = {"hr", "ci", "conf_level", "model", "p", "test", "medians"}


class CardError(CohortError):
    """A paper card breaks its contract (exit code 2 in the commands)."""


@dataclass(frozen=True)
class ArmCard:
    """One arm: its digitised curve (absolute path), at-risk table, N and published events."""

    name: str
    curve: Path
    n: int
    risk_times: tuple[float, ...]
    risk_n: tuple[int, ...]
    events: int | None = None


@dataclass(frozen=True)
class Published:
    """What the paper reported for the comparison ``experimental vs reference``."""

    hr: float
    lower: float
    upper: float
    conf_level: float
    model: str
    p: float | None = None
    test: str = ""
    medians: tuple[tuple[str, float], ...] = ()

    def median(self, arm: str) -> float | None:
        return dict(self.medians).get(arm)


@dataclass(frozen=True)
class TrialCard:
    """A validated paper card."""

    source: str
    name: str
    citation: str
    endpoint: str
    time_unit: str
    reference: str
    arms: tuple[ArmCard, ...]
    published: Published

    @property
    def experimental(self) -> str:
        return next(a.name for a in self.arms if a.name != self.reference)

    def arm(self, name: str) -> ArmCard:
        return next(a for a in self.arms if a.name == name)


def _unknown(table: dict, allowed: set, where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise CardError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise CardError(f"{where}: needs a table [{key}]")
    return value


def _text(table: dict, key: str, where: str, *, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise CardError(f"{where}: {key!r} must be a non-empty string; got {value!r}")
    return value.strip()


def _number(table: dict, key: str, where: str, *, positive: bool = True) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CardError(f"{where}: {key!r} must be a finite number; got {value!r}")
    if positive and value <= 0:
        raise CardError(f"{where}: {key!r} must be > 0; got {value!r}")
    return float(value)


def _count(table: dict, key: str, where: str) -> int:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CardError(f"{where}: {key!r} must be a whole number >= 0; got {value!r}")
    return value


def _at_risk(arm: dict, n: int, where: str) -> tuple[tuple[float, ...], tuple[int, ...]]:
    w = f"{where}, table at_risk"
    table = arm.get("at_risk")
    if not isinstance(table, dict):
        raise CardError(f"{where}: needs an at_risk table with 'times' and 'n' (the numbers at "
                        "risk printed under the figure, starting at time 0)")
    _unknown(table, _AT_RISK, w)
    times, counts = table.get("times"), table.get("n")
    if not isinstance(times, list) or not isinstance(counts, list) or not times:
        raise CardError(f"{w}: 'times' and 'n' must be non-empty lists")
    if len(times) != len(counts):
        raise CardError(f"{w}: 'times' has {len(times)} values and 'n' {len(counts)}; "
                        "they must match")
    if any(isinstance(t, bool) or not isinstance(t, (int, float)) for t in times):
        raise CardError(f"{w}: 'times' must be numbers; got {times}")
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
        raise CardError(f"{w}: 'n' must be whole numbers >= 0; got {counts}")
    if times[0] != 0:
        raise CardError(f"{w}: the first time must be 0; got {times[0]}")
    if any(b <= a for a, b in pairwise(times)):
        raise CardError(f"{w}: 'times' must increase; got {times}")
    if any(b > a for a, b in pairwise(counts)):
        raise CardError(f"{w}: the numbers at risk cannot rise; got {counts}")
    if counts[0] != n:
        raise CardError(f"{w}: {counts[0]} at risk at time 0, but the arm's n is {n}; "
                        "they must be equal")
    return tuple(float(t) for t in times), tuple(int(c) for c in counts)


def _arm(arm: dict, i: int, base: Path, source: str) -> ArmCard:
    where = f"{source}: arms[{i}]"
    if not isinstance(arm, dict):
        raise CardError(f"{where}: each [[arms]] entry must be a table")
    name = _text(arm, "name", where)
    where = f"{source}: arm {name!r}"
    _unknown(arm, _ARM, where)
    rel = _text(arm, "curve", where)
    curve = (base / rel).resolve()
    if not curve.is_file():
        raise CardError(f"{where}: curve file {rel!r} not found (looked for {curve}; the path "
                        "is relative to the card)")
    n = _count(arm, "n", where)
    if n == 0:
        raise CardError(f"{where}: 'n' must be > 0")
    events = None
    if "events" in arm:
        events = _count(arm, "events", where)
        if events > n:
            raise CardError(f"{where}: {events} events but n = {n}; events cannot exceed n")
    times, counts = _at_risk(arm, n, where)
    return ArmCard(name, curve, n, times, counts, events)


def _published(data: dict, arms: list[str], source: str) -> Published:
    where = f"{source}: table published"
    pub = _table(data, "published", source)
    _unknown(pub, _PUBLISHED, where)
    hr = _number(pub, "hr", where)
    ci = pub.get("ci")
    if (not isinstance(ci, list) or len(ci) != 2
            or any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in ci)):
        raise CardError(f"{where}: 'ci' must be [lower, upper]; got {ci!r}")
    lower, upper = float(ci[0]), float(ci[1])
    if not 0 < lower < hr < upper:
        raise CardError(f"{where}: need 0 < lower < hr < upper; got hr {hr:g}, ci "
                        f"[{lower:g}, {upper:g}]")
    level = _number(pub, "conf_level", where) if "conf_level" in pub else 0.95
    if not 0 < level < 1:
        raise CardError(f"{where}: 'conf_level' must lie in (0, 1); got {level:g}")
    model = _text(pub, "model", where)
    p = None
    if "p" in pub:
        p = _number(pub, "p", where)
        if not 0 < p <= 1:
            raise CardError(f"{where}: 'p' must lie in (0, 1]; got {p:g}")
    test = _text(pub, "test", where, required=False)
    medians = pub.get("medians", {})
    if not isinstance(medians, dict):
        raise CardError(f"{where}: 'medians' must be a table arm = median")
    for arm in medians:
        if arm not in arms:
            raise CardError(f"{where}, table medians: arm {arm!r} is not an arm of the card; "
                            f"arms are {arms}")
        _number(medians, arm, f"{where}, table medians")
    return Published(hr, lower, upper, level, model, p, test,
                     tuple((a, float(medians[a])) for a in arms if a in medians))


def card_from_dict(data: dict, *, source: str = "<card>", base: str | os.PathLike = ".") -> \
        TrialCard:
    """Validate a parsed card; ``base`` is the folder the curve paths are relative to."""
    _unknown(data, _TOP, source)
    trial = _table(data, "trial", source)
    where = f"{source}: table trial"
    _unknown(trial, _TRIAL, where)
    unit_text = _text(trial, "time_unit", where)
    unit = canonical_unit(unit_text)
    if unit is None:
        raise CardError(f"{where}: time_unit {unit_text!r}; allowed: {', '.join(TIME_UNITS)}")
    raw_arms = data.get("arms")
    if not isinstance(raw_arms, list) or len(raw_arms) != 2:
        got = len(raw_arms) if isinstance(raw_arms, list) else 0
        raise CardError(f"{source}: needs exactly two [[arms]] (the two arms the hazard ratio "
                        f"compares); got {got}")
    arms = tuple(_arm(a, i, Path(base), source) for i, a in enumerate(raw_arms))
    names = [a.name for a in arms]
    if names[0] == names[1]:
        raise CardError(f"{source}: both arms are named {names[0]!r}; names must differ")
    reference = _text(trial, "reference", where)
    if reference not in names:
        raise CardError(f"{where}: reference {reference!r} is not an arm; arms are {names}")
    name = _text(trial, "name", where) if "name" in trial else Path(source).stem
    return TrialCard(source, name, _text(trial, "citation", where),
                     _text(trial, "endpoint", where), unit, reference, arms,
                     _published(data, names, source))


def load_card(path: str | os.PathLike) -> TrialCard:
    """Read and validate the card at ``path`` (curve paths relative to its folder)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardError(f"{p}: card not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"{p}: not a TOML file: {exc}") from None
    return card_from_dict(data, source=str(p), base=p.parent)

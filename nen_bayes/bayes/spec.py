"""Declarative model specifications: the files in ``models/``.

A specification is a TOML file (parsed with :mod:`tomllib`; nothing in it is executed) with the
tables below. Unknown tables or keys are errors that name the key and the file, so a typo cannot
silently change a model.

``[model]``
    ``name``, ``title``, ``description``; ``family``: a family of the registry
    (:mod:`nen_bayes.bayes.families`; :func:`~nen_bayes.bayes.families.family_names`);
    ``parameterisation`` = the family's (may be left out): ``"ph"`` (proportional hazards:
    exp(coefficient) is a hazard ratio) or ``"aft"`` (accelerated failure time: a time
    ratio); ``time_unit`` = ``"days"`` | ``"weeks"`` |
    ``"months"`` | ``"years"``: the unit of the file's numbers that are times (the baseline
    scale and log-hazard priors, the cuts). A model file must state it (:func:`load_spec`
    refuses a file without it); a fit on a cohort in another known unit converts those numbers
    exactly (:func:`in_time_unit`).
``[outcome]``
    ``endpoint``: the default endpoint (``os``, ``hpfs``, ``pfs`` or a user's); ``fit.py
    --endpoint/--time/--event`` override it.
``[baseline]`` (piecewise only)
    ``cuts``: interior cut points of the baseline hazard in the cohort's time unit, e.g.
    ``[6, 12, 24, 36]``, or ``"quantiles:K"`` for K intervals holding equal numbers of events.
``[time_varying]`` (optional; Weibull or exponential family)
    A covariate whose effect is not proportional: ``covariate`` (a factor of ``[[covariates]]``,
    treatment-coded); ``effect`` = ``"hazard_ratio"`` (its log-HR differs by time interval:
    ``cuts`` = interior cut points in the file's time unit, e.g. ``[12, 36]``; the first
    interval's log-HR is the covariate's coefficient, each later interval adds a change with
    prior ``hr_change``) or ``"shape"`` (Weibull only: each level has its own shape,
    ``shape x exp(shape_change)``, prior ``shape_change``).
``[[covariates]]`` (any number)
    ``column``; ``type`` = ``"categorical"`` (one indicator per non-reference level;
    ``reference`` names the reference level, default: the contract's reference or first level),
    ``"ordered"`` (``coding`` = ``"treatment"`` as categorical, or ``"linear"``: one coefficient
    per step between adjacent levels, scores 0, 1, 2, ...; ``levels`` = ``["low",
    "intermediate", "high"]`` declares the order, lowest first, and wins over ``--levels`` and
    the contract's order; a linear coding with no declared order anywhere is refused, never
    taken from the text order of the levels), or ``"numeric"`` (``center`` = true/false,
    ``scale`` = a number or ``"sd"``).
``[[groups]]`` (any number; each a random intercept on the log-hazard)
    ``name`` (the dim name: ``centre``, or ``subject`` for evaluations nested in patients);
    ``column`` (default: the cohort's centre column for ``centre``); ``centered`` (default
    false: non-centred, ``u = sd * z``; ``"auto"``: chosen from the data, see
    :func:`nen_bayes.bayes.design.choose_centring`); ``within`` (the name of the group it is
    nested in, checked on the data); ``varying``: covariate columns whose coefficients also
    vary by group.
``[priors.NAME]`` (see :mod:`nen_bayes.bayes.priors` for the syntax)
    ``coefficient`` (every log-HR) or ``coefficient_<column>`` (one covariate's log-HRs);
    ``shape`` (Weibull); ``scale`` (Weibull and exponential baseline scale, time units);
    ``log_hazard`` (piecewise baseline log-hazard per interval); ``group_sd`` or
    ``group_sd_<name>`` (on a group's SD), or instead ``group_precision`` or
    ``group_precision_<name>`` (on its precision 1 / SD^2, as BUGS writes ``tau ~ dgamma(0.001,
    0.001)``; one of the two per group, the group-specific key winning over the shared one);
    ``varying_sd`` or ``varying_sd_<name>``; ``hr_change`` or ``shape_change`` (a
    ``[time_varying]`` effect). Every prior the model uses must
    be given (there are no hidden defaults); a prior the model does not use is an error.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nen_bayes.bayes.families import STRUCTURE_PARAMETERS, family_names, get_family
from nen_bayes.bayes.priors import Prior
from nen_bayes.data import MODELS_DIR, shipped_model
from nen_bayes.errors import ModelDataError, SpecError
from nen_bayes.units import TIME_UNITS, canonical_unit, unit_factor

__all__ = ["FAMILIES", "TIME_VARYING_EFFECTS", "CovariateSpec", "GroupSpec", "ModelSpec",
           "TimeVarying", "in_time_unit", "load_spec", "spec_from_dict"]

#: The registered families' names (the registry is :mod:`nen_bayes.bayes.families`).
FAMILIES = family_names()
COVARIATE_TYPES = ("categorical", "ordered", "numeric")

_TOP_KEYS = {"model", "outcome", "baseline", "covariates", "groups", "priors", "time_varying"}
_TIME_VARYING_KEYS = {"covariate", "effect", "cuts"}
#: How a covariate's effect may change with time, and the prior each needs.
TIME_VARYING_EFFECTS = {k: v[0] for k, v in STRUCTURE_PARAMETERS.items()}
_MODEL_KEYS = {"name", "title", "description", "family", "parameterisation", "time_unit"}
_OUTCOME_KEYS = {"endpoint"}
_BASELINE_KEYS = {"cuts"}
_COVARIATE_KEYS = {"column", "type", "reference", "coding", "center", "scale", "label",
                   "levels"}
_GROUP_KEYS = {"name", "column", "centered", "within", "varying"}
_RESERVED_DIMS = {"patient", "covariate", "chain", "draw", "interval"}


@dataclass(frozen=True)
class CovariateSpec:
    column: str
    type: str = "categorical"
    reference: str | None = None
    coding: str = "treatment"
    center: bool = True
    scale: float | str | None = None
    label: str = ""
    levels: tuple[str, ...] | None = None  # declared order of an ordered factor, lowest first


@dataclass(frozen=True)
class GroupSpec:
    name: str
    column: str | None = None
    centered: bool | str = False  # True, False or "auto"
    within: str | None = None
    varying: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimeVarying:
    """A covariate whose effect changes with time (``[time_varying]``): its log-HR by interval
    (``effect = "hazard_ratio"``, interior ``cuts``) or a shape per level (``"shape"``)."""

    covariate: str
    effect: str
    cuts: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        d = {"covariate": self.covariate, "effect": self.effect}
        if self.cuts is not None:
            d["cuts"] = list(self.cuts)
        return d


@dataclass(frozen=True)
class ModelSpec:
    """A parsed, checked model specification (a plain object; building is elsewhere)."""

    name: str
    family: str
    title: str = ""
    description: str = ""
    parameterisation: str = "ph"
    endpoint: str | None = None
    cuts: tuple[float, ...] | str | None = None
    covariates: tuple[CovariateSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    priors: dict[str, Prior] = field(default_factory=dict)
    source: str = ""
    #: unit of the spec's time numbers; None (a spec built in code without one): the cohort's
    time_unit: str | None = None
    #: a covariate whose effect is not proportional (None: every effect is a hazard ratio)
    time_varying: TimeVarying | None = None

    # -- priors -------------------------------------------------------------------------------
    def coefficient_prior(self, column: str) -> Prior:
        return self.priors.get(f"coefficient_{column}", self.priors.get("coefficient"))

    def _group_prior(self, name: str) -> tuple[str, Prior | None]:
        """(``"sd"`` or ``"precision"``, the prior) of group ``name``: the group's own key
        (``group_sd_<name>``/``group_precision_<name>``) wins over the shared one."""
        for suffix in (f"_{name}", ""):
            sd, prec = (self.priors.get(f"group_sd{suffix}"),
                        self.priors.get(f"group_precision{suffix}"))
            if sd is not None or prec is not None:
                return ("sd", sd) if sd is not None else ("precision", prec)
        return "sd", None

    def group_sd_prior(self, name: str) -> Prior | None:
        """The prior on group ``name``'s SD; None when its prior is on the precision."""
        kind, prior = self._group_prior(name)
        return prior if kind == "sd" else None

    def group_precision_prior(self, name: str) -> Prior | None:
        """The prior on group ``name``'s precision 1 / SD^2; None when it is on the SD."""
        kind, prior = self._group_prior(name)
        return prior if kind == "precision" else None

    def varying_sd_prior(self, name: str) -> Prior:
        return self.priors.get(f"varying_sd_{name}", self.priors.get("varying_sd"))

    def with_priors(self, priors: dict[str, Prior]) -> ModelSpec:
        """A copy with some priors replaced (a new object; this one is unchanged)."""
        merged = dict(self.priors)
        merged.update(priors)
        out = ModelSpec(**{**self.__dict__, "priors": merged})
        _check_priors(out, out.source or "<spec>")
        return out

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "model": {"name": self.name, "title": self.title, "description": self.description,
                      "family": self.family, "parameterisation": self.parameterisation,
                      **({"time_unit": self.time_unit} if self.time_unit else {})},
            "outcome": {"endpoint": self.endpoint} if self.endpoint else {},
            "covariates": [
                {k: v for k, v in c.__dict__.items() if v is not None and v != ""}
                for c in self.covariates
            ],
            "groups": [
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.__dict__.items()
                 if v is not None}
                for g in self.groups
            ],
            "priors": {k: p.to_dict() for k, p in sorted(self.priors.items())},
        }
        if self.cuts is not None:
            d["baseline"] = {"cuts": list(self.cuts) if isinstance(self.cuts, tuple)
                             else self.cuts}
        if self.time_varying is not None:
            d["time_varying"] = self.time_varying.to_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """``sha256:`` of the canonical JSON of the parsed spec (comments and layout ignored)."""
        return "sha256:" + hashlib.sha256(self.to_json().encode()).hexdigest()

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.covariates)


def _unknown(keys, allowed, where):
    bad = sorted(set(keys) - set(allowed))
    if bad:
        raise SpecError(f"{where}: unknown key(s) {bad}; allowed: {sorted(allowed)}")


def _array_of_tables(data, key, allowed, source):
    """``(where, table)`` for each table of ``[[key]]``, its keys checked against ``allowed``."""
    raw = data.get(key, [])
    if not isinstance(raw, list):
        raise SpecError(f"{source}: {key} must be an array of tables ([[{key}]])")
    for i, table in enumerate(raw, 1):
        where = f"{source} [[{key}]] #{i}"
        if not isinstance(table, dict):
            raise SpecError(f"{where}: must be a table")
        _unknown(table, allowed, where)
        yield where, table


def _text(v, where, key):
    if not isinstance(v, str) or not v.strip():
        raise SpecError(f"{where}: '{key}' must be non-empty text, got {v!r}")
    return v.strip()


def load_spec(path: str | os.PathLike) -> ModelSpec:
    """Read and check a model specification file (TOML)."""
    p = Path(path)
    if p.is_dir() or (not p.exists() and p.with_suffix(".toml").exists()):
        p = p.with_suffix(".toml") if not p.is_dir() else p
    if not p.exists() and shipped_model(str(path)) is not None:  # a shipped model by name
        p = shipped_model(str(path))
    if not p.exists() or p.is_dir():
        shipped = sorted(f.stem for f in MODELS_DIR.glob("*.toml"))
        raise SpecError(f"{path}: no such model specification file (expected a .toml file, "
                        f"e.g. models/weibull_ph_centre.toml, or the name of a shipped model: "
                        f"{', '.join(shipped)})")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: not valid TOML: {exc}") from exc
    model = data.get("model")
    if isinstance(model, dict) and "time_unit" not in model:
        raise SpecError(f"{p} [model]: the file does not say in which time unit its numbers "
                        f"are (the baseline prior, the cuts); add the key 'time_unit', e.g. "
                        f"time_unit = \"months\" (one of {list(TIME_UNITS)}). A fit on a "
                        "cohort in another unit converts them.")
    return spec_from_dict(data, source=str(p))


def spec_from_dict(data: dict, *, source: str = "<spec>") -> ModelSpec:
    """Check a specification given as a dict (the parsed TOML). Without ``[model] time_unit``
    (allowed for a dict built in code, never for a file) the spec's numbers are taken in the
    unit of the cohort it is fitted to."""
    _unknown(data, _TOP_KEYS, source)
    model = data.get("model")
    if not isinstance(model, dict):
        raise SpecError(f"{source}: a [model] table is required")
    _unknown(model, _MODEL_KEYS, f"{source} [model]")
    name = _text(model.get("name"), f"{source} [model]", "name")
    family = model.get("family")
    if family not in FAMILIES:
        raise SpecError(f"{source} [model]: family {family!r} is not one of {list(FAMILIES)}")
    fam = get_family(family)
    param = model.get("parameterisation", fam.parameterisation)
    if param != fam.parameterisation:
        kinds = {"ph": "proportional hazards", "aft": "accelerated failure time"}
        raise SpecError(f"{source} [model]: parameterisation {param!r} does not fit family "
                        f"{family!r}, whose coefficients are {fam.effect.replace('_', ' ')}s; "
                        f"allowed: [{fam.parameterisation!r}] ({kinds[fam.parameterisation]})")

    time_unit = model.get("time_unit")
    if time_unit is not None:
        text = _text(time_unit, f"{source} [model]", "time_unit")
        time_unit = canonical_unit(text) or text

    outcome = data.get("outcome", {})
    _unknown(outcome, _OUTCOME_KEYS, f"{source} [outcome]")
    endpoint = outcome.get("endpoint")
    if endpoint is not None:
        endpoint = _text(endpoint, f"{source} [outcome]", "endpoint")

    baseline = data.get("baseline", {})
    _unknown(baseline, _BASELINE_KEYS, f"{source} [baseline]")
    cuts = baseline.get("cuts")
    if get_family(family).needs_cuts:
        cuts = _parse_cuts(cuts, f"{source} [baseline]")
    elif cuts is not None:
        with_cuts = [f for f in FAMILIES if get_family(f).needs_cuts]
        raise SpecError(f"{source} [baseline]: 'cuts' applies to the {' and '.join(with_cuts)} "
                        f"family only, not to {family!r}")

    covs = _covariates(data, source)
    groups = _groups(data, source, [c.column for c in covs])
    time_varying = _time_varying(data.get("time_varying"), family, covs, groups,
                                 f"{source} [time_varying]")
    raw_priors = data.get("priors", {})
    if not isinstance(raw_priors, dict):
        raise SpecError(f"{source}: [priors] must be a table of priors")
    priors = {k: Prior.from_dict(v, where=f"{source} [priors.{k}]")
              for k, v in raw_priors.items()}
    spec = ModelSpec(name=name, family=family, title=str(model.get("title", "")),
                     description=str(model.get("description", "")), parameterisation=param,
                     endpoint=endpoint, cuts=cuts, covariates=covs,
                     groups=groups, priors=priors, source=source, time_unit=time_unit,
                     time_varying=time_varying)
    _check_priors(spec, source)
    return spec


def _time_varying(tv, family: str, covs, groups, where: str) -> TimeVarying | None:
    """The ``[time_varying]`` table, checked against the family and the covariates."""
    if tv is None:
        return None
    if not isinstance(tv, dict):
        raise SpecError(f"{where}: must be a table")
    _unknown(tv, _TIME_VARYING_KEYS, where)
    effect = tv.get("effect")
    if effect not in TIME_VARYING_EFFECTS:
        raise SpecError(f"{where}: effect {effect!r} is not one of "
                        f"{list(TIME_VARYING_EFFECTS)}")
    allowed = tuple(f for f in FAMILIES if effect in get_family(f).time_varying)
    if family not in allowed:
        raise SpecError(f"{where}: effect {effect!r} needs family {' or '.join(allowed)}; "
                        f"this model's family is {family!r}")
    col = _text(tv.get("covariate"), where, "covariate")
    cov = next((c for c in covs if c.column == col), None)
    if cov is None or cov.type == "numeric" or cov.coding != "treatment":
        factors = [c.column for c in covs if c.type != "numeric" and c.coding == "treatment"]
        raise SpecError(f"{where}: covariate {col!r} must be a treatment-coded factor of "
                        f"[[covariates]]; those of this model: {factors}")
    if any(col in g.varying for g in groups):
        raise SpecError(f"{where}: {col!r} also varies by group; a time-varying effect that "
                        "varies by group is not offered")
    cuts = tv.get("cuts")
    if effect == "hazard_ratio":
        cuts = _parse_cuts(cuts, where)
        if isinstance(cuts, str):
            raise SpecError(f"{where}: cuts must be a list of numbers (time units), not "
                            f"{cuts!r}")
    elif cuts is not None:
        raise SpecError(f"{where}: 'cuts' applies to effect \"hazard_ratio\" only")
    return TimeVarying(col, effect, cuts)


def in_time_unit(spec: ModelSpec, unit: str) -> tuple[ModelSpec, str]:
    """``spec`` with its time numbers in ``unit`` (the cohort's), and a sentence saying what was
    converted ("" when nothing was).

    With f the number of ``unit`` in one of the spec's unit (30.4375 days per month): the
    baseline scale prior (Weibull and exponential) is that of f x scale, the piecewise
    log-hazard prior that of log_hazard - log(f), the cuts are multiplied by f. Each is exact:
    the model in ``unit`` is the same model. (The Weibull is parameterised by its scale, so its
    shape prior is untouched; a log-hazard parameter of a Weibull with shape k would move by
    -k log(f), which is why the scale, not a log hazard, carries the unit.) Coefficients, shape
    and group SDs have no unit.

    Raises
    ------
    ModelDataError
        The two units differ and either is not one of days, weeks, months, years.
    """
    if spec.time_unit is None:
        return spec, ""
    factor = unit_factor(spec.time_unit, unit)
    if factor is None:
        raise ModelDataError(
            f"{spec.source}: its numbers are in {spec.time_unit!r} and the cohort's times in "
            f"{unit!r}; they can be converted only between {list(TIME_UNITS)}. Give the "
            f"cohort's unit with --time-unit (one of those), or write the model file in the "
            f"cohort's unit (time_unit = {unit!r}).")
    target = canonical_unit(unit) or spec.time_unit
    if factor == 1.0:
        return ModelSpec(**{**spec.__dict__, "time_unit": target}), ""
    priors = dict(spec.priors)
    done = []
    for par in get_family(spec.family).parameters:  # the parameters that have a time unit
        if par.time is None or par.name not in priors:
            continue
        priors[par.name] = priors[par.name].in_time_unit(factor, par.time)
        what = "log-hazard" if par.time == "log_rate" else f"baseline {par.name}"
        done.append(f"the {what} prior {spec.priors[par.name].describe()} -> "
                    f"{priors[par.name].describe()}")
    cuts = spec.cuts
    if isinstance(cuts, tuple):
        cuts = tuple(c * factor for c in cuts)
        done.append(f"the cuts {', '.join(f'{c:g}' for c in spec.cuts)} -> "
                    f"{', '.join(f'{c:g}' for c in cuts)}")
    tv = spec.time_varying
    if tv is not None and tv.cuts is not None:
        tv = TimeVarying(tv.covariate, tv.effect, tuple(c * factor for c in tv.cuts))
        done.append(f"the {tv.covariate} HR's cuts "
                    f"{', '.join(f'{c:g}' for c in spec.time_varying.cuts)} -> "
                    f"{', '.join(f'{c:g}' for c in tv.cuts)}")
    out = ModelSpec(**{**spec.__dict__, "priors": priors, "cuts": cuts, "time_unit": target,
                       "time_varying": tv})
    note = (f"time unit: the model's numbers are in {spec.time_unit}, the cohort's times in "
            f"{target}; converted exactly (x {factor:.6g}): " + "; ".join(done))
    return out, note


def _covariates(data: dict, source: str) -> tuple[CovariateSpec, ...]:
    """The ``[[covariates]]`` tables, checked; a column may appear once."""
    covs = tuple(_covariate(where, c)
                 for where, c in _array_of_tables(data, "covariates", _COVARIATE_KEYS, source))
    cols = [c.column for c in covs]
    if len(set(cols)) != len(cols):
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        raise SpecError(f"{source}: covariates repeat: {dupes}")
    return covs


def _covariate(where: str, c: dict) -> CovariateSpec:
    col = _text(c.get("column"), where, "column")
    ctype = c.get("type", "categorical")
    if ctype not in COVARIATE_TYPES:
        raise SpecError(f"{where} ({col}): type {ctype!r} is not one of "
                        f"{list(COVARIATE_TYPES)}")
    coding = c.get("coding", "treatment")
    if coding not in ("treatment", "linear") or (coding == "linear" and ctype != "ordered"):
        raise SpecError(f"{where} ({col}): coding {coding!r} not allowed; 'treatment' for "
                        "any factor, 'linear' for ordered ones")
    if ctype != "numeric" and ("center" in c or "scale" in c):
        raise SpecError(f"{where} ({col}): 'center'/'scale' apply to numeric covariates")
    if ctype == "numeric" and "reference" in c:
        raise SpecError(f"{where} ({col}): 'reference' applies to factors, not numerics")
    scale = c.get("scale")
    if scale is not None and scale != "sd" and not (
            isinstance(scale, int | float) and not isinstance(scale, bool) and scale > 0):
        raise SpecError(f"{where} ({col}): scale must be a positive number or 'sd'")
    center = c.get("center", True)
    if not isinstance(center, bool):
        raise SpecError(f"{where} ({col}): center must be true or false")
    ref = c.get("reference")
    levels = _levels(c, where, col, ctype)
    if levels is not None and ref is not None and str(ref) not in levels:
        raise SpecError(f"{where} ({col}): reference {ref!r} is not among the levels "
                        f"{list(levels)}")
    return CovariateSpec(col, ctype, None if ref is None else str(ref), coding, center, scale,
                         str(c.get("label", "")), levels)


def _levels(c: dict, where: str, col: str, ctype: str) -> tuple[str, ...] | None:
    """The ``levels`` key: the declared order of an ordered factor (distinct names)."""
    if "levels" not in c:
        return None
    if ctype != "ordered":
        raise SpecError(f"{where} ({col}): 'levels' applies to ordered factors (type = "
                        f"\"ordered\"), not {ctype!r}")
    raw = c["levels"]
    if (not isinstance(raw, list) or len(raw) < 2
            or not all(isinstance(v, str) and v.strip() for v in raw)):
        raise SpecError(f"{where} ({col}): levels must be a list of distinct level names in "
                        f"order, lowest first, e.g. [\"low\", \"intermediate\", \"high\"]; "
                        f"got {raw!r}")
    levels = tuple(v.strip() for v in raw)
    folded = [v.casefold() for v in levels]
    if len(set(folded)) != len(folded):
        raise SpecError(f"{where} ({col}): levels repeat (compared case-insensitively): "
                        f"{list(levels)}")
    return levels


def _groups(data: dict, source: str, cols: list[str]) -> tuple[GroupSpec, ...]:
    """The ``[[groups]]`` tables, checked; names unique, ``within`` naming an earlier group."""
    groups = tuple(_group(where, g, cols)
                   for where, g in _array_of_tables(data, "groups", _GROUP_KEYS, source))
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise SpecError(f"{source}: group names repeat: {names}")
    for i, g in enumerate(groups):
        if g.within is not None and g.within not in names[:i]:
            raise SpecError(f"{source} [[groups]] ({g.name}): within {g.within!r} must name a "
                            f"group declared before it; groups: {names}")
    return groups


def _group(where: str, g: dict, cols: list[str]) -> GroupSpec:
    gname = _text(g.get("name"), where, "name")
    if gname in _RESERVED_DIMS or not gname.isidentifier():
        raise SpecError(f"{where}: group name {gname!r} is reserved or not an identifier "
                        f"(reserved: {sorted(_RESERVED_DIMS)})")
    column = g.get("column")
    if column is None and gname != "centre":
        raise SpecError(f"{where} ({gname}): 'column' is required (only 'centre' defaults "
                        "to the cohort's centre column)")
    centered = g.get("centered", False)
    if not isinstance(centered, bool) and centered != "auto":
        raise SpecError(f"{where} ({gname}): centered must be true, false or \"auto\" (chosen "
                        f"from the data), got {centered!r}")
    varying = g.get("varying", [])
    if not isinstance(varying, list) or not all(isinstance(v, str) for v in varying):
        raise SpecError(f"{where} ({gname}): varying must be a list of covariate columns")
    missing = [v for v in varying if v not in cols]
    if missing:
        raise SpecError(f"{where} ({gname}): varying names {missing}, which are not "
                        f"covariates of the model; covariates: {cols}")
    return GroupSpec(gname, None if column is None else str(column), centered, g.get("within"),
                     tuple(varying))


def _parse_cuts(cuts, where):
    if cuts is None:
        raise SpecError(f"{where}: this family needs 'cuts' (a list of interior cut "
                        "points, or \"quantiles:K\")")
    if isinstance(cuts, str):
        head, _, k = cuts.partition(":")
        if head != "quantiles" or not k.isdigit() or not 2 <= int(k) <= 20:
            raise SpecError(f"{where}: cuts {cuts!r}: expected \"quantiles:K\" with 2 <= K <= 20")
        return cuts
    if (not isinstance(cuts, list) or not cuts
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in cuts)):
        raise SpecError(f"{where}: cuts must be a non-empty list of numbers or \"quantiles:K\"")
    if any(c <= 0 for c in cuts) or any(b <= a for a, b in itertools.pairwise(cuts)):
        raise SpecError(f"{where}: cuts {cuts} must be positive and strictly increasing")
    return tuple(float(c) for c in cuts)


def required_priors(spec: ModelSpec) -> dict[str, str]:
    """Prior role -> support needed, for the parameters this model has."""
    need = get_family(spec.family).required_priors()
    if spec.time_varying is not None:
        need[TIME_VARYING_EFFECTS[spec.time_varying.effect]] = "real"
    return need


def _check_group_priors(spec: ModelSpec, source: str) -> None:
    """A group's prior is on its SD or on its precision, never both at one level."""
    for g in spec.groups:
        for suffix in (f"_{g.name}", ""):
            keys = [f"group_sd{suffix}", f"group_precision{suffix}"]
            if all(k in spec.priors for k in keys):
                raise SpecError(
                    f"{source} [priors]: group {g.name!r} has a prior on its SD "
                    f"([priors.{keys[0]}]) and one on its precision ([priors.{keys[1]}]); "
                    "the precision is 1 / SD^2, so give one of the two")
            if any(k in spec.priors for k in keys):
                break


def _check_priors(spec: ModelSpec, source: str) -> None:
    priors = spec.priors
    need = required_priors(spec)
    allowed = set(need)
    if spec.covariates:
        allowed |= {"coefficient"} | {f"coefficient_{c}" for c in spec.covariate_columns}
    if spec.groups:
        allowed |= {f"group_{k}{s}" for k in ("sd", "precision")
                    for s in ["", *(f"_{g.name}" for g in spec.groups)]}
    if any(g.varying for g in spec.groups):
        allowed |= {"varying_sd"} | {f"varying_sd_{g.name}" for g in spec.groups if g.varying}
    unused = sorted(set(priors) - allowed)
    if unused:
        raise SpecError(f"{source} [priors]: prior(s) {unused} are not used by this "
                        f"{spec.family} model; it uses: {sorted(allowed)}")
    for role, support in need.items():
        if role not in priors:
            raise SpecError(f"{source} [priors]: the {spec.family} model needs a prior "
                            f"'{role}' ({support} support)")
    _check_group_priors(spec, source)
    roles = {}
    for c in spec.covariate_columns:
        roles[f"coefficient for {c}"] = (spec.coefficient_prior(c), "real",
                                         f"'coefficient' or 'coefficient_{c}'")
    for g in spec.groups:
        kind, prior = spec._group_prior(g.name)
        roles[f"group {'SD' if kind == 'sd' else 'precision'} of {g.name}"] = (
            prior, "positive", f"'group_sd' or 'group_sd_{g.name}' (a prior on the SD), or "
            f"'group_precision' or 'group_precision_{g.name}' (on the precision 1 / SD^2)")
        if g.varying:
            roles[f"varying-effect SD of {g.name}"] = (
                spec.varying_sd_prior(g.name), "positive",
                f"'varying_sd' or 'varying_sd_{g.name}'")
    for role, (prior, _support, keys) in roles.items():
        if prior is None:
            raise SpecError(f"{source} [priors]: no prior for the {role}; give {keys}")
    for role, support in need.items():
        roles[role] = (priors[role], support, role)
    for role, (prior, support, _) in roles.items():
        if support == "positive" and prior.support != "positive":
            raise SpecError(f"{source} [priors]: the {role} is positive; {prior.dist} has "
                            "support on the whole real line. Use a positive distribution "
                            "(HalfNormal, LogNormal, Gamma, ...)")
        if support == "real" and prior.support != "real":
            raise SpecError(f"{source} [priors]: the {role} may be negative; {prior.dist} is "
                            "positive-only. Use Normal, StudentT, ...")

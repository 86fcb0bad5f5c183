"""Model formulas: ``os ~ line + age + (1 | centre)`` as a shortcut for a model file.

The syntax is the one of lme4, brms and bambi, parsed by :mod:`formulae` (the parser bambi
uses); the result is the same :class:`~nen_bayes.bayes.spec.ModelSpec` a file in ``models/``
gives, built by :func:`~nen_bayes.bayes.spec.spec_from_dict` from the dict such a file holds, so
it is checked by the same rules and can be written out as a file to edit (:func:`spec_toml`).

What a formula may say
----------------------
``endpoint ~ ...``
    The left-hand side names the endpoint: a contract endpoint (``os``), the NAME of
    ``--endpoint NAME=TIME:EVENT``, or the time column given with ``--time``.
``x``
    A covariate column. A factor when the cohort options declare it one (the contract's factors,
    ``--factor``) or when some value is not a number; numeric when declared with ``--numeric`` or
    when every value is a number (as in R and bambi: write ``C(x)`` for a factor coded 1, 2, 3).
    A factor has one log hazard ratio per level against the reference (the declared reference,
    else the first level); a numeric covariate one log-HR per unit, centred at its mean.
``C(x)``, ``C(x, Treatment("level"))``
    ``x`` as a factor, optionally with that reference level.
``scale(x)``, ``center(x)``
    ``x`` numeric: the HR per standard deviation, or per unit (centred, the default).
``(1 | g)``
    A random intercept on the log hazard for every level of ``g`` (non-centred). ``centre``, or
    the column named with ``--centre``, is the cohort's centre: the group ``centre``.
``(1 + x | g)``, ``(x | g)``
    The log-HR of ``x`` also varies by ``g`` (``x`` must be a term of the formula too).
``(1 | g/h)``
    ``h`` nested in ``g``: the groups ``g`` and ``h`` with ``h`` within ``g`` (checked on the
    data: each level of ``h`` must lie in one level of ``g``).

Refused, with the reason: interactions (``a:b``, ``a*b``), other transformations (``log(x)``,
``I(x + 1)``, ``{x + 1}``) and powers (``x ** 2``), ``%in%``, removing the intercept (``0 + ...``,
``- 1``: the baseline hazard is always there), a group without its intercept (``(0 + x | g)``),
a varying effect of a term the formula does not have, and ``x[level]``.

Priors
------
Every prior is the weakly informative default of the headline model file
(``models/weibull_ph_centre.toml``; the varying-effect SD of ``weibull_ph_centre_line.toml``,
the nested-level SD of ``weibull_ph_centre_subject.toml``): ``tests/test_formula.py`` checks
that they stay equal. Two priors are placed from the data instead. The baseline: a formula
brings no outside knowledge of how long units survive, in whatever time unit the data are, so
the baseline-scale prior is centred on total follow-up / events, the constant-hazard estimate of
mean survival, with the headline's width (:func:`baseline_prior`). A numeric covariate whose HR
is per unit: the headline's coefficient prior holds per standard deviation of the column
(:func:`per_unit_prior`), so that it means the same whatever the column's unit.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nen_bayes.bayes.families import DEFAULT_FAMILY, get_family
from nen_bayes.bayes.families.weibull import SHAPE_PRIOR
from nen_bayes.bayes.priors import lognormal_table
from nen_bayes.bayes.spec import FAMILIES, CovariateSpec, GroupSpec, ModelSpec, spec_from_dict
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.cohorts.read import RawTable
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.cohorts.validate import parse_numeric
from nen_bayes.errors import ModelDataError, SpecError
from nen_bayes.units import PER_MONTH, canonical_unit

if TYPE_CHECKING:  # formulae (about 0.5 s to import) is imported where a formula is parsed
    from formulae.terms.terms import GroupSpecificTerm

__all__ = ["DEFAULT_PRIORS", "HEADLINE_CUTS_MONTHS", "Formula", "FormulaGroup", "FormulaModel",
           "FormulaTerm", "baseline_prior", "formula_model", "parse_formula", "per_unit_prior",
           "spec_from_formula", "spec_toml"]

#: The priors of the headline model files (dist and parameters equal to theirs; the reasons
#: say the same without the case study's numbers). ``group_sd_nested`` is written as
#: ``group_sd_<name>`` for each nested level.
DEFAULT_PRIORS: dict[str, dict] = {
    "coefficient": {
        "dist": "Normal", "mu": 0.0, "sigma": 1.0,
        "reason": "log hazard ratio of every covariate contrast (for a numeric covariate, per "
                  "unit, or per SD with scale()): Normal(0, 1) puts 95% of the prior mass on HR "
                  "0.14-7.1, centred on no effect, wider than most prognostic effects in "
                  "survival. The default of the headline model (models/weibull_ph_centre.toml). "
                  "Give a numeric covariate in a unit in which a one-unit change is meaningful."},
    "shape": dict(SHAPE_PRIOR),
    "group_sd": {
        "dist": "HalfNormal", "sigma": 0.5,
        "reason": "between-group SD of the log hazard: prior median 0.34 (group HRs mostly "
                  "within x/÷ 2 of the typical group), 95% below 0.98; a 5-fold spread of group "
                  "hazards (sd ~ 0.8) is possible but unlikely. The default of the headline "
                  "model (models/weibull_ph_centre.toml)."},
    "group_sd_nested": {
        "dist": "HalfNormal", "sigma": 0.5,
        "reason": "SD of the log hazard between the units of a nested level (a shared frailty): "
                  "prior median 0.34. With few observations per unit it is weakly identified, "
                  "so it is kept on the scale of the between-centre SD "
                  "(models/weibull_ph_centre_subject.toml)."},
    "varying_sd": {
        "dist": "HalfNormal", "sigma": 0.25,
        "reason": "between-group SD of a varying log-HR: prior median 0.17, 95% below 0.49. "
                  "Heterogeneity of an effect across groups is expected to be smaller than that "
                  "of the baseline hazard, and a handful of groups say little about it "
                  "(models/weibull_ph_centre_line.toml)."},
}

#: Width of the baseline priors, as in the headline files: sigma of the LogNormal scale prior
#: (weibull_ph_centre, exponential_ph_centre) and of the Normal log-hazard prior
#: (piecewise_ph_centre).
SCALE_SIGMA = 1.0
LOG_HAZARD_SIGMA = 1.5

#: Interior cuts of the headline piecewise model (``models/piecewise_ph_centre.toml``), months.
HEADLINE_CUTS_MONTHS = (6.0, 12.0, 24.0, 36.0, 60.0)
# The headline cuts are converted to days, weeks or years (nen_bayes.units); any other unit:
# event quantiles.
_QUANTILE_CUTS = "quantiles:6"

_SYNTAX = ("e.g. 'os ~ line + grade + age + (1 | centre)'; offered: columns, C(x), "
           "C(x, Treatment(\"level\")), scale(x), center(x), (1 | g), (1 + x | g), (1 | g/h)")


@dataclass(frozen=True)
class FormulaTerm:
    """A covariate term: its column, its kind (``auto`` = decided from the cohort), an explicit
    reference level (``C(x, Treatment("level"))``) and whether its HR is per SD (``scale(x)``)."""

    column: str
    kind: str = "auto"
    reference: str | None = None
    per_sd: bool = False


@dataclass(frozen=True)
class FormulaGroup:
    """A random intercept: ``path`` = ``("centre",)``, or ``("centre", "subject")`` for subject
    nested in centre; ``varying``: columns whose log-HR varies by it."""

    path: tuple[str, ...]
    varying: tuple[str, ...] = ()


@dataclass(frozen=True)
class Formula:
    """A parsed formula (its syntax checked; columns not yet matched to a cohort)."""

    text: str
    endpoint: str
    terms: tuple[FormulaTerm, ...] = ()
    groups: tuple[FormulaGroup, ...] = ()

    @property
    def source(self) -> str:
        return f"--formula {self.text!r}"


def _refuse(text: str, problem: str) -> SpecError:
    return SpecError(f"--formula {text!r}: {problem}")


def parse_formula(text: str) -> Formula:
    """Parse ``text`` with :func:`formulae.model_description` and keep what the models offer.

    Raises
    ------
    SpecError
        The formula does not parse, or says something the models cannot do (the message names
        the part and what is offered instead).
    """
    from formulae import model_description
    from formulae.parser import ParseError
    from formulae.resolver import ResolverError
    from formulae.scanner import ScanError, Scanner
    from formulae.terms.terms import Intercept

    if not isinstance(text, str) or "~" not in text:
        raise _refuse(str(text), f"a formula needs 'endpoint ~ terms', {_SYNTAX}")
    try:
        tokens = Scanner(text).scan()
    except ScanError as exc:
        raise _refuse(text, f"does not parse ({exc}); {_SYNTAX}") from exc
    _check_operators(text, tokens)
    try:
        desc = model_description(text)
    except (ParseError, ResolverError, ValueError, TypeError) as exc:
        raise _refuse(text, f"does not parse ({exc}); {_SYNTAX}") from exc
    endpoint = _endpoint(text, desc.response)
    common = [t for t in desc.common_terms if not isinstance(t, Intercept)]
    if not any(isinstance(t, Intercept) for t in desc.common_terms):
        raise _refuse(text, "the baseline hazard plays the intercept's part and is always in "
                            "the model: remove '0 +' or '- 1'")
    terms = tuple(_term(text, t) for t in common)
    cols = [t.column for t in terms]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise _refuse(text, f"column(s) {dupes} appear in more than one term")
    return Formula(text, endpoint, terms, _groups(text, desc.group_terms, cols))


def _check_operators(text: str, tokens) -> None:
    """Refuse the operators that :mod:`formulae` accepts but reads otherwise than R users mean
    (it drops ``x ** 2`` to ``x``, ``x %in% y`` to ``x`` and a bar outside parentheses)."""
    depth = 0
    for tok in tokens:
        depth += {"LEFT_PAREN": 1, "RIGHT_PAREN": -1}.get(tok.kind, 0)
        if tok.kind == "STAR_STAR":
            raise _refuse(text, "powers (x ** 2, (a + b) ** 2) are not offered; compute such a "
                                "column in the file")
        if tok.kind == "MODULO":
            raise _refuse(text, "%in% is not offered; a nested level is (1 | g/h)")
        if tok.kind == "PIPE" and depth == 0:
            raise _refuse(text, "a group term goes in parentheses: (1 | g)")


def _endpoint(text: str, response) -> str:
    comps = getattr(getattr(response, "term", None), "components", [])
    if (response is None or len(comps) != 1 or type(comps[0]).__name__ != "Variable"
            or comps[0].reference is not None):
        raise _refuse(text, "the left-hand side must name one endpoint (e.g. 'os ~ ...': a "
                            "contract endpoint, the NAME of --endpoint NAME=TIME:EVENT or the "
                            "--time column); its time and event columns come from the cohort "
                            "options")
    return comps[0].name


def _term(text: str, term) -> FormulaTerm:
    """One common term: a column, ``C(x[, Treatment("ref")])``, ``scale(x)`` or ``center(x)``."""
    from formulae.terms.terms import Term

    if not isinstance(term, Term) or len(term.components) != 1:
        raise _refuse(text, f"the term {_show(term)} is an interaction; the models have main "
                            "effects only (an interaction is a column computed in the file)")
    comp = term.components[0]
    if type(comp).__name__ == "Variable":
        if not isinstance(comp.name, str):
            raise _refuse(text, f"the term {comp.name!r} is not a column")
        if comp.reference is not None:
            raise _refuse(text, f"{comp.name}[{comp.reference}] is not offered; for a reference "
                                f"level write C({comp.name}, Treatment(\"{comp.reference}\"))")
        return FormulaTerm(comp.name)
    call = comp.call
    args = list(call.args)
    column = getattr(args[0], "name", None) if args else None
    if type(args[0] if args else None).__name__ != "LazyVariable" or call.kwargs:
        column = None
    if call.callee in ("scale", "center") and column and len(args) == 1:
        return FormulaTerm(column, "numeric", per_sd=call.callee == "scale")
    if call.callee == "C" and column and len(args) == 1:
        return FormulaTerm(column, "categorical")
    if call.callee == "C" and column and len(args) == 2:
        ref = _treatment_reference(args[1])
        if ref is not None:
            return FormulaTerm(column, "categorical", reference=ref)
    raise _refuse(text, f"the term {call} is not offered: a column, C(x), "
                        "C(x, Treatment(\"level\")), scale(x) or center(x); compute any other "
                        "transformation (log, powers, sums) as a column of the file")


def _treatment_reference(arg) -> str | None:
    """The level of ``Treatment("level")`` or ``Treatment(reference="level")``, else None."""
    if getattr(arg, "callee", None) != "Treatment":
        return None
    values = list(arg.args) + list(arg.kwargs.values())
    if len(values) != 1 or set(arg.kwargs) - {"reference"}:
        return None
    value = getattr(values[0], "value", None)
    return None if value is None else str(value)


def _show(term) -> str:
    comps = getattr(term, "components", [])
    return ":".join(getattr(c, "name", str(c)) for c in comps) or str(term)


def _groups(text: str, group_terms, columns: list[str]) -> tuple[FormulaGroup, ...]:
    """``(expr | factor)`` terms as groups: intercepts, varying effects, nesting."""
    from formulae.terms.terms import Intercept, Term

    intercepts: list[tuple[str, ...]] = []
    varying: dict[tuple[str, ...], list[str]] = {}
    for gt in group_terms:
        path = _group_path(text, gt)
        if isinstance(gt.expr, Intercept):
            if path not in intercepts:
                intercepts.append(path)
            continue
        comps = gt.expr.components if isinstance(gt.expr, Term) else []
        if len(comps) != 1 or type(comps[0]).__name__ != "Variable":
            raise _refuse(text, f"({_show(gt.expr)} | {'/'.join(path)}): a varying effect is "
                                "one column of the formula, e.g. (1 + line | centre)")
        col = comps[0].name
        if col not in columns:
            raise _refuse(text, f"({col} | {'/'.join(path)}): {col} varies by group but is not "
                                f"a term of the formula; add it: '... + {col} + (1 + {col} | "
                                f"{'/'.join(path)})'")
        varying.setdefault(path, []).append(col)
    for path in varying:
        if path not in intercepts:
            raise _refuse(text, f"(0 + ... | {'/'.join(path)}): every group has its random "
                                f"intercept in these models; write (1 + "
                                f"{' + '.join(varying[path])} | {'/'.join(path)})")
    ordered = sorted(intercepts, key=len)  # a level after the one it is nested in
    for path in ordered:
        if len(path) > 1 and path[:-1] not in ordered:
            raise _refuse(text, f"(1 | {':'.join(path)}): a nested level needs the level it is "
                                f"nested in; write (1 | {'/'.join(path)})")
    return tuple(FormulaGroup(p, tuple(varying.get(p, ()))) for p in ordered)


def _group_path(text: str, gt: GroupSpecificTerm) -> tuple[str, ...]:
    comps = getattr(gt.factor, "components", [])
    if not comps or any(type(c).__name__ != "Variable" or c.reference is not None
                        for c in comps):
        raise _refuse(text, f"the grouping factor {_show(gt.factor)} must be a column (or "
                            "g/h for h nested in g)")
    return tuple(c.name for c in comps)


# -- the formula on a cohort ----------------------------------------------------------------------
@dataclass(frozen=True)
class FormulaModel:
    """A formula matched to the cohort's columns: a model file but for the baseline prior,
    which :meth:`spec` places from the data's follow-up.

    ``covariates`` and ``groups`` are those of the model file (the schema of the cohort is
    extended with them before it is read, exactly as for a file's spec).
    """

    name: str
    family: str
    formula: str
    endpoint: str
    covariates: tuple[CovariateSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    cuts: tuple[float, ...] | str | None = None
    cuts_note: str = ""

    @property
    def source(self) -> str:
        return f"--formula {self.formula!r}"

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.covariates)

    def file_dict(self, cohort: Cohort) -> dict:
        """The dict a model file holds (``tomllib`` of :func:`spec_toml`), with the baseline
        prior placed from ``cohort``'s follow-up of :attr:`endpoint`."""
        try:
            cohort.schema.endpoint(self.endpoint)
        except KeyError as exc:
            raise SpecError(f"{self.source}: the endpoint {self.endpoint!r} is not in the "
                            f"cohort; endpoints: {[e.name for e in cohort.schema.endpoints]}"
                            ) from exc
        title = f"{get_family(self.family).title}: {self.formula}"
        d: dict = {
            "model": {"name": self.name, "title": title,
                      "description": self.description(), "family": self.family,
                      "parameterisation": get_family(self.family).parameterisation,
                      "time_unit": (canonical_unit(cohort.schema.time_unit)
                                    or cohort.schema.time_unit)},
            "outcome": {"endpoint": self.endpoint},
        }
        if self.cuts is not None:
            d["baseline"] = {"cuts": list(self.cuts) if isinstance(self.cuts, tuple)
                             else self.cuts}
        if self.covariates:
            d["covariates"] = [_covariate_table(c) for c in self.covariates]
        if self.groups:
            d["groups"] = [_group_table(g) for g in self.groups]
        d["priors"] = self._priors(cohort)
        return d

    def description(self) -> str:
        text = (f"From the formula '{self.formula}': the default priors of the headline model, "
                f"the baseline placed from the follow-up of {self.endpoint}.")
        return text + (f" {self.cuts_note}" if self.cuts_note else "")

    def _priors(self, cohort: Cohort) -> dict:
        priors: dict = {}
        if self.covariates:
            priors["coefficient"] = dict(DEFAULT_PRIORS["coefficient"])
        for c in self.covariates:
            if c.type == "numeric" and c.scale is None:
                prior = per_unit_prior(c.column, cohort)
                if prior is not None:
                    priors[f"coefficient_{c.column}"] = prior
        time, event = cohort.time(self.endpoint), cohort.event(self.endpoint)
        crude = float(np.sum(time)) / max(int(np.sum(event)), 1)
        for par in get_family(self.family).parameters:  # the baseline's other parameters
            if not par.baseline:
                priors[par.name] = par.prior_for(crude, cohort.schema.time_unit)
        key, prior = baseline_prior(self.family, cohort.time(self.endpoint),
                                    cohort.event(self.endpoint), unit=cohort.schema.time_unit,
                                    endpoint=self.endpoint, source=cohort.source)
        priors[key] = prior
        if self.groups:
            priors["group_sd"] = dict(DEFAULT_PRIORS["group_sd"])
        for g in self.groups:
            if g.within is not None:
                priors[f"group_sd_{g.name}"] = dict(DEFAULT_PRIORS["group_sd_nested"])
        if any(g.varying for g in self.groups):
            priors["varying_sd"] = dict(DEFAULT_PRIORS["varying_sd"])
        return priors

    def spec(self, cohort: Cohort) -> ModelSpec:
        """The :class:`ModelSpec` of this formula on ``cohort`` (checked as a file is)."""
        return spec_from_dict(self.file_dict(cohort), source=self.source)


def per_unit_prior(column: str, cohort: Cohort) -> dict | None:
    """The coefficient prior of a numeric covariate whose HR is per unit: the headline's
    Normal(0, 1) on the log-HR per standard deviation of the column, i.e. Normal(0, 1 / sd) per
    unit (as bambi scales its default priors by the predictors' SDs). Normal(0, 1) per unit would
    be informative or absurd depending on the unit (per metre of tumour size, per day of age).
    ``None`` when the column is absent or constant (the design reports it)."""
    if column not in cohort.data.columns:
        return None
    values = np.asarray(cohort.data[column], dtype=float)
    sd = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else math.nan
    if not math.isfinite(sd) or sd <= 0:
        return None
    sigma = float(f"{1 / sd:.3g}")
    return {"dist": "Normal", "mu": 0.0, "sigma": sigma,
            "reason": f"log hazard ratio per unit of {column}: the headline's Normal(0, 1) per "
                      f"standard deviation of {column} (sd {sd:.4g} in this cohort), i.e. "
                      f"Normal(0, {sigma:g}) per unit: 95% of the prior mass on HR 0.14-7.1 "
                      f"per SD, whatever the unit {column} is given in."}


def _covariate_table(c: CovariateSpec) -> dict:
    if c.type == "numeric":
        return {"column": c.column, "type": "numeric", "center": c.center,
                **({"scale": c.scale} if c.scale is not None else {})}
    return {"column": c.column, "type": c.type,
            **({"reference": c.reference} if c.reference is not None else {})}


def _group_table(g: GroupSpec) -> dict:
    out: dict = {"name": g.name}
    if g.column is not None:
        out["column"] = g.column
    if g.within is not None:
        out["within"] = g.within
    out["centered"] = g.centered
    if g.varying:
        out["varying"] = list(g.varying)
    return out


def formula_model(formula: Formula, schema: CohortSchema, *, family: str = DEFAULT_FAMILY,
                  data: RawTable | None = None, name: str | None = None) -> FormulaModel:
    """Match a parsed formula to a cohort's columns.

    Parameters
    ----------
    formula
        From :func:`parse_formula`.
    schema
        The cohort options' schema: its factors and numerics decide a column's kind, its
        references the factors' references, its centre column which group is the centre, its
        time unit the piecewise cuts.
    family
        ``weibull`` (default), ``exponential`` or ``piecewise``. The piecewise cuts are those of
        ``models/piecewise_ph_centre.toml`` (6, 12, 24, 36, 60 months), converted to days,
        weeks or years; in any other unit, ``"quantiles:6"`` (six intervals with equal numbers of
        events).
    data
        The cohort file as read: decides the kind of a column the schema does not declare
        (numeric when every value is a number). Without it such a column is refused.
    name
        The model's name (default ``<family>_ph_formula``).
    """
    if family not in FAMILIES:
        raise SpecError(f"{formula.source}: family {family!r} is not one of {list(FAMILIES)}")
    endpoints = [e.name for e in schema.endpoints]
    if formula.endpoint not in endpoints:
        raise SpecError(f"{formula.source}: the left-hand side {formula.endpoint!r} is not an "
                        f"endpoint of the cohort options; endpoints: {endpoints} (name one with "
                        "--endpoint NAME=TIME:EVENT, or --time/--event: its name is the time "
                        "column)")
    covs = tuple(_covariate(formula, t, schema, data) for t in formula.terms)
    groups = _group_specs(formula, schema)
    cuts, note = (_cuts(schema.time_unit) if get_family(family).needs_cuts else (None, ""))
    fam = get_family(family)
    default = f"{family}_ph_formula" if fam.parameterisation == "ph" else f"{family}_formula"
    return FormulaModel(name or default, family, formula.text, formula.endpoint,
                        covs, groups, cuts, note)


def _covariate(formula: Formula, t: FormulaTerm, schema: CohortSchema,
               data: RawTable | None) -> CovariateSpec:
    factors = {f.name: f for f in schema.factors}
    declared = ("categorical" if t.column in factors
                else "numeric" if t.column in schema.numerics else None)
    kind = t.kind
    if kind != "auto" and declared is not None and kind != declared:
        how = "C()" if kind == "categorical" else "scale()/center()"
        raise SpecError(f"{formula.source}: {how} makes {t.column!r} {kind}, but the cohort "
                        f"options declare it {declared}")
    if kind == "auto":
        kind = declared or _kind_from_data(formula, t.column, data)
    if kind == "numeric":
        return CovariateSpec(t.column, "numeric", scale="sd" if t.per_sd else None)
    factor = factors.get(t.column)
    ref = t.reference
    if ref is None and factor is not None:
        ref = factor.reference or (factor.levels[0] if factor.levels else None)
    if t.reference is not None and factor is not None and factor.levels is not None \
            and t.reference not in factor.levels:
        raise SpecError(f"{formula.source}: reference {t.reference!r} is not a level of "
                        f"{t.column!r}; levels: {list(factor.levels)}")
    return CovariateSpec(t.column, "categorical", reference=ref)


def _kind_from_data(formula: Formula, column: str, data: RawTable | None) -> str:
    """``numeric`` when every non-missing value of the column is a number, else
    ``categorical`` (a column absent from the file is left to validation to report)."""
    if data is None:
        raise SpecError(f"{formula.source}: the kind of {column!r} is not declared; name it "
                        "with --factor or --numeric, or write C(...) or scale(...)")
    if column not in data.frame.columns:
        return "categorical"
    _, missing, bad = parse_numeric(data.frame[column], data.decimal_comma)
    return "numeric" if not bad.any() and not missing.all() else "categorical"


def _group_specs(formula: Formula, schema: CohortSchema) -> tuple[GroupSpec, ...]:
    centre = {"centre"} | ({schema.centre_column} if schema.centre_column else set())

    def gname(col: str) -> str:
        return "centre" if col in centre else col

    out = []
    nested = any(len(g.path) > 1 for g in formula.groups)
    for g in formula.groups:
        col = g.path[-1]
        # plain intercepts, as in the model files: the parameterisation chosen from the data
        centered = "auto" if not nested and not g.varying else False
        out.append(GroupSpec(gname(col), None if gname(col) == "centre" else col, centered,
                             gname(g.path[-2]) if len(g.path) > 1 else None, g.varying))
    return tuple(out)


def _cuts(unit: str) -> tuple[tuple[float, ...] | str, str]:
    per = PER_MONTH.get(canonical_unit(unit))
    if per is None:
        return _QUANTILE_CUTS, (f"Piecewise cuts: six intervals with equal numbers of events "
                                f"(the time unit {unit!r} is not one of days, weeks, months, "
                                f"years).")
    cuts = tuple(round(c * per, 2) for c in HEADLINE_CUTS_MONTHS)
    return cuts, (f"Piecewise cuts: those of the headline piecewise model (6, 12, 24, 36 and 60 "
                  f"months) in {unit}.")


def baseline_prior(family: str, time, event, *, unit: str, endpoint: str,
                   source: str = "the cohort") -> tuple[str, dict]:
    """The baseline prior of a formula's model, placed from the data's follow-up.

    The centre is ``c = sum(time) / sum(event)``: total follow-up over the number of events,
    the maximum-likelihood mean survival under a constant hazard, in the data's own time unit.
    It is the Weibull scale when the shape is 1 (the shape prior's median) and the exponential
    model's mean survival; the piecewise log hazard is centred on ``-log(c)``. The width is the
    headline files' (LogNormal sigma 1 for a scale: 95% within a factor 7.1 of ``c``; Normal
    sigma 1.5 for a log hazard), so the prior fixes the order of magnitude in the data's unit and
    leaves the reference unit's scale to the data. ``mu`` is rounded to two decimals (as in the
    files) so that a written spec reads well.

    Returns ``(prior key, prior table)``: ``("scale", ...)`` or ``("log_hazard", ...)``.

    Raises
    ------
    ModelDataError
        The endpoint has no events: nothing places the baseline, and a model fitted to it would
        return its priors.
    """
    time = np.asarray(time, float)
    events = int(np.asarray(event).sum())
    total = float(time.sum())
    if events == 0:
        raise ModelDataError(f"{source}: endpoint {endpoint!r} has no events ({len(time)} units, "
                             "all censored): a survival model cannot be fitted to it (every "
                             "estimate would be its prior)")
    c = total / events
    mu = round(math.log(c), 2)
    placed = (f"placed from this cohort's follow-up: {total:.6g} {unit} over {events} "
              f"{endpoint} events = {c:.4g} {unit}, the constant-hazard estimate of mean "
              f"survival. A formula brings no outside knowledge of survival, in whatever unit "
              f"the data are, so the prior is centred on the data's own order of magnitude; to "
              f"centre it on published survival instead, write the spec (--write-spec) and "
              f"edit mu.")
    base = get_family(family).baseline_parameter
    if base.time == "log_rate":
        lo, hi = (math.exp(-mu - s * 1.96 * LOG_HAZARD_SIGMA) for s in (1, -1))
        return base.name, {
            "dist": "Normal", "mu": -mu, "sigma": LOG_HAZARD_SIGMA,
            "reason": f"baseline log hazard per interval, each on its own (sigma 1.5 as in "
                      f"models/piecewise_ph_centre.toml): centred on a hazard of 1/"
                      f"{math.exp(mu):.3g} per unit of time ({unit}), 95% between "
                      f"{lo:.3g} and {hi:.3g}; " + placed}
    if base.time == "rate":  # a hazard: centred on 1 / c
        lo, hi = (math.exp(-mu + s * 1.96 * SCALE_SIGMA) for s in (-1, 1))
        return base.name, lognormal_table(
            -mu, SCALE_SIGMA,
            f"{base.description} per {unit} of a reference unit in a typical group (sigma 1 as "
            f"the headline files' scale): median 1/{math.exp(mu):.3g}, 95% between {lo:.3g} "
            f"and {hi:.3g}; " + placed)
    lo, hi = (math.exp(mu + s * 1.96 * SCALE_SIGMA) for s in (-1, 1))
    what = base.description
    return base.name, lognormal_table(
        mu, SCALE_SIGMA,
        f"{what} in {unit} of a reference unit in a typical group (sigma 1 as in "
        f"models/weibull_ph_centre.toml): median {math.exp(mu):.3g}, 95% between "
        f"{lo:.3g} and {hi:.3g} {unit}; " + placed)


def spec_from_formula(text: str, cohort: Cohort, *, family: str = DEFAULT_FAMILY,
                      name: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of a formula on a loaded cohort (every column of the formula
    declared in ``cohort.schema``): :func:`parse_formula`, :func:`formula_model`,
    :meth:`FormulaModel.spec` in one call."""
    model = formula_model(parse_formula(text), cohort.schema, family=family, name=name)
    return model.spec(cohort)


# -- writing a model file -------------------------------------------------------------------------
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def spec_toml(data: dict, *, header: str = "") -> str:
    """A model file (TOML) holding ``data`` (the dict of :meth:`FormulaModel.file_dict`);
    ``header`` becomes comment lines at the top. ``tomllib.loads`` of the text equals ``data``
    (checked here)."""
    for pretty in (True, False):
        text = _toml(data, header, pretty)
        if tomllib.loads(text) == data:
            return text
    raise SpecError("the specification cannot be written as TOML")  # not reached for specs


def _toml(data: dict, header: str, pretty: bool) -> str:
    lines = [f"# {h}".rstrip() for h in header.splitlines()]
    for section in ("model", "outcome", "baseline"):
        if section in data:
            lines += ["", f"[{section}]", *_pairs(data[section], pretty)]
    for section in ("covariates", "groups"):
        for table in data.get(section, []):
            lines += ["", f"[[{section}]]", *_pairs(table, pretty)]
    for key, table in data.get("priors", {}).items():
        lines += ["", f"[priors.{_key(key)}]", *_pairs(table, pretty)]
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _pairs(table: dict, pretty: bool) -> list[str]:
    return [f"{_key(k)} = {_value(v, pretty)}" for k, v in table.items()]


def _value(v, pretty: bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x, False) for x in v) + "]"
    if pretty and len(v) > 90 and "\n" not in v and "  " not in v:
        return _long_string(v)
    return json.dumps(v, ensure_ascii=False)


def _long_string(v: str) -> str:
    """A multi-line basic string with line-ending backslashes, as the files in models/."""
    body = textwrap.wrap(v, 92, break_long_words=False, break_on_hyphens=False)
    esc = [ln.replace("\\", "\\\\").replace('"', '\\"') for ln in body]
    return '"""\\\n' + " \\\n".join(esc) + '"""'


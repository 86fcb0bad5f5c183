"""Shared command-line plumbing: column options, schema building, error handling.

Scripts in ``scripts/`` are thin: they parse arguments with the helpers here and call the
package. Any :class:`~nen_bayes.errors.CohortError` (or an existing output without ``--force``)
ends the script with exit code 2, a one-paragraph message on stderr and nothing written; the
exit codes are :data:`nen_bayes.errors.EXIT_CODES`, and every command's ``--help`` lists the
ones it uses. Every run keeps its temporary files in a scratch directory of its own, removed
when it ends (:func:`run_scratch`).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing.util
import os
import shutil
import sys
import tempfile
import textwrap
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.cohorts.schema import (
    DEFAULT_TIME_UNIT,
    EVENT_CODINGS,
    CohortSchema,
    Factor,
    time_unit_from_columns,
)
from nen_bayes.cohorts.validate import MISSING_POLICIES, ZERO_TIME_POLICIES
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import (
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_NOT_STARTED,
    EXIT_OK,
    CalibrationError,
    CohortError,
    InvalidValueError,
    MissingColumnError,
    OutputExistsError,
    ResultError,
    SamplingStartError,
    SpecError,
)
from nen_bayes.re_nen.contract import LINE_CONTRAST, RE_NEN
from nen_bayes.settings import (
    DEFAULT_HORIZONS,
    FIGURE_FORMATS,
    GRID_METHODS,
    SAMPLERS,
    Contrast,
    Decision,
    Sampling,
)

__all__ = [
    "BUNDLED_ALIAS",
    "EXIT_BAD_INPUT",
    "EXIT_NOT_STARTED",
    "add_cohort_options",
    "add_contrast_options",
    "add_contrast_term_options",
    "add_grid_method_option",
    "add_sampling_options",
    "add_verbosity_options",
    "check_sampling_options",
    "cohort_file",
    "contrast_extras",
    "contrast_from_args",
    "contrast_settings",
    "decision_settings",
    "exit_codes_text",
    "load_options",
    "main_guard",
    "run_scratch",
    "sampling_settings",
    "schema_for",
    "script_parser",
    "verbosity",
]

#: ``--data bundled``: the bundled synthetic cohort (:data:`nen_bayes.data.BUNDLED_COHORT`).
BUNDLED_ALIAS = "bundled"

#: The centre column used when --centre is not given: the contract's, taken when the file has it.
DEFAULT_CENTRE = RE_NEN.centre_column


def exit_codes_text(codes=(EXIT_OK, EXIT_BAD_INPUT)) -> str:
    """The ``Exit codes`` paragraph of a command's ``--help``: each of ``codes`` with what it
    means (:data:`nen_bayes.errors.EXIT_CODES`, the one place the codes are said)."""
    lines = ["Exit codes:"]
    for code in sorted(codes):
        lines.append(textwrap.fill(EXIT_CODES[code], width=96, initial_indent=f"  {code}  ",
                                   subsequent_indent="     "))
    return "\n".join(lines)


def script_parser(prog: str, doc: str, *,
                  exit_codes=(EXIT_OK, EXIT_BAD_INPUT)) -> argparse.ArgumentParser:
    """A command's parser: the first paragraph of its docstring as description, the rest
    (examples, outputs) and the exit codes it uses (``exit_codes``) as the ``--help`` epilog.

    ``prog`` is the script's file name (``fit.py``): the parser is called that when the script
    runs as ``scripts/fit.py``, and ``nen-bayes fit`` otherwise (the entry point, or a parser
    built to be documented)."""
    head, _, rest = doc.partition("\n\n")
    name = prog.removesuffix(".py")
    if not sys.argv or Path(sys.argv[0]).name != prog:
        prog = f"nen-bayes {name.replace('_', '-')}"
    codes = "" if "Exit codes:" in rest else exit_codes_text(exit_codes)  # unless it says them
    epilog = "\n\n".join(p for p in (rest.rstrip(), codes) if p)
    return argparse.ArgumentParser(prog=prog, description=head, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


# --- How much a command says ------------------------------------------------------------------

_VERBOSITY = {"level": 0}  # -1 quiet, 0 default, 1 verbose; set while the options are parsed


class _Verbosity(argparse.Action):
    """``--quiet`` / ``--verbose``: a flag that also sets the run's level of output."""

    def __init__(self, option_strings, dest, level: int, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)
        self.level = level

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        _VERBOSITY["level"] = self.level
        # the libraries' INFO messages (PyMC's "Sequential sampling ...") go with --quiet
        logging.disable(logging.INFO if self.level < 0 else logging.NOTSET)


def add_verbosity_options(parser) -> None:
    """``-q/--quiet`` and ``-v/--verbose`` (one of them; a parser or argument group), read back
    as ``args.quiet``, ``args.verbose`` and :func:`verbosity`."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action=_Verbosity, level=-1,
                   help="no progress output (progress bars and lines, the samplers' messages); "
                        "the results, warnings and errors are printed as without it")
    g.add_argument("-v", "--verbose", action=_Verbosity, level=1,
                   help="more output: each warning with its category and where it was raised, "
                        "and after an error message its traceback")


def verbosity() -> int:
    """The level of output the options of this run ask for: -1 ``--quiet``, 0 neither,
    1 ``--verbose``."""
    return _VERBOSITY["level"]


def cohort_file(text: str) -> str:
    """``--data``: a cohort file, or ``bundled`` for the bundled synthetic cohort."""
    if text != BUNDLED_ALIAS:
        return text
    if Path(text).exists():
        raise argparse.ArgumentTypeError(
            f"{text!r} is the name of the bundled synthetic cohort and of a file in this "
            f"directory; for the file write ./{text}")
    return str(BUNDLED_COHORT)


class _CohortFile(argparse.Action):
    """``--data FILE``, stored as :func:`cohort_file` reads it."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, cohort_file(values))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


def add_cohort_options(parser: argparse.ArgumentParser) -> None:
    """The options every script that reads a cohort shares."""
    g = parser.add_argument_group(
        "cohort columns",
        "Default: the RE/NEN contract (patient_id, centre, os/hpfs/pfs months+event, line, "
        "grade, tumour_burden, extrahepatic, vascularisation, recist_3m/12m). For another "
        "cohort, name its columns with --endpoint or --time/--event (and --centre, --id, "
        "--factor, --numeric). Only the columns a command uses are required: its endpoint(s), "
        "the id, the centre, the model's covariates and grouping columns, and the columns "
        "named by --factor/--numeric. Without --factor, describe.py, baseline.py and "
        "reanalyse.py also use the contract's other columns that the file has; other commands "
        "read no other column.",
    )
    g.add_argument("--data", required=True, metavar="FILE", action=_CohortFile,
                   help="cohort file: .csv (comma/semicolon/tab; decimal comma accepted with "
                        "semicolons), .xlsx or .parquet; 'bundled' for the bundled synthetic "
                        "cohort")
    g.add_argument("--sep", choices=[",", ";", "\\t"], help="CSV delimiter (default: detected)")
    g.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    g.add_argument("--endpoint", action="append", default=[], metavar="NAME=TIME:EVENT",
                   help="a right-censored endpoint and its columns, e.g. os=time:status "
                        "(repeatable); for the RE/NEN contract, a contract endpoint name "
                        "(os, hpfs, pfs) restricts the analysis to it")
    g.add_argument("--time", help="time column of a single endpoint (with --event)")
    g.add_argument("--event", help="event column of a single endpoint (with --time)")
    g.add_argument("--entry", metavar="COL",
                   help="late-entry column of the endpoints named with --time/--event or "
                        "NAME=TIME:EVENT: the time (same clock and origin) from which each "
                        "unit was under observation (left truncation; 0 <= entry < time)")
    g.add_argument("--interval", action="append", default=[], metavar="NAME=LOWER:UPPER",
                   help="an interval-censored endpoint and its columns (repeatable): the event "
                        "happened after LOWER (last assessment without it) and by UPPER (first "
                        "assessment with it); LOWER = UPPER is an exact time, an empty or 'inf' "
                        "UPPER is right-censored at LOWER. A NAME of its own is an endpoint of "
                        "these columns alone; the NAME of an endpoint given with "
                        "NAME=TIME:EVENT, or a contract endpoint (hpfs, pfs), adds them to it. "
                        "The Bayesian fits then use the interval likelihood log(S(LOWER) - "
                        "S(UPPER)); the frequentist baselines add the Turnbull estimate and an "
                        "interval-censored Weibull fit (the contract's hpfs/pfs_lower/_upper "
                        "columns are used this way when the file has them)")
    g.add_argument("--centre", metavar="COL",
                   help=f"centre column (default: {DEFAULT_CENTRE!r} when the file has one; "
                        "without it the cohort is analysed as single-centre, and a model with "
                        "a centre level is refused)")
    g.add_argument("--no-centre", action="store_true", help="single-centre cohort")
    g.add_argument("--id", metavar="COL",
                   help=f"unit id column (default: {RE_NEN.id_column!r} for the RE/NEN "
                        "contract; row numbers for endpoints named with --time/--event or "
                        "NAME=TIME:EVENT)")
    g.add_argument("--row-ids", action="store_true",
                   help="no id column: identify units by their row number")
    g.add_argument("--factor", action="append", default=[], metavar="COL",
                   help="categorical covariate (repeatable)")
    g.add_argument("--numeric", action="append", default=[], metavar="COL",
                   help="numeric covariate (repeatable)")
    g.add_argument("--levels", action="append", default=[], metavar="COL=A,B,C",
                   help="declare the allowed levels of a factor, reference first (repeatable)")
    g.add_argument("--event-coding", choices=sorted(EVENT_CODINGS), default="0/1",
                   help="event indicator coding: 0/1 (1 = event) or 1/2 (R survival: "
                        "2 = event). Default 0/1")
    g.add_argument("--time-unit",
                   help=f"unit of the time columns (days, weeks, months, years, or another "
                        f"name): reported, never converted; a model file's numbers are "
                        f"converted to it (default: {DEFAULT_TIME_UNIT} for the RE/NEN contract; "
                        f"required for endpoints named by their columns unless their names "
                        f"say it, e.g. os_days)")
    g.add_argument("--missing", choices=MISSING_POLICIES, default="error",
                   help="missing covariate values: error (default), keep as level 'unknown', "
                        "or drop the rows (reported)")
    g.add_argument("--zero-time", choices=ZERO_TIME_POLICIES, default="error",
                   help="zero times: error (default) or shift to half the smallest positive "
                        "time (reported)")


def _parse_assignments(items: list[str], what: str, parser) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            parser.error(f"{what} {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _endpoint_options(args, parser) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """The endpoints the options name: ``NAME=TIME:EVENT`` (and --time/--event) as a mapping,
    contract endpoint names as a list."""
    if bool(args.time) != bool(args.event):
        parser.error("--time and --event go together")
    custom_eps, contract_eps = {}, []
    for item in args.endpoint:
        if "=" in item:
            name, cols = item.split("=", 1)
            if ":" not in cols:
                parser.error(f"--endpoint {item!r}: expected NAME=TIME:EVENT")
            t, e = cols.split(":", 1)
            custom_eps[name.strip()] = (t.strip(), e.strip())
        else:
            contract_eps.append(item.strip())
    if args.time:
        custom_eps[args.time] = (args.time, args.event)
    if custom_eps and contract_eps:
        parser.error("mix of contract endpoints and NAME=TIME:EVENT endpoints")
    return custom_eps, contract_eps


def _interval_options(args, parser) -> dict[str, tuple[str, str]]:
    """The interval endpoints the options name: ``NAME=LOWER:UPPER`` as a mapping."""
    out = {}
    for item in getattr(args, "interval", None) or []:
        name, sep, cols = item.partition("=")
        lo, sep2, up = cols.partition(":")
        if not (sep and sep2 and name.strip() and lo.strip() and up.strip()):
            parser.error(f"--interval {item!r}: expected NAME=LOWER:UPPER (e.g. "
                         "pfs=last_scan_without:first_scan_with)")
        out[name.strip()] = (lo.strip(), up.strip())
    return out


def _contract_intervals(schema: CohortSchema, intervals: dict, parser) -> CohortSchema:
    """The contract's endpoints with the interval columns --interval names for them."""
    names = [e.name for e in schema.endpoints]
    unknown = [n for n in intervals if n not in names]
    if unknown:
        parser.error(f"--interval {unknown}: not an endpoint of this analysis ({names}); name "
                     "another cohort's endpoints by their columns (NAME=LOWER:UPPER alone, or "
                     "with --endpoint NAME=TIME:EVENT)")
    return replace(schema, endpoints=tuple(
        replace(e, lower=intervals[e.name][0], upper=intervals[e.name][1],
                interval_optional=False) if e.name in intervals else e
        for e in schema.endpoints))


def _model_columns(specs, centre: str | None, id_column: str | None
                   ) -> tuple[list[Factor], list[str], bool]:
    """The factors and numerics the models use, in order of first use, and whether a model
    has a level grouped by the centre column."""
    factors: dict[str, Factor] = {}
    numerics: list[str] = []
    by_centre = False
    for spec in specs:
        for c in spec.covariates:
            if c.column in factors or c.column in numerics:
                continue
            if c.type == "numeric":
                numerics.append(c.column)
            else:
                factors[c.column] = Factor(c.column)  # an order only where declared
        for g in spec.groups:
            if g.column is None or g.column == centre:
                by_centre = True
            elif g.column != id_column and g.column not in factors:
                factors[g.column] = Factor(g.column)
    return list(factors.values()), numerics, by_centre


def _declared_orders(schema: CohortSchema, specs, levels: dict[str, str],
                     parser) -> CohortSchema:
    """The schema with the levels of ``--levels COL=A,B,C`` and of the models' ``levels`` keys.

    A factor that a model treats as ordered becomes ordered when ``--levels`` names it (its
    levels, lowest first); a model file's ``levels`` declare the levels of a factor that has none
    yet. Without either, an ordered factor keeps its order only where the contract declares one
    (the design refuses a linear coding with no declared order).
    """
    ordered = {c.column: getattr(c, "levels", None) for spec in specs for c in spec.covariates
               if c.type == "ordered"}
    for name, lv in levels.items():
        try:
            schema = schema.with_levels(name, lv.split(","),
                                        ordered=True if name in ordered else None)
        except KeyError:
            parser.error(f"--levels {name}: not a factor of this analysis; its factors: "
                         f"{[f.name for f in schema.factors]} (name others with --factor)")
        except ValueError as exc:
            parser.error(f"--levels {name}: {exc}")
    factors = {f.name: f for f in schema.factors}
    for name, lv in ordered.items():
        if lv is not None and name in factors and factors[name].levels is None:
            schema = schema.with_levels(name, list(lv), ordered=True)
    return schema


def _contract_parts(args, parser, contract_eps: list[str], used: set[str],
                    numeric: set[str], extras: bool) -> tuple[CohortSchema, set[str]]:
    """The RE/NEN contract cut to the endpoints named (else all of them, each used when
    present), the factors used or named (with ``extras`` and no --factor, the contract's other
    factors too, used when present) and, with ``extras`` and nothing named, its responses (used
    when present). A contract factor that a model uses as numeric (``numeric``) is left to
    the model. Returns the schema and the names of its optional parts."""
    try:
        endpoints = tuple(RE_NEN.endpoint(e) for e in contract_eps) or RE_NEN.endpoints
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    wanted = used | set(args.factor)
    others = extras and not args.factor
    factors = [f for f in RE_NEN.factors
               if f.name not in numeric and (f.name in wanted or others)]
    known = {f.name for f in RE_NEN.factors}
    factors += [Factor(f) for f in dict.fromkeys(args.factor) if f not in known]
    responses = RE_NEN.responses if extras and not (contract_eps or args.factor) else ()
    optional = {f.name for f in factors if f.name not in wanted} | {r.name for r in responses}
    if not contract_eps:
        optional |= {e.name for e in endpoints}
    schema = replace(RE_NEN, endpoints=endpoints, factors=tuple(factors),
                     numerics=tuple(dict.fromkeys(args.numeric)), responses=responses)
    return schema, optional


def _one_endpoint(schema: CohortSchema, specs, parser) -> CohortSchema:
    """The schema cut to one endpoint: the one named, else the (first) model's own."""
    names = [e.name for e in schema.endpoints]
    if len(names) <= 1:
        return schema
    own = specs[0].endpoint if specs else None
    if own not in names:
        parser.error(f"one endpoint at a time: give --endpoint (one of {names})")
    return replace(schema, endpoints=(schema.endpoint(own),))


def schema_for(args: argparse.Namespace, parser: argparse.ArgumentParser, specs=(), *,
               one_endpoint: bool = False, extras: bool = False) -> tuple[CohortSchema, bool]:
    """The schema of exactly the columns a command uses. Returns ``(schema, lenient)``; pass
    ``lenient`` to :func:`~nen_bayes.cohorts.cohort.load_cohort`.

    Required: the endpoint(s) named (without a name, the contract's endpoints are each used when
    the file has them), the id column, the covariates and grouping columns of ``specs`` (model
    specifications), the columns named by --factor/--numeric, and the centre column when
    --centre names it or a model has a centre level; without --centre, the column
    :data:`DEFAULT_CENTRE` is used when the file has it. Under the RE/NEN contract, ``extras``
    (describe, baselines, the main job) adds, when no --factor is given, the contract's other
    factors and, when nothing is named, its responses, each used when the file has it.
    ``one_endpoint`` (one fit): the endpoint named, else the first model's own.
    """
    custom_eps, contract_eps = _endpoint_options(args, parser)
    intervals = _interval_options(args, parser)
    contract_names = {e.name for e in RE_NEN.endpoints}
    own_intervals = {n: c for n, c in intervals.items() if n in custom_eps or
                     (not contract_eps and n not in contract_names)}
    if own_intervals and contract_eps:
        parser.error("mix of contract endpoints and NAME=LOWER:UPPER endpoints of their own")
    centre = None if args.no_centre else (args.centre or DEFAULT_CENTRE)
    id_column = None if args.row_ids else (
        args.id or (None if custom_eps or own_intervals else RE_NEN.id_column))
    model_factors, model_numerics, by_centre = _model_columns(specs, centre, id_column)
    if getattr(args, "entry", None) and not (custom_eps or own_intervals):
        parser.error("--entry goes with endpoints named by their columns (--time/--event or "
                     "NAME=TIME:EVENT)")
    if custom_eps or own_intervals:
        if len(own_intervals) < len(intervals):
            parser.error(f"--interval {sorted(set(intervals) - set(own_intervals))}: contract "
                         "endpoints do not mix with endpoints named by their columns")
        names = list(custom_eps) + [n for n in own_intervals if n not in custom_eps]
        schema = CohortSchema.custom(
            custom_eps, factors=[Factor(f) for f in dict.fromkeys(args.factor)],
            numerics=tuple(dict.fromkeys(args.numeric)),
            entries={n: args.entry for n in names} if getattr(args, "entry", None)
            else None, intervals=own_intervals)
        optional: set[str] = set()
    else:
        schema, optional = _contract_parts(args, parser, contract_eps,
                                           {f.name for f in model_factors},
                                           set(model_numerics), extras)
        schema = _contract_intervals(schema, intervals, parser)
    have = {f.name for f in schema.factors} | set(schema.numerics)
    schema = replace(
        schema, id_column=id_column, centre_column=centre, event_coding=args.event_coding,
        time_unit=args.time_unit or (_stated_unit(schema, parser) if custom_eps or own_intervals
                                     else schema.time_unit),
        factors=schema.factors + tuple(f for f in model_factors if f.name not in have),
        numerics=schema.numerics + tuple(n for n in model_numerics if n not in have))
    schema = _declared_orders(schema, specs, _parse_assignments(args.levels, "--levels",
                                                                 parser), parser)
    if one_endpoint:
        schema = _one_endpoint(schema, specs, parser)
        optional -= {e.name for e in RE_NEN.endpoints}
    if centre is not None and not args.centre and not by_centre and \
            centre not in {f.name for f in schema.factors} | set(schema.numerics):
        optional.add(centre)
    return replace(schema, optional=frozenset(optional)), bool(optional)


def _stated_unit(schema: CohortSchema, parser) -> str:
    """The time unit of endpoints named by their columns without --time-unit: the one their
    column names state (``_days``, ``_months``, ...), else a usage error (never a default)."""
    columns = [c for e in schema.endpoints for c in
               ((e.lower, e.upper) if e.derived else (e.time,))]
    unit = time_unit_from_columns(columns)
    if unit is None:
        parser.error(f"the time column(s) {', '.join(columns)} do not say their unit: give "
                     "--time-unit (days, weeks, months, years, or another name) or name the "
                     "columns with it (e.g. os_months, pfs_days)")
    return unit


def add_grid_method_option(group) -> None:
    """``--grid-method``: how the prior grid's posteriors are obtained."""
    group.add_argument("--grid-method", choices=GRID_METHODS, default="reweight",
                       help="reweight (default): sample the model's own prior once and "
                            "reweight its draws for every other prior by importance sampling "
                            "(PSIS), refitting a prior whose weights fail their checks (Pareto "
                            "k, effective draws); refit: sample every prior")


def add_contrast_term_options(group) -> None:
    """``--term``, ``--level`` and ``--versus`` (an argument group or parser): the contrast,
    read back by :func:`contrast_from_args`."""
    group.add_argument("--term", default=LINE_CONTRAST.term,
                       help=f"categorical covariate (default {LINE_CONTRAST.term})")
    group.add_argument("--level", default=None,
                       help=f"level whose effect is reported (default {LINE_CONTRAST.level} "
                            f"for {LINE_CONTRAST.term}, else the model's first non-reference "
                            "level)")
    group.add_argument("--versus", default=None,
                       help=f"comparator level (default {LINE_CONTRAST.versus} for "
                            f"{LINE_CONTRAST.term}, else the model's reference)")


def contrast_from_args(args, parser) -> Contrast:
    """The :class:`Contrast` of :func:`add_contrast_term_options`: the case study's levels for
    its own term, else what the user gave (None: resolved from the model)."""
    level, versus = args.level, args.versus
    if args.term == LINE_CONTRAST.term:
        level = level or LINE_CONTRAST.level
        versus = versus or LINE_CONTRAST.versus
    try:
        return Contrast(args.term, level, versus)
    except ValueError as exc:
        parser.error(str(exc))


def add_contrast_options(parser, *, curves: bool = True) -> None:
    """Options of the contrast and the decision thresholds (line_effects.py, reanalyse.py,
    sensitivity.py). Defaults: the case study's line contrast and :class:`Decision`'s thresholds.
    ``curves``: also the options of the standardised curves (RMST horizons, draws)."""
    d = Decision()
    g = parser.add_argument_group("contrast and thresholds")
    add_contrast_term_options(g)
    g.add_argument("--benefit", type=positive_float, default=d.benefit,
                   help=f"clinically important benefit: P(HR < this) ({d.benefit:g})")
    g.add_argument("--harm", type=positive_float, default=d.harm,
                   help=f"harm: P(HR > this) ({d.harm:g})")
    g.add_argument("--rope", default=f"{d.rope[0]:g},{d.rope[1]:.2f}",
                   help=f"region of practical equivalence LOW,HIGH ({d.rope[0]:g},{d.rope[1]:.2f})")
    if not curves:
        return
    g.add_argument("--horizon", action="append", type=positive_float, default=None,
                   metavar="T",
                   help="RMST horizon, a positive time in the cohort's unit (repeatable; "
                        f"default {' and '.join(f'{h:g}' for h in DEFAULT_HORIZONS)} for a "
                        "cohort in months followed that long, else a third and two thirds of "
                        "the longest follow-up)")
    g.add_argument("--max-draws", type=positive_int, default=1000,
                   help="posterior draws used for the curves, medians and RMSTs (1000)")


def decision_settings(args, parser) -> Decision:
    """The :class:`Decision` given by ``--benefit``, ``--harm`` and ``--rope LOW,HIGH``."""
    try:
        lo, hi = (float(x) for x in args.rope.split(","))
    except ValueError:
        parser.error(f"--rope {args.rope!r}: expected LOW,HIGH, e.g. 0.91,1.10")
    try:
        return Decision(benefit=args.benefit, harm=args.harm, rope=(lo, hi))
    except ValueError as exc:
        parser.error(str(exc))


def contrast_settings(args, parser) -> tuple[Contrast, Decision]:
    """The :class:`Contrast` and :class:`Decision` given by the contrast options."""
    decision = decision_settings(args, parser)
    return contrast_from_args(args, parser), decision


def contrast_extras(args) -> dict:
    """RMST horizons and the number of draws for the standardised curves."""
    return {"horizons": tuple(args.horizon) if args.horizon else None,
            "max_draws": args.max_draws}


def add_sampling_options(group, *, target_accept: float | None = None,
                         sampler: bool = True) -> None:
    """Sampling options shared by fit.py, reanalyse.py and sensitivity.py (defaults:
    :class:`~nen_bayes.settings.Sampling`)."""
    s = Sampling()
    target_accept = s.target_accept if target_accept is None else target_accept
    group.add_argument("--draws", type=positive_int, default=s.draws,
                       help=f"draws per chain after tuning ({s.draws})")
    group.add_argument("--tune", type=positive_int, default=s.tune,
                       help=f"tuning steps per chain ({s.tune})")
    group.add_argument("--chains", type=positive_int, default=s.chains, help=f"chains ({s.chains})")
    group.add_argument("--cores", type=positive_int,
                       help="parallel chains (default: min(chains, CPUs))")
    group.add_argument("--seed", type=non_negative_int, default=s.seed,
                       help=f"random seed ({s.seed})")
    if sampler:
        group.add_argument("--sampler", choices=list(SAMPLERS), default=s.sampler,
                           help=f"NUTS implementation (default {s.sampler})")
    group.add_argument("--target-accept", type=open_unit, default=target_accept,
                       help=f"NUTS target acceptance ({target_accept:g})")


def sampling_settings(args) -> Sampling:
    """The :class:`Sampling` given by the sampling options (after
    :func:`check_sampling_options`)."""
    return Sampling(draws=args.draws, tune=args.tune, chains=args.chains, cores=args.cores,
                    seed=args.seed, sampler=getattr(args, "sampler", Sampling().sampler),
                    target_accept=args.target_accept)


def check_sampling_options(args, parser) -> None:
    """Refuse draws, tuning steps or chains below 1 and levels outside (0, 1)."""
    for name in ("draws", "tune", "chains", "prior_draws"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("target_accept", "conf_level"):
        if not 0 < getattr(args, name, 0.5) < 1:
            parser.error(f"--{name.replace('_', '-')} must lie in (0, 1)")


def load_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`~nen_bayes.cohorts.cohort.load_cohort` from the cohort
    options."""
    return {
        "missing": args.missing,
        "zero_time": args.zero_time,
        "sep": "\t" if args.sep == "\\t" else args.sep,
        "sheet": args.sheet,
    }


@contextmanager
def run_scratch() -> Iterator[Path]:
    """A scratch directory for the run's temporary files (the compiled model's generated
    sources, a cluster's spill files), removed with everything in it when the run ends.

    For the run, ``TMPDIR`` and :data:`tempfile.tempdir` name it, so the libraries and any
    process the run starts put their temporary files there; both are restored after it."""
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    # multiprocessing keeps one directory per process (a forkserver's socket) and removes it
    # at exit: made before the run, so that it outlives the scratch directory
    multiprocessing.util.get_temp_dir()
    scratch = tempfile.mkdtemp(prefix="nen-bayes-run-")
    os.environ["TMPDIR"] = tempfile.tempdir = scratch
    try:
        yield Path(scratch)
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(scratch, ignore_errors=True)


def main_guard(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Run a command's ``main`` in a scratch directory of its own (:func:`run_scratch`): bad
    input -> message on stderr and exit code 2; a sampler that could not start -> exit code 1.
    With ``--verbose`` a warning says its category and place, and an error its traceback."""

    def run(argv: list[str] | None = None) -> int:
        def show(message, category, filename, lineno, file=None, line=None):
            where = f" ({category.__name__}, {filename}:{lineno})" if verbosity() > 0 else ""
            print(f"warning: {message}{where}", file=sys.stderr)

        def fail(exc: Exception, code: int) -> int:
            print(f"error: {exc}", file=sys.stderr)
            if verbosity() > 0:
                traceback.print_exception(exc, file=sys.stderr)
            return code

        _VERBOSITY["level"] = 0
        with warnings.catch_warnings(), run_scratch():
            warnings.simplefilter("always")
            warnings.showwarning = show
            try:
                return main(argv)
            except (CohortError, CalibrationError, OutputExistsError, SpecError,
                    ResultError) as exc:
                return fail(exc, EXIT_BAD_INPUT)
            except SamplingStartError as exc:  # a failed start is not a result: exit 1
                return fail(exc, EXIT_NOT_STARTED)
            finally:
                _VERBOSITY["level"] = 0
                logging.disable(logging.NOTSET)

    return run


# --- Limits of option values ------------------------------------------------------------------
__all__ += ["at_least", "finite_float", "load_checked", "non_negative_float", "non_negative_int",
            "open_unit", "positive_float", "positive_int"]

# argparse ``type=`` validators shared by every script: a value out of its range ends the script
# at parsing (exit 2, "argument --name: ...") before anything is read, fitted or written.


def _number(text: str, kind: type, what: str):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
    return value


def at_least(minimum: int) -> Callable[[str], int]:
    """An integer option of at least ``minimum`` (e.g. ``type=at_least(1)``)."""

    def parse(text: str) -> int:
        value = _number(text, int, "a whole number")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the smallest allowed value, "
                                             f"{minimum}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def positive_int(text: str) -> int:
    """A whole number of at least 1 (draws, chains, seeds to search...)."""
    return at_least(1)(text)


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (tuning steps, counts allowed)."""
    return at_least(0)(text)


def positive_float(text: str) -> float:
    """A finite number above 0 (times, horizons, thresholds)."""
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g}: must be above 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0."""
    value = _number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g}: must be at least 0")
    return value


def open_unit(text: str) -> float:
    """A level or probability strictly between 0 and 1 (e.g. 0.95, not 95)."""
    value = _number(text, float, "a number")
    if not 0 < value < 1:
        hint = f" (for {value:g}% write {value / 100:g})" if 1 < value < 100 else ""
        raise argparse.ArgumentTypeError(f"{value:g}: must lie strictly between 0 and 1{hint}")
    return value


def finite_float(text: str) -> float:
    """Any finite number."""
    return _number(text, float, "a number")


# --- Loading with messages for typical mistakes -----------------------------------------------

#: A factor (--factor, or a model's categorical covariate) whose values are all numbers and take
#: more distinct values than this, with no levels declared, is refused as a likely --numeric.
MAX_NUMERIC_FACTOR_LEVELS = 20


def load_checked(args, schema: CohortSchema, lenient: bool, specs=(), *,
                 default_models: tuple[str, ...] = ()):
    """:func:`~nen_bayes.cohorts.cohort.load_cohort` with the cohort options, saying more about
    typical mistakes: a missing column that a model uses names the model and its file (and,
    for ``default_models``, that they are a default set and how to give others); a numeric
    column given as a factor with many values is refused with a pointer to ``--numeric``."""
    try:
        cohort = load_cohort(args.data, schema, lenient=lenient, **load_options(args))
    except MissingColumnError as exc:
        hint = _models_hint(getattr(exc, "missing", ()), specs, default_models)
        if not hint:
            raise
        raise MissingColumnError(f"{exc} {hint}") from None
    _refuse_numeric_factors(args, cohort, specs)
    return cohort


def _models_hint(missing, specs, default_models: tuple[str, ...]) -> str:
    uses: dict[tuple, list[str]] = {}  # the missing columns a model uses -> those models
    for sp in specs:
        cols = {c.column for c in sp.covariates} | {g.column for g in sp.groups if g.column}
        mine = tuple(c for c in missing if c in cols)
        if mine:
            uses.setdefault(mine, []).append(f"{sp.name} ({_shown_path(sp.source)})")
    if not uses:
        return ""
    text = "Of these, " + "; ".join(
        f"{list(cols)} {'is' if len(cols) == 1 else 'are'} used by the model"
        f"{'s' if len(names) > 1 else ''} {', '.join(names)}" for cols, names in uses.items()
    ) + "."
    if default_models:
        text += (" These are the default model set, written for the RE/NEN cohort; for "
                 "another cohort give models that use its "
                 "columns: --model FILE (see models/README.md) or --formula "
                 "\"TIME ~ COVARIATES + (1 | CENTRE)\".")
    return text


def _shown_path(source: str) -> str:
    """A model file's path, relative to the working directory where it lies below it."""
    try:
        return str(Path(source).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(source)


def _refuse_numeric_factors(args, cohort, specs) -> None:
    declared = {i.split("=", 1)[0].strip() for i in getattr(args, "levels", []) if "=" in i}
    by_model = {c.column: sp for sp in specs for c in sp.covariates if c.type != "numeric"}
    names = [f for f in dict.fromkeys([*getattr(args, "factor", []), *by_model])
             if f not in declared]
    levels = {f.name: f.levels or () for f in cohort.schema.factors}
    for name in names:
        lv = levels.get(name, ())
        if len(lv) <= MAX_NUMERIC_FACTOR_LEVELS or not all(_is_number(v) for v in lv):
            continue
        given = f"the model {by_model[name].name!r} ({by_model[name].source}) uses it as a " \
                "categorical covariate" if name in by_model else "--factor names it"
        raise InvalidValueError(
            f"{cohort.source}: column {name!r}: {given}, but it holds numbers with {len(lv)} "
            f"distinct values ({', '.join(lv[:3])}, ..., {lv[-1]}): as a factor it would get "
            f"{len(lv)} levels and {len(lv) - 1} coefficients. For a numeric covariate give "
            f"--numeric {name}" + (_numeric_in_model(by_model[name], name)
                                   if name in by_model else "") +
            f"; to keep it categorical, declare its levels: --levels {name}=A,B,C.")


def _numeric_in_model(spec, name: str) -> str:
    if str(spec.source).startswith("--formula"):
        return f" and write {name} in the formula without C()"
    return f" and make it numeric in the model file (type = \"numeric\" for column {name!r})"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def figure_formats(text: str) -> str:
    """A comma-separated list of figure formats, each one of png, svg, pdf; returned as given
    (the scripts split it)."""
    names = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in names if f not in FIGURE_FORMATS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: figure formats are a comma-separated list "
                                         f"of {', '.join(FIGURE_FORMATS)}")
    return text


__all__ += ["figure_formats"]


def _number_list(text: str, item: Callable[[str], float]) -> list:
    values = []
    for part in text.split(","):
        if not part.strip():
            raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers, e.g. "
                                             "0.6,0.8,1.0")
        try:
            values.append(item(part.strip()))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return values


def positive_float_list(text: str) -> list[float]:
    """Comma-separated finite numbers above 0 (a grid of HRs, times)."""
    return _number_list(text, positive_float)


def non_negative_float_list(text: str) -> list[float]:
    """Comma-separated finite numbers of at least 0 (a grid of SDs)."""
    return _number_list(text, non_negative_float)


def positive_int_list(text: str) -> list[int]:
    """Comma-separated whole numbers of at least 1 (a grid of sample sizes)."""
    return _number_list(text, positive_int)


__all__ += ["non_negative_float_list", "positive_float_list", "positive_int_list"]

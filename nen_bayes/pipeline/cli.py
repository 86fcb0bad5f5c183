"""Shared command-line plumbing: column options, schema building, error handling.

Scripts in ``scripts/`` are thin: they parse arguments with the helpers here and call the
package. Any :class:`~nen_bayes.errors.CohortError` (or an existing output without ``--force``)
ends the script with exit code 2, a one-paragraph message on stderr and nothing written.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace

from nen_bayes.cohorts.schema import EVENT_CODINGS, CohortSchema, Factor
from nen_bayes.cohorts.validate import MISSING_POLICIES, ZERO_TIME_POLICIES
from nen_bayes.errors import (
    CalibrationError,
    CohortError,
    OutputExistsError,
    ResultError,
    SpecError,
)
from nen_bayes.re_nen.contract import LINE_CONTRAST, RE_NEN
from nen_bayes.settings import DEFAULT_HORIZONS, SAMPLERS, Contrast, Decision, Sampling

__all__ = ["add_cohort_options", "add_contrast_options", "add_sampling_options",
           "check_sampling_options", "contrast_extras", "contrast_settings", "extend_schema",
           "load_options", "main_guard", "one_endpoint_schema", "sampling_settings",
           "schema_from_args", "script_parser"]

EXIT_BAD_INPUT = 2


def script_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A script's parser: the first paragraph of its docstring as description, the rest
    (examples, outputs, exit codes) as the ``--help`` epilog."""
    head, _, rest = doc.partition("\n\n")
    return argparse.ArgumentParser(prog=prog, description=head, epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_cohort_options(parser: argparse.ArgumentParser) -> None:
    """The options every script that reads a cohort shares."""
    g = parser.add_argument_group(
        "cohort columns",
        "Default: the RE/NEN contract (patient_id, centre, os/hpfs/pfs months+event, line, "
        "grade, tumour_burden, extrahepatic, vascularisation, recist_3m/12m). For another "
        "cohort, name its columns with --endpoint or --time/--event (and --centre, --id, "
        "--factor, --numeric); then only the named columns are required.",
    )
    g.add_argument("--data", required=True, metavar="FILE",
                   help="cohort file: .csv (comma/semicolon/tab; decimal comma accepted with "
                        "semicolons), .xlsx or .parquet")
    g.add_argument("--sep", choices=[",", ";", "\\t"], help="CSV delimiter (default: detected)")
    g.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    g.add_argument("--endpoint", action="append", default=[], metavar="NAME=TIME:EVENT",
                   help="a right-censored endpoint and its columns, e.g. os=time:status "
                        "(repeatable); for the RE/NEN contract, a contract endpoint name "
                        "(os, hpfs, pfs) restricts the analysis to it")
    g.add_argument("--time", help="time column of a single endpoint (with --event)")
    g.add_argument("--event", help="event column of a single endpoint (with --time)")
    g.add_argument("--centre", metavar="COL", help="centre column (default: 'centre')")
    g.add_argument("--no-centre", action="store_true", help="single-centre cohort")
    g.add_argument("--id", metavar="COL", help="unit id column (default: 'patient_id')")
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
    g.add_argument("--time-unit", help="unit of the time columns (default: months)")
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


def schema_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser
                     ) -> tuple[CohortSchema, bool]:
    """Build the schema the options describe. Returns ``(schema, lenient)``.

    ``lenient`` is True when no part was named explicitly: the RE/NEN contract's optional parts
    are then used where their columns exist.
    """
    if bool(args.time) != bool(args.event):
        parser.error("--time and --event go together")
    custom_eps = {}
    contract_eps = []
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
    levels = _parse_assignments(args.levels, "--levels", parser)

    if custom_eps:
        if contract_eps:
            parser.error("mix of contract endpoints and NAME=TIME:EVENT endpoints")
        factors = [Factor(f, tuple(levels[f].split(",")) if f in levels else None)
                   for f in args.factor]
        unknown = set(levels) - set(args.factor)
        if unknown:
            parser.error(f"--levels for columns not named with --factor: {sorted(unknown)}")
        schema = CohortSchema.custom(
            custom_eps,
            id_column=None if args.row_ids else args.id,
            centre_column=None if args.no_centre else args.centre,
            factors=factors, numerics=args.numeric, event_coding=args.event_coding,
            time_unit=args.time_unit or "time units",
        )
        return schema, False

    schema = RE_NEN
    named = bool(contract_eps or args.factor or args.numeric)
    try:
        if named:
            known_factors = {f.name for f in RE_NEN.factors}
            factors = [f for f in args.factor if f in known_factors]
            extra = [f for f in args.factor if f not in known_factors]
            schema = schema.select(endpoints=contract_eps or None, factors=factors or None,
                                   responses=[] if (contract_eps or factors) else None)
            if extra or args.numeric:
                schema = replace(schema, factors=schema.factors + tuple(Factor(f) for f in extra),
                                 numerics=tuple(args.numeric))
        for name, lv in levels.items():
            schema = schema.with_levels(name, lv.split(","))
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    schema = replace(
        schema,
        id_column=None if args.row_ids else (args.id or schema.id_column),
        centre_column=None if args.no_centre else (args.centre or schema.centre_column),
        event_coding=args.event_coding,
        time_unit=args.time_unit or schema.time_unit,
    )
    return schema, not named


def extend_schema(schema: CohortSchema, specs) -> CohortSchema:
    """Add the covariate and grouping columns of model specifications that the schema does not
    declare yet (so that a user's cohort is validated for what the models need)."""
    have = {f.name for f in schema.factors} | set(schema.numerics)
    factors, numerics = list(schema.factors), list(schema.numerics)
    for spec in specs:
        for c in spec.covariates:
            if c.column in have:
                continue
            if c.type == "numeric":
                numerics.append(c.column)
            else:
                factors.append(Factor(c.column, ordered=c.type == "ordered"))
            have.add(c.column)
        for col in (g.column for g in spec.groups):
            if col and col not in have and col not in (schema.centre_column, schema.id_column):
                factors.append(Factor(col))
                have.add(col)
    return replace(schema, factors=tuple(factors), numerics=tuple(numerics))


def add_contrast_options(parser, *, curves: bool = True) -> None:
    """Options of the contrast and the decision thresholds (line_effects.py, reanalyse.py,
    sensitivity.py). Defaults: the case study's line contrast and :class:`Decision`'s thresholds.
    ``curves``: also the options of the standardised curves (RMST horizons, draws)."""
    d = Decision()
    g = parser.add_argument_group("contrast and thresholds")
    g.add_argument("--term", default=LINE_CONTRAST.term,
                   help=f"categorical covariate (default {LINE_CONTRAST.term})")
    g.add_argument("--level", default=None,
                   help=f"level whose effect is reported (default {LINE_CONTRAST.level} for "
                        f"{LINE_CONTRAST.term}, else the model's first non-reference level)")
    g.add_argument("--versus", default=None,
                   help=f"comparator level (default {LINE_CONTRAST.versus} for "
                        f"{LINE_CONTRAST.term}, else the model's reference)")
    g.add_argument("--benefit", type=float, default=d.benefit,
                   help=f"clinically important benefit: P(HR < this) ({d.benefit:g})")
    g.add_argument("--harm", type=float, default=d.harm,
                   help=f"harm: P(HR > this) ({d.harm:g})")
    g.add_argument("--rope", default=f"{d.rope[0]:g},{d.rope[1]:.2f}",
                   help=f"region of practical equivalence LOW,HIGH ({d.rope[0]:g},{d.rope[1]:.2f})")
    if not curves:
        return
    g.add_argument("--horizon", action="append", type=float, default=None, metavar="T",
                   help="RMST horizon (repeatable; default "
                        f"{' and '.join(f'{h:g}' for h in DEFAULT_HORIZONS)})")
    g.add_argument("--max-draws", type=int, default=1000,
                   help="posterior draws used for the curves, medians and RMSTs (1000)")


def contrast_settings(args, parser) -> tuple[Contrast, Decision]:
    """The :class:`Contrast` and :class:`Decision` given by the contrast options."""
    try:
        lo, hi = (float(x) for x in args.rope.split(","))
    except ValueError:
        parser.error(f"--rope {args.rope!r}: expected LOW,HIGH, e.g. 0.91,1.10")
    level, versus = args.level, args.versus
    if args.term == LINE_CONTRAST.term:
        level = level or LINE_CONTRAST.level
        versus = versus or LINE_CONTRAST.versus
    try:
        return (Contrast(args.term, level, versus),
                Decision(benefit=args.benefit, harm=args.harm, rope=(lo, hi)))
    except ValueError as exc:
        parser.error(str(exc))


def contrast_extras(args) -> dict:
    """RMST horizons and the number of draws for the standardised curves."""
    return {"horizons": tuple(args.horizon or DEFAULT_HORIZONS), "max_draws": args.max_draws}


def add_sampling_options(group, *, target_accept: float | None = None,
                         sampler: bool = True) -> None:
    """Sampling options shared by fit.py, reanalyse.py and sensitivity.py (defaults:
    :class:`~nen_bayes.settings.Sampling`)."""
    s = Sampling()
    target_accept = s.target_accept if target_accept is None else target_accept
    group.add_argument("--draws", type=int, default=s.draws,
                       help=f"draws per chain after tuning ({s.draws})")
    group.add_argument("--tune", type=int, default=s.tune,
                       help=f"tuning steps per chain ({s.tune})")
    group.add_argument("--chains", type=int, default=s.chains, help=f"chains ({s.chains})")
    group.add_argument("--cores", type=int,
                       help="parallel chains (default: min(chains, CPUs))")
    group.add_argument("--seed", type=int, default=s.seed, help=f"random seed ({s.seed})")
    if sampler:
        group.add_argument("--sampler", choices=list(SAMPLERS), default=s.sampler,
                           help=f"NUTS implementation (default {s.sampler})")
    group.add_argument("--target-accept", type=float, default=target_accept,
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


def one_endpoint_schema(schema: CohortSchema, spec, parser) -> CohortSchema:
    """The schema restricted to one endpoint: the one named, else the model's own endpoint."""
    endpoints = [e.name for e in schema.endpoints]
    if len(endpoints) > 1:
        if spec.endpoint not in endpoints:
            parser.error(f"one endpoint at a time: give --endpoint (one of {endpoints})")
        schema = schema.select(endpoints=[spec.endpoint], responses=[])
    return schema


def load_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`~nen_bayes.cohorts.cohort.load_cohort` from the cohort
    options."""
    return {
        "missing": args.missing,
        "zero_time": args.zero_time,
        "sep": "\t" if args.sep == "\\t" else args.sep,
        "sheet": args.sheet,
    }


def main_guard(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Run a script's ``main``: bad input -> message on stderr and exit code 2."""

    def run(argv: list[str] | None = None) -> int:
        def show(message, category, filename, lineno, file=None, line=None):
            print(f"warning: {message}", file=sys.stderr)

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            try:
                return main(argv)
            except (CohortError, CalibrationError, OutputExistsError, SpecError,
                    ResultError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_BAD_INPUT

    return run

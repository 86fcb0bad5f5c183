#!/usr/bin/env python3
"""The whole Bayesian reanalysis of a cohort: describe, baselines, the model set, diagnostics,
comparison and treatment-line effects, with a self-contained HTML report.

For every endpoint of the cohort (or those named with --endpoint) it runs the frequentist
baselines (Kaplan-Meier, log-rank, Cox), fits every model of --model (default: the main model
set in models/, the first one the headline model), checks each fit (run card), compares them
(PSIS-LOO, stacking weights, every covariate effect next to the Cox model with the same
covariates) and reports the treatment-line effect: HR with 95% CrI, P(HR < 1),
P(HR < --benefit), P(HR > --harm), P(ROPE), standardised survival curves by line, median and
RMST differences, centre effects and a new centre; it refits the headline model under every
prior of the grid (--priors), reports power-scaling sensitivity in the run cards and, for the
case study's cohort contract (the default columns), reanalyses the study's published line
comparison (OS, P = 0.078) from its numbers alone.

Writes --out DIR (default results; created whole or not at all, an existing DIR needs --force):
  report.html   self-contained report (tables, figures, provenance); open it in a browser
  summary.txt   for each endpoint the frequentist answer next to the Bayesian one, the
                diagnostics status and the preferred model (also printed)
  run.json      settings, data hash, package versions, seed, timings
  describe.txt, baseline/, fits/<endpoint>/<model>/ (fit.nc, run_card.json, ...),
  compare/<endpoint>/, line_effects/, sensitivity/<endpoint>/, summary_level/

Examples
--------
  nen-bayes reanalyse --data bundled --out results --force
  nen-bayes reanalyse --data my_cohort.xlsx --endpoint os --out results/mine
  nen-bayes reanalyse --data my_cohort.csv --model weibull_ph_centre \\
      --model weibull_ph_pooled --draws 2000 --benefit 0.75 --out results/mine
  nen-bayes reanalyse --data my_cohort.csv --time futime --event death --time-unit days \\
      --centre site --formula "futime ~ treatment + age + sex + (1 | site)" --term treatment \\
      --level B --versus A --no-prior-grid --out results/mine

--model takes a shipped model by name or a model file. --formula (see nen-bayes fit --help and
models/README.md) fits the model of a formula: alone it is the only model; with --model it is
the headline model, followed by the files of --model (the default model set is then not
added). Its left-hand side names the endpoint analysed (unless --endpoint names others), and
its baseline prior is placed from that endpoint's follow-up.

On 2 cores the bundled cohort (3 endpoints x 5 models) takes about 4 minutes.

Everything is written and the command ends with exit code 0 whatever the diagnostics say:
summary.txt and the report say which fits missed their checks (and, without
--accept-unconverged, withhold the answer of a headline fit that did). Bad input (exit code 2)
includes a cohort, model file or contrast that cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nen_bayes.bayes.families import DEFAULT_FAMILY
from nen_bayes.bayes.spec import FAMILIES, load_spec
from nen_bayes.cohorts.read import read_table
from nen_bayes.data import MODELS_DIR, PRIOR_GRID_DIR
from nen_bayes.errors import EXIT_BAD_INPUT, EXIT_NOT_STARTED, EXIT_OK
from nen_bayes.files import check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_contrast_options,
    add_grid_method_option,
    add_sampling_options,
    add_verbosity_options,
    check_sampling_options,
    contrast_extras,
    contrast_settings,
    figure_formats,
    load_checked,
    load_options,
    main_guard,
    open_unit,
    sampling_settings,
    schema_for,
    script_parser,
)
from nen_bayes.pipeline.settings import DEFAULT_MODELS, MAIN_JOB_SAMPLING, ReanalysisSettings
from nen_bayes.re_nen import RE_NEN


def _formula_models(args, parser) -> tuple:
    """The models of --formula, one per --family (the default family when none is given),
    matched to the columns the cohort options and the file give."""
    from nen_bayes.bayes.formula import formula_model, parse_formula

    formula = parse_formula(args.formula)
    options_schema, _ = schema_for(args, parser, extras=True)
    opts = load_options(args)
    raw = read_table(args.data, sep=opts["sep"], sheet=opts["sheet"])
    chosen = list(dict.fromkeys(args.family or [DEFAULT_FAMILY]))
    return tuple(formula_model(formula, options_schema, family=f, data=raw) for f in chosen)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes reanalyse``."""
    parser = script_parser("reanalyse.py", __doc__,
                           exit_codes=(EXIT_OK, EXIT_NOT_STARTED, EXIT_BAD_INPUT))
    add_cohort_options(parser)
    m = parser.add_argument_group("models and sampling")
    m.add_argument("--model", action="append", default=[], metavar="SPEC",
                   help="model specification (repeatable; the first is the headline model). "
                        f"Default: the shipped models {', '.join(DEFAULT_MODELS)}")
    m.add_argument("--formula", metavar="FORMULA",
                   help="a model formula, e.g. \"os ~ line + grade + age + (1 | centre)\": the "
                        "headline model, before any --model (alone: the only model)")
    m.add_argument("--family", choices=FAMILIES, action="append", default=None,
                   help="with --formula: the family (default weibull); repeatable, to fit the "
                        "formula with each family (the first is the headline model)")
    m.add_argument("--out", default="results", metavar="DIR",
                   help="results directory (default results)")
    m.add_argument("--force", action="store_true", help="replace an existing --out directory")
    add_sampling_options(m, target_accept=MAIN_JOB_SAMPLING.target_accept)
    m.add_argument("--conf-level", type=open_unit, default=0.95, help="interval level (0.95)")
    m.add_argument("--formats", type=figure_formats, default="png",
                   help="figure file formats (default png)")
    m.add_argument("--priors", default=str(PRIOR_GRID_DIR), metavar="DIR",
                   help="prior grid on the contrast's log-HR (default models/priors/line)")
    m.add_argument("--no-prior-grid", action="store_true", help="skip the prior grid")
    add_grid_method_option(m)
    m.add_argument("--cv", choices=["centre"],
                   help="also run leave-one-centre-out cross-validation of the model set "
                        "(one refit per centre and model; off by default)")
    m.add_argument("--accept-unconverged", action="store_true",
                   help="report the headline model's answer even if its fit missed the "
                        "convergence checks (R-hat, ESS, divergences, E-BFMI), flagged NOT "
                        "CONVERGED; by default such an answer is withheld")
    m.add_argument("--no-study-summary", action="store_true",
                   help="skip the summary-level reanalysis of the published P = 0.078")
    add_contrast_options(parser)
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    contrast, decision = contrast_settings(args, parser)
    if args.family and not args.formula:
        parser.error("--family goes with --formula")
    from nen_bayes.pipeline.reanalysis import reanalyse
    from nen_bayes.re_nen.published import published_line_comparison
    from nen_bayes.sensitivity.grid import load_prior_grid

    default = [] if args.formula else [MODELS_DIR / f"{n}.toml" for n in DEFAULT_MODELS]
    files = tuple(load_spec(p) for p in args.model or default)
    models = _formula_models(args, parser) if args.formula else ()
    priors = () if args.no_prior_grid else tuple(load_prior_grid(args.priors))
    names = [s.name for s in models + files]
    if len(set(names)) != len(names):
        parser.error(f"--model names the same model twice: {names}")
    # with --formula and no endpoint named, the formula's endpoint only
    schema, lenient = schema_for(args, parser, models + files,
                                 one_endpoint=bool(models and not (args.endpoint or args.time)),
                                 extras=True)
    # the study's published comparison belongs to the study's own cohort contract
    published = None if args.no_study_summary or schema.name != RE_NEN.name else \
        published_line_comparison()
    extras = contrast_extras(args)  # default horizons: each endpoint's own follow-up
    check_output_directory(args.out, force=args.force)
    cohort = load_checked(args, schema, lenient, models + files,
                          default_models=() if args.model or args.formula else DEFAULT_MODELS)
    specs = tuple(m.spec(cohort) for m in models) + files
    settings = ReanalysisSettings(
        specs=specs, contrast=contrast, decision=decision, sampling=sampling_settings(args),
        horizons=extras["horizons"], max_draws=extras["max_draws"],
        conf_level=args.conf_level,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        priors=priors, published=published, centre_cv=args.cv == "centre",
        grid_method=args.grid_method, accept_unconverged=args.accept_unconverged)
    with output_directory(args.out, force=args.force) as out:
        result = reanalyse(cohort, out, settings,
                           say=(lambda _: None) if args.quiet else print)
    print()
    sys.stdout.write(result.summary)
    print(f"written: {args.out}/ (open {Path(args.out) / 'report.html'} in a browser)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

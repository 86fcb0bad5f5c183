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
  scripts/reanalyse.py --data nen_bayes/data/synthetic_cohort.csv --out results --force
  scripts/reanalyse.py --data my_cohort.xlsx --endpoint os --out results/mine
  scripts/reanalyse.py --data my_cohort.csv --model models/weibull_ph_centre \\
      --model models/weibull_ph_pooled --draws 2000 --benefit 0.75 --out results/mine

On 2 cores the bundled cohort (3 endpoints x 5 models) takes about 4 minutes.

Exit codes: 0 done (whatever the diagnostics say: see summary.txt), 2 bad input (cohort, model
file, contrast) or an existing --out without --force (nothing is written).
"""

from __future__ import annotations

import sys
from pathlib import Path

from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.files import check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_contrast_options,
    add_sampling_options,
    check_sampling_options,
    contrast_extras,
    contrast_settings,
    extend_schema,
    load_options,
    main_guard,
    sampling_settings,
    schema_from_args,
    script_parser,
)
from nen_bayes.pipeline.reanalysis import reanalyse
from nen_bayes.pipeline.settings import DEFAULT_MODELS, MAIN_JOB_SAMPLING, ReanalysisSettings
from nen_bayes.re_nen import RE_NEN
from nen_bayes.re_nen.published import published_line_comparison
from nen_bayes.sensitivity.grid import load_prior_grid

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = script_parser("reanalyse.py", __doc__)
    add_cohort_options(parser)
    m = parser.add_argument_group("models and sampling")
    m.add_argument("--model", action="append", default=[], metavar="SPEC",
                   help="model specification (repeatable; the first is the headline model). "
                        f"Default: {', '.join(DEFAULT_MODELS)} from models/")
    m.add_argument("--out", default="results", metavar="DIR",
                   help="results directory (default results)")
    m.add_argument("--force", action="store_true", help="replace an existing --out directory")
    add_sampling_options(m, target_accept=MAIN_JOB_SAMPLING.target_accept)
    m.add_argument("--conf-level", type=float, default=0.95, help="interval level (0.95)")
    m.add_argument("--formats", default="png", help="figure file formats (default png)")
    m.add_argument("--priors", default=str(MODELS_DIR / "priors" / "line"), metavar="DIR",
                   help="prior grid on the contrast's log-HR (default models/priors/line)")
    m.add_argument("--no-prior-grid", action="store_true", help="skip the prior-grid refits")
    m.add_argument("--no-study-summary", action="store_true",
                   help="skip the summary-level reanalysis of the published P = 0.078")
    add_contrast_options(parser)
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    contrast, decision = contrast_settings(args, parser)
    extras = contrast_extras(args)
    paths = args.model or [MODELS_DIR / f"{n}.toml" for n in DEFAULT_MODELS]
    specs = tuple(load_spec(p) for p in paths)
    priors = () if args.no_prior_grid else tuple(load_prior_grid(args.priors))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        parser.error(f"--model names the same model twice: {names}")
    schema, lenient = schema_from_args(args, parser)
    # the study's published comparison belongs to the study's own cohort contract
    published = None if args.no_study_summary or schema.name != RE_NEN.name else \
        published_line_comparison()
    schema = extend_schema(schema, specs)
    check_output_directory(args.out, force=args.force)
    cohort = load_cohort(args.data, schema, lenient=lenient, **load_options(args))
    settings = ReanalysisSettings(
        specs=specs, contrast=contrast, decision=decision, sampling=sampling_settings(args),
        horizons=extras["horizons"], max_draws=extras["max_draws"],
        conf_level=args.conf_level,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        priors=priors, published=published)
    with output_directory(args.out, force=args.force) as out:
        result = reanalyse(cohort, out, settings)
    print()
    sys.stdout.write(result.summary)
    print(f"written: {args.out}/ (open {Path(args.out) / 'report.html'} in a browser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

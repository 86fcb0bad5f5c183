#!/usr/bin/env python3
"""Leave-one-centre-out cross-validation: how well each model predicts a centre it has not seen.

For each centre, every model (--model, repeatable) is refitted on the other centres (one
compiled model per model file; the held-out centre's units get likelihood weight 0) and the
held-out centre is scored by the joint log predictive density of its units, its centre
intercept integrated over N(0, sd_centre) as a new centre's. The sum over centres is
elpd_lococv, with an SE over centres; a model is preferred only when its elpd_lococv exceeds
every other's by more than 2 SE of the per-centre differences (the rule nen-bayes compare applies to
PSIS-LOO). Models with centre-varying coefficients or nested levels are refused.

Writes to --out DIR (created whole or not at all; an existing DIR needs --force):
  cv.csv          one row per model, best first: elpd_lococv, its SE over centres, the
                  difference to the best model and its SE, the Monte Carlo SE
  cv_centres.csv  one row per centre: units, events, each model's elpd and each model's
                  difference to the best one
  refits.csv      one row per model and centre: elpd, Monte Carlo SE, R-hat, bulk ESS and
                  divergences of the refit without that centre
  run.json        settings, provenance (with the libraries' versions) and timings
  crossval.txt    the printed summary

Examples
--------
  nen-bayes crossval --data bundled --endpoint os --model weibull_ph_centre \\
      --model weibull_ph_pooled --model exponential_ph_centre --out results/cv_os

Bad input (exit code 2) includes a cohort or model file that cannot be used, no centre column,
fewer than 3 centres and a model whose new centre is more than one intercept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.errors import EXIT_BAD_INPUT, EXIT_NOT_STARTED, EXIT_OK
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_sampling_options,
    add_verbosity_options,
    check_sampling_options,
    load_options,
    main_guard,
    sampling_settings,
    schema_for,
    script_parser,
)
from nen_bayes.provenance import SYNTHETIC_NOTICE


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes crossval``."""
    parser = script_parser("crossval.py", __doc__,
                           exit_codes=(EXIT_OK, EXIT_NOT_STARTED, EXIT_BAD_INPUT))
    add_cohort_options(parser)
    m = parser.add_argument_group("models and sampling")
    m.add_argument("--model", action="append", required=True, metavar="SPEC",
                   help="shipped model name or model file (repeatable)")
    m.add_argument("--out", required=True, metavar="DIR", help="results directory")
    m.add_argument("--force", action="store_true", help="replace an existing --out")
    add_sampling_options(m, sampler=False)
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    check_output_directory(args.out, force=args.force)
    specs = [load_spec(p) for p in args.model]
    names = [s.name for s in specs]
    if len(set(names)) < len(names):
        parser.error(f"--model: two files define the same model name ({names})")
    schema, lenient = schema_for(args, parser, specs, one_endpoint=True)
    cohort = load_cohort(args.data, schema, lenient=lenient, **load_options(args))
    from nen_bayes.bayes.inference import versions
    from nen_bayes.posterior.crossval import centre_cv, compare_cv

    if cohort.synthetic:
        print(SYNTHETIC_NOTICE)
    endpoint = schema.endpoints[0].name
    results = {}
    t0 = time.perf_counter()
    for spec in specs:
        say = None if args.quiet else (lambda msg, n=spec.name: print(f"{n}: {msg}",
                                                                      flush=True))
        results[spec.name] = centre_cv(spec, cohort, endpoint=endpoint,
                                       sampling=sampling_settings(args), progress=say)
    seconds = time.perf_counter() - t0
    cmp = compare_cv(results)
    text = cmp.to_text() + f"{len(specs)} model(s) x {len(cmp.centres)} refits in " \
                           f"{seconds:.0f} s\n"
    refits = pd.concat([r.table.assign(model=n) for n, r in results.items()],
                       ignore_index=True)
    run = {"command": "crossval.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "endpoint": endpoint, "fold_column": cmp.column, **cohort.provenance(),
           "models": {s.name: {"spec_source": s.source, "spec_hash": s.hash,
                               **results[s.name].timings} for s in specs},
           "draws": args.draws, "tune": args.tune, "chains": args.chains, "seed": args.seed,
           "target_accept": args.target_accept, "sampler": "nutpie",
           "wall_seconds": round(seconds, 2), "versions": versions()}
    with output_directory(args.out, force=args.force) as out:
        atomic_write_text(out / "cv.csv", cmp.table.to_csv(index=False))
        atomic_write_text(out / "cv_centres.csv", cmp.centres.to_csv(index=False))
        atomic_write_text(out / "refits.csv", refits.to_csv(index=False))
        atomic_write_text(out / "run.json", json.dumps(run, indent=1, default=str) + "\n")
        atomic_write_text(out / "crossval.txt", text)
    print(text.removeprefix(SYNTHETIC_NOTICE + "\n"), end="")
    print(f"written: {args.out}/")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Prior sensitivity: a model's posterior under every prior of a grid on the treatment-line log-HR.

The grid (default models/priors/line/: neutral, optimistic and pessimistic x weak, moderate and
strong; see nen-bayes prior-grid) is applied to the log HR of --level vs --versus of --term; every
other prior stays as the model file says. The first row is the model file's own prior, sampled
(nutpie). By default (--grid-method reweight) every other prior reweights those draws by the
ratio of the two priors (Pareto-smoothed importance sampling) and is refitted only when its
weights fail their checks (Pareto k, effective draws); --grid-method refit samples each prior.
Refits reuse one compiled model, with the prior's mean and SD as data.

Writes to --out DIR: grid.csv (per prior: the prior's median HR and 95% interval, the
posterior median HR, 95% CrI, P(HR < 1), P(HR < --benefit), P(HR > --harm), P(ROPE), each
posterior's max R-hat, min bulk ESS, divergences and its run-card checks: "pass" or "FAIL: ...",
and its method: refit or reweighted, with the weights' Pareto k and effective draws),
prior_grid.png/.svg (prior against posterior per prior), sensitivity.txt and run.json. Every
posterior is held to nen-bayes diagnose's default thresholds; failures are printed with their
reasons (those posteriors are then not reliable: raise --draws/--tune).

Examples
--------
  nen-bayes sensitivity --data bundled --endpoint os --out results/sens
  nen-bayes sensitivity --data bundled --endpoint pfs --model weibull_ph_pooled \\
      --priors my_priors --benefit 0.75 --out results/sens_pfs

Bad input (exit code 2) includes a cohort, model, prior files or contrast that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from nen_bayes.data import MODELS_DIR, PRIOR_GRID_DIR
from nen_bayes.errors import EXIT_BAD_INPUT, EXIT_NOT_STARTED, EXIT_OK
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_contrast_options,
    add_grid_method_option,
    add_sampling_options,
    add_verbosity_options,
    check_sampling_options,
    contrast_settings,
    figure_formats,
    load_checked,
    main_guard,
    sampling_settings,
    schema_for,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes sensitivity``."""
    parser = script_parser("sensitivity.py", __doc__,
                           exit_codes=(EXIT_OK, EXIT_NOT_STARTED, EXIT_BAD_INPUT))
    add_cohort_options(parser)
    m = parser.add_argument_group("model and priors")
    m.add_argument("--model", default=str(MODELS_DIR / "weibull_ph_centre.toml"),
                   metavar="SPEC", help="shipped model name or model file (default: the "
                                        "headline model, weibull_ph_centre)")
    m.add_argument("--priors", default=str(PRIOR_GRID_DIR), metavar="DIR",
                   help="directory of prior files (default models/priors/line)")
    m.add_argument("--out", required=True, metavar="DIR", help="results directory")
    m.add_argument("--force", action="store_true", help="replace an existing --out")
    add_sampling_options(m, sampler=False)
    add_grid_method_option(m)
    m.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    add_contrast_options(parser, curves=False)
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    contrast, decision = contrast_settings(args, parser)
    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.sensitivity.grid import load_prior_grid

    spec = load_spec(args.model)
    priors = load_prior_grid(args.priors)
    schema, lenient = schema_for(args, parser, [spec], one_endpoint=True)
    check_output_directory(args.out, force=args.force)
    cohort = load_checked(args, schema, lenient, [spec])
    from nen_bayes.plotting import plot_prior_grid, save_figure
    from nen_bayes.provenance import SYNTHETIC_NOTICE
    from nen_bayes.sensitivity.refits import prior_grid_fit

    if cohort.synthetic:
        print(SYNTHETIC_NOTICE)
    res = prior_grid_fit(spec, cohort, priors, contrast, sampling=sampling_settings(args),
                         decision=decision, method=args.grid_method,
                         progress=None if args.quiet else lambda s: print(f"  {s}", flush=True))
    text = res.to_text()
    if cohort.synthetic:
        text = f"{SYNTHETIC_NOTICE}\n{text}{SYNTHETIC_NOTICE}\n"
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with output_directory(args.out, force=args.force) as out:
        atomic_write_text(out / "grid.csv", res.table.to_csv(index=False))
        save_figure(plot_prior_grid(res, title=f"{res.endpoint}: prior sensitivity of the HR "
                                               f"{res.contrast} ({res.model})",
                                    synthetic=cohort.synthetic), out / "prior_grid", formats)
        atomic_write_text(out / "sensitivity.txt", text)
        atomic_write_text(out / "run.json", json.dumps({
            **res.provenance, "model": res.model, "spec_hash": spec.hash,
            "endpoint": res.endpoint, "contrast": res.contrast, "priors": args.priors,
            "timings_s": res.timings, **asdict(contrast), **asdict(decision)},
            indent=1, default=str) + "\n")
    print(text.removeprefix(SYNTHETIC_NOTICE + "\n"), end="")
    print(f"written: {args.out}/")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

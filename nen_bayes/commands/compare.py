#!/usr/bin/env python3
"""Compare fits of one endpoint: PSIS-LOO, stacking weights, and Bayesian vs Cox effects.

Reads two or more RUN_DIRs written by nen-bayes fit (or reanalyse) and writes to --out DIR:
  loo.csv            PSIS-LOO ELPD of each fit with its SE, the effective number of parameters,
                     the difference to the best fit and its SE, the stacking weight, and the
                     units with a high Pareto k (with a warning when there are any)
  effects.csv/.json  the shared effects table: Cox hazard ratios (same covariates as the
                     models; plain and stratified by centre) and each model's posterior HRs and
                     P(HR < 1)
  side_by_side.csv   one row per covariate contrast: Cox HR (95% CI, p) next to each model's
                     HR (95% CrI) and P(HR < 1)
  elpd.png/.svg      the comparison as a figure
  averaged.csv       model averaging with the weights: each fit's and the weighted mixture's
                     cohort-standardised survival, median and RMST at the horizons (also rows of
                     effects.csv, method "model-averaged (stacking)")
  extrapolation.png/.svg  every fit's cohort survival beyond the longest follow-up over the
                     Kaplan-Meier curve, with the model-averaged curve and its band
  compare.txt        the printed summary

Fits to different data (content hash), different endpoints or different numbers of units are
refused: their ELPDs are not comparable. Model names are the fits' model names (or the RUN_DIR
names when two fits share a model).

Examples
--------
  nen-bayes fit --data bundled --model weibull_ph_centre --endpoint os --out results/os_centre
  nen-bayes fit --data bundled --model weibull_ph_pooled --endpoint os --out results/os_pooled
  nen-bayes compare results/os_centre results/os_pooled --out results/compare_os
  nen-bayes compare results/reanalysis/fits/os/* --out results/cmp --weights BB-pseudo-BMA

Bad input (exit code 2) includes a RUN_DIR with no fit and fits that are not comparable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    figure_formats,
    main_guard,
    open_unit,
    positive_float,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes compare``."""
    parser = script_parser("compare.py", __doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="results of nen-bayes fit")
    parser.add_argument("--out", required=True, metavar="DIR", help="results directory")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--weights", choices=["stacking", "BB-pseudo-BMA", "pseudo-BMA"],
                        default="stacking", help="model weights (default stacking)")
    parser.add_argument("--conf-level", type=open_unit, default=0.95, help="interval level (0.95)")
    parser.add_argument("--formats", type=figure_formats, default="png,svg",
                        help="figure formats (default png,svg)")
    parser.add_argument("--horizon", type=positive_float, action="append", metavar="T",
                        help="a time of the averaged survival and RMST rows (repeatable; "
                             "default: the longest follow-up and twice it)")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error(f"a comparison needs at least two RUN_DIRs; got one ({args.runs[0]})")
    check_output_directory(args.out, force=args.force)
    import pandas as pd

    from nen_bayes.bayes.inference import read_run
    from nen_bayes.bayes.predict import outcomes_of
    from nen_bayes.effects import write_effects
    from nen_bayes.frequentist.km import kaplan_meier
    from nen_bayes.plotting import plot_elpd, plot_extrapolation, save_figure
    from nen_bayes.posterior.averaging import model_average
    from nen_bayes.posterior.compare import compare_report

    trees = {}
    for r in args.runs:
        tree = read_run(r)
        name = tree.attrs["model"]
        if name in trees:
            name = Path(r).name if Path(r).is_dir() else Path(r).parent.name
        trees[name] = tree
    rep = compare_report(trees, method=args.weights, conf_level=args.conf_level)
    weights = rep.loo.set_index("model")["weight"].to_dict()
    avg = model_average(trees, {m: weights[m] / sum(weights.values()) for m in trees},
                        horizons=args.horizon, conf_level=args.conf_level, method=args.weights)
    text = rep.to_text() + "\n" + avg.to_text()
    first = next(iter(trees.values()))
    seen = outcomes_of(first)
    observed = kaplan_meier(seen.detection_time, seen.event, label="observed")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with output_directory(args.out, force=args.force) as out:
        atomic_write_text(out / "loo.csv", rep.loo.to_csv(index=False))
        atomic_write_text(out / "side_by_side.csv", rep.wide.to_csv(index=False))
        atomic_write_text(out / "averaged.csv", avg.quantities.to_csv(index=False))
        write_effects(pd.concat([rep.effects, avg.effects], ignore_index=True),
                      out / "effects", metadata=rep.metadata)
        save_figure(plot_elpd(rep.loo, title=f"Model comparison (PSIS-LOO), {rep.endpoint}",
                              synthetic=rep.synthetic), out / "elpd", formats)
        save_figure(plot_extrapolation(avg, observed=observed, synthetic=rep.synthetic),
                    out / "extrapolation", formats)
        atomic_write_text(out / "compare.txt", text)
    sys.stdout.write(text)
    print(f"written: {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check fits: convergence, sampler health, PSIS-LOO reliability; write a run card and figures.

For each RUN_DIR (a directory written by nen-bayes fit, or its fit.nc) it writes, beside the fit:
  run_card.json           each check: its threshold, its value, pass/fail (and the worst
                          parameter or unit), with the run's model, endpoint and data hash
  diagnostics/            diagnostics.txt (the printed card) and figures: rank.png (rank plots),
                          energy.png, pair_sd_<group>.png (between-group SD against the group
                          effects, divergences in red), prior_posterior.png, ppc_km.png and
                          ppc_km_<term>.png (observed Kaplan-Meier curve over the 95% band of the
                          Kaplan-Meier curves of posterior predictive replicates censored as the
                          units were, overall and by --by)

Checks and default thresholds: R-hat <= 1.01; bulk and tail ESS >= 100 per chain;
MCSE/SD <= 0.1; 0 divergences; <= 1% of transitions at the maximum tree depth; E-BFMI >= 0.3
in every chain; no unit with Pareto k above min(1 - 1/log10(S), 0.7).

Examples
--------
  nen-bayes fit --data bundled --model weibull_ph_centre --endpoint os --out results/fit_os
  nen-bayes diagnose results/fit_os
  nen-bayes diagnose results/fit_os results/pw_os --by line --rhat 1.005 --force
  nen-bayes diagnose results/fit_os --no-figures

Every run card is written; when a check of a run fails, the reasons are printed and the
command ends with exit code 3 (whatever the check: convergence, sampler health or PSIS-LOO).
Bad input (exit code 2) includes a RUN_DIR with no fit, an unknown --by term and an existing
run card without --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nen_bayes.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECKS_FAILED,
    EXIT_OK,
    OutputExistsError,
    ResultError,
)
from nen_bayes.files import atomic_write_text, output_directory
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    figure_formats,
    main_guard,
    non_negative_float,
    non_negative_int,
    positive_float,
    script_parser,
)
from nen_bayes.re_nen.contract import LINE_CONTRAST


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes diagnose``."""
    parser = script_parser("diagnose.py", __doc__,
                           exit_codes=(EXIT_OK, EXIT_BAD_INPUT, EXIT_CHECKS_FAILED))
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="results of nen-bayes fit")
    parser.add_argument("--by", metavar="TERM", default=None,
                        help="categorical covariate for the posterior predictive KM by group "
                             "(default: line when the model has it)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing run_card.json and diagnostics/")
    parser.add_argument("--no-figures", action="store_true", help="run card only")
    parser.add_argument("--formats", type=figure_formats, default="png",
                        help="figure formats (default png)")
    t = parser.add_argument_group("thresholds")
    t.add_argument("--rhat", type=positive_float, default=1.01, help="max R-hat (1.01)")
    t.add_argument("--ess-per-chain", type=non_negative_float, default=100.0,
                   help="min bulk and tail ESS per chain (100)")
    t.add_argument("--mcse-ratio", type=positive_float, default=0.1, help="max MCSE/SD (0.1)")
    t.add_argument("--max-divergences", type=non_negative_int, default=0,
                   help="max divergences (0)")
    t.add_argument("--treedepth-share", type=non_negative_float, default=0.01,
                   help="max share of transitions at the maximum tree depth (0.01)")
    t.add_argument("--ebfmi", type=non_negative_float, default=0.3,
                   help="min E-BFMI per chain (0.3)")
    t.add_argument("--pareto-k-bad", type=non_negative_int, default=0,
                   help="max number of units with a high Pareto k (0)")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    thresholds = {"rhat": args.rhat, "ess_per_chain": args.ess_per_chain,
                  "mcse_ratio": args.mcse_ratio, "divergences": args.max_divergences,
                  "treedepth_share": args.treedepth_share, "ebfmi": args.ebfmi,
                  "pareto_k_bad": args.pareto_k_bad}
    from nen_bayes.bayes.inference import read_run
    from nen_bayes.bayes.predict import term_levels
    from nen_bayes.posterior.diagnostics import diagnose_fit

    runs = []
    for r in args.runs:  # everything is checked before anything is written
        tree = read_run(r)
        base = Path(r) if Path(r).is_dir() else Path(r).parent
        for p in (base / "run_card.json", base / "diagnostics"):
            if p.exists() and not args.force:
                raise OutputExistsError(f"{p} exists; pass --force to replace it "
                                        "(nothing was written).")
        by = args.by
        if by is None:
            try:
                term_levels(tree, LINE_CONTRAST.term)
                by = LINE_CONTRAST.term
            except ValueError:
                by = None
        else:  # checked with or without figures: a --by that names nothing is a mistake
            try:
                term_levels(tree, by)
            except ValueError as exc:
                raise ResultError(f"{r}: --by {by}: {exc}") from None
        runs.append((r, base, tree, by))

    failed = 0
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for r, base, tree, by in runs:
        card = diagnose_fit(tree, run=str(r), thresholds=thresholds)
        text = card.to_text()
        if tree.attrs.get("notice"):
            text = f"{tree.attrs['notice']}\n{text}"
        if not args.no_figures:
            from nen_bayes.plotting import diagnostic_figures, save_figure

            figs = diagnostic_figures(tree, by=by, card=card)
            with output_directory(base / "diagnostics", force=args.force) as out:
                for stem, fig in figs.items():
                    save_figure(fig, out / stem, formats)
                atomic_write_text(out / "diagnostics.txt", text)
        atomic_write_text(base / "run_card.json", card.to_json(), force=args.force)
        sys.stdout.write(text)
        failed += not card.passed
    if failed:
        print(f"checks failed: {failed} of {len(runs)} run(s) failed a check.",
              file=sys.stderr)
        return EXIT_CHECKS_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

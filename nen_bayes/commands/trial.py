#!/usr/bin/env python3
"""Reanalyse a published two-arm trial from its paper card, in one command.

The card (a TOML file, see nen_bayes/trials/card.py and examples/trial_gbsg2/card.toml) names
the trial, each arm's digitised Kaplan-Meier curve and numbers-at-risk table, N and events, and
what was published (HR with CI and its model, p, medians). Each arm is reconstructed (Guyot et
al. 2012, with every check of the reconstruction layer); the reconstructed units get
Kaplan-Meier medians, the log-rank test and a Cox model, a Bayesian Weibull PH model of arm with
weak priors (written in report.txt), and the published HR a summary-level reanalysis under the
prior grid. The report starts with reconstructed against published and says where they disagree
beyond reconstruction error (the round-trip targets: HR within 5%, events within 2%, median
within 2 event times, widened by the rounding of the published number).

Writes to --out DIR (created whole or not at all; an existing DIR needs --force):
  report.txt           published vs reconstructed, then every part of the reanalysis
  comparison.csv       one row per published figure: published, reconstructed, agree, rule
  effects.csv/.json    the shared effects table (published HR, baselines, Weibull posterior,
                       summary-level posterior)
  ipd.csv              the reconstructed units: id, time, event, arm
  accuracy.csv, at_risk.csv   the reconstruction's accuracy report and numbers at risk
  summary_level.csv    the published HR's posterior under each prior of the grid
  reconstruction.png/.svg     the digitised points over the reconstructed curves
  trial.json           provenance: the card and curve files with hashes, settings, versions

Examples
--------
  nen-bayes trial examples/trial_gbsg2/card.toml --out results/gbsg2
  nen-bayes trial card.toml --no-fit --no-figure --out results/quick

Bad input (exit code 2): a card that breaks its contract (the message names the file, table and
arm), a curve or at-risk table the reconstruction refuses.
"""

from __future__ import annotations

import argparse
import json
import sys

from nen_bayes.errors import EXIT_BAD_INPUT, EXIT_NOT_STARTED, EXIT_OK
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_sampling_options,
    add_verbosity_options,
    check_sampling_options,
    figure_formats,
    main_guard,
    sampling_settings,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes trial``."""
    parser = script_parser("trial.py", __doc__,
                           exit_codes=(EXIT_OK, EXIT_NOT_STARTED, EXIT_BAD_INPUT))
    parser.add_argument("card", metavar="CARD", help="the paper card (TOML)")
    s = parser.add_argument_group("Bayesian fit")
    s.add_argument("--no-fit", action="store_true", help="skip the Weibull PH fit")
    add_sampling_options(s)
    o = parser.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="DIR", help="results directory")
    o.add_argument("--force", action="store_true", help="replace an existing --out directory")
    o.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    o.add_argument("--no-figure", action="store_true", help="skip the figure")
    add_verbosity_options(parser)
    return parser


def _provenance(card, result, args) -> dict:
    from nen_bayes.bayes.inference import versions
    from nen_bayes.cohorts.read import read_table

    return {
        "card": card.source,
        "curves": {a.name: {"file": str(a.curve), "hash": read_table(a.curve).data_hash}
                   for a in card.arms},
        "reconstruction": result.reconstruction.settings,
        "bayes": None if args.no_fit else {"model": result.spec.name, "seed": args.seed,
                                           "draws": args.draws, "tune": args.tune,
                                           "chains": args.chains},
        "disagreements": list(result.disagreements["quantity"]),
        "versions": versions(),
    }


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    check_output_directory(args.out, force=args.force)
    from nen_bayes.effects import write_effects
    from nen_bayes.trials.card import load_card
    from nen_bayes.trials.reanalysis import reanalyse_trial

    card = load_card(args.card)
    result = reanalyse_trial(card, sampling=sampling_settings(args), bayes=not args.no_fit)
    text = result.to_text()
    rec = result.reconstruction
    with output_directory(args.out, force=args.force) as tmp:
        atomic_write_text(tmp / "report.txt", text)
        result.comparison.to_csv(tmp / "comparison.csv", index=False)
        write_effects(result.effects, tmp / "effects", metadata={"card": card.source})
        rec.ipd.to_csv(tmp / "ipd.csv", index=False)
        rec.accuracy().to_csv(tmp / "accuracy.csv", index=False)
        rec.risk_comparison().to_csv(tmp / "at_risk.csv", index=False)
        result.summary_level.to_csv(tmp / "summary_level.csv", index=False)
        atomic_write_text(tmp / "trial.json", json.dumps(_provenance(card, result, args),
                                                         indent=2, default=str) + "\n")
        if not args.no_figure:
            from nen_bayes.plotting import plot_reconstruction, save_figure

            save_figure(plot_reconstruction(rec, time_unit=card.time_unit, title=card.name),
                        tmp / "reconstruction", formats=tuple(args.formats.split(",")))
    print(result.comparison_text(), end="")
    print(f"\nWritten to {args.out}/ (report.txt has every part).")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

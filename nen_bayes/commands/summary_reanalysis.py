#!/usr/bin/env python3
"""Bayesian reanalysis from published numbers alone: a reported HR (or OR/RR) with its 95% CI,
or a log-rank p-value with the number of events and the group sizes (Parmar/Tierney).

The published result becomes a normal likelihood for the log effect and is combined with every
prior of the grid (default models/priors/line/) and a flat prior (the reference): posterior
median, 95% CrI, P(effect < 1), P(< --benefit), P(> --harm) and P(ROPE), with a figure of
prior, likelihood and posterior per prior.

--study applies it to the published treatment-line comparison of the RE/NEN study: OS, RE as
second line vs salvage, log-rank P = 0.078, second line better (the figures are read from the
calibration file, the single place for the study's numbers). Events and group sizes were not
published: they are assumptions, given by --events and --n1/--n2 (defaults: 75% of the 297
evaluations had died, split evenly), printed with the result, and swept over plausible values
(--sweep-events, --sweep-shares) to show how P(benefit) moves with them.

Writes to --out DIR: posterior.csv, summary.txt, summary_reanalysis.png/.svg and, with a
log-rank input, sweep.csv and sweep.png/.svg.

Examples
--------
  nen-bayes summary-reanalysis --estimate 0.75 --ci 0.55,1.02 --out results/andromeda
  nen-bayes summary-reanalysis --estimate 0.75 --ci 0.55,1.02 --se-from upper --out r/a2
  nen-bayes summary-reanalysis --p 0.078 --events 220 --n1 150 --n2 147 --out results/p078
  nen-bayes summary-reanalysis --study --out results/study_line
  nen-bayes summary-reanalysis --study --events 200 --n1 120 --n2 177 --out results/s2

Bad input (exit code 2) includes values out of range and unreadable prior files.
"""

from __future__ import annotations

import argparse
import sys

from nen_bayes.data import PRIOR_GRID_DIR
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    decision_settings,
    figure_formats,
    main_guard,
    open_unit,
    positive_float,
    script_parser,
)
from nen_bayes.settings import Decision

SWEEP_PRIORS = ("neutral_moderate", "pessimistic_moderate")


def _floats(text: str, what: str, parser) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        parser.error(f"{what} {text!r}: expected comma-separated numbers")


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes summary-reanalysis``."""
    parser = script_parser("summary_reanalysis.py", __doc__)
    g = parser.add_argument_group("published result (one of)")
    g.add_argument("--estimate", type=positive_float, help="reported HR / OR / RR")
    g.add_argument("--ci", help="its 95%% CI as LOWER,UPPER")
    g.add_argument("--measure", default="HR", choices=["HR", "OR", "RR"], help="(HR)")
    g.add_argument("--se-from", default="interval", choices=["interval", "upper", "lower"],
                   help="SE of the log effect from both limits (default) or one limit")
    g.add_argument("--p", type=open_unit, help="two-sided log-rank p-value")
    g.add_argument("--events", type=positive_float, help="number of events (with --p)")
    g.add_argument("--n1", type=positive_float, help="size of the group of interest (with --p)")
    g.add_argument("--n2", type=positive_float, help="size of the comparator group (with --p)")
    g.add_argument("--favours", choices=["group 1", "group 2"], default="group 1",
                   help="which group did better (default group 1: HR < 1)")
    g.add_argument("--study", action="store_true",
                   help="the study's published line comparison (P and the number of "
                        "evaluations from calibration.toml); events default to 75%% of the "
                        "evaluations and groups to an even split")
    d = Decision()
    a = parser.add_argument_group("priors, thresholds, output")
    a.add_argument("--priors", default=str(PRIOR_GRID_DIR), metavar="DIR",
                   help="directory of prior files (default models/priors/line)")
    a.add_argument("--benefit", type=positive_float, default=d.benefit,
                   help=f"P(effect < this) ({d.benefit:g})")
    a.add_argument("--harm", type=positive_float, default=d.harm,
                   help=f"P(effect > this) ({d.harm:g})")
    a.add_argument("--rope", default=f"{d.rope[0]:g},{d.rope[1]:.2f}",
                   help=f"ROPE LOW,HIGH ({d.rope[0]:g},{d.rope[1]:.2f})")
    a.add_argument("--sweep-events", default=None,
                   help="events values for the sweep (default for --study: 150,175,...,n)")
    a.add_argument("--sweep-shares", default="0.3,0.4,0.5,0.6,0.7",
                   help="shares of units in group 1 for the sweep (0.3,...,0.7)")
    a.add_argument("--out", required=True, metavar="DIR", help="results directory")
    a.add_argument("--force", action="store_true", help="replace an existing --out")
    a.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    add_verbosity_options(parser)
    return parser


def _check(args, parser) -> None:
    if args.study and (args.estimate is not None or args.p is not None):
        parser.error("--study sets the published P; do not also give --estimate or --p")
    by_ci, by_p = args.estimate is not None, args.p is not None or args.study
    if by_ci == by_p:
        parser.error("give either --estimate with --ci, or --p with --events, --n1, --n2 "
                     "(or --study)")
    if by_ci and not args.ci:
        parser.error("--estimate needs --ci LOWER,UPPER")
    if args.p is not None and None in (args.events, args.n1, args.n2):
        parser.error("--p needs --events, --n1 and --n2")


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    decision = decision_settings(args, parser)
    _check(args, parser)
    check_output_directory(args.out, force=args.force)
    from nen_bayes.plotting import plot_assumption_sweep, plot_summary_reanalysis, save_figure
    from nen_bayes.re_nen.published import published_line_comparison, reanalyse_published
    from nen_bayes.sensitivity.grid import load_prior_grid
    from nen_bayes.sensitivity.summary_level import (
        assumption_sweep,
        from_interval,
        from_logrank,
        summary_level_text,
        summary_reanalysis,
    )

    priors = load_prior_grid(args.priors)
    shares = _floats(args.sweep_shares, "--sweep-shares", parser)
    sweep_events = _floats(args.sweep_events, "--sweep-events", parser) \
        if args.sweep_events else None
    header, sweep = "", None
    if args.study:
        r = reanalyse_published(published_line_comparison(), priors, decision=decision,
                                events=args.events, n1=args.n1, n2=args.n2,
                                sweep_events=sweep_events, sweep_shares=shares)
        est, table, sweep, header = r.estimate, r.table, r.sweep, r.header()
        p, favours = r.comparison.p, r.comparison.favours
    elif args.estimate is not None:
        lo_hi = _floats(args.ci, "--ci", parser)
        if len(lo_hi) != 2:
            parser.error("--ci: expected LOWER,UPPER")
        est = from_interval(args.estimate, *lo_hi, measure=args.measure, se_from=args.se_from)
        table = summary_reanalysis(est, priors, decision=decision)
    else:
        p, favours = args.p, args.favours
        est = from_logrank(p, args.events, args.n1, args.n2, favours=favours)
        table = summary_reanalysis(est, priors, decision=decision)
        n = args.n1 + args.n2
        events = sweep_events or [d for d in (150, 175, 200, 225, 250, 275, 297) if d <= n]
        chosen = [q for q in priors if q.name in SWEEP_PRIORS] or priors[:2]
        sweep = assumption_sweep(p, events, shares, n, chosen, favours=favours)
    text = summary_level_text(est, table, sweep, header=header)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with output_directory(args.out, force=args.force) as out:
        atomic_write_text(out / "posterior.csv", table.to_csv(index=False))
        atomic_write_text(out / "summary.txt", text)
        save_figure(plot_summary_reanalysis(est, table, priors,
                                            title=f"Summary-level reanalysis\n{est.description}"),
                    out / "summary_reanalysis", formats)
        if sweep is not None:
            atomic_write_text(out / "sweep.csv", sweep.to_csv(index=False))
            save_figure(plot_assumption_sweep(
                sweep, prior_columns=[c for c in sweep.columns if c.startswith("P(HR < 1)")],
                title=f"P(HR < 1) from log-rank p = {p:g}: assumed events and group "
                      "sizes"), out / "sweep", formats)
    sys.stdout.write(text)
    print(f"written: {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

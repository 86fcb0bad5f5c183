#!/usr/bin/env python3
"""Reconstruct patient-level data from a published Kaplan-Meier figure (Guyot et al. 2012).

Inputs
  --points FILE   the points read off the curves: columns time, survival (a probability or a
                  percentage) and, for several curves, arm. Any order; the two corners of each
                  step are what to read.
  --at-risk FILE  the numbers-at-risk table printed under the figure: columns time, n_risk and
                  arm (the same arm names). It must start at time 0.
  --events ARM=N  the published total of events of an arm (repeatable, optional; recommended
                  when the at-risk table is short or gives only the number at time 0)
  Semicolon- or tab-separated files may use decimal commas, as for cohort files.

Writes to --out DIR (created whole or not at all; an existing DIR needs --force):
  ipd.csv              the reconstructed units: id, time, event (1 = event), arm
  accuracy.csv         per arm: the scale read, units, events (and the published total),
                       median against the digitised curve's, max and mean distance from every
                       point to the reconstructed curve, largest difference in the numbers at
                       risk, the number of warnings
  at_risk.csv          published against reconstructed numbers at risk
  report.txt           the printed report: the scale read per arm, every warning (what was
                       assumed, every published figure not met and why) and every correction
  reconstruction.png/.svg  the digitised points over the reconstructed curves
  reconstruct.json     provenance: input files and hashes, settings (with the scale read per
                       arm), warnings, corrections, versions

Examples
--------
  nen-bayes reconstruct --points points.csv --at-risk at_risk.csv --time-unit days \\
      --out results/gbsg2_ipd
  nen-bayes baseline --data results/gbsg2_ipd/ipd.csv --endpoint rfs=time:event --no-centre \\
      --id id --factor arm --levels arm=no,yes --time-unit days --out results/gbsg2_baseline

Bad input (exit code 2) includes an at-risk table that does not fit the curve (most often
another time unit): most of its rows beyond the last point, or the reconstructed curve more
than 0.10 from a point.
"""

from __future__ import annotations

import argparse
import json
import sys

from nen_bayes.bayes.inference import versions
from nen_bayes.cohorts.read import read_table
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    figure_formats,
    main_guard,
    non_negative_float,
    script_parser,
)
from nen_bayes.reconstruction.guyot import LAST_INTERVAL_RULES, SCALES, reconstruct


def _events(items, parser) -> dict[str, int]:
    out = {}
    for item in items or []:
        arm, sep, n = item.partition("=")
        if not sep or not arm.strip():
            parser.error(f"--events {item!r}: expected ARM=N")
        try:
            out[arm.strip()] = int(n)
        except ValueError:
            parser.error(f"--events {item!r}: N must be a whole number")
    return out


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes reconstruct``."""
    parser = script_parser("reconstruct.py", __doc__)
    i = parser.add_argument_group("inputs")
    i.add_argument("--points", required=True, metavar="FILE", help="digitised points (.csv, "
                   ".xlsx, .parquet)")
    i.add_argument("--at-risk", required=True, metavar="FILE", help="numbers-at-risk table")
    i.add_argument("--events", action="append", metavar="ARM=N",
                   help="published total of events of an arm (repeatable); with a single "
                        "curve the arm is 'all'")
    i.add_argument("--scale", choices=SCALES, default="auto",
                   help="survival as a probability or a percentage (default: auto, decided "
                        "per arm: probability when no value exceeds 1.02, percent when most "
                        "do; an arm fitting neither is refused)")
    i.add_argument("--rescale-start", action="store_true",
                   help="an arm read below 0.98 at time 0 (a y-axis calibrated off) is "
                        "divided by the value read there instead of refused")
    i.add_argument("--time-column", default="time", help="time column of both files (time)")
    i.add_argument("--survival-column", default="survival", help="survival column (survival)")
    i.add_argument("--arm-column", default="arm", help="arm column of both files (arm)")
    i.add_argument("--risk-column", default="n_risk", help="number-at-risk column (n_risk)")
    i.add_argument("--time-unit", default="", help="unit of the time axis, for the report")
    a = parser.add_argument_group("algorithm")
    a.add_argument("--last-interval", choices=LAST_INTERVAL_RULES, default="guyot",
                   help="censoring after the last at-risk time when --events is not given: "
                        "guyot (the paper's average count per unit time; default), rate (per "
                        "unit at risk and time), recent (the last interval's rate)")
    a.add_argument("--snap", type=non_negative_float, default=0.005, metavar="SHARE",
                   help="drops read at most this share of the time axis before an at-risk time "
                        "may be moved onto it, where the table requires it (0.005)")
    a.add_argument("--swap-window", type=non_negative_float, default=0.01, metavar="SHARE",
                   help="points closer than this share of the axis whose survival rises are "
                        "taken as swapped corners of one step (0.01)")
    o = parser.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="DIR", help="results directory")
    o.add_argument("--force", action="store_true", help="replace an existing --out directory")
    o.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    o.add_argument("--no-figure", action="store_true", help="skip the figure")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("snap", "swap_window"):
        if not 0 <= getattr(args, name) < 0.2:
            parser.error(f"--{name.replace('_', '-')} must lie in [0, 0.2)")
    events = _events(args.events, parser)
    check_output_directory(args.out, force=args.force)
    points = read_table(args.points)
    risk = read_table(args.at_risk)
    rec = reconstruct(points.frame, risk.frame, events=events, scale=args.scale,
                      last_interval=args.last_interval, snap=args.snap,
                      swap_window=args.swap_window, points_source=points.source,
                      risk_source=risk.source, time_col=args.time_column,
                      surv_col=args.survival_column, arm_col=args.arm_column,
                      risk_col=args.risk_column, first_row=points.first_row,
                      risk_first_row=risk.first_row, rescale_start=args.rescale_start,
                      points_decimal_comma=points.decimal_comma,
                      risk_decimal_comma=risk.decimal_comma)
    text = rec.summary_text(args.time_unit)
    provenance = {
        "method": "Guyot et al., BMC Med Res Methodol 2012;12:9",
        "points": {"file": points.source, "hash": points.data_hash},
        "at_risk": {"file": risk.source, "hash": risk.data_hash},
        "settings": rec.settings,
        "time_unit": args.time_unit,
        "tail": {a.arm: a.how for a in rec.arms},
        "warnings": [{"arm": a, "warning": w} for a, w in rec.warnings()],
        "corrections": [{"arm": a, "correction": c} for a, c in rec.corrections()],
        "versions": versions(),
    }
    with output_directory(args.out, force=args.force) as tmp:
        rec.ipd.to_csv(tmp / "ipd.csv", index=False)
        rec.accuracy().to_csv(tmp / "accuracy.csv", index=False)
        rec.risk_comparison().to_csv(tmp / "at_risk.csv", index=False)
        atomic_write_text(tmp / "report.txt", text)
        atomic_write_text(tmp / "reconstruct.json", json.dumps(provenance, indent=2,
                                                               default=str) + "\n")
        if not args.no_figure:
            from nen_bayes.plotting import plot_reconstruction, save_figure

            save_figure(plot_reconstruction(rec, time_unit=args.time_unit),
                        tmp / "reconstruction", formats=tuple(args.formats.split(",")))
    print(text, end="")
    arms = ",".join(a.arm for a in rec.arms)
    print(f"\nWritten to {args.out}/. Next, for example:\n"
          f"  nen-bayes baseline --data {args.out}/ipd.csv --endpoint os=time:event "
          f"--no-centre --id id --factor arm --levels arm={arms} --out <DIR>")
    return 0


if __name__ == "__main__":
    sys.exit(main())

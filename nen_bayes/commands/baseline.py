#!/usr/bin/env python3
"""Frequentist baselines: Kaplan-Meier, RMST, log-rank, Cox and disease control, by factor.

Writes to --out DIR (created whole or not at all; an existing DIR needs --force):
  effects.csv / effects.json   the tidy effects table shared with the Bayesian models
  km_<endpoint>_<factor>.png/.svg  Kaplan-Meier figure with numbers at risk, one per factor
  km_<endpoint>_all.png/.svg   the whole cohort
  study_pvalues.csv            published p-values next to the reproduced ones (RE/NEN contract)
  baseline.txt                 the printed summary

Examples
--------
  nen-bayes baseline --data bundled --out results/baseline
  nen-bayes baseline --data bundled --endpoint os --factor line \\
      --horizon 12 --horizon 24 --tau 60 --conf-type log-log --out results/os_line
  nen-bayes baseline --data lung.csv --endpoint os=time:status \\
      --centre inst --row-ids --factor sex --numeric age --missing drop --time-unit days \\
      --horizon 365 --tau 730 --out results/lung

Kaplan-Meier intervals default to R survfit's conf.type = "log"; --conf-type log-log gives the
transform that SAS and Stata use. effects.json records the versions of the libraries that
computed the numbers.
"""

from __future__ import annotations

import argparse
import re
import sys

import pandas as pd

from nen_bayes.bayes.inference import versions
from nen_bayes.effects import write_effects
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.formatting import format_equals
from nen_bayes.frequentist.baselines import run_baselines
from nen_bayes.frequentist.km import CONF_TYPES
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_verbosity_options,
    figure_formats,
    load_checked,
    main_guard,
    open_unit,
    positive_float,
    schema_for,
    script_parser,
)
from nen_bayes.re_nen import RE_NEN
from nen_bayes.re_nen.study import study_table, study_text


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes baseline``."""
    parser = script_parser("baseline.py", __doc__)
    add_cohort_options(parser)
    a = parser.add_argument_group("analysis")
    a.add_argument("--out", required=True, metavar="DIR", help="results directory")
    a.add_argument("--force", action="store_true", help="replace an existing --out directory")
    a.add_argument("--horizon", action="append", type=positive_float, default=None, metavar="T",
                   help="time at which survival is reported (repeatable; default 12 24 36 60 "
                        "for months, none otherwise)")
    a.add_argument("--tau", type=positive_float,
                   help="RMST horizon (default: the longest time every "
                   "compared group is followed)")
    a.add_argument("--conf-type", choices=CONF_TYPES, default="log",
                   help="Kaplan-Meier interval transform (default: log, as R survfit)")
    a.add_argument("--conf-level", type=open_unit, default=0.95, help="interval level (0.95)")
    a.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    a.add_argument("--no-figures", action="store_true", help="skip the Kaplan-Meier figures")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.conf_level < 1:
        parser.error("--conf-level must lie in (0, 1)")
    schema, lenient = schema_for(args, parser, extras=True)
    check_output_directory(args.out, force=args.force)
    cohort = load_checked(args, schema, lenient)
    factors = [f.name for f in cohort.schema.factors]
    reports = [
        run_baselines(cohort, ep.name, factors, horizons=args.horizon, tau=args.tau,
                      conf_type=args.conf_type, conf_level=args.conf_level)
        for ep in cohort.schema.endpoints
    ]
    effects = pd.concat([r.effects for r in reports], ignore_index=True)
    text = "".join(r.to_text() + "\n" for r in reports)
    study = None
    if cohort.schema.name == RE_NEN.name:
        study = study_table(reports)
        text += study_text(study)
    figures = []
    if not args.no_figures:
        from nen_bayes.plotting import plot_km  # matplotlib only when figures are drawn

        for rep in reports:
            label = (rep.endpoint_label or rep.endpoint).capitalize()
            figures.append((f"km_{_safe(rep.endpoint)}_all",
                            plot_km({"all units": rep.overall}, title=f"{label}: all units",
                                    time_unit=rep.time_unit, synthetic=rep.synthetic)))
            for f in rep.factors:
                lr = rep.logrank[f]
                p = f"log-rank p {format_equals(lr.p_value)}"
                if lr.trend_p_value is not None:
                    p += f"; trend p {format_equals(lr.trend_p_value)}"
                flabel = cohort.schema.factor(f).label or f
                figures.append((f"km_{_safe(rep.endpoint)}_{_safe(f)}",
                                plot_km(rep.curves[f], title=f"{label} by {flabel}", p_text=p,
                                        time_unit=rep.time_unit, synthetic=rep.synthetic)))
    formats = [x.strip() for x in args.formats.split(",") if x.strip()]
    with output_directory(args.out, force=args.force) as tmp:
        meta = {**cohort.provenance(), "conf_type": args.conf_type,
                "conf_level": args.conf_level, "endpoints": [r.endpoint for r in reports],
                "tau": {r.endpoint: r.tau for r in reports}, "versions": versions()}
        write_effects(effects, tmp / "effects", metadata=meta)
        atomic_write_text(tmp / "baseline.txt", text)
        if study is not None:
            atomic_write_text(tmp / "study_pvalues.csv", study.to_csv(index=False))
        if figures:
            from nen_bayes.plotting import save_figure

            for stem, fig in figures:
                save_figure(fig, tmp / stem, formats)
    sys.stdout.write(text)
    print(f"wrote {args.out}/ (effects.csv, effects.json, baseline.txt"
          f"{', study_pvalues.csv' if study is not None else ''}"
          f"{f', {len(figures)} figures' if figures else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

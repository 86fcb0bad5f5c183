#!/usr/bin/env python3
"""Several trials in one hierarchical model, beside a two-stage random-effects meta-analysis.

Each input is a paper card (.toml: its arms are reconstructed as by `nen-bayes trial`) or a
patient-level CSV with columns time, event (1 = event) and arm, whose comparator is named by
--reference FILE=LEVEL (and its time unit by --time-unit FILE=UNIT, default months). The units
are stacked with a trial column (time in months, arm coded reference/experimental) and fitted
with a Weibull PH model: trial intercepts with a wide SD prior (each trial keeps its own
baseline; trial as a fixed covariate would be aliased with the group's intercept), the arm
effect common plus random by trial, its between-trial SD ~ HalfNormal(--tau-scale). Beside it,
each trial's Cox HR pooled by DerSimonian-Laird and by a Bayesian normal-normal model (the same
prior on tau, by quadrature); the pooled HR, tau and the prediction interval of a new trial's
HR from each; leave-one-trial-out pooling (3 trials or more).

Writes to --out DIR (created whole or not at all; an existing DIR needs --force):
  report.txt         every table below, in words
  trials.csv         each trial's n, events, Cox log HR, SE, HR and CI
  pooled.csv         pooled HR, tau and prediction interval, one row per method
  forest.csv         the forest plot's rows (trials, pooled HRs, new-trial intervals)
  forest.png/.svg    the forest plot
  leave_one_out.csv  the pooled HR without each trial (two-stage; one-stage with
                     --loo-one-stage)
  stacked.csv        the stacked units: id, time, event, arm, trial
  effects.csv/.json  the pooled HRs in the shared effects table
  meta.json          provenance: inputs, settings, versions

Examples
--------
  nen-bayes meta a/card.toml b/card.toml c.csv --reference c.csv=placebo --out results/meta
  nen-bayes meta a.toml b.toml --tau-scale 0.25 --no-one-stage --out results/two_stage
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
    main_guard,
    positive_float,
    sampling_settings,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes meta``."""
    parser = script_parser("meta.py", __doc__,
                           exit_codes=(EXIT_OK, EXIT_NOT_STARTED, EXIT_BAD_INPUT))
    parser.add_argument("inputs", nargs="+", metavar="CARD_OR_COHORT",
                        help="paper cards (.toml) or patient-level CSVs (time, event, arm)")
    i = parser.add_argument_group("patient-level inputs")
    i.add_argument("--reference", action="append", default=[], metavar="FILE=LEVEL",
                   help="the comparator arm of a CSV input (repeatable; required for each)")
    i.add_argument("--time-unit", action="append", default=[], metavar="FILE=UNIT",
                   help="the time unit of a CSV input (repeatable; default months)")
    m = parser.add_argument_group("model")
    m.add_argument("--tau-scale", type=positive_float, default=0.5,
                   help="between-trial SD of the log HR ~ HalfNormal(this) in the one-stage "
                        "and the normal-normal model (0.5: prior median 0.34, 95%% below 0.98)")
    m.add_argument("--no-one-stage", action="store_true",
                   help="skip the hierarchical fit (two-stage pooling only)")
    m.add_argument("--loo-one-stage", action="store_true",
                   help="also refit the one-stage model without each trial in turn (one fit "
                        "per trial; the two-stage leave-one-out is always written)")
    add_sampling_options(m)
    o = parser.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="DIR", help="results directory")
    o.add_argument("--force", action="store_true", help="replace an existing --out directory")
    add_verbosity_options(parser)
    return parser


def _assignments(items, option: str, parser) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key or not value:
            parser.error(f"{option} {item!r}: expected FILE=VALUE")
        out[key] = value
    return out


def _effects(result):
    from nen_bayes.effects import effects_frame

    rows = []
    for p in result.pooled:
        r = p.row()
        bayes = not r["method"].startswith("DerSimonian")
        rows.append({"endpoint": "endpoint", "quantity": "hazard_ratio", "term": "arm",
                     "group": "experimental vs reference", "estimate": r["hr"],
                     "lower": r["lower"], "upper": r["upper"],
                     "interval": "CrI" if bayes else "CI", "conf_level": 0.95,
                     "method": f"pooled, {r['method']}", "n": int(result.estimates["n"].sum()),
                     "events": int(result.estimates["events"].sum()), "synthetic": False})
    return effects_frame(rows)


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    refs = _assignments(args.reference, "--reference", parser)
    units = _assignments(args.time_unit, "--time-unit", parser)
    for key in {**refs, **units}:
        if key not in args.inputs:
            parser.error(f"{key!r} (in --reference/--time-unit) is not one of the inputs")
    check_output_directory(args.out, force=args.force)
    from nen_bayes.bayes.inference import versions
    from nen_bayes.effects import write_effects
    from nen_bayes.plotting import plot_forest, save_figure
    from nen_bayes.trials.meta import load_trial, meta_analysis, stack

    trials = [load_trial(p, reference=refs.get(p), time_unit=units.get(p, "months"))
              for p in args.inputs]
    result = meta_analysis(trials, tau_scale=args.tau_scale, sampling=sampling_settings(args),
                           one_stage=not args.no_one_stage,
                           loo_one_stage=args.loo_one_stage)
    text = result.to_text()
    provenance = {"inputs": [{"trial": t.name, "file": t.source, "reconstructed":
                              t.reconstructed} for t in trials],
                  "tau_scale": args.tau_scale, "one_stage": not args.no_one_stage,
                  "seed": args.seed, "draws": args.draws, "chains": args.chains,
                  "versions": versions()}
    with output_directory(args.out, force=args.force) as tmp:
        atomic_write_text(tmp / "report.txt", text)
        result.estimates.to_csv(tmp / "trials.csv", index=False)
        result.pooled_table().to_csv(tmp / "pooled.csv", index=False)
        result.forest_table().to_csv(tmp / "forest.csv", index=False)
        save_figure(plot_forest(result.forest_table(),
                                title="Trials, pooled hazard ratios and a new trial's"),
                    tmp / "forest", ("png", "svg"))
        result.loo.to_csv(tmp / "leave_one_out.csv", index=False)
        stack(trials).data.to_csv(tmp / "stacked.csv", index=False)
        write_effects(_effects(result), tmp / "effects", metadata={"inputs": args.inputs})
        atomic_write_text(tmp / "meta.json", json.dumps(provenance, indent=2) + "\n")
    print(text, end="")
    print(f"\nWritten to {args.out}/.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

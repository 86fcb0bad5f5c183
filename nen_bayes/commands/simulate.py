#!/usr/bin/env python3
"""Simulate a multicentre RE/NEN cohort from the calibrated generative model (known truth).

Writes FILE (CSV in the cohort contract) and FILE's truth file (<stem>.truth.json: every
generating parameter, the centre effects, the seed, the calibration's hash and the CSV's content
hash, which marks the cohort as synthetic wherever it is read). Both are written atomically;
existing files are kept unless --force.

Examples
--------
  nen-bayes simulate --out cohort.csv                       # the bundled cohort's seed
  nen-bayes simulate --out big.csv --n 30000 --seed 7       # a large cohort, same model
  nen-bayes simulate --search-seeds 400                     # how the bundled seed was chosen
  nen-bayes simulate --report                               # published vs bundled (Markdown)
  nen-bayes describe --data cohort.csv                      # the file is read as synthetic
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nen_bayes.cohorts.cohort import load_cohort, truth_path_for
from nen_bayes.cohorts.read import content_hash
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import OutputExistsError
from nen_bayes.files import atomic_write_bytes, atomic_write_text
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    main_guard,
    non_negative_int,
    positive_int,
    script_parser,
)
from nen_bayes.provenance import SYNTHETIC_NOTICE
from nen_bayes.re_nen import RE_NEN


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes simulate``."""
    parser = script_parser("simulate.py", __doc__)
    parser.add_argument("--out", metavar="FILE", help="CSV to write")
    parser.add_argument("--seed", type=non_negative_int,
                        help="RNG seed (default: the calibration's)")
    parser.add_argument("--n", type=positive_int,
                        help="number of units (default: the calibration's)")
    parser.add_argument("--calibration", metavar="TOML",
                        help="calibration file (default: the bundled one)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--search-seeds", type=positive_int, metavar="K",
                        help="instead of writing, rank seeds 1..K by closeness to the published "
                             "figures and print the best ten")
    parser.add_argument("--report", action="store_true",
                        help="instead of writing, print the published-vs-bundled table")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from nen_bayes.re_nen.calibration import (  # lifelines and SciPy after the options
        calibration_markdown,
        calibration_summary,
        search_seeds,
    )
    from nen_bayes.re_nen.simulate import load_calibration, simulate_cohort, truth_json

    cal = load_calibration(args.calibration)

    if args.report:
        summary = calibration_summary(load_cohort(BUNDLED_COHORT, RE_NEN).data)
        print(calibration_markdown(summary, cal["targets"]), end="")
        print(f"\n{SYNTHETIC_NOTICE}")
        return 0

    if args.search_seeds:
        def progress(i):
            if not args.quiet and (i % 20 == 0 or i == args.search_seeds):
                print(f"\rsearching seeds: {i}/{args.search_seeds}", end="", file=sys.stderr)

        ranked = search_seeds(cal, range(1, args.search_seeds + 1), progress=progress)
        if not args.quiet:
            print(file=sys.stderr)
        print(ranked.head(10).round(4).T.to_string())
        return 0
    if not args.out:
        parser.error("--out FILE is required (or --search-seeds K)")

    out = Path(args.out)
    truth_path = truth_path_for(out)
    existing = [str(p) for p in (out, truth_path) if p.exists()]
    if existing and not args.force:
        raise OutputExistsError(f"{', '.join(existing)} exist(s); pass --force to overwrite.")
    sim = simulate_cohort(cal, seed=args.seed, n=args.n)
    data = sim.to_csv_bytes()
    atomic_write_text(truth_path, truth_json(sim, content_hash(data)), force=args.force)
    atomic_write_bytes(out, data, force=args.force)
    print(f"wrote {out} ({len(sim.data)} units, seed {sim.truth['seed']}) and {truth_path}; "
          "SYNTHETIC DATA.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

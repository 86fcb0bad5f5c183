#!/usr/bin/env python3
"""Write the prior grid for a treatment effect (log hazard ratio): neutral, optimistic and
pessimistic x weak, moderate and strong (Zampieri et al. 2021), one TOML file per prior.

Neutral priors are centred on HR 1, optimistic ones on the expected effect, pessimistic ones on
its mirror image (1 / expected). A strength is a tail probability p: P(HR < expected) for the
neutral priors, P(HR > 1) for the optimistic and P(HR < 1) for the pessimistic ones;
SD = |ln expected| / z(1 - p). The files are what sensitivity, summary-reanalysis and
reanalyse read (--priors DIR); edit one to change a prior, or add a file to add one.

Examples
--------
  nen-bayes prior-grid --out my_priors                            # the shipped grid's priors
  nen-bayes prior-grid --expected-hr 0.7 --tail strong=0.025 --out my_priors
  nen-bayes sensitivity --data bundled --endpoint os --priors my_priors --out results/sens

Bad input (exit code 2) includes values out of range and existing files without --force.
"""

from __future__ import annotations

import argparse
import sys

from nen_bayes.errors import OutputExistsError
from nen_bayes.formatting import format_prob
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    main_guard,
    positive_float,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes prior-grid``."""
    parser = script_parser("prior_grid.py", __doc__)
    parser.add_argument("--expected-hr", type=positive_float, default=0.8,
                        help="expected effect (HR < 1) that centres the optimistic priors (0.8)")
    parser.add_argument("--tail", action="append", default=[], metavar="STRENGTH=P",
                        help="tail probability of a strength (defaults weak=0.30, "
                             "moderate=0.15, strong=0.05)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the files")
    parser.add_argument("--force", action="store_true", help="replace existing files")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tails = {}
    for item in args.tail:
        k, _, v = item.partition("=")
        try:
            tails[k.strip()] = float(v)
        except ValueError:
            parser.error(f"--tail {item!r}: expected STRENGTH=P, e.g. strong=0.05")
    from pathlib import Path

    from nen_bayes.sensitivity.grid import grid_table, write_prior_grid, zampieri_grid

    priors = zampieri_grid(args.expected_hr, tails)
    out = Path(args.out)
    existing = [out / f"{p.name}.toml" for p in priors if (out / f"{p.name}.toml").exists()]
    if existing and not args.force:
        raise OutputExistsError(f"{existing[0]} exists (and {len(existing) - 1} more); pass "
                                "--force to replace them (nothing was written).")
    write_prior_grid(priors, out, force=args.force)
    table = grid_table(priors)
    probabilities = {c: format_prob for c in table.columns if c.startswith("P(")}
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}",
                          formatters=probabilities))
    print(f"written: {len(priors)} prior files in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

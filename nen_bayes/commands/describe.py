#!/usr/bin/env python3
"""Validate a cohort file and print its description.

Examples
--------
  nen-bayes describe --data bundled
  nen-bayes describe --data lung.csv --endpoint os=time:status --event-coding 1/2 \\
      --centre inst --row-ids --factor sex --numeric age --missing drop
"""

from __future__ import annotations

import argparse
import json
import sys

from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_verbosity_options,
    load_checked,
    main_guard,
    schema_for,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes describe``."""
    parser = script_parser("describe.py", __doc__)
    add_cohort_options(parser)
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    schema, lenient = schema_for(args, parser, extras=True)
    cohort = load_checked(args, schema, lenient)
    from nen_bayes.frequentist.describe import describe_cohort  # SciPy after the options

    description = describe_cohort(cohort)
    if args.json:
        print(json.dumps(description.to_dict(), indent=2))
    else:
        sys.stdout.write(description.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Validate a cohort file and print its description.

Examples
--------
  scripts/describe.py --data nen_bayes/data/synthetic_cohort.csv
  scripts/describe.py --data lung.csv --endpoint os=time:status --event-coding 1/2 \\
      --centre inst --row-ids --factor sex --numeric age --missing drop

Exit codes: 0 described, 2 bad input (the message names the file, column and rows).
"""

from __future__ import annotations

import json
import sys

from nen_bayes.frequentist.describe import describe_cohort
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    load_checked,
    main_guard,
    schema_for,
    script_parser,
)


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = script_parser("describe.py", __doc__)
    add_cohort_options(parser)
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    args = parser.parse_args(argv)
    schema, lenient = schema_for(args, parser, extras=True)
    cohort = load_checked(args, schema, lenient)
    description = describe_cohort(cohort)
    if args.json:
        print(json.dumps(description.to_dict(), indent=2))
    else:
        sys.stdout.write(description.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

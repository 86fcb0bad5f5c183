#!/usr/bin/env python3
"""Validate a cohort file and print its description.

The same as ``nen-bayes describe``: the command lives in ``nen_bayes/commands/describe.py``
(``scripts/describe.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.describe import main

if __name__ == "__main__":
    exit_now(main())

#!/usr/bin/env python3
"""Fit a Bayesian survival model (a file in models/, or a formula) to a cohort and store it.

The same as ``nen-bayes fit``: the command lives in ``nen_bayes/commands/fit.py``
(``scripts/fit.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.fit import main

if __name__ == "__main__":
    exit_now(main())

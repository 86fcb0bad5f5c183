#!/usr/bin/env python3
"""Bayesian reanalysis from published numbers alone: a reported HR (or OR/RR) with its 95% CI,

The same as ``nen-bayes summary-reanalysis``: the command lives in
``nen_bayes/commands/summary_reanalysis.py`` (``scripts/summary_reanalysis.py --help`` shows its
options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.summary_reanalysis import main

if __name__ == "__main__":
    exit_now(main())

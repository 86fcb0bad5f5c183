#!/usr/bin/env python3
"""The whole Bayesian reanalysis of a cohort: describe, baselines, the model set, diagnostics,

The same as ``nen-bayes reanalyse``: the command lives in ``nen_bayes/commands/reanalyse.py``
(``scripts/reanalyse.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.reanalyse import main

if __name__ == "__main__":
    exit_now(main())

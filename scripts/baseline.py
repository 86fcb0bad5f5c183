#!/usr/bin/env python3
"""Frequentist baselines: Kaplan-Meier, RMST, log-rank, Cox and disease control, by factor.

The same as ``nen-bayes baseline``: the command lives in ``nen_bayes/commands/baseline.py``
(``scripts/baseline.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.baseline import main

if __name__ == "__main__":
    exit_now(main())

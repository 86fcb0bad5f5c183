#!/usr/bin/env python3
"""Simulate a multicentre RE/NEN cohort from the calibrated generative model (known truth).

The same as ``nen-bayes simulate``: the command lives in ``nen_bayes/commands/simulate.py``
(``scripts/simulate.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.simulate import main

if __name__ == "__main__":
    exit_now(main())

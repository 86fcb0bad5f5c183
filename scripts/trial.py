#!/usr/bin/env python3
"""Reanalyse a published two-arm trial from its paper card, in one command.

The same as ``nen-bayes trial``: the command lives in ``nen_bayes/commands/trial.py``
(``scripts/trial.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.trial import main

if __name__ == "__main__":
    exit_now(main())

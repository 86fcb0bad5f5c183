#!/usr/bin/env python3
"""Reconstruct patient-level data from a published Kaplan-Meier figure (Guyot et al. 2012).

The same as ``nen-bayes reconstruct``: the command lives in ``nen_bayes/commands/reconstruct.py``
(``scripts/reconstruct.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.reconstruct import main

if __name__ == "__main__":
    exit_now(main())

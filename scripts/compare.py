#!/usr/bin/env python3
"""Compare fits of one endpoint: PSIS-LOO, stacking weights, and Bayesian vs Cox effects.

The same as ``nen-bayes compare``: the command lives in ``nen_bayes/commands/compare.py``
(``scripts/compare.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.compare import main

if __name__ == "__main__":
    exit_now(main())

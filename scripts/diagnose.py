#!/usr/bin/env python3
"""Check fits: convergence, sampler health, PSIS-LOO reliability; write a run card and figures.

The same as ``nen-bayes diagnose``: the command lives in ``nen_bayes/commands/diagnose.py``
(``scripts/diagnose.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.diagnose import main

if __name__ == "__main__":
    exit_now(main())

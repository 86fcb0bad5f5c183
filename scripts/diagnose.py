#!/usr/bin/env python3
"""Check fits: convergence, sampler health, PSIS-LOO reliability; write a run card and figures.

The same as ``nen-bayes diagnose``: the command lives in ``nen_bayes/commands/diagnose.py``
(``scripts/diagnose.py --help`` shows its options)."""

import sys

from nen_bayes.commands.diagnose import main

if __name__ == "__main__":
    sys.exit(main())

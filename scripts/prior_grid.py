#!/usr/bin/env python3
"""Write the prior grid for a treatment effect (log hazard ratio): neutral, optimistic and

The same as ``nen-bayes prior-grid``: the command lives in ``nen_bayes/commands/prior_grid.py``
(``scripts/prior_grid.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.prior_grid import main

if __name__ == "__main__":
    exit_now(main())

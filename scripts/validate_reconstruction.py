#!/usr/bin/env python3
"""Round trips of the Kaplan-Meier reconstruction on public datasets shipped with lifelines.

The same as ``nen-bayes validate-reconstruction``: the command lives in
``nen_bayes/commands/validate_reconstruction.py``
(``scripts/validate_reconstruction.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.validate_reconstruction import main

if __name__ == "__main__":
    exit_now(main())

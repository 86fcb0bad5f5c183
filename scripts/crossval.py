#!/usr/bin/env python3
"""Leave-one-centre-out cross-validation: how well each model predicts a centre it has not seen.

The same as ``nen-bayes crossval``: the command lives in ``nen_bayes/commands/crossval.py``
(``scripts/crossval.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.crossval import main

if __name__ == "__main__":
    exit_now(main())

#!/usr/bin/env python3
"""Several trials in one hierarchical model, beside a two-stage random-effects meta-analysis.

The same as ``nen-bayes meta``: the command lives in ``nen_bayes/commands/meta.py``
(``scripts/meta.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.meta import main

if __name__ == "__main__":
    exit_now(main())

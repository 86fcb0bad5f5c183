#!/usr/bin/env python3
"""Prior sensitivity: a model's posterior under every prior of a grid on the treatment-line log-HR.

The same as ``nen-bayes sensitivity``: the command lives in ``nen_bayes/commands/sensitivity.py``
(``scripts/sensitivity.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.sensitivity import main

if __name__ == "__main__":
    exit_now(main())

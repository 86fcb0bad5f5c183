#!/usr/bin/env python3
"""Treatment-line effect with its uncertainty: HR, decision probabilities, standardised

The same as ``nen-bayes line-effects``: the command lives in ``nen_bayes/commands/line_effects.py``
(``scripts/line_effects.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.line_effects import main

if __name__ == "__main__":
    exit_now(main())

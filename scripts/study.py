#!/usr/bin/env python3
"""Simulation studies on a Dask cluster: calibration (sbc), operating characteristics, assurance.

The same as ``nen-bayes study``: the command lives in ``nen_bayes/commands/study.py``
(``scripts/study.py --help`` shows its options)."""

from nen_bayes.commands import exit_now
from nen_bayes.commands.study import main

if __name__ == "__main__":
    exit_now(main())

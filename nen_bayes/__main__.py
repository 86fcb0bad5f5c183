"""``python -m nen_bayes COMMAND [options]``: the same as the ``nen-bayes`` command."""

import sys

from nen_bayes.commands import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m nen_bayes COMMAND [options]``: the same as the ``nen-bayes`` command."""

from nen_bayes.commands import run

if __name__ == "__main__":
    run()

"""The examples in the package's docstrings run and print what they say (``doctest``).

Every module of ``nen_bayes`` whose source holds a ``>>>`` example is collected; only those are
imported, so the test stays fast however many modules have none.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import nen_bayes

PACKAGE = Path(nen_bayes.__file__).resolve().parent


def modules_with_examples() -> list[str]:
    """Dotted names of the package's modules whose source holds a ``>>>`` example."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


def test_the_base_layer_has_examples():
    assert {"nen_bayes.formatting", "nen_bayes.units"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=False)
    assert result.attempted > 0, f"{name}: no example was run"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"

"""Sphinx extension: small helpers of the nen-bayes pages.

``nen-docstring``
    The docstring of a module as it is written (a literal block), for docstrings that are plain
    text rather than reStructuredText: ``.. nen-docstring:: nen_bayes.bayes.model``.
The ``layers`` code blocks of ARCHITECTURE.md (read by ``tests/test_architecture.py``) are
highlighted as plain text.
"""

from __future__ import annotations

import importlib
import inspect

from docutils import nodes
from pygments.lexers.special import TextLexer
from sphinx.util.docutils import SphinxDirective


class ModuleDocstring(SphinxDirective):
    required_arguments = 1

    def run(self):
        module = importlib.import_module(self.arguments[0])
        text = inspect.cleandoc(module.__doc__ or "")
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app):
    app.add_directive("nen-docstring", ModuleDocstring)
    app.add_lexer("layers", TextLexer)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

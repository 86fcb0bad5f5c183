"""Sphinx extension: small helpers of the nen-bayes pages.

``nen-docstring``
    The docstring of a module as it is written (a literal block), for docstrings that are plain
    text rather than reStructuredText: ``.. nen-docstring:: nen_bayes.bayes.model``.
``nen-package-docstrings``
    The same for every module of a package, each under a rubric with its name, so that a new
    module (a new family) appears without editing the page:
    ``.. nen-package-docstrings:: nen_bayes.bayes.families`` with ``:exclude: base``.
``nen-other-modules``
    A list of the package's modules that the page's own text does not name, each with the
    first sentence of its docstring (so that a table written by hand never hides a module).
The ``layers`` code blocks of ARCHITECTURE.md (read by ``tests/test_architecture.py``) are
highlighted as plain text.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import ClassVar

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


class PackageDocstrings(SphinxDirective):
    required_arguments = 1
    option_spec: ClassVar[dict] = {"exclude": lambda text: text.split()}

    def run(self):
        package = importlib.import_module(self.arguments[0])
        skip = set(self.options.get("exclude", ()))
        out = []
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_") or info.name in skip:
                continue
            name = f"{package.__name__}.{info.name}"
            module = importlib.import_module(name)
            text = inspect.cleandoc(module.__doc__ or "(no docstring)")
            rubric = nodes.rubric("", "")
            rubric += nodes.literal(name, name)
            block = nodes.literal_block(text, text)
            block["language"] = "text"
            out += [rubric, block]
        return out


class OtherModules(SphinxDirective):
    def run(self):
        import nen_bayes

        page = Path(self.env.doc2path(self.env.docname)).read_text(encoding="utf-8")
        root = Path(nen_bayes.__file__).resolve().parent
        items = nodes.bullet_list()
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root.parent).as_posix()
            if path.name == "__init__.py" or f"`{rel}`" in page:
                continue
            dotted = rel.removesuffix(".py").replace("/", ".")
            doc = inspect.cleandoc(importlib.import_module(dotted).__doc__ or "")
            first = " ".join(doc.split("\n\n")[0].split())
            para = nodes.paragraph()
            para += nodes.literal(rel, rel)
            para += nodes.Text(f": {first}" if first else "")
            items += nodes.list_item("", para)
        if not len(items):
            return [nodes.paragraph(text="(none: the table names every module)")]
        return [items]


def setup(app):
    app.add_directive("nen-other-modules", OtherModules)
    app.add_directive("nen-docstring", ModuleDocstring)
    app.add_directive("nen-package-docstrings", PackageDocstrings)
    app.add_lexer("layers", TextLexer)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

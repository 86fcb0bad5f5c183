"""Sphinx configuration of the nen-bayes documentation (``make docs``).

Built with warnings as errors (``sphinx-build -W --keep-going``). The tutorials are MyST
notebooks executed at build time (MyST-NB); the command pages are generated from each command's
argument parser (``_ext/nen_commands.py``); the API pages from the numpydoc docstrings of the
public names in ``nen_bayes.__all__``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYTHONHASHSEED", "0")

import nen_bayes  # noqa: E402

project = "nen-bayes"
author = "the nen-bayes authors"
copyright = "2026 the nen-bayes authors, MIT licence"
release = nen_bayes.__version__
version = release

extensions = [
    "myst_nb",                 # Markdown pages and executed notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "nen_commands",            # one page per command, from its argument parser
    "nen_docs",                # a module docstring as written; the "layers" code blocks
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_templates", "**.ipynb_checkpoints", "jupyter_execute"]
templates_path = ["_templates"]
root_doc = "index"

# MyST
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# MyST-NB: execute every notebook at build time, in a cache under _build (a clean build runs
# them all); a failing cell fails the build.
nb_execution_mode = "cache"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# API pages
autosummary_generate = True

autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"nen-bayes {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False

# the example notebook of examples/ is stored executed, with its outputs: shown as stored
nb_execution_excludepatterns = ["how-to/inspect_fit.ipynb"]

"""Sphinx extension: one reference page per ``nen-bayes`` command, from its argument parser.

At ``builder-inited`` every command module of :mod:`nen_bayes.commands` is imported and its
``build_parser()`` rendered with ``format_help()`` (sub-commands too) into
``reference/commands/<name>.md``; ``reference/commands.md`` lists them with a glob. A command
module without ``build_parser()`` gets its ``--help`` text from ``main(["--help"])`` instead, and
its page says so. The generated directory is not kept in git (``.gitignore``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

OUT = Path("reference") / "commands"
WIDTH = "100"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-commands only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_from_main(module, prog: str) -> str:
    """The ``--help`` text of a command that has no ``build_parser()``."""
    out = io.StringIO()
    argv0 = sys.argv[0]
    sys.argv[0] = prog
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            module.main(["--help"])
    finally:
        sys.argv[0] = argv0
    return out.getvalue()


def _fence(text: str) -> str:
    return f"````text\n{text.rstrip()}\n````\n"


def command_page(name: str, module_name: str) -> tuple[str, bool]:
    """The Markdown page of one command, and whether it came from ``build_parser()``."""
    module = importlib.import_module(f"nen_bayes.commands.{module_name}")
    prog = f"nen-bayes {name}"
    doc = (module.__doc__ or "").strip()
    summary = " ".join(doc.split("\n\n")[0].split()) if doc else ""
    lines = [f"# `{prog}`", "", summary, "",
             f"The same command runs as `python -m nen_bayes {name}` and, in a clone, as "
             f"`scripts/{module_name}.py`. Exit codes: see [](../exit-codes.md).", ""]
    build = getattr(module, "build_parser", None)
    if build is None:
        lines += [":::{note}", f"`nen_bayes.commands.{module_name}` has no `build_parser()` in "
                  "this version: the text below is its `--help` output.", ":::", "",
                  _fence(_help_from_main(module, prog))]
        return "\n".join(lines), False
    parser = build()
    parser.prog = prog
    lines += ["## Options", "", _fence(parser.format_help())]
    for sub, subparser in _subparsers(parser).items():
        subparser.prog = f"{prog} {sub}"
        lines += [f"## `{prog} {sub}`", "", _fence(subparser.format_help())]
    return "\n".join(lines), True


def generate(app) -> None:
    from nen_bayes.commands import commands

    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal's width otherwise
    out = Path(app.srcdir) / OUT
    out.mkdir(parents=True, exist_ok=True)
    table = commands()
    without = []
    for name, module_name in table.items():
        text, from_parser = command_page(name, module_name)
        if not from_parser:
            without.append(name)
        path = out / f"{module_name}.md"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")  # unchanged pages keep their time stamp
    for stale in out.glob("*.md"):
        if stale.stem not in table.values():
            stale.unlink()
    logger.info(f"nen_commands: {len(table)} command pages; without build_parser(): "
                f"{', '.join(without) or 'none'}")


def setup(app):
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

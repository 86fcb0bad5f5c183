"""The ``nen-bayes`` command: one entry point for every command of the toolkit.

``nen-bayes fit ...`` runs the module :mod:`nen_bayes.commands.fit` with the same options as
``scripts/fit.py`` (the files under ``scripts/`` are thin wrappers over these modules), and so for
every module of this package: the commands are found by walking it, so a new command is a new
module with a ``main(argv) -> int`` function, a ``build_parser()`` returning its
:class:`argparse.ArgumentParser` (from which its documentation page is made) and a docstring
whose first line describes it. ``python -m nen_bayes`` is the same command.

``nen-bayes --help`` and ``--version`` import no command: the descriptions are read from the
modules' source files, so the list appears at once, without the scientific stack.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
import textwrap
from pathlib import Path

from nen_bayes import __version__
from nen_bayes.errors import EXIT_BAD_INPUT, EXIT_CODES, EXIT_OK

__all__ = ["commands", "exit_now", "main", "run"]


def _name(module: str) -> str:
    return module.replace("_", "-")


def commands() -> dict[str, str]:
    """Command name -> module name, for every command module of this package."""
    return {_name(m.name): m.name for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_")}


def _describe(module_name: str) -> str:
    """The first sentence of the command's docstring, read from its source file (the module
    is not imported)."""
    source = Path(__path__[0], f"{module_name}.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    return re.split(r"\.\s+(?=[A-Z])", first)[0].removesuffix(".")


def _usage(out) -> None:
    print("usage: nen-bayes COMMAND [options]    (nen-bayes COMMAND --help for its options)\n\n"
          "commands:", file=out)
    table = commands()
    width = max(map(len, table))
    for name, module in table.items():
        text = textwrap.fill(_describe(module), width=100, initial_indent=f"  {name:<{width}}  ",
                             subsequent_indent=" " * (width + 4))
        print(text, file=out)
    print("\noptions:\n  -V, --version  print the version and exit\n"
          "  -h, --help     this list\n\nexit codes (each command's --help says which it uses):",
          file=out)
    for code, text in EXIT_CODES.items():
        print(textwrap.fill(text, width=100, initial_indent=f"  {code}  ",
                            subsequent_indent="     "), file=out)


def main(argv: list[str] | None = None) -> int:
    """Run ``nen-bayes COMMAND [options]``; returns the command's exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        _usage(sys.stdout)
        return EXIT_OK if args else EXIT_BAD_INPUT
    if args[0] in ("-V", "--version"):
        print(f"nen-bayes {__version__}")
        return EXIT_OK
    table = commands()
    name = args[0].replace("_", "-").removesuffix(".py")
    if name not in table:
        print(f"nen-bayes: error: unknown command {args[0]!r}; commands: "
              f"{', '.join(table)} (nen-bayes --help describes each)", file=sys.stderr)
        return EXIT_BAD_INPUT
    module = importlib.import_module(f"{__name__}.{table[name]}")
    sys.argv[0] = f"nen-bayes {name}"
    return module.main(args[1:])


def exit_now(code: int) -> None:
    """End the process with ``code`` once a command has returned: its files are closed (every
    result is written atomically inside the command), its scratch directory removed and the
    exit handlers run (multiprocessing's temporary directory among them), so the interpreter's
    teardown of the scientific stack (about a second) is skipped. Only the
    command wrappers call this, never the library (a caller of ``main`` keeps its process)."""
    import atexit
    import os

    atexit._run_exitfuncs()  # what is registered to run at exit (logging, temporary dirs)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def run() -> None:
    """The ``nen-bayes`` console entry point: :func:`main`, then :func:`exit_now`."""
    exit_now(main())

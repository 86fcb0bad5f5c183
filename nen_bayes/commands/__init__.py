"""The ``nen-bayes`` command: one entry point for every command of the toolkit.

``nen-bayes fit ...`` runs the module :mod:`nen_bayes.commands.fit` with the same options as
``scripts/fit.py`` (the files under ``scripts/`` are thin wrappers over these modules), and so for
every module of this package: the commands are found by walking it, so a new command is a new
module with a ``main(argv) -> int`` function and a docstring whose first line describes it.
``python -m nen_bayes`` is the same command.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
import textwrap

from nen_bayes import __version__

__all__ = ["commands", "main"]


def _name(module: str) -> str:
    return module.replace("_", "-")


def commands() -> dict[str, str]:
    """Command name -> module name, for every command module of this package."""
    return {_name(m.name): m.name for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_")}


def _describe(module_name: str) -> str:
    """The first sentence of the command's docstring."""
    doc = importlib.import_module(f"{__name__}.{module_name}").__doc__ or ""
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
    print("\noptions:\n  --version  print the version and exit\n  --help     this list",
          file=out)


def main(argv: list[str] | None = None) -> int:
    """Run ``nen-bayes COMMAND [options]``; returns the command's exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        _usage(sys.stdout)
        return 0 if args else 2
    if args[0] == "--version":
        print(f"nen-bayes {__version__}")
        return 0
    table = commands()
    name = args[0].replace("_", "-").removesuffix(".py")
    if name not in table:
        print(f"nen-bayes: error: unknown command {args[0]!r}; commands: "
              f"{', '.join(table)} (nen-bayes --help describes each)", file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__name__}.{table[name]}")
    sys.argv[0] = f"nen-bayes {name}"
    return module.main(args[1:])

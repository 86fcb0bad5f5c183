"""The layers of ARCHITECTURE.md, kept true by parsing the code.

The layer table is read from ARCHITECTURE.md itself (its ```layers block), so the document and
the code cannot drift apart: every module of the package must belong to a layer, imports may only
point to a lower layer (or within the same package), sibling packages of one layer may not import
each other, only the plotting module, the pipeline and the commands may import plotting or
matplotlib, our own modules are imported at the top of a module (never inside a function; the
commands, the top layer, excepted), and the import graph has no cycle. Each rule is also shown
to fail on a module written to break it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "nen_bayes"
PLOTTING_ALLOWED = {"plotting", "pipeline", "commands"}
#: The top layer imports the fitting and plotting modules where a command uses them, so that a
#: command that fits nothing or draws no figure starts without them (ARCHITECTURE.md).
INNER_IMPORTS_ALLOWED = {"commands"}


def read_layers(text: str) -> list[list[tuple[str, ...]]]:
    """Parse the ```layers block: one line per rank (lowest first); ``|`` separates sibling
    groups of a rank; a group is one or more top-level names (package or module)."""
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md has no ```layers block"
    ranks = []
    for line in block.group(1).splitlines():
        line = line.split("#")[0].strip()
        if line:
            ranks.append([tuple(g.split()) for g in line.split("|")])
    return ranks


def layer_index(ranks) -> dict[str, tuple[int, int]]:
    """top-level name -> (rank, sibling group)."""
    return {name: (r, g) for r, groups in enumerate(ranks) for g, names in enumerate(groups)
            for name in names}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(source: str, name: str, is_package: bool) -> list[tuple[str, int, bool]]:
    """(imported module, line, at top level) for every import of ``source``; relative imports
    are resolved against ``name``."""
    tree = ast.parse(source)
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import sub` imports the submodule
            out.append((mod, node.lineno, id(node) in top))
            out += [(f"{mod}.{a.name}", node.lineno, id(node) in top) for a in node.names]
    return out


def own_layer(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "nen_bayes" else None


def violations(sources: dict[str, tuple[str, bool]], ranks) -> list[str]:
    """Every broken rule in ``sources`` (module name -> (source, is package))."""
    index = layer_index(ranks)
    known = set(sources)
    out, graph = [], {}
    for name, (src, is_pkg) in sources.items():
        here = own_layer(name)
        if name == "nen_bayes":
            continue  # the public API loads its names lazily, by module path strings
        if here not in index:
            out.append(f"{name}: in no layer of ARCHITECTURE.md")
            continue
        graph[name] = set()
        for mod, line, at_top in imports(src, name, is_pkg):
            if mod.split(".")[0] == "matplotlib" and here not in PLOTTING_ALLOWED:
                out.append(f"{name}:{line} imports matplotlib")
            there = own_layer(mod)
            if there is None:
                continue
            if mod in known:
                graph[name].add(mod)
            if there == "plotting" and here not in PLOTTING_ALLOWED:
                out.append(f"{name}:{line} imports plotting")
            if not at_top and here not in INNER_IMPORTS_ALLOWED:
                out.append(f"{name}:{line} imports {mod} inside a function")
            if there == here or there not in index:
                continue
            (r1, g1), (r2, g2) = index[here], index[there]
            if r2 > r1:
                out.append(f"{name}:{line} imports {mod} from a higher layer")
            elif r2 == r1 and g2 != g1:
                out.append(f"{name}:{line} imports {mod} from a sibling layer")
    out += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def package_sources(root: Path = PACKAGE) -> dict[str, tuple[str, bool]]:
    return {module_name(p, root): (p.read_text(), p.name == "__init__.py")
            for p in sorted(root.rglob("*.py"))}


@pytest.fixture(scope="module")
def ranks():
    return read_layers((ROOT / "ARCHITECTURE.md").read_text())


def test_the_package_keeps_its_layers(ranks):
    sources = package_sources()
    assert len(sources) > 40  # the walk found the package
    assert violations(sources, ranks) == []


def test_every_layer_of_the_document_exists(ranks):
    for name in layer_index(ranks):
        assert (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file(), name


def _with(ranks, name, source, is_pkg=False):
    sources = package_sources()
    sources[name] = (source, is_pkg)
    return violations(sources, ranks)


def test_a_bayes_module_importing_the_frequentist_layer_is_refused(ranks):
    found = _with(ranks, "nen_bayes.bayes.design",
                  sources_of("nen_bayes.bayes.design") + "\nfrom nen_bayes.frequentist.km "
                  "import kaplan_meier\n")
    assert any("nen_bayes.bayes.design" in v and "sibling layer" in v for v in found), found


def test_a_computation_module_importing_plotting_is_refused(ranks):
    found = _with(ranks, "nen_bayes.bayes.model",
                  "from nen_bayes import plotting\nimport matplotlib.pyplot as plt\n")
    assert "nen_bayes.bayes.model:1 imports plotting" in found
    assert "nen_bayes.bayes.model:2 imports matplotlib" in found


def test_upward_imports_inner_imports_unknown_modules_and_cycles_are_refused(ranks):
    found = _with(ranks, "nen_bayes.cohorts.extra",
                  "def f():\n    from ..posterior import summary\n")
    assert any("higher layer" in v for v in found), found
    assert any("inside a function" in v for v in found), found
    found = _with(ranks, "nen_bayes.stray", "x = 1\n")
    assert "nen_bayes.stray: in no layer of ARCHITECTURE.md" in found
    a = "from nen_bayes.posterior import compare\n"
    sources = package_sources()
    sources["nen_bayes.posterior.summary"] = (a, False)
    sources["nen_bayes.posterior.compare"] = ("from nen_bayes.posterior import summary\n", False)
    assert any(v.startswith("import cycle") and "nen_bayes.posterior.compare" in v
               for v in violations(sources, ranks))


def sources_of(name: str) -> str:
    return package_sources()[name][0]


def test_the_layout_table_names_every_module():
    """ARCHITECTURE.md (the module map, which the docs site includes) names every module of
    the package; the short README points to it."""
    arch = (ROOT / "ARCHITECTURE.md").read_text()
    for p in sorted(PACKAGE.rglob("*.py")):
        if p.name == "__init__.py":
            continue
        rel = p.relative_to(ROOT).as_posix()
        assert f"`{rel.removeprefix('nen_bayes/')}`" in arch, rel


MAX_FUNCTION_LINES = 80


def long_functions(source: str) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function longer than MAX_FUNCTION_LINES lines that
    has no ``# long: <reason>`` comment on the line above its ``def`` (or its decorators)."""
    lines = source.splitlines()
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            above = lines[first - 2].strip() if first >= 2 else ""
            if length > MAX_FUNCTION_LINES and not re.match(r"# long: \S", above):
                out.append((node.name, node.lineno, length))
    return out


def test_no_long_function_without_a_reason():
    found = {name: long_functions(src) for name, (src, _) in package_sources().items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_long_function_rule_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    src = f"def f():\n{body}\n"
    assert long_functions(src) == [("f", 1, MAX_FUNCTION_LINES + 1)]
    assert long_functions("# long: one closed-form table, read top to bottom\n" + src) == []

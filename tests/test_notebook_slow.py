"""The example notebook examples/inspect_fit.ipynb runs from top to bottom (so it never goes
stale) and is stored executed, with its outputs.

The kernel is this interpreter's ipykernel, declared in a kernelspec written to a temporary
directory; Jupyter's and IPython's directories point there too, so nothing is read from or
written to the user's home."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

NOTEBOOK = ROOT / "examples" / "inspect_fit.ipynb"
KERNEL = "nen-bayes-notebook-test"


def jupyter_env(workdir: Path) -> dict[str, str]:
    """Jupyter's and IPython's directories under ``workdir`` (never the user's home)."""
    return {"IPYTHONDIR": str(workdir / "ipython"), "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_DATA_DIR": str(workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"), "JUPYTER_PLATFORM_DIRS": "1"}


def execute_notebook(path: Path, workdir: Path, *, timeout: int = 600):
    """Execute the notebook at ``path`` in memory (cells run in the notebook's folder) with this
    interpreter's ipykernel, declared in a kernelspec under ``workdir``; return the executed
    notebook. Raises nbclient's ``CellExecutionError`` on the first cell that fails. The
    environment must hold :func:`jupyter_env` (Jupyter finds the kernelspec through it)."""
    from nbclient import NotebookClient

    spec_dir = workdir / "data" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nen-bayes (tests)", "language": "python",
        "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}}))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_example_notebook_runs_without_error(tmp_path, monkeypatch):
    for var, value in jupyter_env(tmp_path).items():
        monkeypatch.setenv(var, value)
    nb = execute_notebook(NOTEBOOK, tmp_path)
    cells = _code_cells(nb)
    assert all(o.output_type != "error" for c in cells for o in c.outputs)
    text = "".join(o.get("text", "") for c in cells for o in c.outputs)
    assert "SYNTHETIC DATA" in text and "HR 0." in text  # the notice and the contrast
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.outputs)
    assert images >= 6  # rank, trace, ppc, compare, forest, HR posterior, curves


def test_the_stored_notebook_is_executed_with_its_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert "synthetic" in nb.cells[0].source.lower()  # said first
    cells = _code_cells(nb)
    assert cells and all(c.outputs for c in cells), \
        [i for i, c in enumerate(cells) if not c.outputs]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    assert all(o.output_type != "error" for c in cells for o in c.outputs)

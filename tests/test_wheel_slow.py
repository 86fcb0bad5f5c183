"""The package as users install it: a wheel and an sdist built from this clone, the wheel
installed into a fresh virtual environment outside the clone, its ``nen-bayes`` command run from
another directory. Fails if a sub-package, a model file or a prior grid is missing from the wheel.

The fresh environment takes the installed dependencies (PyMC, lifelines, ...) from the
environment running the tests through a path file, so that the test needs no network; nen-bayes
itself comes only from the wheel (the test checks where it is imported from).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


#: the environment of every command run here: nothing of this clone on the path
CLEAN = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(cmd, cwd, env=None, timeout=900, codes=(0,)):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       env=CLEAN if env is None else env, timeout=timeout, check=False)
    assert r.returncode in codes, \
        f"{cmd}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", dist, ROOT], ROOT)
    wheel = next(dist.glob("nen_bayes-*.whl"))
    sdist = next(dist.glob("nen_bayes-*.tar.gz"))
    return wheel, sdist


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    wheel, _ = built
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", venv], venv.parent)
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     venv.parent).stdout.strip())
    _run([py, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel], venv.parent)
    # then the dependencies as installed here, after the wheel so that pip never sees this
    # environment's own nen-bayes (nor is its editable finder loaded: a path file's entries
    # are not site directories)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _shipped(root: Path) -> set[str]:
    files = {p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    return {f for f in files if f.endswith((".py", ".toml", ".csv", ".json", ".md"))}


def test_wheel_carries_every_module_model_file_and_prior_grid(built):
    wheel, sdist = built
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"nen_bayes/{f}" for f in _shipped(ROOT / "nen_bayes")}
    missing = sorted(expected - names)
    assert missing == [], f"missing from the wheel: {missing}"
    # the reader's models/ and the wheel's copy are the same files
    for f in _shipped(ROOT / "models"):
        assert f"nen_bayes/models/{f}" in names, f
    assert any(n.startswith("nen_bayes/models/priors/line/") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "Classifier:" in text and "License" in text
    assert any(n.endswith("entry_points.txt") for n in names)
    import tarfile

    members = tarfile.open(sdist).getnames()
    for f in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"):
        assert any(m.endswith("/" + f) for m in members), f


def test_installed_command_runs_outside_the_clone(installed, tmp_path):
    bin_ = installed / "bin"
    env = {**CLEAN, "MPLBACKEND": "Agg"}
    env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
    where = _run([bin_ / "python", "-c", "import nen_bayes; print(nen_bayes.__file__)"],
                 tmp_path, env).stdout
    assert str(installed) in where and str(ROOT) not in where
    version = _run(["nen-bayes", "--version"], tmp_path, env).stdout
    import nen_bayes

    assert version.strip() == f"nen-bayes {nen_bayes.__version__}"
    assert _run([bin_ / "python", "-m", "nen_bayes", "--version"], tmp_path, env).stdout == version

    data = _run([bin_ / "python", "-c", "from nen_bayes.data import BUNDLED_COHORT as b; print(b)"],
                tmp_path, env).stdout.strip()  # the bundled cohort as the wheel installed it
    assert str(installed) in data
    few = ["--draws", "100", "--tune", "100", "--chains", "2"]
    r = _run(["nen-bayes", "fit", "--data", data, "--model", "weibull_ph_centre", "--endpoint",
              "os", *few, "--out", tmp_path / "fit"], tmp_path, env, codes=(0, 3))
    assert (tmp_path / "fit" / "fit.nc").exists()
    run_json = (tmp_path / "fit" / "run.json").read_text()
    assert nen_bayes.__version__ in run_json
    # a fit that missed its convergence checks is written and ends with exit code 3
    assert r.returncode == (0 if json.loads(run_json)["converged"] else 3)
    _run(["nen-bayes", "reanalyse", "--data", data, "--no-prior-grid", *few,
          "--out", tmp_path / "job"], tmp_path, env, timeout=1500)
    assert (tmp_path / "job" / "report.html").exists()
    summary = (tmp_path / "job" / "summary.txt").read_text()
    assert summary.startswith("SYNTHETIC DATA") and "297 units" in summary
    assert "Cox HR" in summary and "line: second_line vs salvage" in summary

"""The ``nen-bayes`` command and the shipped model files: every script is a command of the one
entry point (and the other way round), ``python -m nen_bayes`` dispatches with the scripts'
options, and a shipped model is found by name from any directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

import nen_bayes
from nen_bayes.bayes.spec import load_spec
from nen_bayes.commands import commands
from nen_bayes.data import MODELS_DIR, PRIOR_GRID_DIR, shipped_model
from nen_bayes.errors import SpecError


def run(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nen_bayes", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, check=False)


def test_every_script_is_a_command_and_every_command_a_script():
    scripts = {p.stem.replace("_", "-") for p in (ROOT / "scripts").glob("*.py")}
    assert scripts == set(commands())
    for p in (ROOT / "scripts").glob("*.py"):  # each a wrapper over its command's main
        assert f"from nen_bayes.commands.{p.stem} import main" in p.read_text()


def test_help_lists_the_commands_and_version_reads_the_metadata(tmp_path):
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0
    for name in commands():
        assert f"\n  {name} " in r.stdout
    r = run("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"nen-bayes {nen_bayes.__version__}"


def test_a_command_takes_the_scripts_options_and_an_unknown_one_is_refused(tmp_path):
    r = run("fit", "--help", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("usage: nen-bayes fit ")
    assert "--formula" in r.stdout and "Exit codes" in r.stdout
    r = run("fitt", "--data", "x.csv", cwd=tmp_path)
    assert r.returncode == 2 and "unknown command 'fitt'" in r.stderr and "fit" in r.stderr
    assert run(cwd=tmp_path).returncode == 2  # no command: the list, and a usage error


def test_a_shipped_model_is_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec("weibull_ph_centre")
    assert spec.name == "weibull_ph_centre" and spec.source == str(MODELS_DIR /
                                                                     "weibull_ph_centre.toml")
    assert shipped_model("weibull_ph_centre.toml") == shipped_model("weibull_ph_centre")
    assert shipped_model("../weibull_ph_centre") is None
    with pytest.raises(SpecError, match=r"name of a shipped model: .*weibull_ph_pooled"):
        load_spec("weibull_ph_centr")
    assert len(list(PRIOR_GRID_DIR.glob("*.toml"))) == 9


def test_the_clone_models_folder_is_the_package_copy():
    """``models/`` (where a reader looks) and ``nen_bayes/models/`` (what the wheel ships) are
    the same files."""
    assert (ROOT / "models").resolve() == MODELS_DIR.resolve()

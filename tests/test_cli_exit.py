"""The command wrappers end the process as soon as the command has returned (the files are
closed and the scratch directory removed inside it), skipping the interpreter's teardown of
the scientific stack: the exit code and every line printed still arrive."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          check=False, cwd=ROOT, timeout=300)


def test_a_wrapper_exits_with_the_commands_code_and_all_its_output(tmp_path):
    r = _run(ROOT / "scripts/describe.py", "--data", "bundled")
    assert r.returncode == 0, r.stderr
    full = _run("-c", "import sys; from nen_bayes.commands.describe import main; "
                      "sys.exit(main(['--data', 'bundled']))")
    assert full.returncode == 0 and r.stdout == full.stdout  # nothing lost at the fast exit


def test_bad_input_still_exits_2_with_its_message(tmp_path):
    r = _run("-m", "nen_bayes", "describe", "--data", tmp_path / "missing.csv")
    assert r.returncode == 2
    assert "missing.csv" in r.stderr
    r = _run(ROOT / "scripts/fit.py", "--data", tmp_path / "missing.csv", "--model",
             "weibull_ph_centre", "--out", tmp_path / "out")
    assert r.returncode == 2 and "missing.csv" in r.stderr
    assert not (tmp_path / "out").exists()

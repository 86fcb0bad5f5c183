"""The commands users run: --help, exit codes, nothing written on bad input, --force."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, write_csv

from nen_bayes.data import BUNDLED_COHORT

SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def run(*args, cwd=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, check=False)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_has_help(script):
    r = run(script, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout and "Exit codes" in r.stdout


def test_describe_bundled_cohort_says_synthetic():
    r = run(ROOT / "scripts/describe.py", "--data", BUNDLED_COHORT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("SYNTHETIC DATA") == 2 and "units       297" in r.stdout


def test_describe_bad_input_exits_2_with_message(tmp_path, small):
    frame = small.copy()
    frame.loc[2, "os_months"] = "-1"
    p = write_csv(tmp_path / "bad.csv", frame)
    r = run(ROOT / "scripts/describe.py", "--data", p)
    assert r.returncode == 2
    assert "bad.csv" in r.stderr and "'os_months'" in r.stderr and "row 4" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_describe_other_cohort_by_naming_columns(tmp_path):
    from lifelines.datasets import load_lung

    p = tmp_path / "lung.csv"
    load_lung().to_csv(p, index=False)
    r = run(ROOT / "scripts/describe.py", "--data", p, "--endpoint", "os=time:status",
            "--centre", "inst", "--row-ids", "--factor", "sex", "--numeric", "age",
            "--missing", "drop", "--time-unit", "days", "--json")
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["provenance"]["n_units"] == 227 and len(out["centres"]) == 18
    assert out["endpoints"][0]["events"] == 164  # one death was at the dropped institution
    assert "SYNTHETIC" not in r.stdout


def test_simulate_writes_atomically_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "sim.csv"
    r = run(ROOT / "scripts/simulate.py", "--out", out, "--seed", "4", "--n", "120")
    assert r.returncode == 0, r.stderr
    first = out.read_bytes()
    truth = tmp_path / "sim.truth.json"
    assert truth.exists()
    r = run(ROOT / "scripts/simulate.py", "--out", out, "--seed", "5", "--n", "120")
    assert r.returncode == 2 and "--force" in r.stderr
    assert out.read_bytes() == first  # kept
    r = run(ROOT / "scripts/simulate.py", "--out", out, "--seed", "5", "--n", "120", "--force")
    assert r.returncode == 0 and out.read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.csv", "sim.truth.json"]
    r = run(ROOT / "scripts/describe.py", "--data", out)
    assert r.returncode == 0 and "SYNTHETIC DATA" in r.stdout


def test_simulate_bad_calibration_exits_2_and_writes_nothing(tmp_path):
    cal = tmp_path / "cal.toml"
    cal.write_text("[cohort\n")
    r = run(ROOT / "scripts/simulate.py", "--out", tmp_path / "x.csv", "--calibration", cal)
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.toml"]


def test_describe_named_tab_delimiter(tmp_path, small):
    p = write_csv(tmp_path / "tabs.csv", small, sep="\t")
    r = run(ROOT / "scripts/describe.py", "--data", p, "--sep", "\\t")
    assert r.returncode == 0, r.stderr
    assert "units       12" in r.stdout
    r = run(ROOT / "scripts/describe.py", "--data", p, "--sep", ";")
    assert r.returncode == 2 and "semicolon delimiter leaves a single column" in r.stderr

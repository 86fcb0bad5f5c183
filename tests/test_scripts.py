"""The commands users run: --help, exit codes, nothing written on bad input, --force."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_csv
from fakes import fake_tree

from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.posterior.summary import fit_summary_text, posterior_effects
from nen_bayes.provenance import SYNTHETIC_NOTICE

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


def test_fit_summary_text_frames_a_synthetic_fit_and_writes_probabilities_by_the_convention():
    """fit.py's printed summary, built by the library: the line log-HR is 0.3 in every draw,
    so P(HR < 1) is exactly 0, written "<0.001"; HR exp(0.3) = 1.350. A synthetic fit is framed
    by the notice."""
    tree = fake_tree(beta=np.full((2, 50), 0.3), chains=2, draws=50, synthetic=True)
    tree.attrs.update(chains=2, draws=50)
    ppc = pd.DataFrame([{"quantity": "median survival", "unit": "months", "q50": 30.0,
                         "q2_5": 3.0, "q97_5": 300.0, "share_outside": 0.05,
                         "outside": "below 1 or above 240"}])
    text = fit_summary_text(tree, posterior_effects(tree), ppc, title="A title", seconds=1.25)
    lines = text.splitlines()
    assert lines[0] == lines[-1] == SYNTHETIC_NOTICE
    assert lines[1] == "Model fake_model (A title) on fake.csv, endpoint os: 60 units, " \
        f"{tree.attrs['n_events']} events"
    assert lines[2] == "2 chains x 50 draws (none, seed 0): 1.2 s, 0 divergent transitions"
    hr = next(line for line in lines if line.lstrip().startswith("hazard_ratio"))
    assert "   1.350 (1.350-1.350)   P(HR < 1) < 0.001" in hr
    assert "median    30.00 months  95% 3.00-300.00; 5.0% below 1 or above 240" in text

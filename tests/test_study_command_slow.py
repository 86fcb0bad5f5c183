"""study.py end to end on the bundled cohort's design, with real fits (slow tier): each kind
writes its table, its text, its figures and run.json; a second run with --resume finds every
task done and fits nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nen_bayes.commands.study import main

pytestmark = pytest.mark.slow

TINY = ["--reps", "2", "--draws", "60", "--tune", "100", "--chains", "2", "--workers", "2",
        "--quiet", "--formats", "png"]


@pytest.mark.parametrize("kind", ["sbc", "operating"])
def test_a_study_writes_its_table_text_figures_and_run_record(kind, tmp_path, capsys):
    out = tmp_path / kind
    extra = ["--ranks-of", "39", "--bins", "4"] if kind == "sbc" else ["--hr", "0.7,1.0",
                                                                      "--sd", "0.2"]
    assert main([kind, *TINY, *extra, "--out", str(out)]) == 0
    table = pd.read_parquet(out / "results.parquet")
    n = 2 if kind == "sbc" else 4
    assert list(table["task"]) == list(range(n)), table
    assert (table["status"] == "ok").all(), table["error"].tolist()
    assert (out / f"{kind}.txt").read_text().strip()
    assert list(out.glob(f"{kind}*.png"))
    run = json.loads((out / "run.json").read_text())
    assert run["tasks"] == n and run["workers"] == 2 and run["synthetic"] is True
    capsys.readouterr()
    assert main([kind, *TINY, *extra, "--out", str(out), "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["ran_now"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)

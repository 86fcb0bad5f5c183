"""study.py end to end on the bundled cohort's design, with real fits (slow tier): each kind
writes its table, its text, its figures and run.json; a second run with --resume finds every
task done and fits nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nen_bayes.commands.study import main
from nen_bayes.data import BUNDLED_COHORT

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


def test_assurance_from_a_fit_and_a_fit_of_another_model_refused(tmp_path, capsys):
    from nen_bayes.commands.fit import main as fit_main

    rc = fit_main(["--data", str(BUNDLED_COHORT), "--endpoint", "os", "--model",
                   "weibull_ph_centre", "--draws", "100", "--tune", "100", "--chains", "2",
                   "--quiet", "--formats", "png", "--out", str(tmp_path / "fit")])
    converged = json.loads((tmp_path / "fit" / "run.json").read_text())["converged"]
    assert rc == (0 if converged else 3)  # written either way; 3: it missed its checks
    fit = tmp_path / "fit" / "fit.nc"
    out = tmp_path / "assurance"
    rc = main(["assurance", "--fit", str(fit), "--n", "30,60", "--centres", "3", *TINY,
               "--out", str(out)])
    assert rc == 0
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 4 and (table["status"] == "ok").all(), table["error"].tolist()
    assert list(out.glob("assurance*.png"))
    capsys.readouterr()
    rc = main(["assurance", "--fit", str(fit), "--model", "weibull_ph_pooled", *TINY,
               "--out", str(tmp_path / "other")])
    assert rc == 2 and "hash differs" in capsys.readouterr().err

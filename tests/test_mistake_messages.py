"""Messages for typical mistakes on one's own cohort: a numeric column given as a factor, the
default model set on another cohort, a column name in the wrong case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from test_option_limits import run_main


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory):
    """A cohort of 80 units with an integer age of about 45 distinct values, an 'aid' column
    and an 'id' column (so that a case-blind match of 'Aid' would pick 'id')."""
    rng = np.random.default_rng(1)
    n = 80
    path = tmp_path_factory.mktemp("own") / "own.csv"
    pd.DataFrame({"id": np.arange(n), "aid": rng.integers(0, 2, n),
                  "time": rng.exponential(10, n).round(2) + 0.1,
                  "status": rng.integers(0, 2, n), "age": rng.integers(30, 90, n),
                  "trt": rng.choice(["A", "B"], n)}).to_csv(path, index=False)
    return path


def test_a_numeric_factor_with_many_values_is_refused_with_a_pointer_to_numeric(
        cohort_csv, tmp_path, capsys):
    k = pd.read_csv(cohort_csv)["age"].nunique()
    rc, err = run_main("baseline.py", ["--data", cohort_csv, "--time", "time",
                                       "--time-unit", "days", "--event", "status",
                                       "--factor", "age",
                                       "--out", tmp_path / "b"],
                       capsys)
    assert rc == 2, err
    assert "'age'" in err and f"{k} distinct values" in err and "--numeric age" in err
    assert not (tmp_path / "b").exists()
    # a factor with few values is taken as it is
    rc, err = run_main("describe.py", ["--data", cohort_csv, "--time", "time",
                                       "--time-unit", "days", "--event", "status",
                                       "--factor", "trt"],
                       capsys)
    assert rc == 0, err


def test_the_default_model_set_on_another_cohort_says_where_the_columns_come_from(
        cohort_csv, tmp_path, capsys):
    rc, err = run_main("reanalyse.py", ["--data", cohort_csv, "--time", "time",
                                        "--time-unit", "days", "--event", "status", "--out",
                                        tmp_path / "r"], capsys)
    assert rc == 2
    assert "default model set" in err and "--model" in err and "--formula" in err
    assert "weibull_ph_centre.toml" in err and "'line'" in err


def test_a_model_files_missing_columns_name_the_file(cohort_csv, tmp_path, capsys):
    rc, err = run_main("fit.py", ["--data", cohort_csv, "--time", "time",
                                  "--time-unit", "days", "--event", "status",
                                  "--model", ROOT / "models/weibull_ph_pooled.toml", "--out",
                                  tmp_path / "f"], capsys)
    assert rc == 2 and "weibull_ph_pooled.toml" in err and "default model set" not in err
    assert "used by the model weibull_ph_pooled" in err


def test_a_column_suggestion_ignores_case(cohort_csv, capsys):
    rc, err = run_main("describe.py", ["--data", cohort_csv, "--time", "time",
                                       "--time-unit", "days", "--event", "status",
                                       "--factor", "Aid"],
                       capsys)
    assert rc == 2 and "did you mean 'aid'" in err


def test_a_formulas_categorical_numeric_column_is_refused_naming_the_formula(
        cohort_csv, tmp_path, capsys):
    rc, err = run_main("fit.py", ["--data", cohort_csv, "--time", "time",
                                  "--time-unit", "days", "--event", "status",
                                  "--row-ids", "--no-centre", "--formula",
                                  "time ~ C(age) + trt", "--out", tmp_path / "f"], capsys)
    assert rc == 2 and "'age'" in err and "C(age)" in err and "without C()" in err
    assert not (tmp_path / "f").exists()

"""A workbook of several sheets is not read from its first without a word, and a bare time
column does not become months by default."""

from __future__ import annotations

import pandas as pd
import pytest

from nen_bayes.cohorts.read import read_table
from nen_bayes.cohorts.schema import time_unit_from_columns
from nen_bayes.errors import CohortFileError


def _book(path, sheets):
    with pd.ExcelWriter(path, engine="openpyxl") as w:
        for name, frame in sheets.items():
            frame.to_excel(w, sheet_name=name, index=False)


def test_a_workbook_of_several_sheets_needs_the_sheet_named(tmp_path):
    p = tmp_path / "cohort.xlsx"
    _book(p, {"notes": pd.DataFrame({"a": ["read me"]}),
              "patients": pd.DataFrame({"id": ["P1", "P2"], "t": [3.0, 4.0]})})
    with pytest.raises(CohortFileError, match=r"cohort.xlsx: the workbook has 2 sheets "
                                              r"\('notes', 'patients'\).*--sheet"):
        read_table(p)
    assert list(read_table(p, sheet="patients").frame["id"]) == ["P1", "P2"]
    with pytest.raises(CohortFileError, match=r"no sheet named 'patient'.*'notes', 'patients'"):
        read_table(p, sheet="patient")
    with pytest.raises(CohortFileError, match=r"sheet index 2 does not exist"):
        read_table(p, sheet=2)


def test_a_one_sheet_workbook_is_read_without_a_sheet(tmp_path):
    p = tmp_path / "one.xlsx"
    _book(p, {"anything": pd.DataFrame({"id": ["P1"], "t": [3.0]})})
    assert list(read_table(p).frame["t"]) == [3.0]


@pytest.mark.parametrize(("columns", "unit"), [
    (["os_months"], "months"), (["pfs.days", "os_days"], "days"), (["t_yrs"], "years"),
    (["time"], None), (["os_months", "pfs_days"], None), (["months"], None),
    (["follow_up"], None)])
def test_the_unit_a_column_name_states(columns, unit):
    assert time_unit_from_columns(columns) == unit



def _cli_schema(argv):
    from nen_bayes.pipeline.cli import add_cohort_options, schema_for, script_parser

    parser = script_parser("test", "A command.\n\nExit codes: none.")
    add_cohort_options(parser)
    return schema_for(parser.parse_args(argv), parser)


def test_a_bare_time_column_without_its_unit_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli_schema(["--data", "x.csv", "--time", "t", "--event", "e"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "the time column(s) t do not say their unit" in err and "--time-unit" in err
    with pytest.raises(SystemExit):
        _cli_schema(["--data", "x.csv", "--interval", "prog=L:U"])
    assert "L, U do not say their unit" in capsys.readouterr().err
    assert _cli_schema(["--data", "x.csv", "--time", "t", "--event", "e", "--time-unit",
                        "days"])[0].time_unit == "days"
    assert _cli_schema(["--data", "x.csv", "--time", "pfs_weeks", "--event", "e"]
                       )[0].time_unit == "weeks"
    # the case study's contract states its unit
    assert _cli_schema(["--data", "x.csv"])[0].time_unit == "months"

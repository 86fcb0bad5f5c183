"""Every rule of the cohort contract (nen_bayes.cohorts.validate), one test or more each.

Each test builds a small cohort from the bundled one, breaks one rule, and checks the specific
exception type and that its message names the file, the column, the rows/ids and what is allowed.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import write_csv

from nen_bayes import RE_NEN, load_cohort
from nen_bayes.errors import (
    CohortError,
    CohortFileError,
    ConsistencyWarning,
    DelimiterError,
    DuplicateIdError,
    EmptyCohortError,
    IncompleteEndpointError,
    InvalidEventError,
    InvalidTimeError,
    InvalidValueError,
    MissingColumnError,
    MissingValueError,
    SingletonCentreWarning,
    UnknownLevelError,
    ZeroTimeError,
)

OS_ONLY = RE_NEN.select(endpoints=["os"], factors=["line", "grade"], responses=[])


def _load(tmp_path, frame, schema=OS_ONLY, name="cohort.csv", **kw):
    path = write_csv(tmp_path / name, frame)
    return path, (lambda: load_cohort(path, schema, **kw))


def test_valid_small_cohort_loads_with_types(tmp_path, small):
    _, load = _load(tmp_path, small, RE_NEN)
    c = load()
    assert len(c) == 12
    assert c.data["os_months"].dtype == float
    assert set(c.data["os_event"].unique()) <= {0, 1}
    assert list(c.data["grade"].cat.categories) == ["G1", "G2", "G3"]
    assert c.data["grade"].cat.ordered
    assert c.rows[0] == 2  # header is row 1


def test_missing_required_column_names_file_column_and_hint(tmp_path, small):
    _, load = _load(tmp_path, small.drop(columns=["os_event"]).rename(
        columns={"os_months": "os_month"}))
    with pytest.raises(MissingColumnError, match=r"cohort\.csv.*'os_months'.*'os_event'") as e:
        load()
    assert "did you mean 'os_month'" in str(e.value)


def test_only_columns_the_analysis_uses_are_required(tmp_path, small):
    frame = small[["patient_id", "centre", "os_months", "os_event", "line"]]
    schema = RE_NEN.select(endpoints=["os"], factors=["line"], responses=[])
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), schema)
    assert list(c.data.columns) == ["patient_id", "centre", "os_months", "os_event", "line"]


def test_lenient_describe_mode_keeps_present_parts_only(tmp_path, small):
    frame = small.drop(columns=["hpfs_months", "hpfs_event", "vascularisation", "recist_12m"])
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), RE_NEN, lenient=True)
    assert [e.name for e in c.schema.endpoints] == ["os", "pfs"]
    assert "vascularisation" not in c.data.columns


def test_lenient_mode_still_requires_both_columns_of_an_endpoint(tmp_path, small):
    frame = small.drop(columns=["pfs_event"])
    with pytest.raises(MissingColumnError, match="pfs_event"):
        load_cohort(write_csv(tmp_path / "c.csv", frame), RE_NEN, lenient=True)


def test_no_endpoint_at_all_is_an_error(tmp_path, small):
    frame = small[["patient_id", "centre", "line", "grade"]]
    with pytest.raises(MissingColumnError, match="no endpoint columns"):
        load_cohort(write_csv(tmp_path / "c.csv", frame), RE_NEN, lenient=True)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("abc", "non-numeric"), ("-2.5", "negative"), ("inf", "infinite"), ("12..5", "non-numeric")],
)
def test_invalid_time_names_row_id_and_value(tmp_path, small, value, problem):
    frame = small.copy()
    frame.loc[3, "os_months"] = value
    _, load = _load(tmp_path, frame)
    with pytest.raises(InvalidTimeError, match=problem) as e:
        load()
    msg = str(e.value)
    assert "cohort.csv" in msg and "'os_months'" in msg
    assert f"row 5 (patient_id={frame.loc[3, 'patient_id']}): '{value}'" in msg
    assert "Allowed: a finite number >= 0" in msg


def test_zero_time_is_an_error_by_default(tmp_path, small):
    frame = small.copy()
    frame.loc[[1, 7], "os_months"] = "0"
    _, load = _load(tmp_path, frame)
    with pytest.raises(ZeroTimeError, match=r"2 zero time\(s\).*row 3.*row 9.*zero-time shift"):
        load()


def test_zero_time_shift_uses_half_the_smallest_positive_time(tmp_path, small):
    frame = small.copy()
    frame.loc[1, "os_months"] = "0.00"
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), OS_ONLY, zero_time="shift")
    positive = pd.to_numeric(small["os_months"]).drop(index=1)
    assert c.data.loc[1, "os_months"] == pytest.approx(positive.min() / 2)
    assert any("zero time" in n and frame.loc[1, "patient_id"] in n for n in c.notes)


@pytest.mark.parametrize("value", ["2", "yes", "0.5", "-1"])
def test_event_not_0_1_is_an_error(tmp_path, small, value):
    frame = small.copy()
    frame.loc[2, "os_event"] = value
    _, load = _load(tmp_path, frame)
    with pytest.raises(InvalidEventError, match=r"'os_event'.*row 4.*0 \(censored\), 1 \(event\)"):
        load()


def test_event_coding_1_2_is_the_documented_alternative(tmp_path, small):
    frame = small.copy()
    frame["os_event"] = (pd.to_numeric(frame["os_event"]) + 1).astype(str)
    schema = RE_NEN.select(endpoints=["os"], factors=[], responses=[])
    from dataclasses import replace

    c = load_cohort(write_csv(tmp_path / "c.csv", frame), replace(schema, event_coding="1/2"))
    np.testing.assert_array_equal(c.event("os"), pd.to_numeric(small["os_event"]).to_numpy())
    with pytest.raises(InvalidEventError, match="1/2"):  # 0/1 coding rejects the 2s
        load_cohort(write_csv(tmp_path / "c.csv", frame), schema)


def test_boolean_events_from_a_dataframe_are_read_as_1_0(small):
    frame = small.copy()
    frame["os_event"] = frame["os_event"] == "1"
    c = load_cohort(frame, OS_ONLY)
    np.testing.assert_array_equal(c.event("os"), pd.to_numeric(small["os_event"]).to_numpy())


@pytest.mark.parametrize(
    ("index", "column", "value", "match"),
    [(4, "os_event", "", r"'os_event'.*where 'os_months' is given: row 6.*''"),
     (5, "os_months", "NA", r"'os_months'.*where 'os_event' is given: row 7.*'NA'")],
)
def test_time_without_event_and_event_without_time(tmp_path, small, index, column, value,
                                                   match):
    frame = small.copy()
    frame.loc[index, column] = value
    _, load = _load(tmp_path, frame)
    with pytest.raises(IncompleteEndpointError, match=match):
        load()


def test_duplicate_id_lists_both_rows(tmp_path, small):
    frame = small.copy()
    frame.loc[7, "patient_id"] = frame.loc[2, "patient_id"]
    _, load = _load(tmp_path, frame)
    dup = frame.loc[2, "patient_id"]
    with pytest.raises(DuplicateIdError, match=rf"'patient_id'.*row 4 \(patient_id={dup}\).*"
                                               rf"row 9 \(patient_id={dup}\)"):
        load()


def test_missing_id_is_always_an_error(tmp_path, small):
    frame = small.copy()
    frame.loc[0, "patient_id"] = ""
    _, load = _load(tmp_path, frame, missing="drop")
    with pytest.raises(MissingValueError, match="missing unit id"):
        load()


def test_unknown_level_lists_allowed_levels(tmp_path, small):
    frame = small.copy()
    frame.loc[6, "grade"] = "G4"
    _, load = _load(tmp_path, frame)
    with pytest.raises(UnknownLevelError,
                       match=re.escape("row 8") + r".*'G4'.*\['G1', 'G2', 'G3'\]"):
        load()


def test_levels_match_case_insensitively_and_are_stored_canonically(tmp_path, small):
    frame = small.copy()
    frame["grade"] = frame["grade"].str.lower()
    frame["line"] = " " + frame["line"].str.upper() + " "
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), OS_ONLY)
    assert c.data["grade"].astype(str).tolist() == small["grade"].tolist()
    assert c.data["line"].astype(str).tolist() == small["line"].tolist()


def test_declared_further_levels_are_accepted(tmp_path, small):
    frame = small.copy()
    frame.loc[0, "line"] = "first_line"
    schema = OS_ONLY.with_levels("line", ["second_line", "salvage", "first_line"])
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), schema)
    assert c.data.loc[0, "line"] == "first_line"


def _with_missing(small):
    frame = small.copy()
    frame.loc[[1, 4], "grade"] = ""
    frame.loc[9, "line"] = "NA"
    return frame


def test_missing_covariates_default_error_counts_per_column(tmp_path, small):
    _, load = _load(tmp_path, _with_missing(small))
    with pytest.raises(MissingValueError) as e:
        load()
    msg = str(e.value)
    assert "'line': 1 missing" in msg and "'grade': 2 missing" in msg
    assert "--missing unknown" in msg and "--missing drop" in msg


def test_missing_covariates_kept_as_unknown_level(tmp_path, small):
    frame = _with_missing(small)
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), OS_ONLY, missing="unknown")
    assert (c.data["grade"] == "unknown").sum() == 2
    assert list(c.data["grade"].cat.categories) == ["G1", "G2", "G3", "unknown"]
    assert not c.data["grade"].cat.ordered  # 'unknown' has no place in the order
    assert any("grade: 2 missing" in n for n in c.notes)


def test_missing_covariates_dropped_and_reported(tmp_path, small):
    frame = _with_missing(small)
    c = load_cohort(write_csv(tmp_path / "c.csv", frame), OS_ONLY, missing="drop")
    assert len(c) == 9
    dropped = frame.loc[[1, 4, 9], "patient_id"].tolist()
    note = next(n for n in c.notes if n.startswith("dropped"))
    assert "3 of 12" in note and all(i in note for i in dropped)
    assert list(c.rows[:2]) == [2, 4]  # spreadsheet rows of the kept units


def test_missing_numeric_covariate_cannot_be_unknown(tmp_path, small):
    frame = small.copy()
    frame["age"] = ["61", "", *["55"] * 10]
    schema = RE_NEN.select(endpoints=["os"], factors=[], responses=[])
    from dataclasses import replace

    schema = replace(schema, numerics=("age",))
    with pytest.raises(MissingValueError, match="categorical covariates only"):
        load_cohort(write_csv(tmp_path / "c.csv", frame), schema, missing="unknown")
    frame.loc[3, "age"] = "sixty"
    with pytest.raises(InvalidValueError, match=r"'age'.*row 5.*'sixty'"):
        load_cohort(write_csv(tmp_path / "c.csv", frame), schema, missing="drop")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    with pytest.raises(EmptyCohortError, match=r"empty\.csv.*empty"):
        load_cohort(p, RE_NEN)
    p.write_bytes(b"  \n\n")
    with pytest.raises(EmptyCohortError):
        load_cohort(p, RE_NEN)


def test_header_only(tmp_path, small):
    p = tmp_path / "header.csv"
    p.write_text(",".join(small.columns) + "\n")
    with pytest.raises(EmptyCohortError, match="header but no data rows"):
        load_cohort(p, RE_NEN)


def test_delimiter_that_leaves_a_single_column(tmp_path, small):
    p = write_csv(tmp_path / "pipes.csv", small, sep="|")
    with pytest.raises(DelimiterError, match=r"pipes\.csv.*single column"):
        load_cohort(p, RE_NEN)
    with pytest.raises(DelimiterError, match="semicolon delimiter leaves a single column"):
        load_cohort(write_csv(tmp_path / "c.csv", small), RE_NEN, sep=";")


def test_centre_with_one_unit_is_allowed_with_a_warning(tmp_path, small):
    frame = small.copy()
    frame.loc[11, "centre"] = "C9"
    with pytest.warns(SingletonCentreWarning, match=r"'centre'.*1 centre\(s\).*\['C9'\]"):
        c = load_cohort(write_csv(tmp_path / "c.csv", frame), OS_ONLY)
    assert (c.data["centre"] == "C9").sum() == 1


def test_progression_after_death_warns(tmp_path, small):
    # the interval columns would refuse the changed times first (outside [lower, upper])
    frame = small.drop(columns=["hpfs_lower", "hpfs_upper", "pfs_lower", "pfs_upper"])
    frame.loc[0, "pfs_months"] = str(float(frame.loc[0, "os_months"]) + 5)
    frame.loc[0, "hpfs_months"] = frame.loc[0, "pfs_months"]
    with pytest.warns(ConsistencyWarning,
                      match=r"pfs_months > os_months \(rows \[2\], ids \['SYN001'\]\)"):
        load_cohort(write_csv(tmp_path / "c.csv", frame), RE_NEN)


def test_every_error_is_a_cohort_error_and_a_value_error():
    for exc in (MissingColumnError, InvalidTimeError, ZeroTimeError, InvalidEventError,
                IncompleteEndpointError, DuplicateIdError, UnknownLevelError, MissingValueError,
                EmptyCohortError, DelimiterError, CohortFileError, InvalidValueError):
        assert issubclass(exc, CohortError) and issubclass(exc, ValueError)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(CohortFileError, match="no such file"):
        load_cohort(tmp_path / "nope.csv", RE_NEN)
    p = tmp_path / "c.json"
    p.write_text("{}")
    with pytest.raises(CohortFileError, match=r"unsupported file type '\.json'.*\.xlsx"):
        load_cohort(p, RE_NEN)


def test_non_utf8_csv_is_rejected_with_advice(tmp_path, small):
    p = tmp_path / "latin.csv"
    frame = small.copy()
    frame.loc[0, "centre"] = "Zürich"
    p.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    with pytest.raises(CohortFileError, match="not valid UTF-8"):
        load_cohort(p, RE_NEN)


def test_no_warning_and_no_policy_note_for_a_clean_file(tmp_path, small):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = load_cohort(write_csv(tmp_path / "c.csv", small), RE_NEN)
    assert caught == [] and c.notes == () and len(c) == len(small)

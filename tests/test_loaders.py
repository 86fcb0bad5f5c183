"""File formats and column mapping: every supported input gives the same validated cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_csv
from lifelines.datasets import load_lung

from nen_bayes import RE_NEN, CohortSchema, load_cohort
from nen_bayes.cohorts.read import frame_hash, read_table
from nen_bayes.errors import MissingValueError


@pytest.fixture
def reference(tmp_path, small):
    return load_cohort(write_csv(tmp_path / "ref.csv", small), RE_NEN)


@pytest.mark.parametrize(
    ("sep", "decimal_comma", "bom"),
    [(";", True, False), (";", True, True), ("\t", False, False), (",", False, True),
     (";", False, False)],
)
def test_csv_variants_read_identically(tmp_path, small, reference, sep, decimal_comma, bom):
    p = write_csv(tmp_path / "v.csv", small, sep=sep, decimal_comma=decimal_comma, bom=bom)
    if decimal_comma:
        assert "," in p.read_text(encoding="utf-8-sig").splitlines()[1]
    pd.testing.assert_frame_equal(load_cohort(p, RE_NEN).data, reference.data)


def test_decimal_comma_is_not_guessed_in_comma_separated_files(tmp_path, small):
    frame = small.copy()
    frame.loc[0, "os_months"] = "12,5"  # quoted by the CSV writer: one cell
    with pytest.raises(Exception, match="non-numeric"):
        load_cohort(write_csv(tmp_path / "c.csv", frame), RE_NEN)


def test_excel_and_parquet_and_dataframe(tmp_path, small, reference):
    typed = small.copy()
    for c in typed.columns:
        if c.endswith("_months"):
            typed[c] = pd.to_numeric(typed[c])
        if c.endswith("_event"):
            typed[c] = pd.to_numeric(typed[c]).astype(int)
    typed = typed.replace({"": None})
    xlsx = tmp_path / "c.xlsx"
    typed.to_excel(xlsx, index=False)
    pd.testing.assert_frame_equal(load_cohort(xlsx, RE_NEN).data, reference.data)
    pq = tmp_path / "c.parquet"
    typed.to_parquet(pq)
    pd.testing.assert_frame_equal(load_cohort(pq, RE_NEN).data, reference.data)
    pd.testing.assert_frame_equal(load_cohort(typed, RE_NEN).data, reference.data)


def test_excel_numeric_ids_and_centres_read_as_text(tmp_path, small):
    typed = small.copy()
    typed["patient_id"] = np.arange(1, 13)
    typed["centre"] = [1] * 6 + [2] * 6
    p = tmp_path / "n.xlsx"
    typed.to_excel(p, index=False)
    c = load_cohort(p, RE_NEN)
    assert c.data["patient_id"].tolist()[:3] == ["1", "2", "3"]
    assert list(c.data["centre"].cat.categories) == ["1", "2"]


def test_data_hash_is_the_file_content_hash(tmp_path, small):
    import hashlib

    p = write_csv(tmp_path / "c.csv", small)
    c = load_cohort(p, RE_NEN)
    assert c.data_hash == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    assert c.provenance()["synthetic"] is False  # a copy without its truth file


def test_frame_hash_changes_with_content(small):
    changed = small.copy()
    changed.loc[0, "os_months"] = "1.00"
    assert frame_hash(small) == frame_hash(small.copy())
    assert frame_hash(small) != frame_hash(changed)


def test_read_table_keeps_cells_as_text(tmp_path, small):
    raw = read_table(write_csv(tmp_path / "c.csv", small, sep=";"))
    assert raw.delimiter == ";" and raw.decimal_comma
    assert raw.frame.loc[0, "os_months"] == small.loc[0, "os_months"]


def test_public_dataset_with_named_columns(tmp_path):
    """lifelines' copy of R survival's `lung` (NCCTG advanced lung cancer).

    Reference counts from R (survival 3.x): `nrow(lung)` = 228; `table(lung$status)` gives
    63 censored (1) and 165 deaths (2); `sum(is.na(lung$inst))` = 1; `sum(is.na(lung$ph.ecog))`
    = 1. lifelines recodes status to 0/1; here it is written back in R's 1/2 coding to exercise
    the documented alternative coding.
    """
    lung = load_lung()
    lung["status"] = lung["status"] + 1  # R's coding: 1 = censored, 2 = dead
    p = tmp_path / "lung.csv"
    lung.to_csv(p, index=False)
    schema = CohortSchema.custom({"os": ("time", "status")}, centre_column="inst",
                                 factors=["sex", "ph.ecog"], numerics=["age"],
                                 event_coding="1/2", time_unit="days")
    with pytest.raises(MissingValueError,
                       match=r"(?s)'inst': 1 missing: row 157: .*'ph\.ecog': 1 missing"):
        load_cohort(p, schema)
    c = load_cohort(p, schema, missing="drop")
    assert len(c) == 226
    full = load_cohort(p, CohortSchema.custom({"os": ("time", "status")}, event_coding="1/2"))
    assert len(full) == 228 and full.event("os").sum() == 165
    assert list(c.data["sex"].cat.categories) == ["1", "2"]
    assert c.data["inst"].nunique() == 18

"""describe_cohort: counts checked against independent computations, medians against closed
forms on hand-worked examples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nen_bayes import SYNTHETIC_NOTICE, CohortSchema, describe_cohort, load_cohort
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.re_nen import RE_NEN


def test_bundled_description_counts(bundled_frame):
    d = describe_cohort(load_cohort(BUNDLED_COHORT, RE_NEN))
    sizes = bundled_frame["centre"].value_counts()
    assert dict(zip(d.centres.centre, d.centres.n, strict=True)) == sizes.to_dict()
    for ep in ("os", "hpfs", "pfs"):
        row = d.endpoints.set_index("endpoint").loc[ep]
        assert row.events == (bundled_frame[f"{ep}_event"] == "1").sum()
        assert row.events + row.censored == 297
    grade = d.factors[d.factors.variable == "grade"].set_index("level")["n"]
    assert grade.to_dict() == bundled_frame["grade"].value_counts().to_dict()
    rec = d.responses[d.responses.variable == "recist_12m"].set_index("level")["n"]
    assert rec["(missing)"] == (bundled_frame["recist_12m"] == "").sum()


def test_km_median_and_reverse_km_follow_up_closed_form():
    # times 1..6, events 1,0,1,1,0,1. KM: S(1)=5/6, S(3)=5/6*3/4=0.625, S(4)=0.625*2/3=0.4167
    # -> median = 4 (first time S <= 0.5). Reverse KM (censorings as events): S(2)=4/5
    # (5 at risk at t=2), S(5)=0.8*1/2=0.4 -> median follow-up = 5.
    frame = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 0, 1, 1, 0, 1]})
    c = load_cohort(frame, CohortSchema.custom({"x": ("t", "e")}))
    row = describe_cohort(c).endpoints.iloc[0]
    assert row["median"] == 4 and row["median_follow_up"] == 5
    assert row["events"] == 4 and row["percent_events"] == pytest.approx(400 / 6)


def test_median_not_reached_is_nan_and_shown_as_nr():
    frame = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 0, 0]})
    d = describe_cohort(load_cohort(frame, CohortSchema.custom({"x": ("t", "e")})))
    assert np.isnan(d.endpoints.iloc[0]["median"])
    assert "NR" in d.to_text()


def test_synthetic_notice_appears_only_for_synthetic_data(small):
    text = describe_cohort(load_cohort(BUNDLED_COHORT, RE_NEN)).to_text()
    assert text.startswith("=" * 78 + "\n" + SYNTHETIC_NOTICE)
    assert text.rstrip().endswith(SYNTHETIC_NOTICE)
    assert SYNTHETIC_NOTICE not in describe_cohort(load_cohort(small, RE_NEN)).to_text()


def test_numeric_covariates_and_json_round_trip():
    frame = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "age": [50, 60, 70, 80]})
    c = load_cohort(frame, CohortSchema.custom({"x": ("t", "e")}, numerics=["age"]))
    d = describe_cohort(c)
    row = d.numerics.iloc[0]
    assert row["mean"] == 65 and row["sd"] == pytest.approx(np.std([50, 60, 70, 80], ddof=1))
    back = json.loads(json.dumps(d.to_dict()))
    assert back["numerics"][0]["median"] == 65 and back["provenance"]["n_units"] == 4

"""A grouping level needs groups: one group is refused (exit 2, naming the pooled model and
--no-centre), two or three groups are fitted with a note that the SD rests on its prior."""

from __future__ import annotations

import pytest
from conftest import ROOT, write_csv

from nen_bayes import load_cohort
from nen_bayes.bayes.design import few_group_notes, make_design
from nen_bayes.bayes.spec import load_spec
from nen_bayes.errors import ModelDataError
from nen_bayes.re_nen import RE_NEN

SPEC = ROOT / "models/weibull_ph_centre.toml"


def cohort_of(tmp_path, frame):
    return load_cohort(write_csv(tmp_path / "c.csv", frame), RE_NEN)


def test_one_centre_is_refused_naming_the_pooled_model_and_no_centre(tmp_path, bundled_frame):
    one = bundled_frame[bundled_frame["centre"] == "C1"]
    cohort = cohort_of(tmp_path, one)
    with pytest.raises(ModelDataError) as err:
        make_design(load_spec(SPEC), cohort, "os")
    msg = str(err.value)
    assert "single value ('C1')" in msg and "weibull_ph_pooled" in msg
    assert "--no-centre" in msg and "c.csv" in msg


@pytest.mark.parametrize("n_centres, noted", [(2, True), (3, True), (4, False)])
def test_few_centres_say_the_sd_rests_on_its_prior(tmp_path, bundled_frame, n_centres, noted):
    centres = sorted(bundled_frame["centre"].unique())
    assert len(centres) >= 4
    frame = bundled_frame[bundled_frame["centre"].isin(centres[:n_centres])]
    design = make_design(load_spec(SPEC), cohort_of(tmp_path, frame), "os")
    notes = few_group_notes(design)
    assert bool(notes) == noted
    if noted:
        assert f"only {n_centres} groups" in notes[0] and "rests mostly on its prior" in notes[0]

"""The synthetic cohort: bit-identical regeneration, structural truths of the generative model,
the calibration file's rules, and the published p-value pattern of the bundled draw."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from nen_bayes import RE_NEN, load_cohort, simulate_cohort
from nen_bayes.cohorts.read import content_hash
from nen_bayes.data import BUNDLED_COHORT, BUNDLED_TRUTH, CALIBRATION
from nen_bayes.errors import CalibrationError
from nen_bayes.re_nen.calibration import calibration_summary, calibration_table, km_mean, pattern_ok
from nen_bayes.re_nen.simulate import load_calibration, truth_json


@pytest.fixture(scope="module")
def cal():
    return load_calibration()


@pytest.fixture(scope="module")
def bundled_sim(cal):
    return simulate_cohort(cal)


def test_bundled_cohort_regenerates_bit_identically(bundled_sim):
    data = bundled_sim.to_csv_bytes()
    assert data == BUNDLED_COHORT.read_bytes()
    assert truth_json(bundled_sim, content_hash(data)) == BUNDLED_TRUTH.read_text()


def test_bundled_cohort_is_recognised_as_synthetic():
    c = load_cohort(BUNDLED_COHORT, RE_NEN)
    assert c.synthetic and c.truth["seed"] == load_calibration()["cohort"]["seed"]
    assert "SYNTHETIC" in c.provenance()["notice"]


def test_same_seed_same_cohort_other_seed_other_cohort(cal):
    a, b, c = (simulate_cohort(cal, seed=s) for s in (5, 5, 6))
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data["os_months"].equals(c.data["os_months"])
    assert a.truth["centres"]["effects"] != c.truth["centres"]["effects"]


def test_cohort_satisfies_the_contract_and_calibrated_sizes(cal, bundled_sim):
    d = bundled_sim.data
    assert list(d.columns) == RE_NEN.columns
    assert len(d) == cal["cohort"]["n"] == cal["targets"]["n"]["value"] == 297
    sizes = d["centre"].value_counts().reindex(cal["centres"]["labels"]).tolist()
    assert sizes == cal["centres"]["sizes"]
    load_cohort(d, RE_NEN)  # validates without error or warning


def test_endpoint_ordering_and_censoring_logic(cal):
    d = simulate_cohort(cal, seed=11, n=3000).data
    assert (d.pfs_months <= d.hpfs_months).all() and (d.hpfs_months <= d.os_months).all()
    # censored for OS -> censored at the same time for progression unless progression came first
    cens = d.os_event == 0
    assert ((d.hpfs_months[cens] < d.os_months[cens]) | (d.hpfs_event[cens] == 0)).all()
    # a death is a PFS event: if OS is an event at the PFS time, PFS is an event too
    same = d.pfs_months == d.os_months
    assert (d.pfs_event[same] >= d.os_event[same]).all()
    assert (d.os_months >= 0.01).all()


def test_recist_is_consistent_with_progression(cal):
    d = simulate_cohort(cal, seed=12, n=3000).data
    for months, col in ((3, "recist_3m"), (12, "recist_12m")):
        progressed = (d.pfs_event == 1) & (d.pfs_months <= months) & (d.pfs_months < d.os_months)
        assert (d.loc[progressed, col] == "PD").all()
        no_pd = d[col].isin(["CR", "PR", "SD"])
        assert (d.loc[no_pd, "pfs_months"] > months - 0.01).all()  # followed past the visit
    # PD at 3 months stays PD at 12 months (progression is not undone)
    assert (d.loc[d.recist_3m == "PD", "recist_12m"] == "PD").all()


def test_n_rescales_centre_sizes(cal):
    sim = simulate_cohort(cal, seed=3, n=1000)
    sizes = sim.truth["centres"]["sizes"]
    assert sum(sizes) == 1000 == len(sim.data)
    expected = np.array(cal["centres"]["sizes"]) / 297 * 1000
    assert np.all(np.abs(np.array(sizes) - expected) < 1)
    with pytest.raises(ValueError, match="smaller than the number of centres"):
        simulate_cohort(cal, n=3)


def test_truth_holds_every_parameter(cal, bundled_sim):
    t = bundled_sim.truth
    assert t["synthetic"] is True and t["calibration_hash"] == cal["_hash"]
    for proc in ("death", "hepatic_progression", "extrahepatic_progression"):
        assert t["processes"][proc]["shape"] == cal[proc]["shape"]
        assert t["processes"][proc]["log_hr"] == cal[proc]["log_hr"]
    effects = np.array(list(t["centres"]["effects"].values()))
    assert len(effects) == 7 and np.all(np.isfinite(effects)) and np.std(effects) > 0


def test_every_calibration_section_is_labelled_and_reasoned():
    raw = tomllib.loads(CALIBRATION.read_text())
    sections = [raw["cohort"], raw["centres"], *raw["covariates"].values(), raw["death"],
                raw["hepatic_progression"], raw["extrahepatic_progression"], raw["copula"],
                raw["follow_up"], raw["recist"], raw["targets"]]
    for sec in sections:
        assert sec["status"] in ("assumption", "published") and len(sec["reason"]) > 40


def _broken(tmp_path, old, new):
    text = CALIBRATION.read_text()
    assert old in text
    p = tmp_path / "cal.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("sizes = [88,", "sizes = [89,", "add up to n = 297"),
        ("G1 = 0.33", "G1 = 0.43", "add up to 1"),
        ("G2 = 0.35, G3 = 1.00", "G2 = 0.35, G4 = 1.00", "not non-reference levels"),
        ("status = \"assumption\"\nreason = \"\"\"Progression", "reason = \"\"\"Progression",
         "missing key 'status'"),
        ("shape = 1.15", "shape = -1.15", "must be > 0"),
        ("[copula]", "[copula", "not valid TOML"),
    ],
)
def test_malformed_calibration_is_rejected(tmp_path, old, new, match):
    with pytest.raises(CalibrationError, match=match):
        load_calibration(_broken(tmp_path, old, new))


def test_km_mean_closed_form():
    # times 2, 4(censored), 6, 8: S = 1 on [0,2), 3/4 on [2,6), 3/8 on [6,8), 0 after 8
    # area = 2*1 + 4*0.75 + 2*0.375 = 5.75
    assert km_mean(np.array([2, 4, 6, 8.0]), np.array([1, 0, 1, 1])) == pytest.approx(5.75)
    # no censoring: the KM mean is the sample mean
    t = np.array([1.0, 3.0, 3.0, 7.0, 11.0])
    assert km_mean(t, np.ones(5, int)) == pytest.approx(t.mean())


def test_bundled_cohort_shows_the_published_p_value_pattern(cal):
    summary = calibration_summary(load_cohort(BUNDLED_COHORT, RE_NEN).data)
    assert pattern_ok(summary, cal["targets"])
    table = calibration_table(summary, cal["targets"])
    assert set(table["quantity"]) == {k for k, v in cal["targets"].items() if isinstance(v, dict)}


def test_truth_file_is_valid_json_naming_the_data_hash():
    truth = json.loads(BUNDLED_TRUTH.read_text())
    assert truth["data_hash"] == content_hash(BUNDLED_COHORT.read_bytes())


def test_scan_protocols_must_match_the_centres_of_an_edited_calibration():
    """A calibration edited in memory to other centres, its [scans] left at the bundled 7
    protocols: refused with the counts and what to do, not an IndexError."""
    cal = load_calibration()
    cal["centres"] = {**cal["centres"], "labels": [f"K{i:02d}" for i in range(16)],
                      "sizes": [25] * 16}
    with pytest.raises(CalibrationError, match=r"7 intervals for 16 centres"):
        simulate_cohort(cal, seed=1, n=400)
    cal["scans"] = {**cal["scans"], "interval_months": [3.0] * 16}
    assert len(simulate_cohort(cal, seed=1, n=400).data) == 400

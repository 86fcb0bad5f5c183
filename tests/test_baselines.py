"""The baseline analysis of a cohort: effects table, study table, script, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_csv
from test_cox import kidney_frame

from nen_bayes import EFFECT_COLUMNS, RE_NEN, load_cohort, run_baselines
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.effects import read_effects
from nen_bayes.errors import BaselineError, BaselineWarning
from nen_bayes.re_nen.calibration import calibration_summary
from nen_bayes.re_nen.study import study_markdown, study_table


@pytest.fixture(scope="module")
def bundled():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


@pytest.fixture(scope="module")
def os_report(bundled):
    return run_baselines(bundled, "os")


def test_effects_table_shape_and_provenance(os_report, bundled):
    eff = os_report.effects
    assert tuple(eff.columns) == EFFECT_COLUMNS
    assert set(eff["endpoint"]) == {"os"} and set(eff["data_hash"]) == {bundled.data_hash}
    assert eff["synthetic"].all() and set(eff["interval"].dropna()) == {"CI"}
    assert {"median_survival", "survival", "rmst", "rmst_difference", "hazard_ratio", "logrank",
            "logrank_trend", "ph_test", "dcr"} <= set(eff["quantity"])
    hr = eff[eff["quantity"] == "hazard_ratio"]
    assert (hr["lower"] < hr["estimate"]).all() and (hr["estimate"] < hr["upper"]).all()
    trend = eff[eff["quantity"] == "logrank_trend"]
    assert sorted(trend["term"]) == ["grade", "tumour_burden"]  # the ordered factors
    assert set(eff.loc[eff["quantity"] == "survival", "horizon"]) == {12.0, 24.0, 36.0, 60.0}


def test_log_rank_p_values_agree_with_the_independent_calibration_code(os_report, bundled):
    """calibration_summary computes the study's p-values with lifelines' log-rank tests."""
    ref = calibration_summary(bundled.data)
    assert os_report.logrank["line"].p_value == pytest.approx(ref["p_line_os"], rel=1e-8)
    assert os_report.logrank["grade"].p_value == pytest.approx(ref["p_grade_os"], rel=1e-8)
    dcr = os_report.dcr["3m"].iloc[0]
    assert dcr["dcr"] == pytest.approx(ref["dcr_3m"])


def test_hazard_ratio_rows_restate_the_cox_table(os_report):
    eff = os_report.effects
    row = eff[(eff["quantity"] == "hazard_ratio") & (eff["term"] == "line")
              & eff["method"].str.startswith("Cox univariable")].iloc[0]
    cox = os_report.cox_univariable["line"].table.iloc[0]
    assert row["group"] == "salvage vs second_line"
    assert row["estimate"] == pytest.approx(np.exp(cox["coef"]))
    assert row["p_value"] == pytest.approx(cox["p"])


def test_study_table_lists_every_factor_and_endpoint(os_report):
    tab = study_table([os_report])
    assert len(tab) == 5
    line = tab.set_index("factor").loc["line"]
    assert line["published_p"] == "0.078" and line["synthetic"]
    assert tab.set_index("factor").loc["grade", "published_p"] == "< 0.006"


def test_p_values_are_written_to_three_decimals_with_a_floor_at_0_001(os_report):
    """R's format.pval(eps = 0.001) convention: never '0.000'. On the bundled cohort the OS
    tumour-burden trend p-value is below 0.001 and the line log-rank p-value is not."""
    trend = os_report.logrank["tumour_burden"].trend_p_value
    line = os_report.logrank["line"].p_value
    assert trend < 0.001 < line
    md = study_markdown(study_table([os_report]))
    rows = {r.split(" | ")[1]: r.split(" | ") for r in md.splitlines()[2:]}
    assert rows["tumour_burden"][4] == "<0.001"
    assert rows["line"][3] == f"{line:.3f}"
    text = os_report.to_text()
    assert f"trend chi2 = {os_report.logrank['tumour_burden'].trend_statistic:.2f} on 1 df, " \
           "p < 0.001" in text
    assert "0.000" not in md and "p = 0.000" not in text


def test_text_summary_says_synthetic(os_report):
    text = os_report.to_text()
    assert text.startswith("SYNTHETIC DATA") and text.rstrip().endswith("results.")
    assert "log-rank chi2" in text and "Schoenfeld" in text


# -- bad input ---------------------------------------------------------------------------------
def _cohort(frame: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_cohort(frame, RE_NEN)


def test_factor_not_in_schema_is_an_error(bundled):
    with pytest.raises(BaselineError, match=r"factor\(s\) \['stage'\] are not in .* Allowed: "
                                            r"\['line'"):
        run_baselines(bundled, "os", ["stage"])


def test_unknown_endpoint_is_an_error(bundled):
    with pytest.raises(BaselineError, match=r"no endpoint 'dfs'. Allowed: \['os', 'hpfs'"):
        run_baselines(bundled, "dfs")


def test_single_level_factor_is_an_error(bundled_frame):
    f = bundled_frame.copy()
    f["line"] = "salvage"
    with pytest.raises(BaselineError, match=r"factor 'line' has a single level \['salvage'\]"):
        run_baselines(_cohort(f), "os", ["line"])


def test_every_row_censored_is_an_error(bundled_frame):
    f = bundled_frame.copy()
    f["os_event"] = "0"
    with pytest.raises(BaselineError, match=r"'os' \(os_event\) has no events: every unit"):
        run_baselines(_cohort(f), "os", ["line"])


def test_group_without_events_gives_nan_median_and_a_warning(bundled_frame):
    f = bundled_frame.copy()
    f.loc[f["grade"] == "G3", "os_event"] = "0"
    with pytest.warns(BaselineWarning) as caught:
        rep = run_baselines(_cohort(f), "os", ["grade"], dcr=False)
    messages = [str(w.message) for w in caught]
    assert "os: group grade=G3 has no events." in messages
    assert any("grade=G3: median not reached" in m for m in messages)
    med = rep.effects.query("quantity == 'median_survival' and group == 'G3'")["estimate"]
    assert med.isna().all()
    hr = rep.effects.query("quantity == 'hazard_ratio' and group == 'G3 vs G1'")["estimate"]
    assert hr.isna().all()
    assert any("no events" in n for n in rep.notes)


def test_horizon_beyond_follow_up_is_nan_with_warning(bundled):
    with pytest.warns(BaselineWarning, match=r"horizon\(s\) 500 lie beyond"):
        rep = run_baselines(bundled, "os", ["line"], horizons=[12, 500], dcr=False)
    s = rep.effects.query("quantity == 'survival' and horizon == 500").set_index("group")
    assert s.loc[["all", "second_line"], "estimate"].isna().all()
    # the salvage curve ends with an event (S = 0), so it is known beyond its last time
    assert s.loc["salvage", "estimate"] == 0.0


def test_rmst_horizon_beyond_a_groups_follow_up_is_an_error(bundled):
    with pytest.raises(BaselineError, match=r"tau = 500 months lies beyond .*Allowed: tau <= "):
        run_baselines(bundled, "os", ["line"], tau=500)


def test_stratum_with_one_patient_warns(bundled_frame):
    f = bundled_frame.copy()
    f.loc[0, "centre"] = "C99"
    with pytest.warns(BaselineWarning, match=r"\['C99'\] hold a single unit"):
        rep = run_baselines(_cohort(f), "os", ["line"], dcr=False)
    assert np.isfinite(rep.logrank_stratified["line"].p_value)


# -- the script --------------------------------------------------------------------------------
def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts/baseline.py"), *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_script_writes_results_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "bl"
    r = run("--data", BUNDLED_COHORT, "--endpoint", "os", "--factor", "line", "--out", out,
            "--formats", "png")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["baseline.txt", "effects.csv", "effects.json", "km_os_all.png",
                     "km_os_line.png", "study_pvalues.csv"]
    assert read_effects(out / "effects.json").equals(read_effects(out / "effects.json"))
    payload = json.loads((out / "effects.json").read_text())
    assert payload["metadata"]["synthetic"] is True
    csv = read_effects(out / "effects.csv")
    assert len(csv) == len(payload["effects"]) and tuple(csv.columns) == EFFECT_COLUMNS
    assert (out / "km_os_line.png").read_bytes()[:4] == b"\x89PNG"
    assert r.stdout.count("SYNTHETIC DATA") >= 2
    before = (out / "effects.csv").read_bytes()
    r2 = run("--data", BUNDLED_COHORT, "--endpoint", "os", "--factor", "line", "--out", out)
    assert r2.returncode == 2 and "exists; pass --force" in r2.stderr
    assert (out / "effects.csv").read_bytes() == before
    r3 = run("--data", BUNDLED_COHORT, "--endpoint", "os", "--factor", "line", "--out", out,
             "--no-figures", "--force")
    assert r3.returncode == 0 and not (out / "km_os_line.png").exists()
    assert not list(tmp_path.glob(".bl*"))  # no temporary or backup directory left behind


def test_script_bad_input_writes_nothing(tmp_path, small):
    f = small.copy()
    f["line"] = "salvage"
    data = write_csv(tmp_path / "one_level.csv", f)
    out = tmp_path / "never"
    r = run("--data", data, "--endpoint", "os", "--factor", "line", "--out", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "one_level.csv" in r.stderr and "single level ['salvage']" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    r = run("--data", data, "--endpoint", "os", "--factor", "stage", "--out", out)
    assert r.returncode == 2 and "'stage'" in r.stderr and not out.exists()


def test_script_runs_on_another_cohort_by_naming_columns(tmp_path):
    from lifelines.datasets import load_lung

    p = tmp_path / "lung.csv"
    lung = load_lung()
    lung["status"] += 1  # R's coding
    lung.to_csv(p, index=False)
    out = tmp_path / "lung_out"
    r = run("--data", p, "--endpoint", "os=time:status", "--event-coding", "1/2",
            "--centre", "inst", "--row-ids", "--factor", "sex", "--numeric", "age",
            "--missing", "drop", "--time-unit", "days", "--horizon", "365", "--tau", "730",
            "--no-figures", "--out", out)
    assert r.returncode == 0, r.stderr
    eff = read_effects(out / "effects.csv")
    lr = eff.query("quantity == 'logrank' and method == 'log-rank'").iloc[0]
    assert lr["n"] == 227 and lr["p_value"] < 0.01
    assert "SYNTHETIC" not in r.stdout and not eff["synthetic"].any()
    assert not (out / "study_pvalues.csv").exists()


# -- a cohort grouped by patient (R's kidney data): no model stops the others --------------------
def _kidney_cohort(**schema_kw):
    """R's ``kidney`` data, two recurrence times per patient, the patient as the centre
    column; disease coarsened to AN, PKD and other (GN and Other)."""
    from nen_bayes.cohorts.schema import CohortSchema

    d = kidney_frame().rename(columns={"id": "patient"})
    d["disease"] = d["disease"].replace({"GN": "other", "Other": "other"})
    schema = CohortSchema.custom({"recurrence": ("time", "status")}, centre_column="patient",
                                 factors=["sex", "disease"], numerics=["age"],
                                 time_unit="days", **schema_kw)
    return load_cohort(d, schema)


def test_a_cohort_grouped_by_patient_gets_every_baseline():
    """Finding 8: sex and disease are constant within every patient, so the model stratified by
    patient cannot estimate them (R: coxph(Surv(time, status) ~ sex + disease + age +
    strata(id), kidney) gives NA for both). The baselines go on: those rows have no estimate,
    a note names the covariates, and the plain and clustered models are complete."""
    cohort = _kidney_cohort()
    with pytest.warns(BaselineWarning) as caught:
        rep = run_baselines(cohort, "recurrence")
    assert any("'sex', 'disease' are constant within every stratum of 'patient'" in str(w.message)
               for w in caught)
    assert set(rep.cox_multivariable) == {"plain", "centre_strata", "centre_cluster"}
    strat = rep.cox_multivariable["centre_strata"].table.set_index("term")
    assert strat.loc[["sex", "disease"], "hr"].isna().all()
    assert np.isfinite(strat.loc["age", "hr"])
    assert rep.cox_multivariable["plain"].table["hr"].notna().all()
    assert any("'sex', 'disease'" in n and "stratified by 'patient'" in n
               for n in rep.not_estimated)
    text = rep.to_text()
    assert "nan" not in text and "HR NR" not in text
    assert "no estimate (see notes)" in text


def test_a_cox_model_that_fails_leaves_every_other_analysis(monkeypatch, bundled):
    """One Cox model that cannot be fitted is left out with a note naming it and the error;
    the curves, tests and other models stay."""
    from nen_bayes.frequentist import baselines

    real = baselines.cox_fit

    def failing(data, duration, event, terms, **kw):
        if kw.get("strata"):
            raise BaselineError("Cox model did not converge: matrix inversion problems")
        return real(data, duration, event, terms, **kw)

    monkeypatch.setattr(baselines, "cox_fit", failing)
    with pytest.warns(BaselineWarning) as caught:
        rep = run_baselines(bundled, "os", ["line", "grade"], dcr=False)
    assert any("stratified by 'centre' could not be estimated" in str(w.message) for w in caught)
    assert set(rep.cox_multivariable) == {"plain", "centre_cluster"}
    assert set(rep.cox_univariable) == {"line", "grade"} and set(rep.logrank) == {"line", "grade"}
    failed = [n for n in rep.not_estimated if "could not be estimated" in n]
    assert len(failed) == 1 and "matrix inversion problems" in failed[0]
    assert failed[0] in rep.notes and failed[0] in rep.to_text()


def test_references_per_factor_give_the_contrast_the_user_named():
    """Finding 9: with references={"disease": "other"} the Cox and RMST rows are "PKD vs other"
    and "AN vs other" (not against the alphabetically first level AN). The HRs are exp of
    lifelines' CoxPHFitter coefficients on the 0/1 columns of AN and PKD (other the reference),
    as R's coxph(Surv(time, status) ~ relevel(factor(disease), "other"), kidney)."""
    from lifelines import CoxPHFitter

    cohort = _kidney_cohort()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineWarning)
        rep = run_baselines(cohort, "recurrence", ["disease"], references={"disease": "other"})
    uni = rep.cox_univariable["disease"].table.set_index("level")
    assert set(uni["reference"]) == {"other"} and set(uni.index) == {"AN", "PKD"}
    d = cohort.data
    dummies = pd.DataFrame({"AN": (d["disease"] == "AN").astype(float),
                            "PKD": (d["disease"] == "PKD").astype(float),
                            "time": d["time"].astype(float), "status": d["status"]})
    ref = CoxPHFitter().fit(dummies, "time", "status").params_
    eff = rep.effects.query("quantity == 'hazard_ratio' and term == 'disease'")
    uni_rows = eff[eff["method"].str.startswith("Cox univariable")].set_index("group")
    for lv in ("AN", "PKD"):
        assert uni_rows.loc[f"{lv} vs other", "estimate"] == pytest.approx(
            np.exp(ref[lv]), rel=1e-8)
    rmst = rep.effects.query("quantity == 'rmst_difference'")
    assert set(rmst["group"]) == {"AN vs other", "PKD vs other"}


@pytest.mark.parametrize(("references", "match"), [
    ({"disease": "GN"}, r"reference 'GN' of 'disease' is not a level present.*"
                        r"\['AN', 'PKD', 'other'\]"),
    ({"stage": "I"}, r"references: 'stage' is not an analysed factor.*\['disease'\]"),
])
def test_a_reference_that_is_not_a_level_is_an_error(references, match):
    with pytest.raises(BaselineError, match=match):
        run_baselines(_kidney_cohort(), "recurrence", ["disease"], references=references)


def test_the_main_job_gives_the_baselines_the_contrasts_comparator():
    """Finding 9: the main job's baselines compare the contrast's levels: the reference is the
    contrast's comparator (--versus), else the headline model's reference for the term."""
    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.pipeline.settings import ReanalysisSettings
    from nen_bayes.pipeline.steps import baseline_references
    from nen_bayes.re_nen import LINE_CONTRAST
    from nen_bayes.settings import Contrast

    specs = (load_spec(ROOT / "models/weibull_ph_centre.toml"),)  # line: reference second_line
    factors = ["line", "grade"]
    assert baseline_references(ReanalysisSettings(specs, LINE_CONTRAST), factors) == \
        {"line": "salvage"}
    assert baseline_references(ReanalysisSettings(specs, Contrast("line", "salvage")),
                               factors) == {"line": "second_line"}
    assert baseline_references(ReanalysisSettings(specs, Contrast("grade", "G3")), factors) == \
        {"grade": "G1"}
    assert baseline_references(ReanalysisSettings(specs, LINE_CONTRAST), ["grade"]) == {}

"""Every output says what was computed: interval labels follow the confidence level, one
orientation of the contrast within a run, the global log-rank test named as such, one way of
writing probabilities, data changes listed by id, extrapolation caveats, RMST horizons in the
cohort's own unit, and texts that do not assume the bundled study. No sampling: chosen numbers
go through the functions that write the outputs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.spec import spec_from_dict
from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.frequentist.baselines import run_baselines
from nen_bayes.frequentist.describe import describe_cohort
from nen_bayes.pipeline.sections import answer_sentence, data_section
from nen_bayes.pipeline.summary import endpoint_lines, frequentist_contrast
from nen_bayes.posterior.compare import format_side_by_side
from nen_bayes.posterior.contrast import ContrastResult
from nen_bayes.settings import Decision, default_horizons


def _contrast(*, medians=(), rmst_horizons=(), follow_up=52.0, conf_level=0.95):
    d = Decision()
    probs = pd.DataFrame([(k, lab, 0.5) for k, lab in d.events.items()],
                         columns=["quantity", "event", "probability"])
    med = pd.DataFrame([{"what": "level", "group": g, "estimate": m, "lower": m - 5,
                         "upper": m + 5, "prob_positive": np.nan, "not_reached": 0.0, "note": ""}
                        for g, m in medians],
                       columns=["what", "group", "estimate", "lower", "upper", "prob_positive",
                                "not_reached", "note"])
    rmst = pd.DataFrame([{"horizon": h, "what": "level", "group": "yes", "estimate": 1.0,
                          "lower": 0.9, "upper": 1.1, "prob_positive": np.nan}
                         for h in rmst_horizons],
                        columns=["horizon", "what", "group", "estimate", "lower", "upper",
                                 "prob_positive"])
    return ContrastResult(
        model="m", endpoint="week", term="fin", level="yes", reference="no", time_unit="weeks",
        conf_level=conf_level, hr=(0.7, 0.5, 0.95), probabilities=probs, curves=pd.DataFrame(),
        medians=med, rmst=rmst, centres=pd.DataFrame(), group_sd={},
        new_centre=pd.DataFrame(), n_draws=100, n_draws_curves=0, decision=d,
        follow_up=follow_up)


def _baseline(levels=("no", "yes"), p=0.05):
    cox = pd.DataFrame([{"level": "yes", "reference": "no", "hr": 0.69, "lower": 0.51,
                         "upper": 0.94, "p": 0.052}])
    return SimpleNamespace(endpoint_label="", overall=SimpleNamespace(n=432, events=114),
                           logrank={"fin": SimpleNamespace(p_value=p, levels=levels)},
                           cox_univariable={"fin": SimpleNamespace(table=cox)},
                           not_estimated=())


def _endpoint(con):
    return SimpleNamespace(endpoint="week", contrast=SimpleNamespace(result=con), cards=[],
                           fits={"m": None}, grid=None, notes=(),
                           compare=SimpleNamespace(report=SimpleNamespace(loo=[1])))


# --- 1 and 4: interval labels follow the level; one orientation ------------------------------
def test_the_side_by_side_table_follows_the_level_and_the_contrasts_orientation():
    """The table holds salvage vs second_line (as the Cox model of the factor fits it); the
    run's contrast is second_line vs salvage: HR and bounds inverted (1/1.25 = 0.80, 1/1.61 =
    0.62, 1/0.97 = 1.03), P(HR < 1) its complement (1 - 0.04), the p-value unchanged."""
    wide = pd.DataFrame([{"term": "line", "contrast": "salvage vs second_line",
                          "cox_hr": 1.25, "cox_lower": 0.97, "cox_upper": 1.61, "cox_p": 0.085,
                          "m_hr": 1.27, "m_lower": 1.0, "m_upper": 1.6,
                          "m_p_hr_below_1": 0.04},
                         {"term": "grade", "contrast": "G2 vs G1", "cox_hr": 1.5,
                          "cox_lower": 1.1, "cox_upper": 2.0, "cox_p": 0.01, "m_hr": 1.4,
                          "m_lower": 1.0, "m_upper": 1.9, "m_p_hr_below_1": 0.02}])
    t = format_side_by_side(wide, ["m"], conf_level=0.9,
                            orient=("line", "second_line", "salvage"))
    assert "Cox HR (90% CI)" in t.columns and "m HR (90% CrI)" in t.columns
    assert not any("95%" in c for c in t.columns)
    line = t.iloc[0]
    assert line["contrast"] == "second_line vs salvage"
    assert line["Cox HR (90% CI)"] == "0.80 (0.62-1.03)"
    assert line["m HR (90% CrI)"] == "0.79 (0.62-1.00)"
    assert line["m P(HR<1)"] == "0.960" and line["Cox p"] == "0.085"
    assert t.iloc[1]["contrast"] == "G2 vs G1"  # other terms as they are


def test_the_baseline_text_labels_its_intervals_at_the_level_used(tmp_path):
    frame = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 0, 1, 1, 0, 1, 1, 0],
                          "g": list("abababab")})
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, factors=["g"],
                                                    time_unit="weeks"))
    text = run_baselines(cohort, "os", ["g"], conf_level=0.9, dcr=False).to_text()
    assert "(90% CI" in text and "(95% CI" not in text


# --- 2 and 3: the frequentist side names the contrast it computed ------------------------------
def test_a_global_log_rank_test_is_never_shown_as_the_pairwise_one():
    fq = frequentist_contrast(_baseline(levels=("I", "II", "III")), "fin", "yes", "no")
    assert fq.logrank_groups == 3
    assert fq.to_text(0.9).startswith("global log-rank p (3 levels) = 0.050; Cox HR 0.69 "
                                      "(90% CI 0.51-0.94)")
    sentence = answer_sentence(_contrast(), fq, "week")
    assert "the global log-rank test of all 3 levels of fin (not this pair) gives p = 0.050" \
        in sentence
    two = frequentist_contrast(_baseline(), "fin", "yes", "no")
    assert two.to_text(0.95).startswith("log-rank p = 0.050;")


# --- 5: one convention for probabilities --------------------------------------------------------
def test_probability_columns_of_the_report_tables_never_read_0_000_or_1_000():
    from nen_bayes.pipeline.sections import _probabilities_as_text

    t = _probabilities_as_text(pd.DataFrame({"prior": ["a", "b"], "median": [1.0, 0.5],
                                             "P(HR < 1)": [1.0, 0.0004],
                                             "P(> 0)": [0.9996, 0.25]}))
    assert list(t["P(HR < 1)"]) == [">0.999", "<0.001"]
    assert list(t["P(> 0)"]) == [">0.999", "0.250"]
    assert list(t["median"]) == [1.0, 0.5]  # not a probability: left to the table's format


# --- 6: texts for any cohort --------------------------------------------------------------------
def test_numeric_scaling_by_sd_reads_as_a_rounded_sd():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"t": rng.exponential(10, 40).round(2) + 0.1,
                          "e": rng.integers(0, 2, 40), "age": rng.normal(60, 6.11338, 40)})
    frame.loc[0, "e"] = 1
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, numerics=["age"]))
    spec = spec_from_dict({"model": {"name": "x", "family": "exponential"},
                           "covariates": [{"column": "age", "type": "numeric",
                                           "scale": "sd"}],
                           "priors": {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
                                      "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1}}})
    sd = frame["age"].std(ddof=1)
    (label,) = make_design(spec, cohort, "os").contrasts
    assert label == f"per SD ({sd:.3g}) of age"
    assert re.fullmatch(r"per SD \(\d\.\d\d\) of age", label)


def test_the_report_data_section_writes_nr_for_a_median_not_reached():
    frame = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 0, 0, 0, 0, 0],
                          "inst": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]})
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, centre_column="inst",
                                                    time_unit="weeks"))
    desc = describe_cohort(cohort)
    assert list(desc.centres["centre"]) == ["1", "2"]
    r = SimpleNamespace(describe=SimpleNamespace(description=desc),
                        provenance={**cohort.provenance(), "policy_notes": []})
    tables = {cap: df for kind, (df, *_), cap in
              (x for x in data_section(r).blocks if x[0] == "table")}
    ends = next(df for cap, df in tables.items() if cap.startswith("Endpoints"))
    # one event among six: the KM curve ends at 5/6 > 0.5, so the median is not reached
    assert ends["median"].tolist() == ["NR"]
    assert tables["Centres"]["centre"].tolist() == ["1", "2"]


# --- 7: data changes listed by id -------------------------------------------------------------
def test_every_data_change_is_listed_by_id_in_the_baseline_text_and_the_summary():
    frame = pd.DataFrame({"id": ["u1", "u2", "u3", "u4", "u5", "u6"],
                          "t": [0, 2, 3, 4, 5, 6], "e": [1, 0, 1, 1, 0, 1],
                          "g": ["a", "b", None, "b", "a", "b"]})
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, id_column="id",
                                                    factors=["g"], time_unit="weeks"),
                         zero_time="shift", missing="drop")
    assert len(cohort.notes) >= 2
    text = run_baselines(cohort, "os", ["g"], dcr=False).to_text()
    assert "data change: t: 1 zero time(s) replaced by 1 " in text and "'u1'" in text
    assert "data change: dropped 1 of 6 row(s) (missing='drop'), ids ['u3']" in text

    from nen_bayes.pipeline.summary import summary_text
    con = _contrast()
    s = summary_text(source="c.csv", data_hash="sha256:" + "0" * 64, n_units=5, notice="",
                     endpoints={"week": _endpoint(con)}, baselines={"week": _baseline()},
                     published=None, headline="m", benefit=0.8, conf_level=0.95,
                     data_notes=cohort.notes)
    for n in cohort.notes:
        assert f"data change  {n}" in s


# --- 8: extrapolation said in summary.txt -------------------------------------------------------
def test_medians_and_horizons_beyond_follow_up_carry_a_caveat_in_the_summary():
    """rossi: 52 weeks of follow-up; Weibull medians of 88 and 115 weeks are extrapolations."""
    con = _contrast(medians=[("no", 88.0), ("yes", 115.0)], rmst_horizons=(24.0, 60.0))
    lines = endpoint_lines(_endpoint(con), _baseline(), headline="m", benefit=0.8,
                           conf_level=0.95)
    caveats = [x for x in lines if x.startswith("  caveat")]
    assert len(caveats) == 3, lines
    assert "median of no (88.0 weeks) lies beyond the longest follow-up (52.0 weeks)" \
        in caveats[0]
    assert "RMST horizon(s) 60 weeks lie beyond" in caveats[2]
    inside = _contrast(medians=[("no", 30.0), ("yes", 40.0)], rmst_horizons=(24.0,))
    assert not inside.extrapolation_caveats


# --- 9: horizons in the cohort's own unit; none at or below 0 ----------------------------------
@pytest.mark.parametrize(("longest", "unit", "expected"), [
    (52.0, "weeks", (17.0, 35.0)),       # 52/3 = 17.3, 2*52/3 = 34.7
    (1500.0, "days", (500.0, 1000.0)),   # under 60 months (1826.25 days): thirds of follow-up
    (2659.0, "days", (730.5, 1826.25)),  # over 60 months: 24 and 60 months in days (x 30.4375)
    (120.0, "months", (24.0, 60.0)),     # the study's 2 and 5 years, within follow-up
    (40.0, "months", (13.0, 27.0)),      # a shorter study: within its follow-up
])
def test_default_horizons_lie_within_the_follow_up_in_its_unit(longest, unit, expected):
    got = default_horizons(longest, unit)
    assert got == expected and max(got) <= longest


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_horizon_at_or_below_zero_is_refused(value):
    r = subprocess.run([sys.executable, str(ROOT / "scripts/reanalyse.py"), "--data",
                        "nothing.csv", "--horizon", value], capture_output=True, text=True,
                       check=False, cwd=ROOT)
    assert r.returncode == 2 and "--horizon" in r.stderr and "above 0" in r.stderr
    assert "Traceback" not in r.stderr


# --- 15: the README's lung commands run as written ----------------------------------------------
def _readme_commands(script: str) -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    out = []
    for b in blocks:
        for cmd in b.replace("\\\n", " ").splitlines():
            if f"scripts/{script}" in cmd and "examples/lung/lung.csv" in cmd:
                out.append(shlex.split(cmd.split("#")[0]))
    return out


@pytest.mark.parametrize("script", ["describe.py", "baseline.py"])
def test_the_readme_lung_commands_run_as_written(script, tmp_path):
    cmds = _readme_commands(script)
    assert cmds, f"no lung example of {script} in the README"
    for cmd in cmds:
        args = cmd[1:]
        if "--out" in args:
            args[args.index("--out") + 1] = str(tmp_path / "out")
        if script == "baseline.py":
            args.append("--no-figures")
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                           check=False, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-2000:]


# --- 2: --term alone names one pair for every side -------------------------------------------
def test_term_alone_resolves_to_the_headline_models_first_level_against_its_reference():
    from nen_bayes.pipeline.settings import ReanalysisSettings, resolved_contrast
    from nen_bayes.settings import Contrast

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"t": rng.exponential(10, 60).round(2) + 0.1,
                          "e": np.r_[1, rng.integers(0, 2, 59)],
                          "grade": rng.choice(["G1", "G2", "G3"], 60)})
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, factors=["grade"]))
    spec = spec_from_dict({"model": {"name": "x", "family": "exponential"},
                           "covariates": [{"column": "grade", "type": "categorical",
                                           "reference": "G2"}],
                           "priors": {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
                                      "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1}}})
    s = ReanalysisSettings(specs=(spec,), contrast=Contrast("grade"))
    assert resolved_contrast(cohort, s) == Contrast("grade", "G1", "G2")
    s = ReanalysisSettings(specs=(spec,), contrast=Contrast("grade", versus="G3"))
    assert resolved_contrast(cohort, s) == Contrast("grade", "G1", "G3")


# --- the whole main job on a public cohort ----------------------------------------------------
@pytest.mark.slow
def test_the_main_job_on_rossi_says_what_it_computed(tmp_path):
    """lifelines' rossi (432 units, 52 weeks of follow-up, 'fin' coded 0/1), with two zero times
    shifted and one missing 'fin' dropped: --conf-level 0.9 labels, --term alone, the data
    changes by id, the caveat on medians beyond 52 weeks, default RMST horizons 17 and 35
    weeks. Few draws: only the text is checked."""
    from lifelines.datasets import load_rossi

    d = load_rossi()
    d["fin"] = d["fin"].map({0: "no", 1: "yes"}).astype(object)
    d.loc[[3, 10], "week"] = 0
    d.loc[5, "fin"] = None
    data = tmp_path / "rossi.csv"
    d.to_csv(data, index=False)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "scripts/reanalyse.py"), "--data", data,
                        "--time", "week", "--event", "arrest", "--row-ids", "--time-unit",
                        "weeks", "--zero-time", "shift", "--missing", "drop", "--formula",
                        "week ~ fin + scale(age)", "--term", "fin", "--conf-level", "0.9",
                        "--no-prior-grid", "--draws", "60", "--tune", "60", "--chains", "2",
                        "--accept-unconverged",
                        "--out", out], capture_output=True, text=True, check=False, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = (out / "summary.txt").read_text()
    assert "fin: yes vs no" in summary and "None" not in summary
    assert "(90% CI" in summary and "(90% CrI" in summary and "95%" not in summary
    # rows are spreadsheet rows (header = 1): frame rows 3 and 10 are ids 5 and 12, row 5 is 7
    assert re.search(r"data change  week: 2 zero time\(s\) replaced by .* ids "
                     r"\['row-5', 'row-12'\]", summary), summary
    assert re.search(r"data change  dropped 1 of 432 row\(s\).*ids \['row-7'\]", summary), summary
    assert "caveat       the standardised median of" in summary
    html = (out / "report.html").read_text()
    assert "Data change: dropped 1 of 432" in html and "per SD (" in html
    assert "95% CI" not in html and "95% CrI" not in html
    rmst = pd.read_csv(out / "line_effects/effects.csv")
    assert sorted(set(rmst.loc[rmst["quantity"] == "standardised_rmst", "horizon"])) == [17, 35]


def test_a_grid_contrast_without_the_reference_is_refused_before_any_fit():
    """The prior grid is a prior on one coefficient (level vs the model's reference): G1 vs G3
    with reference G2 cannot be refitted; said before the first fit, not after them all."""
    from nen_bayes.errors import ModelDataError
    from nen_bayes.pipeline.settings import ReanalysisSettings, resolved_contrast
    from nen_bayes.sensitivity.grid import GridPrior
    from nen_bayes.settings import Contrast

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"t": rng.exponential(10, 60).round(2) + 0.1,
                          "e": np.r_[1, rng.integers(0, 2, 59)],
                          "grade": rng.choice(["G1", "G2", "G3"], 60)})
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, factors=["grade"]))
    spec = spec_from_dict({"model": {"name": "x", "family": "exponential"},
                           "covariates": [{"column": "grade", "type": "categorical",
                                           "reference": "G2"}],
                           "priors": {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
                                      "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1}}})
    prior = GridPrior("neutral_weak", "neutral", "weak", 0.0, 1.0, 1.0, 0.05, "harm")
    s = ReanalysisSettings(specs=(spec,), contrast=Contrast("grade", versus="G3"),
                           priors=(prior,))
    with pytest.raises(ModelDataError, match=r"reference level 'G2'.*--no-prior-grid"):
        resolved_contrast(cohort, s)
    ok = ReanalysisSettings(specs=(spec,), contrast=Contrast("grade", "G3"), priors=(prior,))
    assert resolved_contrast(cohort, ok) == Contrast("grade", "G3", "G2")


def test_compare_text_labels_its_intervals_at_the_level_used():
    from fakes import fake_tree

    from nen_bayes.posterior.compare import compare_report

    small = {"n_units": 30, "draws": 50, "chains": 2}
    rep = compare_report({"A": fake_tree(seed=1, **small), "B": fake_tree(seed=2, **small)},
                         conf_level=0.8)
    text = rep.to_text()
    assert "(80% CI)" in text and "(80% CrI)" in text and "95%" not in text
    # the run's orientation wins: the first row written the other way round
    row = rep.wide.iloc[0]
    flipped = rep.to_text(orient=(row["term"], *reversed(row["contrast"].split(" vs "))))
    assert f"{' vs '.join(reversed(row['contrast'].split(' vs ')))}" in flipped


def test_every_shifted_row_is_named_not_only_the_first_twenty():
    n = 60
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(n)],
                          "t": [0.0] * 25 + [float(i) for i in range(1, n - 24)],
                          "e": [1, 0] * (n // 2)})
    cohort = load_cohort(frame, CohortSchema.custom({"os": ("t", "e")}, id_column="id",
                                                    time_unit="weeks"), zero_time="shift")
    (note,) = cohort.notes
    assert note.endswith(str([f"u{i}" for i in range(25)]))


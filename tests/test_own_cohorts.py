"""Bringing one's own cohort: several numeric covariates, only the columns a command uses, the
default centre column, an endpoint without events, the labels of the printed summaries and
missing values written with their reason (never "nan")."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_csv

from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.cohorts.schema import CohortSchema, Endpoint
from nen_bayes.errors import MissingColumnError, ModelDataError
from nen_bayes.formatting import format_equals
from nen_bayes.pipeline.cli import add_cohort_options, schema_for, script_parser
from nen_bayes.pipeline.summary import endpoint_lines, endpoint_record
from nen_bayes.posterior.compare import CompareReport
from nen_bayes.posterior.summary import (
    fit_summary_text,
    posterior_effects,
    prior_predictive_check,
)
from nen_bayes.re_nen import RE_NEN

HEADLINE = ROOT / "models/weibull_ph_centre.toml"
POOLED = ROOT / "models/weibull_ph_pooled.toml"
PRIORS = {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
          "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1}}
USED_BY_HEADLINE = ["patient_id", "centre", "os_months", "os_event", "line", "grade",
                    "tumour_burden", "extrahepatic"]


def run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=ROOT)


def cli_schema(argv, specs=(), **kw):
    parser = script_parser("test", "A command.\n\nExit codes: none.")
    add_cohort_options(parser)
    return schema_for(parser.parse_args(argv), parser, specs, **kw)


# -- several numeric covariates (the fit summary keyed each P(HR < 1) by its label) ------------
def numeric_frame(n: int = 120, seed: int = 7) -> pd.DataFrame:
    """Exponential times with log-HR 0.03 per year of age and -0.05 per BMI unit, censored by
    an independent exponential; both covariates' contrasts are labelled "per unit"."""
    rng = np.random.default_rng(seed)
    age, bmi = rng.normal(60, 10, n), rng.normal(25, 4, n)
    t = rng.exponential(1 / (0.05 * np.exp(0.03 * (age - 60) - 0.05 * (bmi - 25))))
    c = rng.exponential(30, n)
    return pd.DataFrame({"time": np.minimum(t, c).round(2) + 0.01,
                         "status": (t <= c).astype(int), "age": age.round(1),
                         "bmi": bmi.round(1)})


def test_fit_summary_gives_each_numeric_covariate_its_own_probability():
    """Two numeric covariates share the contrast label "per unit"; each line of the summary
    carries the P(HR < 1) of its own coefficient, the share of its draws below 0."""
    cohort = load_cohort(numeric_frame(),
                         CohortSchema.custom({"os": ("time", "status")}, numerics=["age", "bmi"]))
    spec = spec_from_dict({"model": {"name": "m", "family": "exponential"},
                           "covariates": [{"column": "age", "type": "numeric"},
                                          {"column": "bmi", "type": "numeric"}],
                           "priors": PRIORS})
    res = fit(spec, cohort, draws=60, tune=60, chains=1, seed=5, prior_draws=60,
              progressbar=False, log_lik=False)
    effects = posterior_effects(res.tree)
    hr = effects[effects["quantity"] == "hazard_ratio"]
    assert list(hr["group"]) == ["per unit", "per unit"]
    text = fit_summary_text(res.tree, effects, prior_predictive_check(res.tree), title="t",
                            seconds=1.0)
    beta = res.posterior["beta"]
    for name in ("age", "bmi"):
        p = float((beta.sel(covariate=name) < 0).mean())
        line = next(x for x in text.splitlines() if x.split()[:2] == ["hazard_ratio", name])
        assert line.endswith(f"P(HR < 1) {format_equals(p)}")


# -- only the columns a command uses ----------------------------------------------------------
@pytest.fixture
def unused_dropped(tmp_path, bundled_frame):
    """The bundled cohort without the columns the headline model does not use."""
    return write_csv(tmp_path / "lean.csv", bundled_frame[USED_BY_HEADLINE])


def test_fit_schema_holds_the_columns_of_the_endpoint_and_the_model():
    for argv in (["--data", "x.csv", "--endpoint", "os"], ["--data", "x.csv"]):
        schema, _ = cli_schema(argv, [load_spec(HEADLINE)], one_endpoint=True)
        assert schema.columns == USED_BY_HEADLINE
        assert schema.name == RE_NEN.name and schema.factor("grade").ordered


def test_a_named_factor_is_required_and_the_contracts_others_are_not():
    schema, lenient = cli_schema(["--data", "x.csv", "--endpoint", "os", "--factor", "line"],
                                 extras=True)
    assert schema.columns == ["patient_id", "centre", "os_months", "os_event", "line"]
    schema, lenient = cli_schema(["--data", "x.csv", "--endpoint", "os"], extras=True)
    assert lenient and "vascularisation" in schema.optional
    assert "vascularisation" not in schema.present_in(USED_BY_HEADLINE).columns


def test_the_headline_model_fits_without_the_columns_it_does_not_use(unused_dropped):
    schema, lenient = cli_schema(["--data", str(unused_dropped), "--endpoint", "os"],
                                 [load_spec(HEADLINE)], one_endpoint=True)
    cohort = load_cohort(unused_dropped, schema, lenient=lenient)
    res = fit(load_spec(HEADLINE), cohort, draws=30, tune=30, chains=1, seed=2,
              prior_draws=30, progressbar=False, log_lik=False, predictive=False)
    assert res.tree.attrs["n_units"] == 297 and res.tree.attrs["endpoint"] == "os"


def test_baseline_runs_without_the_columns_it_does_not_use(unused_dropped, tmp_path):
    for extra in ([], ["--endpoint", "os"], ["--endpoint", "os", "--factor", "line"]):
        out = tmp_path / f"b{len(extra)}"
        r = run("baseline.py", "--data", unused_dropped, *extra, "--no-figures", "--out", out)
        assert r.returncode == 0, r.stderr
        assert "vascularisation" not in r.stdout and "line" in r.stdout


def test_a_column_the_model_uses_but_the_file_lacks_is_refused_by_name(tmp_path,
                                                                          bundled_frame):
    data = write_csv(tmp_path / "nograde.csv", bundled_frame.drop(columns="grade"))
    for argv in (["--data", str(data), "--endpoint", "os"], ["--data", str(data)]):
        schema, lenient = cli_schema(argv, [load_spec(HEADLINE)], one_endpoint=True)
        with pytest.raises(MissingColumnError, match=r"nograde.csv: missing required column"
                                                     r"\(s\) \['grade'\]"):
            load_cohort(data, schema, lenient=lenient)
    out = tmp_path / "out"
    r = run("baseline.py", "--data", data, "--endpoint", "os", "--factor", "grade",
            "--out", out)
    assert r.returncode == 2 and "['grade']" in r.stderr and not out.exists()


def test_fit_script_on_a_cohort_without_unused_columns(unused_dropped, tmp_path):
    """fit.py calls :func:`schema_for`: the lean file fits, a file without a column the model
    uses is refused naming it, with nothing written."""
    out = tmp_path / "fit"
    r = run("fit.py", "--data", unused_dropped, "--endpoint", "os", "--model", HEADLINE,
            "--draws", 20, "--tune", 20, "--chains", 1, "--prior-draws", 20, "--quiet",
            "--formats", "png", "--out", out)
    converged = json.loads((out / "run.json").read_text())["converged"]
    assert r.returncode == (0 if converged else 3), r.stderr[-2000:]
    lean = pd.read_csv(unused_dropped).drop(columns="extrahepatic")
    data = write_csv(tmp_path / "noext.csv", lean)
    r = run("fit.py", "--data", data, "--endpoint", "os", "--model", HEADLINE,
            "--out", tmp_path / "no")
    assert r.returncode == 2 and "['extrahepatic']" in r.stderr
    assert not (tmp_path / "no").exists()


# -- the default centre column ----------------------------------------------------------------
def test_time_event_use_the_centre_column_when_the_file_has_one(tmp_path, bundled_frame):
    argv = ["--data", "x", "--time", "os_months", "--event", "os_event", "--row-ids"]
    schema, lenient = cli_schema(argv)
    assert schema.centre_column == "centre" and lenient
    with_centre = write_csv(tmp_path / "c.csv", bundled_frame[["centre", "os_months",
                                                               "os_event"]])
    cohort = load_cohort(with_centre, schema, lenient=lenient)
    n_centres = bundled_frame["centre"].nunique()
    assert cohort.schema.centre_column == "centre" and len(set(cohort.centres)) == n_centres
    without = write_csv(tmp_path / "n.csv", bundled_frame[["os_months", "os_event"]])
    cohort = load_cohort(without, schema, lenient=lenient)
    assert cohort.schema.centre_column is None and cohort.centres is None
    # a model with a centre level needs it: refused by name when the file has none
    schema, lenient = cli_schema(argv, [load_spec(HEADLINE)], one_endpoint=True)
    with pytest.raises(MissingColumnError, match=r"n.csv: missing required column\(s\) "
                                                 r"\['centre'"):
        load_cohort(without, schema, lenient=lenient)
    r = run("describe.py", "--help")
    assert "when the file has" in " ".join(r.stdout.split())


def test_describe_with_time_event_reports_the_centres(tmp_path, bundled_frame):
    data = write_csv(tmp_path / "c.csv", bundled_frame)
    r = run("describe.py", "--data", data, "--time", "os_months", "--event", "os_event",
            "--json")
    assert r.returncode == 0, r.stderr
    import json

    assert len(json.loads(r.stdout)["centres"]) == bundled_frame["centre"].nunique() == 7


# -- an endpoint without events ---------------------------------------------------------------
def test_an_endpoint_without_events_is_refused(tmp_path, bundled_frame):
    frame = bundled_frame.copy()
    frame["os_event"] = "0"
    data = write_csv(tmp_path / "noevents.csv", frame)
    cohort = load_cohort(data, RE_NEN)
    with pytest.raises(ModelDataError, match=r"noevents.csv: endpoint 'os' has 0 events "
                                             r"\(column 'os_event'"):
        make_design(load_spec(POOLED), cohort, "os")
    out = tmp_path / "out"
    r = run("fit.py", "--data", data, "--endpoint", "os", "--model", POOLED, "--out", out)
    assert r.returncode == 2 and "0 events" in r.stderr and "'os_event'" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    r = run("reanalyse.py", "--data", data, "--endpoint", "os", "--model", POOLED,
            "--out", out)
    assert r.returncode == 2 and "no events" in r.stderr and "'os_event'" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


# -- labels -----------------------------------------------------------------------------------
def test_a_custom_cohorts_time_unit_is_given_or_stated_by_its_column_names():
    # a bare time column is no longer taken as months: its unit is given or its name says it
    assert CohortSchema.custom({"os": ("t", "e")}).time_unit == RE_NEN.time_unit == "months"
    schema, _ = cli_schema(["--data", "x", "--time", "t", "--event", "e", "--time-unit",
                            "weeks"])
    assert schema.time_unit == "weeks"
    schema, _ = cli_schema(["--data", "x", "--time", "os_days", "--event", "e"])
    assert schema.time_unit == "days"
    r = run("fit.py", "--help")
    assert "default: months" in " ".join(r.stdout.split())


def fake_endpoint(*, n_models=1, failed=(), label="", cox_rows=None, medians=None,
                  diff_in_se=10.0, weights=None):
    """Step results of one endpoint built by hand: the contrast PKD vs other of ``disease``.
    Every model after m0 is ``diff_in_se`` SEs of the ELPD difference below m0."""
    cards = [SimpleNamespace(model=f"m{i}", passed=f"m{i}" not in failed,
                             failures=[SimpleNamespace(name="rhat")])
             for i in range(n_models)]
    con = SimpleNamespace(
        term="disease", level="PKD", reference="other", time_unit="months",
        hr=(0.8, 0.6, 1.1), group_sd={"centre": (0.3, 0.1, 0.6)},
        probabilities=pd.DataFrame({"quantity": ["prob_hr_below_1", "prob_hr_below_benefit"],
                                    "probability": [0.9, 0.4]}),
        medians=medians if medians is not None else pd.DataFrame(
            columns=["what", "estimate", "lower", "upper"]),
        extrapolation_caveats=[])
    loo = pd.DataFrame({"model": [c.model for c in cards],
                        "elpd_diff": np.r_[0.0, np.full(n_models - 1, -2.0 * diff_in_se)],
                        "dse": np.r_[0.0, np.full(n_models - 1, 2.0)],
                        "weight": (np.full(n_models, 1 / n_models) if weights is None
                                   else np.asarray(weights, float))})
    report = CompareReport("os", loo, pd.DataFrame(), pd.DataFrame(),
                           tuple(loo["model"]), {})
    ep = SimpleNamespace(endpoint="os", notes=(), fits={c.model: c for c in cards}, cards=cards,
                         grid=None, contrast=SimpleNamespace(result=con),
                         compare=SimpleNamespace(report=report))
    rows = cox_rows if cox_rows is not None else [
        {"level": "PKD", "reference": "other", "hr": 0.7, "lower": 0.5, "upper": 0.98,
         "p": 0.04}]
    rep = SimpleNamespace(endpoint_label=label, not_estimated=(),
                          overall=SimpleNamespace(n=100, events=60),
                          logrank={"disease": SimpleNamespace(p_value=0.03,
                                                              levels=("PKD", "other"))},
                          cox_univariable={"disease": SimpleNamespace(
                              table=pd.DataFrame(rows))})
    return ep, rep


def lines_of(ep, rep):
    return endpoint_lines(ep, rep, headline="m0", benefit=0.8, conf_level=0.95)


def test_endpoint_heading_shows_a_label_only_when_it_differs_from_the_name():
    assert lines_of(*fake_endpoint())[1] == "os: 100 units, 60 events"
    assert lines_of(*fake_endpoint(label="os"))[1] == "os: 100 units, 60 events"
    assert lines_of(*fake_endpoint(label="overall survival"))[1] == \
        "os (overall survival): 100 units, 60 events"
    assert Endpoint("os", "t", "e").heading == Endpoint("os", "t", "e", "os").heading == "os"
    assert RE_NEN.endpoint("os").heading == "os (overall survival)"


def test_diagnostics_line_counts_fits_in_words():
    def diag(**kw):
        return next(x for x in lines_of(*fake_endpoint(**kw)) if "diagnostics" in x).split(
            "diagnostics")[1].strip()

    assert diag(n_models=1) == "all checks pass"
    assert diag(n_models=2) == "all checks pass in both fits"
    assert diag(n_models=5) == "all checks pass in all 5 fits"
    assert diag(n_models=2, failed=("m1",)) == "FAILED: m1 (rhat)"


def test_one_model_has_no_preferred_line_and_several_have_one():
    assert not any("preferred" in x for x in lines_of(*fake_endpoint(n_models=1)))
    pref = [x for x in lines_of(*fake_endpoint(n_models=2)) if "preferred" in x]
    assert pref == ["  preferred    m0 (highest PSIS-LOO ELPD; stacking weight 0.50)"]


def test_models_within_two_se_are_reported_as_indistinguishable_not_preferred():
    """m1's ELPD is 1 SE of the difference below m0's (elpd_diff -2, dse 2): neither is
    preferred, both are named with their stacking weights, and run.json's record says the
    same; at 5 SE m0 is preferred."""
    ep, rep = fake_endpoint(n_models=2, diff_in_se=1.0, weights=[0.74, 0.26])
    pref = [x for x in lines_of(ep, rep) if "preferred" in x]
    assert pref == ["  preferred    none: m0, m1 within 2 SE of the best PSIS-LOO ELPD "
                    "(stacking weights 0.74, 0.26)"]
    record = endpoint_record(ep, rep, headline="m0")
    assert record["preferred"] is None and record["indistinguishable"] == ["m0", "m1"]
    ep, rep = fake_endpoint(n_models=2, diff_in_se=5.0, weights=[0.9, 0.1])
    assert [x for x in lines_of(ep, rep) if "preferred" in x] == [
        "  preferred    m0 (highest PSIS-LOO ELPD; stacking weight 0.90)"]
    record = endpoint_record(ep, rep, headline="m0")
    assert record["preferred"] == "m0" and record["indistinguishable"] == []


def test_a_missing_cox_row_is_written_with_its_reason_never_as_nan():
    """The univariable Cox table holds PKD vs AN and other vs AN (its reference is the first
    level), so it has no PKD vs other row."""
    ep, rep = fake_endpoint(cox_rows=[
        {"level": "PKD", "reference": "AN", "hr": 0.7, "lower": 0.5, "upper": 0.9, "p": 0.01},
        {"level": "other", "reference": "AN", "hr": 0.9, "lower": 0.6, "upper": 1.3,
         "p": 0.5}])
    lines = lines_of(ep, rep)
    assert "nan" not in "\n".join(lines).lower()
    fq = next(x for x in lines if "frequentist" in x)
    assert fq == ("  frequentist  log-rank p = 0.030; Cox HR n/a (no PKD vs other row in the "
                  "univariable Cox table)")
    # a present row still reads as before; the reverse direction is inverted
    ep, rep = fake_endpoint(cox_rows=[{"level": "other", "reference": "PKD", "hr": 2.0,
                                       "lower": 1.0, "upper": 4.0, "p": 0.05}])
    fq = next(x for x in lines_of(ep, rep) if "frequentist" in x)
    assert fq.endswith("Cox HR 0.50 (95% CI 0.25-1.00), p = 0.050 (univariable)")


def test_a_term_outside_the_baselines_and_an_unreached_median_say_why():
    ep, rep = fake_endpoint(medians=pd.DataFrame([
        {"what": "difference", "estimate": np.nan, "lower": np.nan, "upper": np.nan,
         "not_reached": 1.0}]))
    rep = SimpleNamespace(**{**vars(rep), "logrank": {}, "cox_univariable": {}})
    text = "\n".join(lines_of(ep, rep))
    assert "nan" not in text.lower()
    assert "frequentist  n/a (disease is not among the baseline factors)" in text
    assert "standardised median difference n/a (median not reached" in text


def test_a_headline_fit_that_missed_convergence_is_not_reported_as_the_answer():
    """The headline model m0 failed R-hat: the summary withholds its HR and names the checks
    and the option; with the option the HR is reported, flagged NOT CONVERGED; run.json's
    record says the same. A converged headline with a failing second model is reported."""
    ep, rep = fake_endpoint(n_models=2, failed=("m0",))
    text = "\n".join(lines_of(ep, rep))
    assert "HR 0.80" not in text
    assert "not reported: the headline model m0 missed the convergence checks (rhat)" in text
    assert "--accept-unconverged" in text
    record = endpoint_record(ep, rep, headline="m0")
    assert record["bayesian"]["converged"] is False and "hr" not in record["bayesian"]
    flagged = endpoint_lines(ep, rep, headline="m0", benefit=0.8, conf_level=0.95,
                             accept_unconverged=True)
    joined = "\n".join(flagged)
    assert "NOT CONVERGED (rhat)" in joined and "HR 0.80" in joined
    assert joined.index("NOT CONVERGED") < joined.index("HR 0.80")
    record = endpoint_record(ep, rep, headline="m0", accept_unconverged=True)
    assert record["bayesian"]["hr"] == (0.8, 0.6, 1.1)
    assert record["bayesian"]["converged"] is False
    ep, rep = fake_endpoint(n_models=2, failed=("m1",))
    assert "HR 0.80" in "\n".join(lines_of(ep, rep))
    assert endpoint_record(ep, rep, headline="m0")["bayesian"]["converged"] is True

"""Model formulas (``fit.py/reanalyse.py --formula``): parsing, refusals, the spec they give
(equal to the headline model files but for the documented baseline prior), ``--write-spec`` round
trips, and a few-draw fit."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_csv

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.formula import (
    DEFAULT_PRIORS,
    HEADLINE_CUTS_MONTHS,
    FormulaGroup,
    FormulaTerm,
    baseline_prior,
    formula_model,
    parse_formula,
    spec_from_formula,
    spec_toml,
)
from nen_bayes.bayes.model import build_model
from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.read import read_table
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import ModelDataError, SpecError
from nen_bayes.re_nen import RE_NEN

HEADLINE = "os ~ line + grade + tumour_burden + extrahepatic"
MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


@pytest.fixture(scope="module")
def raw():
    return read_table(BUNDLED_COHORT)


def spec_of(text, cohort, raw, **kw):
    return formula_model(parse_formula(text), RE_NEN, data=raw, **kw).spec(cohort)


# -- parsing -------------------------------------------------------------------------------------
def test_the_headline_formula_parses_into_terms_and_a_centre_group():
    f = parse_formula(HEADLINE + " + (1 | centre)")
    assert f.endpoint == "os"
    assert f.terms == tuple(FormulaTerm(c) for c in
                            ("line", "grade", "tumour_burden", "extrahepatic"))
    assert f.groups == (FormulaGroup(("centre",)),)


@pytest.mark.parametrize("text", ["os ~ line + age + (1 + line | centre)",
                                  "os ~ line + age + (line | centre)",
                                  "os ~ line + age + (1 | centre) + (0 + line | centre)"])
def test_a_centre_varying_effect(text):
    assert parse_formula(text).groups == (FormulaGroup(("centre",), ("line",)),)


def test_a_nested_level_and_its_order():
    assert parse_formula("os ~ line + (1 | centre/subject)").groups == (
        FormulaGroup(("centre",)), FormulaGroup(("centre", "subject")))
    # written the other way round, the level it is nested in still comes first
    assert parse_formula("os ~ line + (1 | centre:subject) + (1 | centre)").groups == (
        FormulaGroup(("centre",)), FormulaGroup(("centre", "subject")))


def test_numeric_and_factor_terms_and_references():
    f = parse_formula('os ~ age + scale(albumin) + center(bmi) + C(stage) '
                      '+ C(line, Treatment("salvage")) + C(grade, Treatment(reference="G2"))')
    assert f.terms == (FormulaTerm("age"), FormulaTerm("albumin", "numeric", per_sd=True),
                       FormulaTerm("bmi", "numeric"), FormulaTerm("stage", "categorical"),
                       FormulaTerm("line", "categorical", reference="salvage"),
                       FormulaTerm("grade", "categorical", reference="G2"))
    assert parse_formula("os ~ 1").terms == ()


@pytest.mark.parametrize(("text", "message"), [
    ("os ~ line:grade", r"interaction; the models have main effects only"),
    ("os ~ line * grade", r"interaction"),
    ("os ~ log(age)", r"log\(age\) is not offered.*compute any other transformation"),
    ("os ~ I(age + 1)", r"is not offered"),
    ("os ~ {age + 1}", r"is not offered"),
    ("os ~ scale(age, 2)", r"is not offered"),
    ('os ~ C(line, Sum("a"))', r"is not offered"),
    ("os ~ 0 + line", r"remove '0 \+' or '- 1'"),
    ("os ~ line - 1", r"remove '0 \+' or '- 1'"),
    ("os ~ line + (0 + line | centre)", r"every group has its random intercept.*"
                                        r"write \(1 \+ line \| centre\)"),
    ("os ~ line + (1 + age | centre)", r"age varies by group but is not a term of the formula"),
    ("os ~ line + (1 | centre:subject)", r"needs the level it is nested in; write "
                                         r"\(1 \| centre/subject\)"),
    ("os ~ line[salvage]", r'write C\(line, Treatment\("salvage"\)\)'),
    ("os ~ line + C(line)", r"\['line'\] appear in more than one term"),
    ("censored(time, status) ~ line", r"left-hand side must name one endpoint"),
    ("os ~ line +", r"does not parse"),
    ("line + grade", r"a formula needs 'endpoint ~ terms'"),
    ("os ~ line + (1 | C(centre))", r"grouping factor C\(centre\) must be a column"),
    # formulae reads these otherwise than R users mean (x ** 2 as x, x %in% y as x)
    ("os ~ age ** 2", r"powers \(x \*\* 2, \(a \+ b\) \*\* 2\) are not offered"),
    ("os ~ line %in% centre", r"%in% is not offered; a nested level is \(1 \| g/h\)"),
    ("os ~ line | centre", r"a group term goes in parentheses"),
    ("os ~ 2", r"the term 2 is not a column"),
    ("os ~ line $ grade", r"does not parse \(Unexpected character"),
])
def test_what_the_models_cannot_do_is_refused_with_the_reason(text, message):
    with pytest.raises(SpecError, match=message) as exc:
        parse_formula(text)
    assert str(exc.value).startswith(f"--formula {text!r}: ")


def test_kinds_come_from_the_options_then_from_the_values(tmp_path, bundled_frame):
    rng = np.random.default_rng(3)
    frame = bundled_frame.assign(age=rng.integers(30, 80, len(bundled_frame)).astype(str),
                                 stage=rng.integers(1, 4, len(bundled_frame)).astype(str),
                                 site=bundled_frame["centre"].str.lower())
    raw = read_table(write_csv(tmp_path / "c.csv", frame))
    schema = CohortSchema.custom({"os": ("os_months", "os_event")}, centre_column="site",
                                 factors=["line"], numerics=["tumour_size"])
    m = formula_model(parse_formula("os ~ line + age + stage + C(grade) + scale(tumour_size) "
                                    "+ (1 | site)"), schema, data=raw)
    kinds = {c.column: (c.type, c.scale) for c in m.covariates}
    assert kinds == {"line": ("categorical", None), "age": ("numeric", None),
                     "stage": ("numeric", None), "grade": ("categorical", None),
                     "tumour_size": ("numeric", "sd")}
    assert m.groups[0].name == "centre" and m.groups[0].column is None  # the --centre column
    assert formula_model(parse_formula("os ~ C(stage)"), schema, data=raw).covariates[0].type \
        == "categorical"
    with pytest.raises(SpecError, match=r"C\(\) makes 'tumour_size' categorical, but the cohort "
                                        r"options declare it numeric"):
        formula_model(parse_formula("os ~ C(tumour_size)"), schema, data=raw)
    with pytest.raises(SpecError, match=r"the kind of 'age' is not declared; name it with "
                                        r"--factor or --numeric"):
        formula_model(parse_formula("os ~ age"), schema)
    with pytest.raises(SpecError, match=r"left-hand side 'pfs' is not an endpoint of the cohort "
                                        r"options; endpoints: \['os'\]"):
        formula_model(parse_formula("pfs ~ age"), schema, data=raw)


# -- the spec: the headline files but for the baseline -------------------------------------------
def _differences(spec, file_spec, baseline="scale") -> list[str]:
    """What differs between a formula's spec and a model file's, the baseline prior's location
    aside (a formula places it from the data; its width and distribution are the file's)."""
    out = [f"{a}: {getattr(spec, a)!r} != {getattr(file_spec, a)!r}"
           for a in ("family", "endpoint", "covariates", "groups", "cuts")
           if getattr(spec, a) != getattr(file_spec, a)]
    if set(spec.priors) != set(file_spec.priors):
        out.append(f"priors {sorted(spec.priors)} != {sorted(file_spec.priors)}")
    for key, prior in spec.priors.items():
        want = file_spec.priors.get(key)
        if want is None:
            continue
        if prior.dist != want.dist:
            out.append(f"{key}: {prior.dist} != {want.dist}")
        elif key != baseline and prior.params != want.params:
            out.append(f"{key}: {prior.params} != {want.params}")
        elif key == baseline and prior.params["sigma"] != want.params["sigma"]:
            out.append(f"{key} width: {prior.params['sigma']} != {want.params['sigma']}")
    return out


def _graph(spec, cohort):
    model = build_model(spec, make_design(spec, cohort, "os"))
    return {name: model.named_vars_to_dims.get(name) for name in model.named_vars}


def test_the_headline_formula_gives_the_headline_model(cohort, raw):
    spec = spec_of(HEADLINE + " + (1 | centre)", cohort, raw)
    headline = load_spec(MODELS / "weibull_ph_centre.toml")
    assert _differences(spec, headline) == []
    assert _differences(spec, load_spec(MODELS / "weibull_ph_pooled.toml"))  # can say no
    assert _graph(spec, cohort) == _graph(headline, cohort)


@pytest.mark.parametrize(("text", "family", "file", "baseline"), [
    (HEADLINE + " + (1 + line | centre)", "weibull", "weibull_ph_centre_line", "scale"),
    (HEADLINE + " + (1 | centre)", "exponential", "exponential_ph_centre", "scale"),
    (HEADLINE + " + (1 | centre)", "piecewise", "piecewise_ph_centre", "log_hazard"),
    (HEADLINE, "weibull", "weibull_ph_pooled", "scale"),
])
def test_each_structure_gives_its_model_file(cohort, raw, text, family, file, baseline):
    spec = spec_of(text, cohort, raw, family=family)
    file_spec = load_spec(MODELS / f"{file}.toml")
    assert _differences(spec, file_spec, baseline) == []
    assert _graph(spec, cohort) == _graph(file_spec, cohort)


def test_the_nested_formula_gives_the_subject_model(cohort, raw):
    model = formula_model(parse_formula(HEADLINE + " + (1 | centre/subject)"), RE_NEN, data=raw)
    # fit.py --group subject=subject_id names its column, as for the file
    model = replace(model, groups=(model.groups[0], replace(model.groups[1],
                                                            column="subject_id")))
    spec = model.spec(cohort)
    assert [g.name for g in spec.groups] == ["centre", "subject"]
    assert _differences(spec, load_spec(MODELS / "weibull_ph_centre_subject.toml")) == []


def test_the_default_priors_are_those_of_the_headline_files():
    headline = load_spec(MODELS / "weibull_ph_centre.toml").priors
    line = load_spec(MODELS / "weibull_ph_centre_line.toml").priors
    subject = load_spec(MODELS / "weibull_ph_centre_subject.toml").priors
    piecewise = load_spec(MODELS / "piecewise_ph_centre.toml")
    pairs = {"coefficient": headline["coefficient"], "shape": headline["shape"],
             "group_sd": headline["group_sd"], "varying_sd": line["varying_sd"],
             "group_sd_nested": subject["group_sd_subject"]}
    for key, prior in pairs.items():
        d = DEFAULT_PRIORS[key]
        assert d["dist"] == prior.dist, key
        assert {k: v for k, v in d.items() if k not in ("dist", "reason")} == prior.params, key
        assert "297" not in d["reason"] and "NEN" not in d["reason"]  # not the case study's
    assert HEADLINE_CUTS_MONTHS == piecewise.cuts


def test_the_baseline_prior_is_placed_from_the_follow_up(cohort, raw):
    # reference: total follow-up / events of the os columns, read with pandas alone
    frame = pd.read_csv(BUNDLED_COHORT)
    c = frame["os_months"].sum() / frame["os_event"].sum()
    spec = spec_of(HEADLINE + " + (1 | centre)", cohort, raw)
    scale = spec.priors["scale"]
    assert scale.dist == "LogNormal" and scale.params == {"mu": round(math.log(c), 2),
                                                          "sigma": 1.0}
    assert f"over {int(frame['os_event'].sum())} os events = {c:.4g} months" in scale.reason
    assert "constant-hazard estimate of mean survival" in scale.reason
    pw = spec_of("os ~ line", cohort, raw, family="piecewise").priors["log_hazard"]
    assert pw.params == {"mu": -round(math.log(c), 2), "sigma": 1.5}


def test_the_baseline_rule_in_another_unit_and_without_events():
    # four units, 100 days of follow-up, 2 events: mean survival 50 days under constant hazard
    key, prior = baseline_prior("weibull", [10, 20, 30, 40], [1, 0, 1, 0], unit="days",
                                endpoint="os")
    assert key == "scale" and prior["mu"] == round(math.log(50), 2)
    assert "100 days over 2 os events = 50 days" in prior["reason"]
    with pytest.raises(ModelDataError, match=r"endpoint 'os' has no events \(3 units, all "
                                             r"censored\)"):
        baseline_prior("weibull", [10, 20, 30], [0, 0, 0], unit="days", endpoint="os")


def test_a_numeric_covariate_per_unit_gets_the_headline_prior_per_sd(tmp_path, bundled_frame):
    rng = np.random.default_rng(5)
    frame = bundled_frame.assign(age=rng.integers(30, 80, len(bundled_frame)).astype(str),
                                 alb=rng.normal(40, 5, len(bundled_frame)).round(1).astype(str))
    path = write_csv(tmp_path / "c.csv", frame)
    schema = replace(RE_NEN, numerics=("age", "alb"))
    spec = formula_model(parse_formula("os ~ line + age + scale(alb)"), schema,
                         data=read_table(path)).spec(load_cohort(path, schema))
    # reference: the SD of the column as pandas computes it (ddof=1)
    sd = pd.read_csv(path)["age"].std()
    assert spec.priors["coefficient_age"].params == {"mu": 0.0, "sigma": float(f"{1 / sd:.3g}")}
    assert "per standard deviation of age" in spec.priors["coefficient_age"].reason
    assert "coefficient_alb" not in spec.priors  # per SD: the common prior
    assert spec.coefficient_prior("alb") == spec.priors["coefficient"]


@pytest.mark.parametrize(("unit", "cuts"), [
    ("months", HEADLINE_CUTS_MONTHS),
    ("days", (182.62, 365.25, 730.5, 1095.75, 1826.25)),
    ("years", (0.5, 1.0, 2.0, 3.0, 5.0)),
    ("visits", "quantiles:6"),
])
def test_the_piecewise_cuts_follow_the_time_unit(unit, cuts):
    schema = replace(RE_NEN, time_unit=unit)
    m = formula_model(parse_formula("os ~ line"), schema, family="piecewise")
    assert m.cuts == cuts


# -- writing the spec ------------------------------------------------------------------------------
def test_the_written_spec_loads_as_the_same_spec(tmp_path, cohort):
    text = ('os ~ line + C(grade, Treatment("G2")) + scale(age) '
            '+ (1 + line | centre/subject)')
    schema = replace(RE_NEN, numerics=("age",))
    model = formula_model(parse_formula(text), schema, family="piecewise", name="mine")
    data = model.file_dict(cohort)  # the cohort places the baseline prior
    path = tmp_path / "mine.toml"
    path.write_text(spec_toml(data, header="a header\nof two lines"))
    assert tomllib.loads(path.read_text()) == data
    written = load_spec(path)
    spec = model.spec(cohort)
    assert replace(written, source=spec.source) == spec
    assert written.hash == spec.hash
    assert path.read_text().startswith("# a header\n# of two lines\n")
    assert [c.type for c in spec.covariates] == ["categorical", "categorical", "numeric"]
    assert spec.covariates[1].reference == "G2" and spec.covariates[2].scale == "sd"
    assert {"varying_sd", "group_sd", "group_sd_subject", "log_hazard"} <= set(spec.priors)


def test_odd_text_is_written_exactly():
    data = {"model": {"name": "m", "title": 'a "quoted" \\ title', "family": "weibull",
                      "description": "x  y " * 40 + "\n second line"},
            "priors": {"shape": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5,
                                 "reason": "÷ " + "word " * 60 + '"end"'}}}
    assert tomllib.loads(spec_toml(data)) == data


def run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=ROOT)


def test_write_spec_writes_a_model_file_and_refuses_to_overwrite(tmp_path, cohort, raw):
    path = tmp_path / "my_model.toml"
    args = ["--data", BUNDLED_COHORT, "--formula", HEADLINE + " + (1 | centre)",
            "--write-spec", path]
    r = run("fit.py", *args)
    assert r.returncode == 0, r.stderr
    assert f"written: {path}" in r.stdout and "hazard_ratio" not in r.stdout  # nothing fitted
    spec = load_spec(path)
    assert spec.name == "my_model"
    assert replace(spec, source="x") == replace(
        spec_of(HEADLINE + " + (1 | centre)", cohort, raw, name="my_model"), source="x")
    before = path.read_text()
    r = run("fit.py", *args)
    assert r.returncode == 2 and "exists; pass --force" in r.stderr
    assert path.read_text() == before
    assert run("fit.py", *args, "--force").returncode == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--formula", "os ~ line:grade", "--out", "o"], "interaction"),
    (["--formula", "os ~ line", "--model", MODELS / "weibull_ph_centre", "--out", "o"],
     "--model SPEC or --formula FORMULA"),
    (["--model", MODELS / "weibull_ph_centre", "--family", "piecewise", "--out", "o"],
     "--family goes with --formula"),
    (["--formula", "os ~ line"], "--out DIR is required"),
    (["--formula", "hpfs_months ~ line", "--out", "o"], "left-hand side 'hpfs_months' is not "
                                                        "an endpoint"),
])
def test_fit_script_refuses_bad_formula_options(tmp_path, args, message):
    args = [tmp_path / a if a == "o" else a for a in args]
    r = run("fit.py", "--data", BUNDLED_COHORT, *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_fit_script_runs_a_formula(tmp_path):
    out = tmp_path / "run"
    r = run("fit.py", "--data", BUNDLED_COHORT, "--formula", HEADLINE + " + (1 | centre)",
            "--draws", 60, "--tune", 60, "--chains", 2, "--prior-draws", 100, "--quiet",
            "--formats", "png", "--out", out)
    run_json = json.loads((out / "run.json").read_text())
    assert r.returncode == (0 if run_json["converged"] else 3), r.stderr[-3000:]
    assert "Weibull PH: os ~ line" in r.stdout and "SYNTHETIC DATA" in r.stdout
    assert run_json["model"] == "weibull_ph_formula" and run_json["endpoint"] == "os"
    assert run_json["spec_source"].startswith("--formula 'os ~ line")
    effects = pd.read_csv(out / "effects.csv")
    assert {"line", "grade", "tumour_burden", "extrahepatic"} <= set(effects["term"])
    meta = json.loads((out / "effects.json").read_text())
    assert meta["metadata"]["spec"]["priors"]["scale"]["mu"] == spec_from_formula(
        HEADLINE + " + (1 | centre)", load_cohort(BUNDLED_COHORT, RE_NEN)).priors[
        "scale"].params["mu"]


@pytest.mark.slow
def test_reanalyse_takes_a_formula_as_its_headline_model(tmp_path):
    out = tmp_path / "results"
    r = run("reanalyse.py", "--data", BUNDLED_COHORT, "--formula", HEADLINE + " + (1 | centre)",
            "--model", MODELS / "weibull_ph_pooled", "--no-prior-grid", "--draws", 60,
            "--tune", 60, "--chains", 2, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["settings"]["models"] == ["weibull_ph_formula", "weibull_ph_pooled"]
    assert run_json["settings"]["endpoints"] == ["os"]  # the formula's endpoint only
    assert (out / "fits/os/weibull_ph_formula/fit.nc").exists()
    assert not (out / "fits/hpfs").exists()


def test_formulae_is_imported_only_to_parse_a_formula():
    """fit.py with a model file never needs the formula parser (about 0.5 s of imports)."""
    code = ("import sys; sys.path.insert(0, 'scripts'); import fit; "
            "from nen_bayes.bayes.formula import parse_formula; "
            "print('formulae' in sys.modules); parse_formula('os ~ line'); "
            "print('formulae' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    assert out == ["False", "True"]

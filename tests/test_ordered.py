"""An ordered covariate coded linearly takes the order its user declared, never the text order.

The order comes from the model file's ``levels``, else ``--levels COL=A,B,C``, else the cohort
contract's own declared order; without one the design refuses, naming the column and the levels
found in the data. The expected design columns are written out by hand from the data below
(score 0, 1, 2 along the declared order, minus the reference level's score).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_csv
from fakes import fake_tree

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import _attrs
from nen_bayes.bayes.spec import spec_from_dict
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import ModelDataError, SpecError
from nen_bayes.pipeline.cli import add_cohort_options, schema_for, script_parser
from nen_bayes.posterior.summary import fit_summary_text, posterior_effects
from nen_bayes.re_nen import RE_NEN

PRIORS = {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
          "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1}}

#: A user's cohort whose ordered column sorts as text to high < intermediate < low.
FRAME = pd.DataFrame({
    "t": [5.0, 8, 12, 3, 20, 7, 15, 9, 4],
    "e": [1, 0, 1, 1, 0, 1, 1, 0, 1],
    "risk": ["low", "high", "intermediate", "high", "low", "intermediate", "low", "high",
             "intermediate"],
})
#: By hand: low -> 0, intermediate -> 1, high -> 2 (reference low, score 0).
BY_HAND = [0, 2, 1, 2, 0, 1, 0, 2, 1]


def model(**cov) -> dict:
    return {"model": {"name": "m", "family": "exponential"},
            "covariates": [{"column": "risk", "type": "ordered", "coding": "linear", **cov}],
            "priors": PRIORS}


def custom_cohort(frame=FRAME, levels=None, **kw):
    schema = CohortSchema.custom({"ep": ("t", "e")},
                                 factors=[Factor("risk", levels, ordered=levels is not None)])
    return load_cohort(frame, schema, **kw)


def cli_schema(argv, spec):
    parser = script_parser("x", "x")
    add_cohort_options(parser)
    args = parser.parse_args(["--data", "x.csv", "--endpoint", "ep=t:e",
                              "--row-ids", "--no-centre", "--time-unit", "months", *argv])
    schema, _ = schema_for(args, parser, [spec], one_endpoint=True)
    return schema


def test_an_ordered_covariate_with_no_declared_order_is_refused():
    spec = spec_from_dict(model(), source="m.toml")
    with pytest.raises(ModelDataError, match=r"'risk'.*no declared order.*"
                       r"\['high', 'intermediate', 'low'\].*levels = \[.*--levels risk="):
        make_design(spec, custom_cohort(), "ep")


def test_the_cli_schema_of_an_undeclared_ordered_column_is_refused_by_the_design():
    spec = spec_from_dict(model(), source="m.toml")
    schema = cli_schema([], spec)
    assert schema.factor("risk").levels is None and not schema.factor("risk").ordered
    with pytest.raises(ModelDataError, match="no declared order"):
        make_design(spec, load_cohort(FRAME, schema), "ep")


def test_levels_in_the_model_file_give_the_order():
    spec = spec_from_dict(model(levels=["low", "intermediate", "high"]), source="m.toml")
    d = make_design(spec, custom_cohort(), "ep")
    np.testing.assert_array_equal(d.X[:, 0], BY_HAND)
    assert d.contrasts == ("per step (low < intermediate < high)",)
    assert d.orders == {"risk": ("low", "intermediate", "high")}


def test_levels_in_the_model_file_also_set_the_schema_read_by_the_cli():
    spec = spec_from_dict(model(levels=["low", "intermediate", "high"]), source="m.toml")
    schema = cli_schema([], spec)
    assert schema.factor("risk").levels == ("low", "intermediate", "high")
    d = make_design(spec, load_cohort(FRAME, schema), "ep")
    np.testing.assert_array_equal(d.X[:, 0], BY_HAND)


def test_levels_option_gives_the_order():
    spec = spec_from_dict(model(), source="m.toml")
    schema = cli_schema(["--levels", "risk=low,intermediate,high"], spec)
    assert schema.factor("risk").ordered
    d = make_design(spec, load_cohort(FRAME, schema), "ep")
    np.testing.assert_array_equal(d.X[:, 0], BY_HAND)
    assert d.contrasts == ("per step (low < intermediate < high)",)


def test_the_model_file_order_wins_over_the_levels_option():
    spec = spec_from_dict(model(levels=["high", "intermediate", "low"]), source="m.toml")
    schema = cli_schema(["--levels", "risk=low,intermediate,high"], spec)
    d = make_design(spec, load_cohort(FRAME, schema), "ep")
    assert d.contrasts == ("per step (high < intermediate < low)",)
    np.testing.assert_array_equal(d.X[:, 0], [2 - s for s in BY_HAND])


def test_a_data_level_outside_the_model_file_order_is_refused():
    spec = spec_from_dict(model(levels=["low", "high"]), source="m.toml")
    with pytest.raises(ModelDataError, match=r"'risk'.*\['intermediate'\].*not in the declared"):
        make_design(spec, custom_cohort(), "ep")


def test_the_contract_grade_keeps_g1_g2_g3(bundled_frame):
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = spec_from_dict({**model(), "covariates": [
        {"column": "grade", "type": "ordered", "coding": "linear"}]}, source="m.toml")
    d = make_design(spec, cohort, "os")
    assert d.contrasts == ("per step (G1 < G2 < G3)",)
    by_hand = bundled_frame.set_index("patient_id").loc[cohort.ids.astype(str), "grade"] \
        .map({"G1": 0, "G2": 1, "G3": 2}).to_numpy(float)
    np.testing.assert_array_equal(d.X[:, 0], by_hand)
    attrs = _attrs(spec, cohort, d, "os")
    assert json.loads(attrs["contrasts"]) == {"grade[step]": "per step (G1 < G2 < G3)"}
    assert d.orders == {"grade": ("G1", "G2", "G3")}
    assert json.loads(attrs["orders"]) == {"grade": ["G1", "G2", "G3"]}


def test_the_fit_records_and_prints_the_declared_order():
    """The attrs of a fit hold the declared order (not only the effect's label), and the
    summary of fit.py prints it."""
    spec = spec_from_dict(model(levels=["low", "intermediate", "high"]), source="m.toml")
    cohort = custom_cohort()
    d = make_design(spec, cohort, "ep")
    attrs = _attrs(spec, cohort, d, "ep")
    assert json.loads(attrs["orders"]) == {"risk": ["low", "intermediate", "high"]}
    tree = fake_tree()
    tree.attrs.update({"orders": attrs["orders"], "chains": 4, "draws": 500})
    text = fit_summary_text(tree, posterior_effects(tree), pd.DataFrame(), title="t",
                            seconds=1.0)
    assert "order of risk (declared, lowest first): low < intermediate < high" in text


def test_missing_kept_as_unknown_is_refused_on_an_ordered_covariate():
    frame = FRAME.assign(risk=FRAME["risk"].where(FRAME.index != 4, ""))
    cohort = custom_cohort(frame, ("low", "intermediate", "high"), missing="unknown")
    for spec in (spec_from_dict(model(), source="m.toml"),
                 spec_from_dict(model(levels=["low", "intermediate", "high"]),
                                source="m.toml")):
        with pytest.raises(ModelDataError, match=r"'risk'.*'unknown'.*not a step.*"
                           r"--missing drop"):
            make_design(spec, cohort, "ep")


def test_an_ordered_schema_factor_needs_its_levels():
    with pytest.raises(ValueError, match="ordered but its levels are not given"):
        Factor("risk", ordered=True)


@pytest.mark.parametrize("levels, match", [
    ("low,high", "a list of distinct level names"),
    (["low", "low"], "repeat"),
    (["low", 2], "a list of distinct level names"),
    ([], "a list of distinct level names"),
])
def test_levels_key_is_checked(levels, match):
    with pytest.raises(SpecError, match=match):
        spec_from_dict(model(levels=levels), source="m.toml")


def test_levels_key_is_for_ordered_factors_and_holds_the_reference():
    with pytest.raises(SpecError, match="'levels' applies to ordered"):
        spec_from_dict({**model(), "covariates": [
            {"column": "risk", "type": "categorical", "levels": ["a", "b"]}]}, source="m.toml")
    with pytest.raises(SpecError, match="reference 'mid' is not among"):
        spec_from_dict(model(levels=["low", "high"], reference="mid"), source="m.toml")


def test_fit_script_refuses_with_exit_2_and_writes_nothing(tmp_path):
    data = write_csv(tmp_path / "c.csv", FRAME)
    spec = tmp_path / "m.toml"
    spec.write_text('[model]\nname = "m"\nfamily = "exponential"\ntime_unit = "months"\n'
                    '[[covariates]]\ncolumn = "risk"\ntype = "ordered"\ncoding = "linear"\n'
                    '[priors.coefficient]\ndist = "Normal"\nmu = 0\nsigma = 1\n'
                    '[priors.scale]\ndist = "LogNormal"\nmu = 3\nsigma = 1\n')
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "scripts/fit.py"), "--data", str(data),
                        "--time", "t", "--event", "e", "--row-ids", "--time-unit", "months",
                        "--model", str(spec),
                        "--out", str(out), "--draws", "10", "--tune", "10", "--chains", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "no declared order" in r.stderr and "'risk'" in r.stderr
    assert not out.exists()

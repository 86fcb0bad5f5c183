"""Model specifications and priors: the files in models/ parse; every malformed spec is refused
with a message naming the file and the key."""

from __future__ import annotations

import pytest
from conftest import ROOT

from nen_bayes.bayes.priors import Prior
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.errors import SpecError

MODEL_FILES = sorted((ROOT / "models").glob("*.toml"))

BASE = {
    "model": {"name": "m", "family": "weibull"},
    "covariates": [{"column": "line", "type": "categorical", "reference": "second_line"}],
    "groups": [{"name": "centre"}],
    "priors": {
        "coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
        "shape": {"dist": "LogNormal", "mu": 0, "sigma": 0.5},
        "scale": {"dist": "LogNormal", "mu": 3.6, "sigma": 1},
        "group_sd": {"dist": "HalfNormal", "sigma": 0.5},
    },
}


def variant(**changes):
    import copy

    d = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = path.split("__")
        node = d
        for k in keys[:-1]:
            node = node[k]
        if value is None:
            node.pop(keys[-1])
        else:
            node[keys[-1]] = value
    return d


def test_the_model_set_is_present_and_parses():
    names = {p.stem for p in MODEL_FILES}
    assert {"weibull_ph_centre", "weibull_ph_pooled", "weibull_ph_centre_line",
            "exponential_ph_centre", "piecewise_ph_centre",
            "weibull_ph_centre_subject"} <= names
    for p in MODEL_FILES:
        spec = load_spec(p)
        assert spec.name == p.stem
        # every prior carries its reasoning
        assert all(prior.reason for prior in spec.priors.values()), p


def test_spec_path_without_suffix_and_hash_ignores_layout(tmp_path):
    a = load_spec(ROOT / "models/weibull_ph_centre")
    text = (ROOT / "models/weibull_ph_centre.toml").read_text()
    other = tmp_path / "same.toml"
    other.write_text("# a comment\n\n" + text.replace(" = ", "="))
    assert load_spec(other).hash == a.hash
    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace("sigma = 0.5\nreason = \"\"\"between", "sigma = 0.6\n"
                                    "reason = \"\"\"between"))
    assert load_spec(changed).hash != a.hash


@pytest.mark.parametrize("changes, match", [
    ({"model__familly": "weibull"}, r"\[model\]: unknown key\(s\) \['familly'\]"),
    ({"extra": {}}, r"unknown key\(s\) \['extra'\]"),
    ({"model__family": "gamma"}, "family 'gamma' is not one of"),
    ({"model__parameterisation": "aft"}, "parameterisation 'aft' does not fit family 'weibull'"),
    ({"priors__shape": {"dist": "Normal", "mu": 1, "sigma": 1}},
     "shape is positive; Normal has support on the whole real line"),
    ({"priors__coefficient": {"dist": "HalfNormal", "sigma": 1}},
     "coefficient for line may be negative"),
    ({"priors__scale": None}, "needs a prior 'scale'"),
    ({"priors__group_sd": None}, "no prior for the group SD of centre"),
    ({"priors__log_hazard": {"dist": "Normal", "mu": 0, "sigma": 1}},
     r"prior\(s\) \['log_hazard'\] are not used"),
    ({"priors__coefficient": {"dist": "Normal", "mu": 0}}, r"needs parameter\(s\) \['sigma'\]"),
    ({"priors__coefficient": {"dist": "Normal", "mu": 0, "sigma": -1}}, "must be > 0"),
    ({"priors__coefficient": {"dist": "Normal", "mu": "0", "sigma": 1}},
     "must be a finite number"),
    ({"priors__coefficient": {"dist": "Normal", "mu": 0, "sigma": 1, "tau": 2}},
     r"unknown parameter\(s\) \['tau'\]"),
    ({"priors__coefficient": {"dist": "os.system", "mu": 0}}, "is not allowed"),
    ({"covariates": [{"column": "line", "type": "spline"}]}, "type 'spline' is not one of"),
    ({"covariates": [{"column": "line", "coding": "linear"}]}, "coding 'linear' not allowed"),
    ({"groups": [{"name": "centre", "varying": ["grade"]}]}, r"varying names \['grade'\]"),
    ({"groups": [{"name": "patient"}]}, "reserved"),
    ({"groups": [{"name": "subject"}]}, "'column' is required"),
    ({"groups": [{"name": "subject", "column": "s", "within": "centre"}, {"name": "centre"}]},
     "within 'centre' must name a group declared before it"),
])
def test_bad_specs_are_refused_naming_the_key(changes, match):
    with pytest.raises(SpecError, match=match):
        spec_from_dict(variant(**changes), source="models/x.toml")


def test_piecewise_cuts_are_checked():
    base = variant(model__family="piecewise", priors__shape=None, priors__scale=None)
    base["priors"]["log_hazard"] = {"dist": "Normal", "mu": -3, "sigma": 1.5}
    with pytest.raises(SpecError, match="needs 'cuts'"):
        spec_from_dict(base, source="x.toml")
    base["baseline"] = {"cuts": [12, 6]}
    with pytest.raises(SpecError, match="strictly increasing"):
        spec_from_dict(base, source="x.toml")
    base["baseline"] = {"cuts": "quantiles:40"}
    with pytest.raises(SpecError, match="2 <= K <= 20"):
        spec_from_dict(base, source="x.toml")
    base["baseline"] = {"cuts": "quantiles:4"}
    assert spec_from_dict(base).cuts == "quantiles:4"


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="no such model specification"):
        load_spec(tmp_path / "nothing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 1")
    with pytest.raises(SpecError, match=r"bad.toml: not valid TOML"):
        load_spec(bad)


def test_prior_round_trip_and_pymc_extras_layout():
    p = Prior.from_dict({"dist": "HalfNormal", "kwargs": {"sigma": 0.5}, "reason": "r"},
                        where="x")
    assert p.params == {"sigma": 0.5} and p.describe() == "HalfNormal(sigma=0.5)"
    assert Prior.from_dict(p.to_dict(), where="x") == p


def test_with_priors_returns_a_new_spec():
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    new = spec.with_priors({"coefficient_line": Prior("Normal", {"mu": 0.0, "sigma": 0.2})})
    assert spec.coefficient_prior("line").params["sigma"] == 1.0
    assert new.coefficient_prior("line").params["sigma"] == 0.2
    assert new.hash != spec.hash
    with pytest.raises(SpecError, match="not used"):
        spec.with_priors({"coefficient_age": Prior("Normal", {"mu": 0.0, "sigma": 1.0})})

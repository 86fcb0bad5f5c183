"""Model files state the time unit of their numbers, and a fit in another unit converts them.

References are independent of the conversion code: the quantile functions of SciPy (f X for a
prior on a time scale, X - log f for a prior on a log hazard), the closed-form Weibull,
exponential and piecewise medians of :mod:`nen_bayes.bayes.families` on common random numbers,
and the definition of a month as 365.25 / 12 days.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, write_csv
from scipy import stats

from nen_bayes.bayes import families
from nen_bayes.bayes.spec import in_time_unit, load_spec, spec_from_dict
from nen_bayes.errors import ModelDataError, SpecError
from nen_bayes.posterior.summary import prior_predictive_warnings
from nen_bayes.settings import default_horizons
from nen_bayes.units import canonical_unit, unit_factor

MODEL_FILES = [*sorted((ROOT / "models").glob("*.toml")),
               ROOT / "examples/gbsg2/weibull_ph_arm.toml"]
DAYS = 365.25 / 12  # days per month: a twelfth of the Julian year


def test_the_units_and_their_factors():
    assert unit_factor("months", "days") == pytest.approx(30.4375, rel=1e-15)
    assert unit_factor("years", "days") == pytest.approx(365.25, rel=1e-15)
    assert unit_factor("weeks", "days") == pytest.approx(7.0, rel=1e-15)
    assert unit_factor("days", "months") * unit_factor("months", "days") == pytest.approx(1.0)
    assert canonical_unit(" Day ") == "days" and canonical_unit("fortnights") is None
    assert unit_factor("fortnights", "fortnight") == 1.0  # same text: nothing to convert
    assert unit_factor("fortnights", "days") is None


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_every_shipped_model_file_states_its_time_unit(path):
    spec = load_spec(path)
    assert spec.time_unit in ("days", "months"), spec.time_unit


def test_a_model_file_without_a_time_unit_is_refused(tmp_path):
    text = (ROOT / "models/weibull_ph_centre.toml").read_text()
    stripped = "\n".join(ln for ln in text.splitlines() if not ln.startswith("time_unit"))
    path = tmp_path / "m.toml"
    path.write_text(stripped)
    with pytest.raises(SpecError, match=r"m\.toml \[model\].*'time_unit'.*time_unit = \"months\""):
        load_spec(path)


#: PyMC's parameters -> the SciPy distribution of the same law.
SCIPY_POSITIVE = {
    "LogNormal": lambda p: stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"])),
    "Gamma": lambda p: stats.gamma(a=p["alpha"], scale=1 / p["beta"]),
    "InverseGamma": lambda p: stats.invgamma(a=p["alpha"], scale=p["beta"]),
    "Exponential": lambda p: stats.expon(scale=1 / p["lam"]),
    "HalfNormal": lambda p: stats.halfnorm(scale=p["sigma"]),
    "HalfCauchy": lambda p: stats.halfcauchy(scale=p["beta"]),
    "Weibull": lambda p: stats.weibull_min(c=p["alpha"], scale=p["beta"]),
}
SCIPY_REAL = {
    "Normal": lambda p: stats.norm(p["mu"], p["sigma"]),
    "StudentT": lambda p: stats.t(p["nu"], p["mu"], p["sigma"]),
    "Cauchy": lambda p: stats.cauchy(p["alpha"], p["beta"]),
    "Laplace": lambda p: stats.laplace(p["mu"], p["b"]),
    "Logistic": lambda p: stats.logistic(p["mu"], p["s"]),
}
POSITIVE = {"LogNormal": {"mu": 3.58, "sigma": 1.0}, "Gamma": {"alpha": 2.0, "beta": 0.05},
            "InverseGamma": {"alpha": 3.0, "beta": 60.0}, "Exponential": {"lam": 0.03},
            "HalfNormal": {"sigma": 40.0}, "HalfCauchy": {"beta": 30.0},
            "Weibull": {"alpha": 1.5, "beta": 40.0}}
REAL = {"Normal": {"mu": -3.58, "sigma": 1.5}, "StudentT": {"nu": 4.0, "mu": -3.0, "sigma": 1.0},
        "Cauchy": {"alpha": -3.0, "beta": 1.0}, "Laplace": {"mu": -3.0, "b": 1.0},
        "Logistic": {"mu": -3.0, "s": 1.0}}
P = np.array([0.025, 0.25, 0.5, 0.75, 0.975])


def _spec(family, prior, unit="months"):
    key = "log_hazard" if family == "piecewise" else "scale"
    d = {"model": {"name": "m", "family": family, "time_unit": unit},
         "priors": {key: prior}}
    if family == "piecewise":
        d["baseline"] = {"cuts": [6, 12, 24]}
    return spec_from_dict(d, source="m.toml")


@pytest.mark.parametrize("dist", sorted(POSITIVE))
@pytest.mark.parametrize("unit", ["days", "weeks", "years"])
def test_a_scale_prior_becomes_the_prior_of_the_scale_times_the_factor(dist, unit):
    f = {"days": DAYS, "weeks": DAYS / 7, "years": 1 / 12}[unit]
    spec = _spec("exponential", {"dist": dist, **POSITIVE[dist]})
    out, note = in_time_unit(spec, unit)
    got = SCIPY_POSITIVE[dist](out.priors["scale"].params).ppf(P)
    want = f * SCIPY_POSITIVE[dist](POSITIVE[dist]).ppf(P)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert out.time_unit == unit and "months" in note and unit in note


@pytest.mark.parametrize("dist", sorted(REAL))
def test_a_log_hazard_prior_is_shifted_by_minus_the_log_of_the_factor(dist):
    spec = _spec("piecewise", {"dist": dist, **REAL[dist]})
    out, _ = in_time_unit(spec, "days")
    got = SCIPY_REAL[dist](out.priors["log_hazard"].params).ppf(P)
    want = SCIPY_REAL[dist](REAL[dist]).ppf(P) - math.log(DAYS)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.cuts, np.array([6, 12, 24]) * DAYS, rtol=1e-15)


def _median_draws(spec, z, w, cuts):
    """The prior-implied median survival of a reference unit, on common standard normal
    draws ``z`` (baseline) and ``w`` (Weibull shape): LogNormal/Normal priors as mu + sigma z."""
    if spec.family == "piecewise":
        p = spec.priors["log_hazard"].params
        return families.median_baseline("piecewise", {"log_hazard": p["mu"] + p["sigma"] * z},
                                        np.asarray(cuts, float))
    p = spec.priors["scale"].params
    params = {"scale": np.exp(p["mu"] + p["sigma"] * z[:, 0])}
    if spec.family == "weibull":
        s = spec.priors["shape"].params
        params["shape"] = np.exp(s["mu"] + s["sigma"] * w)
    return families.median_baseline(spec.family, params, None)


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.toml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("unit", ["days", "weeks", "years"])
def test_the_prior_median_survival_of_every_model_file_is_the_same_time(path, unit):
    """The implied median survival in ``unit`` is the months prior's times the factor, draw by
    draw: the same prior, in another unit."""
    spec = load_spec(path)
    out, _ = in_time_unit(spec, unit)
    f = unit_factor("months", unit)
    rng = np.random.default_rng(1)
    k = 1 if spec.cuts is None else len(spec.cuts) + 1
    z, w = rng.standard_normal((2000, k)), rng.standard_normal(2000)
    months = _median_draws(spec, z, w, spec.cuts)
    converted = _median_draws(out, z, w, out.cuts)
    ok = np.isfinite(months)
    assert ok.mean() > 0.9
    np.testing.assert_allclose(converted[ok], months[ok] * f, rtol=1e-9)
    assert all(out.priors[k] == spec.priors[k] for k in spec.priors
               if k not in ("scale", "log_hazard"))  # shape, coefficients, SDs: no unit


def test_an_unknown_unit_is_refused_naming_both():
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    with pytest.raises(ModelDataError, match=r"'months'.*'fortnights'.*days.*weeks.*years"):
        in_time_unit(spec, "fortnights")


def test_default_rmst_horizons_are_24_and_60_months_in_the_cohort_unit():
    # a cohort followed 10 years, in each unit: the same two horizons
    assert default_horizons(120.0, "months") == (24.0, 60.0)
    np.testing.assert_allclose(default_horizons(120 * DAYS, "days"), [24 * DAYS, 60 * DAYS],
                               rtol=1e-15)
    np.testing.assert_allclose(default_horizons(10.0, "years"), [2.0, 5.0], rtol=1e-15)
    # a unit the months cannot be put in: thirds of the follow-up, in that unit
    assert default_horizons(300.0, "fortnights") == (100.0, 200.0)


def test_a_prior_predictive_check_mostly_outside_warns_and_names_causes():
    ppc = pd.DataFrame([
        {"quantity": "median survival", "unit": "days", "share_outside": 0.84,
         "outside": "below 30.44 or above 7305"},
        {"quantity": "centre hazard ratios", "unit": "HR", "share_outside": 0.9,
         "outside": "below 0.1 or above 10"}])
    lines = prior_predictive_warnings(ppc, {"spec_time_unit": "months"})
    assert len(lines) == 1 and "84%" in lines[0]
    assert "time-unit mismatch" in lines[0] and "far from the data" in lines[0]
    assert "goes on" in lines[0]
    ppc.loc[0, "share_outside"] = 0.3
    assert prior_predictive_warnings(ppc, {}) == []  # can say nothing


def test_a_data_placed_baseline_prior_is_not_called_a_unit_mismatch():
    """A formula's baseline prior is placed from the cohort's own follow-up (in its own unit):
    a wide prior predictive says so, never "time-unit mismatch"."""
    import json

    ppc = pd.DataFrame([{"quantity": "median survival", "unit": "days", "share_outside": 0.65,
                         "outside": "below 30.44 or above 7305"}])
    spec = {"model": {"family": "weibull"}, "priors": {"scale": {
        "dist": "LogNormal", "mu": 6.0, "sigma": 1.0,
        "reason": "... placed from this cohort's follow-up: 1e+05 days over 160 events"}}}
    lines = prior_predictive_warnings(ppc, {"spec": json.dumps(spec)})
    assert len(lines) == 1 and "65%" in lines[0] and "not a time-unit mismatch" in lines[0]
    spec["priors"]["scale"]["reason"] = "from the literature"
    lines = prior_predictive_warnings(ppc, {"spec": json.dumps(spec)})
    assert "Likely causes: a time-unit mismatch" in lines[0]


def _fit_main():
    spec = importlib.util.spec_from_file_location("fit_script", ROOT / "scripts/fit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


FRAME = pd.DataFrame({"t": [5.0, 8, 12, 3, 20, 7, 15, 9], "e": [1, 0, 1, 1, 0, 1, 1, 0],
                      "arm": ["a", "b", "a", "b", "a", "b", "a", "b"], "g": ["x"] * 8})


def test_write_spec_states_the_cohort_unit(tmp_path):
    data = write_csv(tmp_path / "c.csv", FRAME)
    out = tmp_path / "m.toml"
    code = _fit_main()(["--data", str(data), "--time", "t", "--event", "e", "--row-ids",
                        "--time-unit", "Days", "--formula", "t ~ arm", "--write-spec", str(out)])
    assert code == 0
    assert load_spec(out).time_unit == "days"
    assert 'time_unit = "days"' in out.read_text()


def test_write_spec_without_out_runs_the_checks_of_a_fit(tmp_path):
    """A factor with one observed level is refused by the design, with or without --out."""
    data = write_csv(tmp_path / "c.csv", FRAME)
    out = tmp_path / "m.toml"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = _fit_main()(["--data", str(data), "--time", "t", "--event", "e", "--row-ids",
                            "--time-unit", "months", "--formula", "t ~ arm + g",
                            "--write-spec", str(out)])
    assert code == 2 and "'g' has a single observed level" in err.getvalue()
    assert not out.exists()


def test_fit_script_refuses_an_unknown_cohort_unit(tmp_path):
    data = write_csv(tmp_path / "c.csv", FRAME)
    model = tmp_path / "m.toml"
    model.write_text('[model]\nname = "m"\nfamily = "exponential"\ntime_unit = "months"\n'
                     '[[covariates]]\ncolumn = "arm"\n'
                     '[priors.coefficient]\ndist = "Normal"\nmu = 0\nsigma = 1\n'
                     '[priors.scale]\ndist = "LogNormal"\nmu = 3\nsigma = 1\n')
    out = tmp_path / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = _fit_main()(["--data", str(data), "--time", "t", "--event", "e", "--row-ids",
                            "--time-unit", "fortnights", "--model", str(model),
                            "--out", str(out), "--draws", "10", "--tune", "10",
                            "--chains", "1", "--quiet"])
    assert code == 2, err.getvalue()
    assert "'fortnights'" in err.getvalue() and "time_unit" in err.getvalue()
    assert not out.exists()

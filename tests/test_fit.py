"""Few-draw fits: the stored DataTree has ArviZ's groups and survival convention, is read by
xarray and ArviZ directly, carries its provenance, and the same seed gives the same draws."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from conftest import ROOT

from nen_bayes import load_cohort
from nen_bayes.bayes.inference import fit, read_fit, write_fit
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.posterior.summary import posterior_effects, prior_predictive_check
from nen_bayes.re_nen import RE_NEN
from nen_bayes.settings import Sampling

SPEC = ROOT / "models/weibull_ph_centre.toml"


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(SPEC)
    result = fit(spec, cohort, draws=100, tune=100, chains=2, seed=11, prior_draws=200,
                 progressbar=False)
    path = write_fit(result, tmp_path_factory.mktemp("fit") / "fit.nc")
    return cohort, spec, result, path


def test_stored_tree_has_the_standard_groups(small_fit):
    cohort, spec, _, path = small_fit
    dt = xr.open_datatree(path, engine="h5netcdf")
    assert set(dt.children) == {"posterior", "sample_stats", "prior", "prior_predictive",
                                "posterior_predictive", "log_likelihood", "log_prior",
                                "observed_data", "constant_data"}
    # log prior of every free parameter at every draw (power-scaling sensitivity):
    # beta ~ Normal(0, 1), so its log density is -0.5 beta^2 - 0.5 log(2 pi), elementwise
    lp = dt["log_prior"]
    assert set(lp.data_vars) == {"beta", "shape", "scale", "sd_centre", "z_centre"}
    beta = dt["posterior"]["beta"].to_numpy()
    np.testing.assert_allclose(lp["beta"].to_numpy(), -0.5 * beta**2 - 0.5 * np.log(2 * np.pi),
                               rtol=1e-10)
    ll = dt["log_likelihood"]["time"]
    assert ll.dims == ("chain", "draw", "patient") and ll.shape == (2, 100, 297)
    assert ll.dtype == np.float32 and np.isfinite(ll.to_numpy()).all()
    # survival convention: observed times, event indicator under the same name
    np.testing.assert_array_equal(dt["observed_data"]["time"].to_numpy(), cohort.time("os"))
    np.testing.assert_array_equal(dt["constant_data"]["time"].to_numpy(), cohort.event("os"))
    pp = dt["posterior_predictive"]["time"].to_numpy()
    assert pp.shape == (2, 100, 297) and (pp > 0).all()
    assert dt.attrs["spec_hash"] == spec.hash and dt.attrs["data_hash"] == cohort.data_hash
    assert json.loads(dt.attrs["spec"]) == spec.to_dict()
    assert dt.attrs["seed"] == 11 and dt.attrs["sampler"] == "nutpie"
    assert "pymc" in json.loads(dt.attrs["versions"])
    # the headline model chose non-centred centre effects from the data (15-88 units a centre)
    assert json.loads(dt.attrs["centring"]) == {"centre": "non-centred (auto)"}
    assert dt.attrs["synthetic"] == 1 and "SYNTHETIC" in dt.attrs["notice"]
    dt.close()


# 200 draws are too few for a stable Pareto-k estimate of every unit; the warning is not the test
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_arviz_reads_the_file_directly(small_fit):
    import arviz as az

    dt = read_fit(small_fit[3])
    loo = az.loo(dt)
    assert np.isfinite(loo.elpd) and loo.n_data_points == 297
    s = az.summary(dt, var_names=["hr", "shape", "sd_centre"])
    assert len(s) == 8


def test_same_seed_same_posterior_other_seed_not(small_fit):
    """The settings given as a Sampling object and as keywords are the same settings; a keyword
    overrides the one setting it names."""
    cohort, spec, result, _ = small_fit
    settings = Sampling(draws=100, tune=100, chains=2, seed=11)
    again = fit(spec, cohort, sampling=settings, prior_draws=200, progressbar=False,
                log_lik=False, predictive=False)
    other = fit(spec, cohort, sampling=settings, seed=12, prior_draws=200,
                progressbar=False, log_lik=False, predictive=False)
    assert other.tree.attrs["seed"] == 12 and other.tree.attrs["draws"] == 100
    a = result.posterior["beta"].to_numpy()
    assert np.array_equal(a, again.posterior["beta"].to_numpy())
    assert not np.array_equal(a, other.posterior["beta"].to_numpy())
    assert np.array_equal(result.tree["prior"]["beta"].to_numpy(),
                          again.tree["prior"]["beta"].to_numpy())


def test_unknown_sampling_keywords_are_refused_by_name(small_fit):
    cohort, spec, _, _ = small_fit
    with pytest.raises(TypeError, match=r"\['draw', 'warmup'\]"):
        fit(spec, cohort, draw=100, warmup=100, progressbar=False)
    with pytest.raises(ValueError, match="sampler must be"):
        fit(spec, cohort, sampler="stan", progressbar=False)


def test_effects_and_prior_predictive_tables(small_fit):
    _, _, result, _ = small_fit
    eff = posterior_effects(result.tree)
    hr = eff[eff["quantity"] == "hazard_ratio"].set_index("group")
    assert hr.index[0] == "salvage vs second_line"
    assert (hr["lower"] < hr["estimate"]).all() and (hr["estimate"] < hr["upper"]).all()
    assert set(eff["interval"].unique()) == {"CrI", ""}
    beta = result.posterior["beta"].sel(covariate="line[salvage]").to_numpy()
    p = eff[(eff["quantity"] == "prob_hr_below_1") & (eff["term"] == "line")]["estimate"]
    assert p.iloc[0] == pytest.approx(np.mean(beta < 0))
    assert {"weibull_shape", "baseline_scale", "median_survival", "group_sd"} <= set(
        eff["quantity"])
    ppc = prior_predictive_check(result.tree)
    assert {"q2_5", "q50", "q97_5", "share_outside"} <= set(ppc.columns)
    assert (ppc["q2_5"] <= ppc["q50"]).all() and (ppc["q50"] <= ppc["q97_5"]).all()


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts/fit.py"), *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_fit_script_writes_everything_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    args = ["--data", BUNDLED_COHORT, "--model", ROOT / "models/weibull_ph_pooled",
            "--endpoint", "hpfs", "--draws", "40", "--tune", "40", "--chains", "2",
            "--prior-draws", "100", "--quiet", "--formats", "png", "--out", out]
    r = run(*args)
    assert r.returncode == 3, r.stderr  # written, but its checks failed (EXIT_CHECKS_FAILED)
    assert "checks failed" in r.stderr and "ess_bulk" in r.stderr
    assert r.stdout.count("SYNTHETIC DATA") >= 2 and "hazard_ratio" in r.stdout
    assert {p.name for p in out.iterdir()} == {
        "fit.nc", "effects.csv", "effects.json", "prior_predictive.csv",
        "prior_predictive.png", "run.json", "summary.txt"}
    assert json.loads((out / "run.json").read_text())["endpoint"] == "hpfs"
    # 2 x 40 draws cannot reach a bulk ESS of 2 x 100: the fit says so above its estimates,
    # in run.json and in the fit's attrs
    assert "NOT CONVERGED" in r.stdout and "ess_bulk" in r.stdout
    assert r.stdout.index("NOT CONVERGED") < r.stdout.index("hazard_ratio")
    summary = (out / "summary.txt").read_text()
    assert summary.index("NOT CONVERGED") < summary.index("hazard_ratio")
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["converged"] is False and "ess_bulk" in recorded["convergence"]["failed"]
    attrs = read_fit(out / "fit.nc").attrs
    assert attrs["converged"] == 0 and "ess_bulk" in json.loads(attrs["convergence_failed"])
    # every number of the failed fit carries the flag in its effects table
    import pandas as pd

    assert set(pd.read_csv(out / "effects.csv")["checks"]) == {"FAIL"}
    before = (out / "fit.nc").read_bytes()
    r = run(*args)
    assert r.returncode == 2 and "exists" in r.stderr and "--force" in r.stderr
    assert (out / "fit.nc").read_bytes() == before


def test_fit_script_bad_model_file_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "models/weibull_ph_pooled.toml").read_text()
                   .replace("[outcome]", "[outcome]\nendpiont = \"os\""))
    r = run("--data", BUNDLED_COHORT, "--model", bad, "--out", tmp_path / "o")
    assert r.returncode == 2
    assert "bad.toml [outcome]: unknown key(s) ['endpiont']" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()

"""A group's prior stated on its precision 1 / SD^2 (as BUGS writes tau ~ dgamma(0.001,
0.001)), and coefficients sampled per SD of their column: each is the model the user wrote (log
densities against PyMC's own and against closed forms), and a file that says both or neither is
refused with the file and the key."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import xarray as xr
from conftest import ROOT
from scipy import stats
from test_centring_and_init import kidney_design

from nen_bayes.bayes import inference
from nen_bayes.bayes.inference import log_prior, log_prior_numpy, sample_prior
from nen_bayes.bayes.model import build_model, sampling_scales
from nen_bayes.bayes.priors import Prior
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.errors import SpecError
from nen_bayes.posterior.power_scaling import prior_var_names

KIDNEY_MODEL = ROOT / "tests/data/kidney_weibull_frailty.toml"

BASE = {
    "model": {"name": "m", "family": "weibull"},
    "covariates": [{"column": "age", "type": "numeric", "center": False}],
    "groups": [{"name": "subject", "column": "id"}],
    "priors": {
        "coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
        "shape": {"dist": "LogNormal", "mu": 0, "sigma": 0.5},
        "scale": {"dist": "LogNormal", "mu": 3.6, "sigma": 1},
    },
}
PRECISION = {"dist": "Gamma", "alpha": 0.001, "beta": 0.001}
SD = {"dist": "HalfNormal", "sigma": 0.5}


def with_priors(**priors):
    d = copy.deepcopy(BASE)
    d["priors"].update(priors)
    return spec_from_dict(d, source="m.toml")


def test_a_group_prior_is_on_the_sd_or_on_the_precision_never_both_nor_neither():
    spec = with_priors(group_precision_subject=PRECISION)
    assert spec.group_sd_prior("subject") is None
    assert spec.group_precision_prior("subject") == Prior("Gamma", {"alpha": 0.001,
                                                                     "beta": 0.001})
    assert with_priors(group_precision=PRECISION).group_precision_prior("subject") is not None
    # the group's own key wins over the shared one, as for the SD
    spec = with_priors(group_sd=SD, group_precision_subject=PRECISION)
    assert spec.group_sd_prior("subject") is None
    for both in ({"group_sd_subject": SD, "group_precision_subject": PRECISION},
                 {"group_sd": SD, "group_precision": PRECISION}):
        with pytest.raises(SpecError, match=r"m\.toml \[priors\].*'subject'.*SD.*"
                                            r"precision.*give one") as err:
            with_priors(**both)
        assert all(f"[priors.{k}]" in str(err.value) for k in both)
    with pytest.raises(SpecError, match=r"m\.toml \[priors\]: no prior for the group SD of "
                                        r"subject.*'group_precision_subject'"):
        with_priors()
    with pytest.raises(SpecError, match="positive"):
        with_priors(group_precision_subject={"dist": "Normal", "mu": 0, "sigma": 1})
    with pytest.raises(SpecError, match="not used"):
        with_priors(group_sd_subject=SD, group_precision_centre=PRECISION)


@pytest.fixture(scope="module")
def kidney():
    spec = load_spec(KIDNEY_MODEL)
    return spec, kidney_design(spec)


@pytest.mark.parametrize("centered", [False, True])
def test_precision_prior_draws_and_log_prior_match_pymc(kidney, centered):
    """The NumPy prior machinery against PyMC's graph (an independent implementation): the
    free variable is the precision with the user's prior, sd = precision^-1/2 is derived;
    log prior equal at 20 of PyMC's draws, draws by two-sample KS (level 1e-4, 5 variables).
    Draws use Gamma(3, 2) (Gamma(0.001, 0.001) underflows to 0 in both samplers); the log
    densities are checked for the published Gamma(0.001, 0.001) too."""
    import pymc as pm

    spec, design = kidney
    spec = dataclasses.replace(spec, groups=tuple(dataclasses.replace(g, centered=centered)
                                                  for g in spec.groups))
    moderate = spec.with_priors({"group_precision_subject": Prior("Gamma", {"alpha": 3.0,
                                                                            "beta": 2.0})})
    prior_model = build_model(moderate, design, prior_only=True)
    ref = pm.sample_prior_predictive(draws=3000, model=prior_model, random_seed=4)["prior"]
    ref = ref.to_dataset() if hasattr(ref, "to_dataset") else ref
    ours = sample_prior(moderate, design, 3000, np.random.default_rng(5))
    assert set(ours.data_vars) == set(ref.data_vars)
    assert {"precision_subject", "sd_subject"} <= set(ours.data_vars)
    np.testing.assert_allclose(ours["sd_subject"], ours["precision_subject"] ** -0.5)
    for v in ("precision_subject", "sd_subject", "shape", "scale", "u_subject"):
        a = ours[v].to_numpy().reshape(3000, -1)[:, 0]
        b = ref[v].to_numpy().reshape(3000, -1)[:, 0]
        assert stats.ks_2samp(a, b).pvalue > 1e-4, v
    sub = ref.isel(draw=slice(0, 20))
    for s in (moderate, spec):  # the published prior's log density at the same points
        expected = log_prior(build_model(s, design, centre=False),
                             xr.DataTree.from_dict({"posterior": sub}))
        got = log_prior_numpy(s, design, sub)
        assert set(got.data_vars) == set(expected.data_vars)
        assert "precision_subject" in got and "sd_subject" not in got
        for v in expected.data_vars:
            np.testing.assert_allclose(got[v].to_numpy(), expected[v].to_numpy(), rtol=1e-6,
                                       atol=1e-6, err_msg=v)
    # what is stored is the density of what the user wrote: Gamma(0.001, 0.001) at 1/sd^2
    tau = sub["precision_subject"].to_numpy()
    np.testing.assert_allclose(log_prior_numpy(spec, design, sub)["precision_subject"],
                               stats.gamma(0.001, scale=1000.0).logpdf(tau), rtol=1e-10)


def test_power_scaling_scales_the_precision_prior_of_a_group_sd():
    tree = xr.DataTree.from_dict({"log_prior": xr.Dataset(
        {"beta": ("d", [0.0]), "precision_subject": ("d", [0.0]), "shape": ("d", [0.0])})})
    assert prior_var_names(tree, ["beta", "sd_subject", "shape"]) == [
        "beta", "precision_subject", "shape"]


def test_coefficients_are_sampled_per_sd_and_stored_and_priced_in_the_users_coding(kidney):
    """The sampled value of a numeric column's coefficient is beta x SD(column) (a linear
    change of variable, constant Jacobian); PyMC's stored log prior of the scaled model is the
    user's Normal(0, 100) at the user's beta, and the starting box is (-2, 2) per SD."""
    import pymc as pm

    spec, design = kidney
    s = sampling_scales(design)
    assert s[0] == pytest.approx(design.X[:, 0].std()) and np.all(s[1:] == 1)
    model = build_model(spec, design)
    rv = model["beta"]
    assert model.rvs_to_values[rv].name == "beta_persd__"
    beta = np.array([0.01, -2.0, 0.5, 0.1, -1.2])
    np.testing.assert_allclose(model.rvs_to_transforms[rv].forward(beta), beta * s)
    post = xr.Dataset({"beta": (("chain", "draw", "covariate"), beta[None, None, :])},
                      coords={"chain": [0], "draw": [0],
                              "covariate": list(design.coefficients)})
    point = {"precision_subject": 2.0, "shape": 1.2, "scale_centred_log": 3.0,
             "z_subject": np.zeros(38)}
    for k, v in point.items():
        post[k] = (("chain", "draw", *(("subject",) if k == "z_subject" else ())),
                   np.asarray(v)[None, None])
    post = post.assign_coords(subject=design.coords()["subject"])
    lp = log_prior(model, xr.DataTree.from_dict({"posterior": post}))
    np.testing.assert_allclose(lp["beta"].to_numpy()[0, 0], stats.norm(0, 100).logpdf(beta),
                               rtol=1e-6)  # PyMC rounds its constant log(2 pi) / 2
    # a coefficient's logp with the transform differs from the user's by -log s: constant
    f = pm.compile(model.value_vars, model.logp(vars=[rv], sum=False, jacobian=True)[0],
                   on_unused_input="ignore")
    ip = model.initial_point()
    ip["beta_persd__"] = beta * s
    got = f(**{k: v for k, v in ip.items() if k in [x.name for x in model.value_vars]})
    np.testing.assert_allclose(got, stats.norm(0, 100).logpdf(beta) - np.log(s), rtol=1e-6)
    rng = np.random.default_rng(2)
    for p in inference.initial_points(model, rng, 5, design=design):
        assert np.all(np.abs(p["beta"] * s) < 2)  # (-2, 2) per SD of each column

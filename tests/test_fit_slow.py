"""Seeded statistical tier for the Bayesian models: agreement with the Weibull
maximum-likelihood fit of lifelines on a large sample, and agreement between the two offered
samplers. The coverage of the posterior intervals, parameter by parameter, is
tests/test_coverage_slow.py."""

from __future__ import annotations

import copy
import math
import tomllib

import numpy as np
import pytest
from conftest import ROOT

from nen_bayes import RE_NEN, load_cohort
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.re_nen.simulate import simulate_cohort

pytestmark = pytest.mark.slow

SCHEMA = RE_NEN.select(endpoints=["os"], factors=["line", "grade", "tumour_burden",
                                                  "extrahepatic", "vascularisation"],
                       responses=[])


def spec_with_vascularisation(name: str):
    """The model file plus vascularisation, the fifth covariate of the generating model."""
    d = tomllib.loads((ROOT / "models" / f"{name}.toml").read_text())
    d = copy.deepcopy(d)
    d["covariates"].append({"column": "vascularisation", "reference": "hypervascular"})
    return spec_from_dict(d, source=f"models/{name}.toml + vascularisation")


def test_large_pooled_sample_agrees_with_lifelines_weibull_mle():
    """5,000 simulated units: the pooled Weibull PH posterior (weak priors, so posterior ~ MLE)
    against lifelines' WeibullAFTFitter, converted to PH by the exact transformation
    log-HR = -rho * AFT coefficient; shape = rho; scale = exp(AFT intercept)."""
    from lifelines import WeibullAFTFitter

    sim = simulate_cohort(seed=77, n=5000)
    cohort = load_cohort(sim.data, SCHEMA)
    spec = spec_with_vascularisation("weibull_ph_pooled")
    f = fit(spec, cohort, draws=1000, tune=1000, chains=4, cores=2, seed=3, prior_draws=10,
            progressbar=False, log_lik=False, predictive=False)
    X = f.design.X
    import pandas as pd

    df = pd.DataFrame(X, columns=[c.replace("[", "_").replace("]", "") for c in
                                  f.design.coefficients])
    df["T"], df["E"] = f.design.time, f.design.event
    aft = WeibullAFTFitter().fit(df, "T", "E")
    rho = math.exp(aft.params_.loc[("rho_", "Intercept")])
    lam0 = math.exp(aft.params_.loc[("lambda_", "Intercept")])
    post = f.posterior
    for j, name in enumerate(f.design.coefficients):
        col = df.columns[j]
        mle = -rho * aft.params_.loc[("lambda_", col)]
        x = post["beta"].sel(covariate=name).to_numpy().ravel()
        assert abs(x.mean() - mle) < 0.25 * x.std(), (name, x.mean(), mle)
    for name, mle in (("shape", rho), ("scale", lam0)):
        x = post[name].to_numpy().ravel()
        assert abs(x.mean() - mle) < 0.25 * x.std(), (name, x.mean(), mle)


# PyMC's jittered initialisation can overflow a quadratic form once before adaptation starts
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_both_samplers_give_the_same_posterior():
    """Headline model on the bundled cohort, 4 x 1000 draws with nutpie and with PyMC's NUTS:
    every posterior mean agrees within 4 combined Monte Carlo SEs, every SD within 15%."""
    import arviz as az

    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    names = ["beta", "shape", "scale", "sd_centre", "u_centre"]
    fits = [fit(spec, cohort, draws=1000, tune=1000, chains=4, cores=2, seed=21, sampler=s,
                prior_draws=10, progressbar=False, log_lik=False, predictive=False)
            for s in ("nutpie", "pymc")]
    a, b = (f.posterior[names] for f in fits)
    ma, mb = az.mcse(a), az.mcse(b)
    for v in names:
        z = np.abs(a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw"))) / np.sqrt(
            ma[v] ** 2 + mb[v] ** 2)
        assert float(z.max()) < 4, v
        ratio = a[v].std(("chain", "draw")) / b[v].std(("chain", "draw"))
        assert float(np.abs(ratio - 1).max()) < 0.15, v
    assert all(int(f.tree["sample_stats"]["diverging"].sum()) == 0 for f in fits)

"""Sampling per SD of each numeric column changes nothing but the sampler's geometry: the Kidney
Weibull regression (BUGS Examples Vol. 1 data and vague priors, without the frailty) fitted with
age in years and with age in days gives the same posterior, the days coefficient being the
years one divided by 365.25, within Monte Carlo error.

The prior is the same prior in both codings (Normal(0, 100) per year of age is Normal(0,
100 / 365.25) per day), so the two posteriors are exactly equal up to the change of unit;
tolerance 4 combined Monte Carlo SEs (6 comparisons; family-wise false alarm below 0.05%).
Without the internal scaling the days fit does not converge (every transition divergent in
the measurement reported in README.md), so this test fails when the scaling is removed."""

from __future__ import annotations

import copy
import json
import tomllib

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.spec import spec_from_dict
from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.pipeline.cli import add_cohort_options, load_options, schema_for, script_parser

pytestmark = pytest.mark.slow

DAYS_PER_YEAR = 365.25


def cohort_and_spec(csv, age_sigma):
    data = tomllib.loads((ROOT / "tests/data/kidney_weibull_frailty.toml").read_text())
    data = copy.deepcopy(data)
    data.pop("groups")
    data["priors"].pop("group_precision_subject")
    data["priors"]["coefficient_age"] = {"dist": "Normal", "mu": 0.0, "sigma": age_sigma}
    spec = spec_from_dict(data, source="kidney (no frailty)")
    p = script_parser("test", "")
    add_cohort_options(p)
    args = p.parse_args(["--data", str(csv), "--time", "time", "--event", "status",
                         "--no-centre", "--row-ids", "--time-unit", "days"])
    schema, lenient = schema_for(args, p, [spec], one_endpoint=True)
    return load_cohort(args.data, schema, lenient=lenient, **load_options(args)), spec


def test_age_in_days_and_in_years_give_the_same_posterior(tmp_path):
    import arviz_stats as azs

    frame = pd.read_csv(ROOT / "tests/data/kidney.csv")
    frame["age"] = frame["age"] * DAYS_PER_YEAR
    days_csv = tmp_path / "kidney_days.csv"
    frame.to_csv(days_csv, index=False)
    fits = {}
    for unit, csv, sigma in (("years", ROOT / "tests/data/kidney.csv", 100.0),
                             ("days", days_csv, 100.0 / DAYS_PER_YEAR)):
        cohort, spec = cohort_and_spec(csv, sigma)
        fits[unit] = fit(spec, cohort, draws=1000, tune=1000, chains=4, progressbar=False,
                         log_lik=False, predictive=False, prior_draws=10)
    scales = json.loads(fits["days"].tree.attrs["sampling_scales"])
    assert scales["age"] == pytest.approx(DAYS_PER_YEAR * json.loads(
        fits["years"].tree.attrs["sampling_scales"])["age"])
    for f in fits.values():
        assert int(f.tree["sample_stats"]["diverging"].sum()) == 0
    quantities = {}
    for unit, f in fits.items():
        post = f.posterior
        factor = DAYS_PER_YEAR if unit == "days" else 1.0
        q = {c: post["beta"].sel(covariate=c).values * (factor if c == "age" else 1.0)
             for c in post["covariate"].values}
        q["shape"] = post["shape"].values
        quantities[unit] = q
    for name, a in quantities["years"].items():
        b = quantities["days"][name]
        se = np.hypot(float(azs.mcse(a, method="mean")), float(azs.mcse(b, method="mean")))
        assert abs(a.mean() - b.mean()) < 4 * se, (name, a.mean(), b.mean(), se)

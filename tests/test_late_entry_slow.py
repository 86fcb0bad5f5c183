"""Coverage of the Bayesian fit with late entry (left truncation) over simulated cohorts, and
the bias of ignoring the entry times. Seeded; about a minute on 2 cores (one compiled model
refitted to every cohort's outcomes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakes import HAND_PRIORS

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import spec_from_dict
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.settings import Sampling

pytestmark = pytest.mark.slow

N_UNITS, N_COHORTS, LEVEL = 300, 60, 0.90
TRUTH = {"shape": 1.5, "scale": 30.0, "beta": 0.7}


def _truncated_cohort(rng):
    """Units x = 0, 1, 0, 1, ... (the same design in every cohort), entry uniform on (0, 20),
    event times drawn from the Weibull PH law given survival to entry (inversion:
    S(t) = S(entry) U), censored uniformly on (entry, entry + 60)."""
    x = np.arange(N_UNITS) % 2
    scale_x = TRUTH["scale"] * np.exp(-TRUTH["beta"] * x / TRUTH["shape"])
    entry = rng.uniform(0, 20, N_UNITS)
    h_entry = (entry / scale_x) ** TRUTH["shape"]
    t = scale_x * (h_entry - np.log(rng.random(N_UNITS))) ** (1 / TRUTH["shape"])
    c = entry + rng.uniform(0, 60, N_UNITS)
    return np.minimum(t, c), (t <= c).astype(int), entry, x


def test_late_entry_fits_cover_the_truth_and_ignoring_entry_does_not():
    """60 cohorts of 300 truncated units (truth shape 1.5, scale 30, log HR 0.7), NUTS 2 x 300
    draws: the 90% credible intervals of the fit that uses the entry times hold each true value
    in 90% of cohorts up to Monte Carlo error (binomial SD sqrt(0.9 * 0.1 / 60) = 0.039;
    accepted from 0.78, 3 SD; weak priors against 300 units). The same cohorts with the entry
    times set to 0 (truncation ignored): the scale's 90% intervals hold the truth in under half
    of them (survival before entry is counted as observed, so the scale comes out too long)."""
    time, event, entry, x = _truncated_cohort(np.random.default_rng(4000))
    frame = pd.DataFrame({"t": time, "e": event, "a": entry, "x": np.where(x == 1, "b", "a")})
    schema = CohortSchema.custom({"ep": ("t", "e")}, factors=[Factor("x", ("a", "b"))],
                                 entries={"ep": "a"})
    spec = spec_from_dict({"model": {"name": "entry", "family": "weibull"},
                           "covariates": [{"column": "x", "reference": "a"}],
                           "priors": {k: HAND_PRIORS[k] for k in ["coefficient", "shape",
                                                                   "scale"]}})
    design = make_design(spec, load_cohort(frame, schema), "ep")
    refitter = Refitter(spec, design, sampling=Sampling(draws=300, tune=300, chains=2, cores=1))
    hits = {k: 0 for k in TRUTH}
    ignored = 0
    q = ((1 - LEVEL) / 2, (1 + LEVEL) / 2)
    for i in range(N_COHORTS):
        time, event, entry, _ = _truncated_cohort(np.random.default_rng(4000 + i))
        post = refitter.fit(time, event, entry=entry, seed=i)["posterior"]
        for k, v in TRUTH.items():
            lo, hi = np.quantile(post[k].values.ravel(), q)
            hits[k] += lo < v < hi
        naive = refitter.fit(time, event, entry=np.zeros(N_UNITS), seed=i)["posterior"]
        lo, hi = np.quantile(naive["scale"].values.ravel(), q)
        ignored += lo < TRUTH["scale"] < hi
    rates = {k: v / N_COHORTS for k, v in hits.items()}
    print(f"coverage of the {LEVEL:.0%} CrIs:", rates, "entry ignored, scale:",
          ignored / N_COHORTS)
    assert all(r >= 0.78 for r in rates.values()), rates
    assert ignored / N_COHORTS < 0.5, ignored

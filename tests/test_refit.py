"""One compiled model refitted to new outcomes (:class:`nen_bayes.bayes.refit.Refitter`): the
outcomes are data of the graph (swapping them gives the closed-form likelihood of the new
outcomes, late entry and piecewise exposures included), a refit gives the posterior a fresh
fit on those outcomes gives, the model is compiled once, and bad outcomes are refused."""

from __future__ import annotations

import math

import numpy as np
import nutpie
import pandas as pd
import pytest
from conftest import ROOT
from fakes import one_factor_spec, stored_log_likelihood
from test_late_entry import CASES, _closed_form

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.model import OUTCOME_DATA, build_model
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import in_time_unit, load_spec
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import ModelDataError
from nen_bayes.re_nen import RE_NEN
from nen_bayes.settings import Sampling


@pytest.mark.parametrize("family", list(CASES))
def test_outcomes_as_data_give_the_closed_form_likelihood_of_new_outcomes(family):
    """Built on one set of outcomes, then given another: the pointwise log-likelihood is the
    closed form (scipy's Weibull, the piecewise hazard integrated by hand) of the new ones."""
    params, cuts = CASES[family]
    frame = pd.DataFrame({"t": [12.0, 30.0, 8.0], "e": [1, 0, 1], "a": [3.0, 15.0, 0.0],
                          "x": ["b", "a", "a"]})
    schema = CohortSchema.custom({"ep": ("t", "e")}, factors=[Factor("x", ("a", "b"))],
                                 entries={"ep": "a"})
    spec = one_factor_spec(family, params, cuts, "entry")
    design = make_design(spec, load_cohort(frame, schema), "ep")
    model = build_model(spec, design, outcome_data=True)
    times, events, entries = [5.0, 40.0, 11.0], [0, 1, 1], [1.0, 0.0, 9.0]
    model.set_data(OUTCOME_DATA[0], np.array(times))
    model.set_data(OUTCOME_DATA[1], np.array(events, float))
    model.set_data(OUTCOME_DATA[2], np.array(entries))
    ll = stored_log_likelihood(model, design, params, math.log(2.0))
    eta = [math.log(2.0), 0.0, 0.0]
    expected = [_closed_form(family, t, d, e, h, params, cuts)
                for t, d, e, h in zip(times, events, entries, eta, strict=True)]
    np.testing.assert_allclose(ll, expected, rtol=1e-5, atol=1e-5)  # float32 storage


SAMPLING = Sampling(draws=300, tune=300, chains=2, cores=2)


@pytest.fixture(scope="module")
def refitted():
    """A Refitter compiled on the bundled cohort's OS, refitted to its PFS and OS outcomes
    (the same 297 units), with nutpie's compilations counted."""
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    design = make_design(in_time_unit(spec, cohort.schema.time_unit)[0], cohort, "os")
    calls = []
    original = nutpie.compile_pymc_model

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nutpie, "compile_pymc_model", counting)
        refitter = Refitter(spec, design, sampling=SAMPLING)
        on_pfs = refitter.fit(cohort.time("pfs"), cohort.event("pfs"), seed=5)
        on_os = refitter.fit(cohort.time("os"), cohort.event("os"), seed=5)
    return cohort, spec, refitter, on_pfs, on_os, len(calls)


def _z(a, b, names):
    """Largest |difference of posterior means| / combined Monte Carlo SE, per variable."""
    import arviz as az

    ma, mb = az.mcse(a[names]), az.mcse(b[names])
    return {v: float((np.abs(a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw")))
                      / np.sqrt(ma[v] ** 2 + mb[v] ** 2)).max()) for v in names}


def test_refit_on_new_outcomes_gives_the_posterior_of_a_fresh_fit(refitted):
    """The refit on PFS against fit() on PFS with the same seed: every posterior mean within 4
    combined Monte Carlo SEs (the draws agree to rounding: the same initial values and sampler
    seed, a log-density that differs only in floating-point order). The refit on OS must
    differ from it (the outcomes were swapped), by far more than Monte Carlo error."""
    cohort, spec, _, on_pfs, on_os, _ = refitted
    fresh = fit(spec, cohort, endpoint="pfs", sampling=SAMPLING, seed=5, prior_draws=10,
                progressbar=False, log_lik=False, predictive=False).posterior
    names = ["beta", "shape", "scale", "sd_centre", "u_centre", "hr", "median_baseline"]
    post = on_pfs["posterior"].to_dataset()
    assert set(post.data_vars) == set(fresh.data_vars)
    assert max(_z(post, fresh, names).values()) < 4
    assert _z(post, on_os["posterior"].to_dataset(), ["median_baseline"])[
        "median_baseline"] > 10
    assert int(on_pfs["sample_stats"]["diverging"].sum()) == 0


def test_refits_compile_once(refitted):
    _, _, refitter, _, _, compilations = refitted
    assert compilations == 1 and refitter.n_fits == 2 and refitter.compile_seconds > 0


def test_outcomes_that_do_not_fit_the_design_are_refused(refitted):
    cohort, _, refitter, *_ = refitted
    t, d = cohort.time("os"), cohort.event("os")
    with pytest.raises(ModelDataError, match=r"time has shape \(296,\); the design has 297"):
        refitter.fit(t[1:], d, seed=1)
    bad = t.copy()
    bad[[3, 7]] = [0.0, -1.0]
    with pytest.raises(ModelDataError, match=r"time must be finite and > 0.*\[3, 7\]"):
        refitter.fit(bad, d, seed=1)
    with pytest.raises(ModelDataError, match=r"event must be 1.*\[0\]"):
        refitter.fit(t, np.where(np.arange(len(d)) == 0, 2, d), seed=1)
    with pytest.raises(ModelDataError, match="entry times must be given exactly"):
        refitter.fit(t, d, seed=1, entry=np.zeros(len(t)))
    assert refitter.n_fits == 2

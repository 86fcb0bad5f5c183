"""Every fit is held to the run card's checks and its failures are shown as they are: enough
digits to see a value on its side of the threshold, R-hat's need for two chains, the prior-grid
refits' checks, and prior predictive draws without overflow."""

from __future__ import annotations

import numpy as np
from fakes import fake_tree

from nen_bayes.posterior.diagnostics import Check, RunCard, diagnose_fit


def _card(*checks):
    return RunCard(run="r", model="m", endpoint="os", data_hash="h", synthetic=False,
                   checks=tuple(checks))


def test_a_failing_rhat_just_above_the_threshold_is_shown_with_enough_digits():
    fail = Check("rhat", "max R-hat", 1.0104, 1.01, "<=", False, "beta[x]", "")
    text = _card(fail).to_text()
    assert "1.0104" in text and "FAIL" in text
    assert fail.reason.startswith("rhat: 1.0104")
    # a value at the threshold that passes keeps the short form
    ok = Check("rhat", "max R-hat", 1.01, 1.01, "<=", True)
    assert " 1.01 (needs <= 1.01)" in _card(ok).to_text()
    # the same on a ">=" check: an ESS of 399.96 against 400 must not read as "400"
    ess = Check("ess_bulk", "min bulk ESS", 399.96, 400.0, ">=", False)
    assert "399.96" in _card(ess).to_text()


def test_a_one_chain_fit_says_rhat_needs_two_chains():
    card = diagnose_fit(fake_tree(chains=1, seed=4))
    rhat = {c.name: c for c in card.checks}["rhat"]
    assert "two chains" in rhat.reason and "disagree" not in rhat.reason


def test_the_main_job_summary_counts_a_failed_grid_refit_as_a_failure():
    """summary.txt's diagnostics line lists the prior-grid refits' failures beside the model
    set's (a grid refit whose R-hat failed must not leave "all checks pass")."""
    from types import SimpleNamespace

    from nen_bayes.pipeline.summary import _failed

    ok = _card(Check("rhat", "max R-hat", 1.001, 1.01, "<=", True))
    bad = RunCard(run="prior grid: neutral_weak", model="m under prior neutral_weak",
                  endpoint="os", data_hash="h", synthetic=False,
                  checks=(Check("rhat", "max R-hat", 1.017, 1.01, "<=", False),))
    ep = SimpleNamespace(cards=[ok], grid=SimpleNamespace(result=SimpleNamespace(
        cards=(ok, bad))))
    assert _failed(ep) == ["m under prior neutral_weak (rhat)"]
    ep_no_grid = SimpleNamespace(cards=[ok], grid=None)
    assert _failed(ep_no_grid) == []


def test_predictive_times_beyond_float32_are_counted_without_an_overflow_warning():
    """A Weibull prior with a tiny shape allows times beyond float32's range. With eta = 0,
    log T = log scale + log(E) / shape, E ~ Exp(1), so P(T > f32max) =
    exp(-exp(shape * (log f32max - log scale))) (closed form); the count of times stored as
    inf must match it within 5 binomial SEs, and no overflow warning may be raised."""
    import math
    import warnings

    import xarray as xr
    from conftest import ROOT

    from nen_bayes import load_cohort
    from nen_bayes.bayes.design import make_design
    from nen_bayes.bayes.inference import _predictive
    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.re_nen import RE_NEN

    spec = load_spec(ROOT / "models/weibull_ph_pooled.toml")
    design = make_design(spec, load_cohort(BUNDLED_COHORT, RE_NEN), "os")
    chains, draws, shape = 2, 50, 0.01
    ds = xr.Dataset(
        {"beta": (("chain", "draw", "covariate"),
                  np.zeros((chains, draws, len(design.coefficients)))),
         "shape": (("chain", "draw"), np.full((chains, draws), shape)),
         "scale": (("chain", "draw"), np.ones((chains, draws)))},
        coords={"chain": np.arange(chains), "draw": np.arange(draws),
                "covariate": list(design.coefficients)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _predictive(ds, spec, design, np.random.default_rng(5))
    t = out["time"].values
    p = math.exp(-math.exp(shape * math.log(float(np.finfo(np.float32).max))))
    n = t.size
    assert out.attrs["out_of_range"] == int(np.isinf(t).sum())
    assert abs(out.attrs["out_of_range"] - n * p) < 5 * math.sqrt(n * p * (1 - p))
    assert np.all(t >= 0) and not np.isnan(t).any()

"""The convergence verdict (R-hat, bulk/tail ESS, divergences, E-BFMI) says no when the draws
are known to be bad: hand-made draws with a known defect, no sampling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nen_bayes.posterior.diagnostics import (
    CONVERGENCE_CHECKS,
    convergence_verdict,
    record_verdict,
)


def tree_of(beta, diverging=None, energy=None):
    import xarray as xr

    n_chain, n_draw = beta.shape
    coords = {"chain": np.arange(n_chain), "draw": np.arange(n_draw)}
    rng = np.random.default_rng(3)
    stats = {"diverging": (("chain", "draw"), np.zeros(beta.shape, bool)
                           if diverging is None else diverging),
             "energy": (("chain", "draw"), rng.normal(size=beta.shape)
                        if energy is None else energy)}
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"beta": (("chain", "draw"), beta)}, coords=coords),
        "sample_stats": xr.Dataset(stats, coords=coords)})


def iid(seed=1, shape=(4, 500)):
    return np.random.default_rng(seed).normal(size=shape)


def test_independent_draws_converge():
    v = convergence_verdict(tree_of(iid()))
    assert v.converged and v.failed == () and v.banner() == ""
    # every sampler check of the run card (MCSE and tree depth too), so the two agree
    assert set(CONVERGENCE_CHECKS) == {"rhat", "ess_bulk", "ess_tail", "mcse", "divergences",
                                       "treedepth", "ebfmi"}


def test_a_stuck_chain_fails_rhat_and_says_so_above_everything():
    beta = iid()
    beta[3] = 5.0 + 0.01 * beta[3]  # one chain stuck far away (R-hat >> 1.01)
    v = convergence_verdict(tree_of(beta))
    assert not v.converged and "rhat" in v.failed
    assert v.banner().startswith("NOT CONVERGED")


def test_divergences_fail_even_when_the_draws_look_fine():
    div = np.zeros((4, 500), bool)
    div[0, 7] = True
    v = convergence_verdict(tree_of(iid(), diverging=div))
    assert v.failed == ("divergences",)


def test_autocorrelated_draws_fail_ess():
    rng = np.random.default_rng(2)
    ar = np.empty((4, 500))
    ar[:, 0] = rng.normal(size=4)
    for t in range(1, 500):  # AR(1) with rho 0.99: ESS about 4 * 500 * 0.01 / 1.99 = 10
        ar[:, t] = 0.99 * ar[:, t - 1] + np.sqrt(1 - 0.99 ** 2) * rng.normal(size=4)
    v = convergence_verdict(tree_of(ar))
    assert "ess_bulk" in v.failed


def test_low_ebfmi_fails():
    """E-BFMI = E[(E_t - E_{t-1})^2] / Var(E): a slowly wandering energy gives it near 0."""
    rng = np.random.default_rng(4)
    energy = np.cumsum(rng.normal(size=(4, 500)), axis=1)
    v = convergence_verdict(tree_of(iid(), energy=energy))
    assert v.failed == ("ebfmi",)


def test_the_verdict_is_recorded_in_the_attrs():
    beta = iid()
    beta[3] += 5.0
    tree = tree_of(beta)
    record_verdict(tree, convergence_verdict(tree))
    assert tree.attrs["converged"] == 0
    assert "rhat" in json.loads(tree.attrs["convergence_failed"])
    assert json.loads(tree.attrs["convergence"])["converged"] is False


def test_unknown_threshold_is_refused():
    with pytest.raises(ValueError, match="unknown threshold"):
        convergence_verdict(tree_of(iid()), thresholds={"rhat_max": 1.1})

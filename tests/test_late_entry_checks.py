"""Late entry in the checks of a fit: the posterior predictive check of the survival curve
(replicates given survival to entry, Kaplan-Meier with the risk sets starting at entry) and
the Cox models beside the Bayesian ones (their risk sets start at entry too)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fakes import fake_tree
from lifelines import CoxPHFitter, KaplanMeierFitter

from nen_bayes.posterior.compare import cox_effects
from nen_bayes.posterior.diagnostics import km_on_grid, ppc_km


def truncated_tree(n=240, draws=100, seed=5):
    """A fake fit of exponential times (mean 20, HR 2 for salvage) observed only beyond a
    uniform(0, 15) entry, censored uniformly on (entry, entry + 40); its posterior predictive
    replicates are drawn from the truth given survival to each unit's entry."""
    rng = np.random.default_rng(seed)
    line = np.arange(n) % 2
    rate = np.exp(np.log(2.0) * line) / 20.0
    entry = rng.uniform(0, 15, n)
    t = entry + rng.exponential(1 / rate)  # memoryless: the law given T > entry
    c = entry + rng.uniform(0, 40, n)
    pp = entry + rng.exponential(1 / rate, (1, draws, n))
    tree = fake_tree(n_units=n, chains=1, draws=draws, line=line, pp=pp)
    const = tree["constant_data"].to_dataset()
    const["time"] = ("patient", (t <= c).astype(np.int8))
    const["entry"] = ("patient", entry)
    tree["constant_data"] = xr.DataTree(const)
    obs = tree["observed_data"].to_dataset()
    obs["time"] = ("patient", np.minimum(t, c))
    tree["observed_data"] = xr.DataTree(obs)
    return tree, np.minimum(t, c), (t <= c).astype(int), entry, line


def test_ppc_km_uses_entry_for_the_observed_and_replicated_curves():
    tree, time, event, entry, _ = truncated_tree()
    grid = np.linspace(0.5, 30, 30)  # lifelines gives nan at 0 with entry
    (curve,) = ppc_km(tree, times=grid, max_draws=100)
    # the observed curve is lifelines' Kaplan-Meier with entry (an independent implementation)
    ref = KaplanMeierFitter().fit(time, event, entry=entry).survival_function_at_times(grid)
    np.testing.assert_allclose(curve.observed, ref.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(curve.km.table["surv"].to_numpy(), KaplanMeierFitter().fit(
        time, event, entry=entry).survival_function_at_times(
        curve.km.table["time"]).to_numpy(), atol=1e-12)
    # the replicates are curves of the same kind: the observed one stays inside their 95%
    # band at almost every time (the model is the truth here)
    assert curve.outside.mean() <= 0.15


def test_km_on_grid_with_entry_equals_lifelines():
    rng = np.random.default_rng(2)
    entry = rng.uniform(0, 5, 60)
    t = entry + rng.exponential(6, 60)
    d = rng.integers(0, 2, 60)
    grid = np.linspace(0.5, 20, 40)
    got = km_on_grid(t, d, grid, entry=entry)[0]
    ref = KaplanMeierFitter().fit(t, d, entry=entry).survival_function_at_times(grid)
    np.testing.assert_allclose(got, ref.to_numpy(), atol=1e-12)


def test_cox_beside_the_models_uses_entry():
    tree, time, event, entry, line = truncated_tree()
    got = cox_effects(tree)
    plain = got[~got["method"].str.contains("stratified")]
    df = pd.DataFrame({"T": time, "E": event, "entry": entry, "x": line.astype(float)})
    ref = CoxPHFitter().fit(df, "T", "E", entry_col="entry")
    assert plain["estimate"].iloc[0] == pytest.approx(float(np.exp(ref.params_["x"])),
                                                      rel=1e-5)
    assert "late entry" in plain["method"].iloc[0]
    naive = CoxPHFitter().fit(df.drop(columns="entry"), "T", "E")
    assert plain["estimate"].iloc[0] != pytest.approx(float(np.exp(naive.params_["x"])),
                                                      rel=1e-3)

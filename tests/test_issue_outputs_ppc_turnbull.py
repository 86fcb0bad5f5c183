"""The predictive check of an interval-censored fit carries its observed Turnbull curve, and the
figure draws the stretches where the NPMLE is not unique as boxes, not as a line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import xarray as xr
from fakes import fake_tree

from nen_bayes.frequentist.interval import turnbull_npmle, turnbull_on_grid
from nen_bayes.plotting import plot_ppc_km
from nen_bayes.posterior.diagnostics import ppc_km


def _interval_fit():
    rng = np.random.default_rng(11)
    n = 80
    t = rng.exponential(20.0, n)
    cens = rng.uniform(10, 60, n)
    event = (t <= cens).astype(np.int8)
    lower = np.where(event == 1, np.floor(t / 6.0) * 6.0, cens)
    upper = np.where(event == 1, lower + 6.0, np.inf)
    pp = rng.exponential(20.0, (4, 50, n))
    tree = fake_tree(n_units=n, draws=50, pp=pp, seed=11)
    const = tree["constant_data"].to_dataset()
    const["time"] = ("patient", event)
    const["upper"] = ("patient", upper)
    obs = tree["observed_data"].to_dataset()
    obs["time"] = ("patient", lower)
    tree["constant_data"] = xr.DataTree(const)
    tree["observed_data"] = xr.DataTree(obs)
    return tree, lower, np.where(event == 1, upper, np.inf)


def test_the_check_carries_the_turnbull_curve_that_lifelines_estimates():
    tree, lower, upper = _interval_fit()
    (c,) = ppc_km(tree, max_draws=8)
    assert c.method == "Turnbull"
    curve = c.turnbull
    assert {"time", "upper", "lower", "determined"} <= set(curve.columns)
    assert not curve["determined"].all()  # visits every 6 months leave stretches open
    # the curve the check compared is the Turnbull estimate of the fit's own bounds
    direct = turnbull_npmle(lower, upper)
    np.testing.assert_allclose(curve["lower"].to_numpy(float), direct["lower"].to_numpy(float))
    np.testing.assert_allclose(turnbull_on_grid(curve, c.grid), c.observed)


def test_the_figure_draws_the_undetermined_stretches_as_boxes():
    tree, *_ = _interval_fit()
    fig = plot_ppc_km(ppc_km(tree, max_draws=8))
    labels = [h.get_label() for h in fig.axes[0].collections]
    assert any("not unique" in lab for lab in labels)
    assert not any("mid-point" in line.get_label() for line in fig.axes[0].lines)

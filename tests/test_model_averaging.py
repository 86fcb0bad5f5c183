"""Model averaging across families (:mod:`nen_bayes.posterior.averaging`) against closed forms:
two exponential fits whose posteriors are point masses (mean survival 10 and 20), weights
0.3 and 0.7. The stacked predictive survival is 0.3 exp(-t/10) + 0.7 exp(-t/20), its RMST
0.3 * 10 (1 - exp(-h/10)) + 0.7 * 20 (1 - exp(-h/20)), its median the root of S = 1/2."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.optimize import brentq

from nen_bayes.errors import ComparisonError
from nen_bayes.posterior.averaging import AVERAGED, model_average

N, DRAWS = 40, 500


def _tree(scale: float, name: str, data_hash: str = "sha256:x"):
    post = xr.Dataset({"scale": (("chain", "draw"), np.full((2, DRAWS), scale))},
                      coords={"chain": [0, 1], "draw": np.arange(DRAWS)})
    const = xr.Dataset({"X": (("patient", "covariate"), np.zeros((N, 0))),
                        "time": ("patient", np.ones(N, np.int8))},
                       coords={"patient": [str(i) for i in range(N)], "covariate": []})
    obs = xr.Dataset({"time": ("patient", np.linspace(1.0, 30.0, N))},
                     coords={"patient": [str(i) for i in range(N)]})
    tree = xr.DataTree.from_dict({"posterior": post, "constant_data": const,
                                  "observed_data": obs})
    tree.attrs.update({"model": name, "family": "exponential", "cuts": "null",
                       "time_varying": "null", "endpoint": "os", "time_unit": "months",
                       "data_hash": data_hash, "n_units": N, "n_events": N, "synthetic": 0})
    return tree


def _closed(t):
    return 0.3 * np.exp(-t / 10) + 0.7 * np.exp(-t / 20)


def test_the_stacked_curve_rmst_and_median_equal_their_closed_forms():
    trees = {"fast": _tree(10.0, "fast"), "slow": _tree(20.0, "slow")}
    avg = model_average(trees, {"fast": 0.3, "slow": 0.7}, horizons=(12.0, 60.0), seed=1)
    q = avg.quantities[avg.quantities["model"] == AVERAGED].set_index(["quantity", "horizon"])
    n_mix = 2 * DRAWS
    # the mixture draws a model per draw: the mean curve has binomial Monte Carlo error
    for h in (12.0, 60.0):
        gap = abs(np.exp(-h / 10) - np.exp(-h / 20))
        se = np.sqrt(0.3 * 0.7 / n_mix) * gap
        assert q.loc[("standardised_survival", h), "estimate"] == pytest.approx(
            _closed(h), abs=4 * se + 1e-12)
        rmst = 0.3 * 10 * (1 - np.exp(-h / 10)) + 0.7 * 20 * (1 - np.exp(-h / 20))
        gap_r = abs(10 * (1 - np.exp(-h / 10)) - 20 * (1 - np.exp(-h / 20)))
        se_r = np.sqrt(0.3 * 0.7 / n_mix) * gap_r
        # trapezoid on a grid of 0.25 months: error below 1e-3 for these curves
        assert q.loc[("standardised_rmst", h), "estimate"] == pytest.approx(
            rmst, abs=4 * se_r + 1e-3)
    median = brentq(lambda t: _closed(t) - 0.5, 1.0, 40.0)
    assert q.loc[("standardised_median", np.inf), "estimate"] == pytest.approx(median,
                                                                                abs=0.1)
    # each model's own rows: its point mass
    own = avg.quantities[avg.quantities["model"] == "fast"].set_index(["quantity", "horizon"])
    assert own.loc[("standardised_survival", 12.0), "estimate"] == pytest.approx(
        np.exp(-1.2), rel=1e-9)
    assert own.loc[("standardised_median", np.inf), "estimate"] == pytest.approx(
        10 * np.log(2), abs=0.05)
    eff = avg.effects
    assert (eff["method"].str.startswith("model-averaged (stacking)")).sum() == 5
    assert eff.loc[eff["horizon"] == 60.0, "method"].str.contains("extrapolated").all()


def test_fits_of_different_data_or_weights_that_do_not_sum_to_one_are_refused():
    trees = {"a": _tree(10.0, "a"), "b": _tree(20.0, "b", data_hash="sha256:y")}
    with pytest.raises(ComparisonError, match="differ in data_hash"):
        model_average(trees, {"a": 0.5, "b": 0.5})
    trees = {"a": _tree(10.0, "a"), "b": _tree(20.0, "b")}
    with pytest.raises(ComparisonError, match="sum to 1"):
        model_average(trees, {"a": 0.5, "b": 0.6})
    with pytest.raises(ComparisonError, match="the weights name"):
        model_average(trees, {"a": 1.0})


def test_the_extrapolation_figure_draws_every_family_and_the_average():
    import matplotlib

    matplotlib.use("Agg")
    from nen_bayes.plotting import plot_extrapolation

    trees = {"fast": _tree(10.0, "fast"), "slow": _tree(20.0, "slow")}
    avg = model_average(trees, {"fast": 0.3, "slow": 0.7}, seed=1)
    fig = plot_extrapolation(avg)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "fast (w=0.30)" in labels and "slow (w=0.70)" in labels
    assert any(lb.startswith("model-averaged (stacking)") for lb in labels)
    assert fig.axes[0].get_xlim()[1] >= avg.follow_up * 2 * 0.99  # beyond follow-up

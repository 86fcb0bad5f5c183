"""Fits built by hand: DataTrees with the layout of nen_bayes.bayes.inference.fit but draws chosen
by the test, so that diagnostics, comparisons and contrasts can be checked against closed forms
and known defects without sampling."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr


def fake_tree(*, n_units: int = 60, chains: int = 4, draws: int = 500, family: str = "exponential",
              beta=None, scale=None, shape=None, sd_centre=None, u_centre=None,
              u_varying=None, sd_varying=None, centres: int = 3, line=None, seed: int = 0,
              energy=None, diverging=None, maxdepth=None, log_lik=None, pp=None,
              data_hash: str = "sha256:" + "0" * 64, endpoint: str = "os",
              model: str = "fake_model", synthetic: bool = False):
    """A fit of ``time ~ line`` (levels second_line = reference, salvage) with ``centres``
    centres. Arrays given as (chains, draws[, ...]); missing ones are filled with iid normal
    draws from ``seed``."""
    rng = np.random.default_rng(seed)
    shp = (chains, draws)
    if line is None:
        line = np.arange(n_units) % 2
    X = np.asarray(line, float)[:, None]
    centre_index = np.arange(n_units) % centres
    post = {
        "beta": (("chain", "draw", "covariate"),
                 np.asarray(beta if beta is not None else rng.normal(0.2, 0.1, shp))
                 .reshape(*shp, 1)),
        "scale": (("chain", "draw"), np.asarray(scale if scale is not None else
                                                np.exp(rng.normal(3.5, 0.05, shp)))),
    }
    if family == "weibull":
        post["shape"] = (("chain", "draw"), np.asarray(shape if shape is not None else
                                                       np.exp(rng.normal(0, 0.05, shp))))
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "covariate":
              ["line[salvage]"], "centre": [f"C{i + 1}" for i in range(centres)]}
    if sd_centre is not None:
        post["sd_centre"] = (("chain", "draw"), np.asarray(sd_centre))
        post["u_centre"] = (("chain", "draw", "centre"), np.asarray(u_centre))
    if u_varying is not None:
        post["sd_centre_varying"] = (("chain", "draw", "centre_varying"),
                                     np.asarray(sd_varying).reshape(*shp, 1))
        post["u_centre_varying"] = (("chain", "draw", "centre", "centre_varying"),
                                    np.asarray(u_varying).reshape(*shp, centres, 1))
        coords["centre_varying"] = ["line[salvage]"]
    posterior = xr.Dataset(post, coords={k: v for k, v in coords.items()
                                         if k != "centre_varying" or u_varying is not None})
    stats = xr.Dataset({
        "diverging": (("chain", "draw"), np.zeros(shp, bool) if diverging is None
                      else np.asarray(diverging, bool)),
        "maxdepth_reached": (("chain", "draw"), np.zeros(shp, bool) if maxdepth is None
                             else np.asarray(maxdepth, bool)),
        "energy": (("chain", "draw"), rng.normal(0, 1, shp) if energy is None
                   else np.asarray(energy)),
    }, coords={"chain": coords["chain"], "draw": coords["draw"]})
    patients = [f"P{i:03d}" for i in range(n_units)]
    t = rng.exponential(30.0, n_units)
    event = (rng.uniform(size=n_units) < 0.8).astype(np.int8)
    groups = {
        "posterior": posterior, "sample_stats": stats,
        "observed_data": xr.Dataset({"time": ("patient", t)}, coords={"patient": patients}),
        "constant_data": xr.Dataset({"time": ("patient", event),
                                     "X": (("patient", "covariate"), X),
                                     "centre_index": ("patient", centre_index)},
                                    coords={"patient": patients,
                                            "covariate": coords["covariate"],
                                            "centre": coords["centre"]}),
    }
    if log_lik is None:
        log_lik = rng.normal(-3.0, 0.05, (*shp, n_units))
    groups["log_likelihood"] = xr.Dataset(
        {"time": (("chain", "draw", "patient"), np.asarray(log_lik))},
        coords={"chain": coords["chain"], "draw": coords["draw"], "patient": patients})
    if pp is not None:
        groups["posterior_predictive"] = xr.Dataset(
            {"time": (("chain", "draw", "patient"), np.asarray(pp))},
            coords={"chain": coords["chain"], "draw": coords["draw"], "patient": patients})
    dt = xr.DataTree.from_dict(groups)
    dt.attrs.update({
        "model": model, "family": family, "endpoint": endpoint, "time_unit": "months",
        "data_hash": data_hash, "data_source": "fake.csv", "n_units": n_units,
        "n_events": int(event.sum()), "synthetic": int(synthetic), "notice": "",
        "cuts": json.dumps(None), "terms": json.dumps({"line[salvage]": "line"}),
        "contrasts": json.dumps({"line[salvage]": "salvage vs second_line"}),
        "spec_hash": "sha256:fake", "seed": seed, "sampler": "none",
    })
    return dt


def write_run(tree, directory):
    """Store a tree as fit.py does: DIR/fit.nc."""
    directory.mkdir(parents=True, exist_ok=True)
    tree.to_netcdf(directory / "fit.nc", engine="h5netcdf")
    return directory


#: Priors of the hand-computed likelihood tests (their values do not enter the likelihood).
HAND_PRIORS = {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
               "shape": {"dist": "LogNormal", "mu": 0, "sigma": 0.5},
               "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1},
               "log_hazard": {"dist": "Normal", "mu": -3, "sigma": 1.5}}


def one_factor_spec(family: str, params, cuts=None, name: str = "hand"):
    """The spec of ``time ~ x`` (levels a = reference, b) in ``family``, with the baseline
    parameters ``params`` (names) and, for the piecewise family, interior ``cuts``."""
    from nen_bayes.bayes.spec import spec_from_dict

    d = {"model": {"name": name, "family": family},
         "covariates": [{"column": "x", "reference": "a"}],
         "priors": {k: HAND_PRIORS[k] for k in ["coefficient", *params]}}
    if cuts:
        d["baseline"] = {"cuts": cuts}
    return spec_from_dict(d)


def hand_posterior(params: dict, log_hr: float) -> xr.Dataset:
    """One posterior draw of :func:`one_factor_spec`'s model: ``beta`` = ``log_hr`` and the
    baseline ``params`` (values)."""
    post = {"beta": (("chain", "draw", "covariate"), [[[log_hr]]])}
    for k, v in params.items():
        post[k] = (("chain", "draw", "interval") if k == "log_hazard" else ("chain", "draw"),
                   np.asarray(v)[None, None])
    return xr.Dataset(post)


def stored_log_likelihood(model, design, params: dict, log_hr: float) -> np.ndarray:
    """The pointwise log-likelihood the model graph gives at :func:`hand_posterior`'s draw."""
    from nen_bayes.bayes.inference import log_likelihood

    return log_likelihood(model, hand_posterior(params, log_hr), design)["time"].to_numpy()[0, 0]

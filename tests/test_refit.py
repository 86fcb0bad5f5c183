"""One compiled model refitted to new outcomes (:class:`nen_bayes.bayes.refit.Refitter`): the
outcomes are data of the graph (swapping them gives the closed-form likelihood of the new
outcomes, late entry, interval bounds and piecewise exposures included), a refit gives the
posterior a fresh fit on those outcomes gives, the model is compiled once, and bad outcomes are
refused."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import nutpie
import pandas as pd
import pytest
from conftest import ROOT
from fakes import one_factor_spec, stored_log_likelihood
from scipy.stats import weibull_min
from test_late_entry import CASES, _closed_form

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.model import OUTCOME_DATA, build_model
from nen_bayes.bayes.refit import Refitter, same_units
from nen_bayes.bayes.spec import in_time_unit, load_spec
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import ModelDataError
from nen_bayes.pipeline import steps
from nen_bayes.pipeline.settings import ReanalysisSettings
from nen_bayes.re_nen import LINE_CONTRAST, RE_NEN
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


def _interval_closed_form(family, lower, upper, eta, params, cuts):
    """log(S(lower) - S(upper)) from scipy's Weibull survival function (exponential: shape 1)
    or, for the piecewise family, the hazard integrated by hand."""
    if family in ("weibull", "exponential"):
        a = params.get("shape", 1.0)
        dist = weibull_min(a, scale=params["scale"] * math.exp(-eta / a))
        return math.log(dist.sf(lower) - dist.sf(upper))
    lam = np.exp(params["log_hazard"]) * math.exp(eta)
    edges = [0.0, *cuts, math.inf]

    def H(x):
        return sum(lam[k] * max(0.0, min(x, edges[k + 1]) - edges[k]) for k in range(len(lam)))
    return math.log(math.exp(-H(lower)) - math.exp(-H(upper)))


@pytest.mark.parametrize("family", list(CASES))
def test_interval_bounds_as_data_give_the_closed_form_likelihood(family):
    """A model built on exact and right-censored times (no interval bounds) holding bounds as
    data (``interval_data=True``), then given
    interval-censored outcomes as data: an event in (L, U] contributes log(S(L) - S(U)) (L = 0
    included, and intervals across a piecewise cut), an exact event (U = time) its density and
    a censored unit (U = time or inf) its survival, all the closed forms of scipy's Weibull and
    the hand-integrated piecewise hazard; the gradient is finite (no log 0 in either branch)."""
    params, cuts = CASES[family]
    frame = pd.DataFrame({"t": [12.0, 30.0, 8.0, 5.0, 9.0], "e": [1, 0, 1, 1, 0],
                          "x": ["b", "a", "a", "b", "a"]})
    schema = CohortSchema.custom({"ep": ("t", "e")}, factors=[Factor("x", ("a", "b"))])
    spec = one_factor_spec(family, params, cuts, "interval")
    design = make_design(spec, load_cohort(frame, schema), "ep")
    assert design.upper is None
    model = build_model(spec, design, outcome_data=True, interval_data=True)
    lower = [0.0, 4.0, 7.0, 20.0, 6.0]
    upper = [3.0, 16.0, 7.0, math.inf, 6.0]
    events = [1, 1, 1, 0, 0]
    model.set_data(OUTCOME_DATA[0], np.array(lower))
    model.set_data(OUTCOME_DATA[1], np.array(events, float))
    model.set_data(OUTCOME_DATA[3], np.array(upper))
    ll = stored_log_likelihood(model, design, params, math.log(2.0))
    eta = [math.log(2.0), 0.0, 0.0, math.log(2.0), 0.0]
    expected = [_interval_closed_form(family, lo, up, h, params, cuts) if d and up > lo
                else _closed_form(family, lo, d, 0.0, h, params, cuts)
                for lo, up, d, h in zip(lower, upper, events, eta, strict=True)]
    np.testing.assert_allclose(ll, expected, rtol=1e-5, atol=1e-5)  # float32 storage
    grad = model.compile_dlogp()(model.initial_point())
    assert np.all(np.isfinite(grad))


SAMPLING = Sampling(draws=300, tune=300, chains=2, cores=2)


@pytest.fixture(scope="module")
def refitted():
    """A Refitter compiled on the bundled cohort's OS (exact and right-censored times) holding
    interval bounds, refitted to its PFS detection times, its PFS scan intervals (the event
    between the last scan without progression and the first with it) and its OS (the same 297
    units), with nutpie's compilations counted."""
    frame = pd.read_csv(BUNDLED_COHORT)
    intervals = load_cohort(frame, RE_NEN)
    cohort = load_cohort(frame.drop(columns=[c for c in frame if c.endswith(("_lower", "_upper"))]),
                         RE_NEN)
    lower, upper = intervals.interval("pfs")
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    design = make_design(in_time_unit(spec, cohort.schema.time_unit)[0], cohort, "os")
    calls = []
    original = nutpie.compile_pymc_model

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nutpie, "compile_pymc_model", counting)
        refitter = Refitter(spec, design, sampling=SAMPLING, intervals=True)
        on_pfs = refitter.fit(cohort.time("pfs"), cohort.event("pfs"), seed=5)
        on_os = refitter.fit(cohort.time("os"), cohort.event("os"), seed=5)
        on_interval = refitter.fit(lower, intervals.event("pfs"), upper=upper, seed=5)
    return cohort, spec, refitter, on_pfs, on_os, len(calls), intervals, on_interval


def _z(a, b, names):
    """Largest |difference of posterior means| / combined Monte Carlo SE, per variable."""
    import arviz as az

    ma, mb = az.mcse(a[names]), az.mcse(b[names])
    return {v: float((np.abs(a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw")))
                      / np.sqrt(ma[v] ** 2 + mb[v] ** 2)).max()) for v in names}


def _agrees_with_a_fresh_fit(refit_tree, spec, cohort):
    """The refit's posterior (returned) has fit()'s variables on PFS of ``cohort`` with the same
    seed, and every posterior mean within 4 combined Monte Carlo SEs of fit()'s."""
    fresh = fit(spec, cohort, endpoint="pfs", sampling=SAMPLING, seed=5, prior_draws=10,
                progressbar=False, log_lik=False, predictive=False).posterior
    names = ["beta", "shape", "scale", "sd_centre", "u_centre", "hr", "median_baseline"]
    post = refit_tree["posterior"].to_dataset()
    assert set(post.data_vars) == set(fresh.data_vars)
    assert max(_z(post, fresh, names).values()) < 4
    return post


def test_refit_on_new_outcomes_gives_the_posterior_of_a_fresh_fit(refitted):
    """The refit on PFS against fit() on PFS with the same seed: every posterior mean within 4
    combined Monte Carlo SEs (the same initial values and sampler seed, a log-density that
    differs only in floating-point order, which NUTS amplifies). The refit on OS must
    differ from it (the outcomes were swapped), by far more than Monte Carlo error."""
    cohort, spec, _, on_pfs, on_os, *_ = refitted
    post = _agrees_with_a_fresh_fit(on_pfs, spec, cohort)
    assert _z(post, on_os["posterior"].to_dataset(), ["median_baseline"])[
        "median_baseline"] > 10
    assert int(on_pfs["sample_stats"]["diverging"].sum()) == 0


def test_refit_on_interval_censored_outcomes_gives_the_posterior_of_a_fresh_fit(refitted):
    """The refit on PFS scan intervals (247 events known only to lie in (lower, upper], 38 of
    them from 0), by the model compiled on OS, against fit() on the interval endpoint with the
    same seed: every posterior mean within 4 combined Monte Carlo SEs. The bounds were used:
    against the refit on the detection times (the later of the two bounds), the baseline
    median is earlier, by more than those 4 combined Monte Carlo SEs."""
    _, spec, _, on_pfs, _, _, intervals, on_interval = refitted
    post = _agrees_with_a_fresh_fit(on_interval, spec, intervals)
    detection = on_pfs["posterior"].to_dataset()
    assert float(post["median_baseline"].mean()) < float(detection["median_baseline"].mean())
    assert _z(post, detection, ["median_baseline"])["median_baseline"] > 4
    assert int(on_interval["sample_stats"]["diverging"].sum()) == 0


def test_refits_compile_once(refitted):
    _, _, refitter, _, _, compilations, *_ = refitted
    assert compilations == 1 and refitter.n_fits == 3 and refitter.compile_seconds > 0


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
    low = t.copy()
    low[[2, 4]] = t[[2, 4]] - 1.0
    with pytest.raises(ModelDataError, match=r"upper must be >= time.*\[2, 4\]"):
        refitter.fit(t, d, seed=1, upper=low)
    with pytest.raises(ModelDataError, match=r"upper has shape \(3,\)"):
        refitter.fit(t, d, seed=1, upper=t[:3])
    zero = t.copy()
    zero[6] = 0.0  # 0 only as the lower bound of an interval-censored event
    with pytest.raises(ModelDataError, match=r"time must be finite and > 0.*\[6\]"):
        refitter.fit(zero, d, seed=1, upper=zero)
    assert refitter.n_fits == 3


def test_a_refitter_without_interval_bounds_refuses_them(refitted):
    """By default a Refitter holds interval bounds only when its design has them: one compiled
    on OS refuses upper bounds and does not match the PFS interval design (a fresh fit
    compiles for it); one built with intervals=True matches both; bounds with late entry are
    refused."""
    _, spec, held, *_ = refitted
    full = load_cohort(BUNDLED_COHORT, RE_NEN)
    pooled = load_spec(ROOT / "models/weibull_ph_pooled.toml")
    os_, pfs = (make_design(pooled, full, ep) for ep in ("os", "pfs"))
    plain = Refitter(pooled, os_, sampling=SAMPLING)
    assert not plain.intervals and plain.matches(pooled, os_)
    assert not plain.matches(pooled, pfs)
    assert OUTCOME_DATA[3] not in plain.model.named_vars
    with pytest.raises(ModelDataError, match=r"compiled without interval bounds.*intervals=True"):
        plain.fit(pfs.time, pfs.event, upper=pfs.upper, seed=1)
    assert held.intervals and all(held.matches(spec, make_design(spec, full, ep))
                                  for ep in ("os", "hpfs", "pfs"))
    assert held.matches(spec, make_design(spec, full.detection_times(), "pfs"))
    with pytest.raises(ModelDataError, match="together with late entry"):
        Refitter(pooled, replace(os_, entry=np.zeros(os_.n)), intervals=True)
    assert plain.n_fits == 0


def test_same_units_tells_which_designs_one_compiled_model_fits():
    """OS (exact and right-censored times) and HPFS and PFS (scan intervals) of the bundled
    cohort: the same units, so one compiled model fits all three, interval bounds or not;
    fewer units, another covariate value, or piecewise cut points placed at each endpoint's
    event quantiles (which differ) need another compilation; fixed cut points do not.
    Interval bounds with late entry are refused (the model does not support them)."""
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    os_, hpfs, pfs = (make_design(spec, cohort, ep) for ep in ("os", "hpfs", "pfs"))
    assert os_.upper is None and hpfs.upper is not None and pfs.upper is not None
    assert same_units(os_, pfs) and same_units(pfs, os_) and same_units(hpfs, pfs)
    late = np.zeros(os_.n)
    assert same_units(replace(os_, entry=late), replace(os_, entry=late))
    assert not same_units(replace(os_, entry=late), replace(pfs, entry=late))
    fewer = replace(pfs, time=pfs.time[:200], event=pfs.event[:200], X=pfs.X[:200],
                    ids=pfs.ids[:200])
    assert not same_units(os_, fewer)
    moved = pfs.X.copy()
    moved[5, 0] = 1 - moved[5, 0]
    assert not same_units(os_, replace(pfs, X=moved))
    fixed = load_spec(ROOT / "models/piecewise_ph_centre.toml")
    assert same_units(*(make_design(fixed, cohort, ep) for ep in ("os", "pfs")))
    quantile = replace(fixed, cuts="quantiles:3")
    assert not same_units(*(make_design(quantile, cohort, ep) for ep in ("os", "pfs")))


def test_the_main_job_compiles_each_model_once_for_endpoints_of_the_same_units(monkeypatch,
                                                                              tmp_path):
    """The job's cache of compiled models (a stand-in Refitter that only counts): OS, HPFS
    and PFS of the bundled cohort share their units (HPFS and PFS as scan intervals), so each
    model is compiled once, not once per endpoint, and refits every endpoint and the
    headline model's detection-time fit. A time-varying model takes everything it needs from
    the times in the graph too, but its interval branch samples slowly, so its OS (no bounds)
    gets a model without one, and HPFS and PFS share one; with PyMC's sampler there is
    nothing to reuse."""
    made = []

    class Counting:
        def __init__(self, spec, design, sampling=None, intervals=None):
            self.spec, self.design, self.intervals = spec, design, intervals
            made.append((spec.name, intervals))

        def matches(self, spec, design):  # as Refitter.matches
            return (spec.name == self.spec.name and same_units(self.design, design)
                    and (design.upper is None or self.intervals))

    monkeypatch.setattr(steps, "Refitter", Counting)
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    specs = [load_spec(ROOT / f"models/{n}.toml") for n in (
        "weibull_ph_centre", "piecewise_ph_centre", "weibull_line_hr_by_time_centre",
        "weibull_line_shape_centre")]
    settings = ReanalysisSettings(specs=tuple(specs), contrast=LINE_CONTRAST)
    job = steps.Job(cohort, tmp_path, settings)
    got = {(ep, sp.name): steps._refitter(job, ep, sp) for ep in ("os", "hpfs", "pfs")
           for sp in specs}
    ph, tv = specs[:2], specs[2:]
    # holding HPFS's and PFS's bounds; a time-varying model's OS (no bounds) on its own model
    assert sorted(made) == sorted([(sp.name, True) for sp in ph]
                                  + [(sp.name, b) for sp in tv for b in (False, True)])
    for sp in specs:
        assert got[("os", sp.name)] is not None
        assert got[("hpfs", sp.name)] is got[("pfs", sp.name)]
        assert (got[("os", sp.name)] is got[("hpfs", sp.name)]) == (sp in ph)
    seen = {}

    def stop(spec, cohort, **kwargs):  # the detection-time refit: which compiled model it gets
        seen.update(kwargs, interval=cohort.interval("pfs"))
        raise StopIteration

    monkeypatch.setattr(steps, "fit", stop)
    with pytest.raises(StopIteration):
        steps.detection_step(job, "pfs", None, None)
    assert seen["interval"] is None and seen["refitter"] is got[("pfs", settings.headline.name)]
    assert len(made) == len(ph) + 2 * len(tv)
    pymc_job = steps.Job(cohort, tmp_path, replace(settings, sampling=Sampling(sampler="pymc")))
    assert steps._refitter(pymc_job, "os", specs[0]) is None


def test_the_job_keeps_only_what_later_steps_read():
    """After a fit is written, the job keeps its posterior, sampler statistics and data, and
    its PSIS-LOO without the smoothed log weights (draws x units per model)."""
    import xarray as xr

    big = xr.Dataset({"time": (("chain", "draw", "patient"), np.zeros((2, 5, 3)))})
    tree = xr.DataTree.from_dict({g: big for g in ("posterior", "sample_stats", "observed_data",
                                                   "constant_data", "log_likelihood",
                                                   "posterior_predictive", "prior",
                                                   "prior_predictive", "log_prior")})
    tree.attrs["model"] = "m"

    class Loo:
        log_weights = big["time"]
        elpd_i = big["time"].isel(chain=0, draw=0)

    slim, loo = steps._compact(tree, Loo())
    assert set(slim.children) == set(steps.KEPT_GROUPS) and slim.attrs["model"] == "m"
    assert loo.log_weights is None and loo.elpd_i is Loo.elpd_i

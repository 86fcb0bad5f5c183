"""Hierarchical centring (a centred group's levels sampled around the baseline's level): the
starting box of those levels sits where the baseline's level starts, for every family, and
the public log-density helpers take a stored posterior (which holds ``u_<group>``, not the
sampling variable ``level_<group>``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytensor
import pytest
from conftest import BUNDLED_COHORT, ROOT

from nen_bayes import RE_NEN
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import INIT_RADIUS, initial_points, log_likelihood, sample_prior
from nen_bayes.bayes.model import build_model
from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.cohort import load_cohort


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


def centred(name):
    spec = load_spec(ROOT / f"models/{name}.toml")
    return dataclasses.replace(spec, groups=tuple(dataclasses.replace(g, centered=True)
                                                  for g in spec.groups))


@pytest.mark.parametrize("name", ["weibull_ph_centre", "exponential_ph_centre",
                                  "piecewise_ph_centre"])
def test_centred_group_effects_start_around_no_effect(name, cohort):
    """The starting points of fit() and Refitter (nutpie's centre, radius 1): the group
    effects u = level - L they imply are centred on 0, as the starting box of a non-centred
    or plainly centred group puts them (z, u in (-1, 1)). The level's box centre must be the
    baseline level's own starting value: log t0 - crude for the Weibull (shape near 1) and
    exponential baselines, the log-hazard's starting value -crude for the piecewise one (its
    level is the mean log hazard, which has no log t0 in it)."""
    spec = centred(name)
    design = make_design(spec, cohort, "os")
    model = build_model(spec, design)
    u_of = pytensor.function(model.free_RVs, model["u_centre"], on_unused_input="ignore")
    points = initial_points(model, np.random.default_rng(0), 30, INIT_RADIUS / 2, design)
    u = np.concatenate([u_of(*[p[v.name] for v in model.free_RVs]) for p in points])
    # the box has half-width 1 on the level and on the baseline: |mean| well inside it
    assert abs(float(np.median(u))) < 0.5, float(np.median(u))


def test_log_likelihood_of_stored_draws_needs_the_model_in_the_users_coding(cohort):
    """log_likelihood(model, draws, design) evaluates the model's own graph at stored draws,
    which hold u_centre, never the sampling variable level_centre: with the model that
    samples levels it refuses, naming the variable and the model to use; with that model
    (levels=False) it gives the closed-form log-likelihood of the same draws."""
    from nen_bayes.bayes.inference import pointwise_log_likelihood

    spec = centred("weibull_ph_centre")
    design = make_design(spec, cohort, "os")
    draws = sample_prior(spec, design, 3, np.random.default_rng(1))
    with pytest.raises(ValueError, match=r"level_centre.*levels=False"):
        log_likelihood(build_model(spec, design), draws, design)
    got = log_likelihood(build_model(spec, design, centre=False, levels=False), draws, design)
    expected = pointwise_log_likelihood(draws, spec.family, design)
    np.testing.assert_allclose(got["time"].to_numpy(), expected["time"].to_numpy(),
                               rtol=1e-5, atol=1e-5)

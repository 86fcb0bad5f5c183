"""Closed form, in every way a model is built: sampling a centred group's levels around the
baseline (``level = u + L``, ``level ~ Normal(L, sd)``) is a shift by a function of the other
parameters, Jacobian 1, and Normal(level; L, sd) = Normal(u; 0, sd); so the joint log density
at corresponding points equals the plainly centred model's (``levels=False``), with the
coefficient priors as data, unit weights (a centre held out), outcomes swapped after the build
(the reference time t0 of L stays the build's: any L gives the same density), interval bounds
as data, time-varying hazard ratios, two groups, varying slopes and a precision prior. L is
read off the model itself (u at level 0 is -L); for the time-varying hazard ratio it is also
checked against the documented formula shape (log t0 - log scale), which reads the baseline
parameters ahead of the change parameter."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytensor
import pytest
from conftest import BUNDLED_COHORT, ROOT
from test_centring_and_init import KIDNEY_MODEL, kidney_design
from test_model import subject_schema, with_subjects

from nen_bayes import RE_NEN
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.model import (
    CENTRED_BASELINE,
    OUTCOME_DATA,
    PRIOR_DATA,
    UNIT_WEIGHTS,
    build_model,
    level_group,
    reference_log_time,
)
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.cohorts.cohort import load_cohort

pytestmark = pytest.mark.slow


def centred(spec, which=None):
    return dataclasses.replace(spec, groups=tuple(
        dataclasses.replace(g, centered=True) if which is None or g.name in which else g
        for g in spec.groups))


def model_spec(name, which=None):
    return centred(load_spec(ROOT / f"models/{name}.toml"), which)


def precision_spec():
    return spec_from_dict({
        "model": {"name": "m", "family": "weibull"},
        "covariates": [{"column": "age", "type": "numeric", "center": False}],
        "groups": [{"name": "subject", "column": "id", "centered": True}],
        "priors": {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
                   "shape": {"dist": "LogNormal", "mu": 0, "sigma": 0.5},
                   "scale": {"dist": "LogNormal", "mu": 3.6, "sigma": 1},
                   "group_precision": {"dist": "Gamma", "alpha": 0.001, "beta": 0.001}}},
        source="m.toml")


def case(label):
    """(spec, design, build keywords, data to set after the build, check L's formula)."""
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    wc = model_spec("weibull_ph_centre")
    os_, pfs = make_design(wc, cohort, "os"), make_design(wc, cohort, "pfs")
    det = make_design(wc, cohort.detection_times(), "pfs")
    swapped = {OUTCOME_DATA[0]: det.time, OUTCOME_DATA[1]: det.event.astype(float)}
    intervals = {OUTCOME_DATA[0]: pfs.time, OUTCOME_DATA[1]: pfs.event.astype(float),
                 OUTCOME_DATA[3]: pfs.upper}
    held = np.where(os_.groups[0].index == 0, 0.0, 1.0)
    k = os_.X.shape[1]
    tv = model_spec("weibull_line_hr_by_time_centre")
    tve = dataclasses.replace(tv, family="exponential")
    subjects = load_cohort(with_subjects(pd.read_csv(BUNDLED_COHORT)), subject_schema())
    cases = {
        "weibull": (wc, os_, {}, None, False),
        "weibull interval-censored": (wc, pfs, {}, None, False),
        "prior as data": (wc, os_, {"prior_data": True},
                          {PRIOR_DATA[0]: np.full(k, 0.3), PRIOR_DATA[1]: np.full(k, 0.7)},
                          False),
        "a centre held out": (wc, os_, {"unit_weights": True}, {UNIT_WEIGHTS: held}, False),
        "outcomes swapped": (wc, os_, {"outcome_data": True}, swapped, False),
        "intervals swapped in": (wc, os_, {"outcome_data": True, "interval_data": True},
                                 intervals, False),
        "piecewise, intervals swapped in": (
            model_spec("piecewise_ph_centre"), make_design(model_spec("piecewise_ph_centre"),
                                                           cohort, "os"),
            {"outcome_data": True, "interval_data": True}, intervals, False),
        "exponential, a centre held out": (
            model_spec("exponential_ph_centre"),
            make_design(model_spec("exponential_ph_centre"), cohort, "os"),
            {"unit_weights": True}, {UNIT_WEIGHTS: held}, False),
        "numeric covariate centred": (centred(load_spec(KIDNEY_MODEL)),
                                      kidney_design(centred(load_spec(KIDNEY_MODEL))), {}, None,
                                      False),
        "numeric covariate as written": (centred(load_spec(KIDNEY_MODEL)),
                                         kidney_design(centred(load_spec(KIDNEY_MODEL))),
                                         {"centre": False}, None, False),
        "time-varying HR, Weibull": (tv, make_design(tv, cohort, "os"), {}, None, True),
        "time-varying HR, Weibull, outcomes swapped": (tv, make_design(tv, cohort, "os"),
                                                       {"outcome_data": True}, swapped, True),
        "time-varying HR, exponential": (tve, make_design(tve, cohort, "os"), {}, None, True),
        "two groups, both centred": (model_spec("weibull_ph_centre_subject"),
                                     make_design(model_spec("weibull_ph_centre_subject"),
                                                 subjects, "os"), {}, None, False),
        "two groups, the nested one centred": (
            model_spec("weibull_ph_centre_subject", {"subject"}),
            make_design(model_spec("weibull_ph_centre_subject", {"subject"}), subjects, "os"),
            {}, None, False),
        "varying slopes": (model_spec("weibull_ph_centre_line"),
                           make_design(model_spec("weibull_ph_centre_line"), cohort, "os"), {},
                           None, False),
        "precision prior": (precision_spec(), kidney_design(precision_spec()), {}, None, False),
    }
    return cases[label]


LABELS = ["weibull", "weibull interval-censored", "prior as data", "a centre held out",
          "outcomes swapped", "intervals swapped in", "piecewise, intervals swapped in",
          "exponential, a centre held out", "numeric covariate centred",
          "numeric covariate as written", "time-varying HR, Weibull",
          "time-varying HR, Weibull, outcomes swapped", "time-varying HR, exponential",
          "two groups, both centred", "two groups, the nested one centred", "varying slopes",
          "precision prior"]


@pytest.mark.parametrize("label", LABELS)
def test_the_levelled_model_has_the_plainly_centred_log_density(label):
    spec, design, kw, data, formula = case(label)
    g = level_group(spec, design)
    assert g is not None
    levelled = build_model(spec, design, **kw)
    plain = build_model(spec, design, levels=False, **kw)
    for m in (levelled, plain):
        for k, v in (data or {}).items():
            m.set_data(k, v)
    u_graph = levelled.replace_rvs_by_values([levelled[f"u_{g}"]])[0]
    u_of = pytensor.function(levelled.value_vars, u_graph, on_unused_input="ignore")
    names = [v.name for v in levelled.value_vars]
    fl, fp = levelled.compile_logp(), plain.compile_logp()
    rng = np.random.default_rng(3)
    for _ in range(5):
        p = {k: v + rng.normal(size=np.shape(v)) * 0.3 for k, v in plain.initial_point().items()}
        for k in p:
            if k.startswith("beta"):
                p[k] = rng.normal(size=np.shape(p[k])) * 0.2
        if "shape_log__" in p:
            p["shape_log__"] = rng.normal() * 0.3
        for k in (CENTRED_BASELINE[0], "scale_log__"):  # on the data's time scale
            if k in p:
                p[k] = np.log(design.time.mean()) + rng.normal() * 0.3
        for k in (CENTRED_BASELINE[1], "log_hazard"):
            if k in p:
                p[k] = -np.log(design.time.mean()) + rng.normal(size=np.shape(p[k])) * 0.3
        moved = {k: v for k, v in p.items() if k != f"u_{g}"}
        moved[f"level_{g}"] = np.zeros_like(p[f"u_{g}"])
        level = -u_of(*[moved[n] for n in names])  # u at level 0 is -L
        moved[f"level_{g}"] = p[f"u_{g}"] + level
        a, b = fp(p), fl(moved)
        assert np.isfinite(a)
        assert b == pytest.approx(a, rel=1e-10, abs=1e-8)
        if formula:
            shape = np.exp(p.get("shape_log__", 0.0))
            expected = shape * (reference_log_time(design) - p["scale_log__"])
            np.testing.assert_allclose(level, expected, rtol=1e-10)

"""Sampling on internally centred numeric columns is exact (the log density at corresponding
points is the same number), and initial values do not depend on where a vague prior puts its
mean; a sampler that cannot start ends with a clear error, not a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BUNDLED_COHORT, ROOT

from nen_bayes import RE_NEN
from nen_bayes.bayes import inference
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.model import (
    CENTRED_BASELINE,
    build_model,
    centring_offsets,
    reference_log_time,
    sampling_scales,
)
from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.cohort import load_cohort
from nen_bayes.errors import SamplingStartError
from nen_bayes.pipeline.cli import add_cohort_options, load_options, schema_for, script_parser

KIDNEY = ROOT / "tests/data/kidney.csv"
KIDNEY_MODEL = ROOT / "tests/data/kidney_weibull_frailty.toml"


def kidney_design(spec):
    p = script_parser("test", "")
    add_cohort_options(p)
    args = p.parse_args(["--data", str(KIDNEY), "--time", "time", "--event", "status",
                         "--no-centre", "--row-ids", "--time-unit", "days"])
    schema, lenient = schema_for(args, p, [spec], one_endpoint=True)
    cohort = load_cohort(args.data, schema, lenient=lenient, **load_options(args))
    return make_design(spec, cohort, "time")


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


@pytest.fixture(scope="module")
def kidney():
    spec = load_spec(KIDNEY_MODEL)
    return spec, kidney_design(spec)


def test_centred_model_has_the_same_log_density_as_the_model_as_written(kidney):
    """Closed form: log scale = log scale_c + m'beta / shape has Jacobian 1, and the sampled
    coefficient beta * s (per SD of its column) has the constant log-Jacobian -sum(log s), so
    the joint log density (with the transforms' Jacobians) is the written model's minus that
    constant, to rounding, at every point: the same posterior, the user's prior on the
    user's beta."""
    spec, design = kidney
    m, s = centring_offsets(design), sampling_scales(design)
    assert m[0] == pytest.approx(design.X[:, 0].mean()) and m[0] > 40  # age, uncentred
    assert s[0] == pytest.approx(design.X[:, 0].std()) and s[0] > 5  # age in years
    assert np.all(m[1:] == 0) and np.all(s[1:] == 1)  # factor columns are left as they are
    centred, written = build_model(spec, design), build_model(spec, design, centre=False)
    names = [v.name for v in centred.value_vars]
    assert CENTRED_BASELINE[0] in names and "beta_persd__" in names
    fc, fw = centred.compile_logp(), written.compile_logp()
    rng = np.random.default_rng(5)
    for _ in range(5):
        beta = rng.normal(size=len(m)) * 0.2
        log_shape, log_scale = rng.normal() * 0.3, rng.normal() + 4
        common = {"shape_log__": log_shape, "z_subject": rng.normal(size=38),
                  "precision_subject_log__": rng.normal() * 0.5}
        a = fw({**common, "beta": beta, "scale_log__": log_scale})
        b = fc({**common, "beta_persd__": beta * s,
                CENTRED_BASELINE[0]: log_scale - m @ beta / np.exp(log_shape)})
        assert np.isfinite(a)
        assert b == pytest.approx(a - np.log(s).sum(), rel=1e-10, abs=1e-8)


def test_initial_points_ignore_where_a_vague_prior_puts_its_mean(kidney):
    """Gamma(1, 0.001) has mean 1000 and LogNormal(0, 100) a mean that overflows: PyMC's
    default starting point (each prior's support point) has a log density that is not finite;
    uniform(-2, 2) on the unconstrained scale is finite every time."""
    import pytensor.tensor as pt

    spec, design = kidney
    model = build_model(spec, design)
    written = build_model(spec, design, centre=False)
    logp = written.compile_logp()
    assert not np.isfinite(logp(written.initial_point()))
    rng = np.random.default_rng(1)
    f = model.compile_logp()
    for point in inference.initial_points(model, rng, 10):
        assert 1 / np.e ** 2 < point["shape"] < np.e ** 2
        assert np.all(np.abs(point["beta"]) < 2)
        ip = {model.rvs_to_values[rv].name: point[rv.name]
              if model.rvs_to_transforms.get(rv) is None else
              model.rvs_to_transforms[rv].forward(pt.as_tensor(point[rv.name]),
                                                *rv.owner.inputs).eval()
              for rv in model.free_RVs}
        assert np.isfinite(f(ip))


def test_a_sampler_that_cannot_start_is_retried_then_refused(kidney, monkeypatch):
    import pymc as pm

    spec, design = kidney
    model = build_model(spec, design)
    calls = []

    def never_starts(**kw):
        calls.append(kw["initvals"])
        raise RuntimeError("All initialization points failed\n\nCaused by: ...")

    monkeypatch.setattr(pm, "sample", never_starts)
    with pytest.raises(SamplingStartError, match="could not start") as err:
        inference._sample(model, inference.Sampling(chains=2), 1, 7, False)
    assert len(calls) == inference.INIT_ATTEMPTS
    assert not np.allclose(calls[0]["beta"], calls[1]["beta"])  # new draws each time
    assert "Nothing was written" in str(err.value)


def test_a_script_whose_sampler_cannot_start_exits_1_with_the_message(capsys):
    from nen_bayes.pipeline.cli import main_guard

    @main_guard
    def main(argv=None):
        raise SamplingStartError("the sampler could not start: ... Nothing was written.")

    assert main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the sampler could not start") and "Traceback" not in err


def test_the_starting_box_sits_on_the_data_scale(kidney):
    """With the design, the baseline's box is centred on the crude exponential scale (total
    time / events: the exponential MLE, a closed form) and a numeric coefficient's box is
    (-2, 2) per SD of its column: on a cohort in days (kidney: mean time about 100 days) the
    start is within e^2 of the data, not 100-fold away as U(-2, 2) on log days would be."""
    spec, design = kidney
    crude = np.log(design.time.sum() / design.event.sum())
    assert crude > np.log(50)  # the unit matters: log days
    model = build_model(spec, design)
    rng = np.random.default_rng(3)
    sd_age = design.X[:, 0].std()
    assert sd_age > 5  # age in years, uncentred
    for point in inference.initial_points(model, rng, 20, design=design):
        assert abs(point[CENTRED_BASELINE[0]] - crude) < 2
        assert abs(point["beta"][0]) < 2 / sd_age  # per SD of age
        assert np.all(np.abs(point["beta"][1:]) < 2)  # 0/1 columns: (-2, 2)
    # without the design, the box is U(-2, 2) on every unconstrained scale (far from log days)
    far = inference.initial_points(model, rng, 20)
    assert all(abs(p[CENTRED_BASELINE[0]]) < 2 for p in far)


@pytest.mark.parametrize("name", ["weibull_ph_centre", "exponential_ph_centre",
                                  "piecewise_ph_centre", "kidney"])
def test_group_levels_around_the_baseline_have_the_same_log_density(name, kidney, cohort):
    """Closed form: sampling a centred group's levels ``level = u + L`` around the baseline's
    level ``L`` (Weibull: the log cumulative hazard shape (log t0 - log scale) at the geometric
    mean t0 of the event times; exponential: log t0 - log scale; piecewise: the mean log
    hazard) is a shift with Jacobian 1, and ``Normal(level; L, sd)`` is ``Normal(u; 0, sd)``:
    the joint log density equals the plainly centred model's at corresponding points, so the
    posterior is the same."""
    import dataclasses

    if name == "kidney":
        spec, design = kidney
        spec = dataclasses.replace(spec, groups=tuple(dataclasses.replace(g, centered=True)
                                                      for g in spec.groups))
        design = kidney_design(spec)
    else:
        spec = load_spec(ROOT / f"models/{name}.toml")
        spec = dataclasses.replace(spec, groups=tuple(dataclasses.replace(g, centered=True)
                                                      for g in spec.groups))
        design = make_design(spec, cohort, "os")
    g = design.groups[0].name
    levelled, plain = build_model(spec, design), build_model(spec, design, levels=False)
    names = {v.name for v in levelled.value_vars}
    assert f"level_{g}" in names and f"u_{g}" not in names
    assert f"u_{g}" in {v.name for v in plain.value_vars}
    fl, fp = levelled.compile_logp(), plain.compile_logp()
    log_t0 = np.log(design.time[design.event == 1]).mean()
    rng = np.random.default_rng(11)
    for _ in range(5):
        point = plain.initial_point()
        point = {k: v + rng.normal(size=np.shape(v)) * 0.3 for k, v in point.items()}
        for k in ("beta", "beta_persd__"):
            if k in point:
                point[k] = rng.normal(size=np.shape(point[k])) * 0.2
        if "shape_log__" in point:  # near 1, not where a vague prior puts its mean
            point["shape_log__"] = rng.normal() * 0.3
        for k in (CENTRED_BASELINE[0], "scale_log__"):  # on the data's time scale
            if k in point:
                point[k] = np.log(design.time.mean()) + rng.normal() * 0.3
        if spec.family == "piecewise":
            base = point.get("log_hazard_centred", point.get("log_hazard"))
            level = base.mean()
        else:
            log_scale = point.get(CENTRED_BASELINE[0], point.get("scale_log__"))
            shape = np.exp(point["shape_log__"]) if spec.family == "weibull" else 1.0
            level = shape * (log_t0 - log_scale)
        moved = {k: v for k, v in point.items() if k != f"u_{g}"}
        moved[f"level_{g}"] = point[f"u_{g}"] + level
        a, b = fp(point), fl(moved)
        assert np.isfinite(a)
        assert b == pytest.approx(a, rel=1e-10, abs=1e-8)


def test_the_baseline_level_of_interval_censored_events_starting_at_zero_is_finite(cohort):
    """The bundled cohort's PFS has events known only to lie in (0, upper] (first scan): the
    reference time of the baseline level counts them at their upper bound (the log of a
    lower bound 0 made every starting point of a centred fit non-finite)."""
    import dataclasses

    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    spec = dataclasses.replace(spec, groups=tuple(dataclasses.replace(g, centered=True)
                                                  for g in spec.groups))
    design = make_design(spec, cohort, "pfs")
    inside = (design.event == 1) & (design.upper > design.time)
    assert (design.time[inside] == 0).any()  # the case: events in (0, upper]
    at = np.where(inside, design.upper, design.time)[design.event == 1]
    assert reference_log_time(design) == pytest.approx(np.log(at).mean(), rel=1e-12)
    model = build_model(spec, design)
    points = inference.initial_points(model, np.random.default_rng(1), 3, design=design)
    logp = model.compile_logp()
    # the starting points on the unconstrained scale, through the model's own transforms
    transformed = [model.initial_point() | {
        k: (model.rvs_to_transforms[model[n]].forward(p[n], *model[n].owner.inputs).eval()
            if model.rvs_to_transforms.get(model[n]) is not None else p[n])
        for n in p for k in [model.rvs_to_values[model[n]].name]} for p in points]
    assert all(np.isfinite(logp(t)) for t in transformed)

"""Studies simulate the model they fit: every sampled parameter is named and ranked, and the
simulated cohorts move with every parameter of the model's effect structures (time-varying
hazard ratios, a shape per level, group-varying slopes), with the outcome kinds the design has
(late entry, interval censoring) simulated as the model fits them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakes import one_factor_spec

from nen_bayes import load_cohort
from nen_bayes.bayes.inference import sample_prior
from nen_bayes.bayes.model import build_model
from nen_bayes.bayes.outcomes import Outcomes
from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.data import BUNDLED_COHORT, MODELS_DIR
from nen_bayes.errors import ModelDataError
from nen_bayes.studies.simulation import (
    censoring_times,
    design_for,
    parameter_draws,
    parameter_names,
    simulate_observed,
    simulate_outcomes,
)

SHIPPED = sorted(p.stem for p in MODELS_DIR.glob("*.toml"))


@pytest.fixture(scope="module")
def cohort():
    """The bundled cohort with a subject column (consecutive units of a centre paired, two
    evaluations a subject) for the nested model."""
    frame = pd.read_csv(BUNDLED_COHORT, dtype=str, keep_default_na=False)
    frame["subject_id"] = [f"{c}-{i // 2}" for c, i in
                           zip(frame["centre"], frame.groupby("centre").cumcount(), strict=True)]
    schema = CohortSchema.custom(
        {"os": ("os_months", "os_event")}, centre_column="centre",
        factors=[Factor("line"), Factor("grade"), Factor("tumour_burden"),
                 Factor("extrahepatic"), Factor("subject_id")])
    return load_cohort(frame, schema)


def _truth(spec, design, seed):
    ds = sample_prior(spec, design, 1, np.random.default_rng(seed))
    return ds, {k: ds[k].to_numpy()[0, 0] for k in ds.data_vars}


@pytest.mark.parametrize("model", SHIPPED)
def test_every_sampled_parameter_is_named_and_drawn(model, cohort):
    spec, design, _ = design_for(load_spec(model), cohort)
    names = parameter_names(spec, design)
    free = [rv.name for rv in build_model(spec, design, centre=False, levels=False).free_RVs]
    # z_<g> (non-centred) are u_<g> / sd_<g>; precision_<g> is 1 / sd_<g>^2: named by u and sd
    for rv in free:
        if rv.startswith("z_"):
            rv = "u_" + rv[2:]
        if rv.startswith("precision_"):
            rv = "sd_" + rv[len("precision_"):]
        assert any(n == rv or n.startswith(rv + "[") for n in names), (rv, names)
    ds, _ = _truth(spec, design, 1)
    draws = parameter_draws(ds, names)
    assert set(draws) == set(names)
    assert all(d.shape == (1, 1) and np.isfinite(d).all() for d in draws.values())
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("model, parameter", [
    ("weibull_line_hr_by_time_centre", "hr_change"),
    ("weibull_line_shape_centre", "shape_change"),
    ("weibull_ph_centre_line", "u_centre_varying"),
])
def test_simulated_cohorts_move_with_every_structure_parameter(model, parameter, cohort):
    spec, design, _ = design_for(load_spec(model), cohort)
    _, truth = _truth(spec, design, 2)
    censor = np.full(design.n, np.inf)
    same = simulate_outcomes(spec.family, truth, design, censor, np.random.default_rng(5))[0]
    again = simulate_outcomes(spec.family, truth, design, censor, np.random.default_rng(5))[0]
    shifted = {**truth, parameter: np.asarray(truth[parameter]) + 3.0}
    moved = simulate_outcomes(spec.family, shifted, design, censor, np.random.default_rng(5))[0]
    np.testing.assert_array_equal(same, again)  # same seed, same parameters: same cohort
    # the units the parameter acts on get other times (the others keep theirs)
    assert (np.abs(np.log(moved) - np.log(same)) > 1e-6).sum() >= 10


def test_a_structure_without_its_parameters_is_refused(cohort):
    spec, design, _ = design_for(load_spec("weibull_line_hr_by_time_centre"), cohort)
    _, truth = _truth(spec, design, 3)
    del truth["hr_change"]
    with pytest.raises(ModelDataError, match=r"changes with time.*hr_change"):
        simulate_outcomes(spec.family, truth, design, np.full(design.n, np.inf),
                          np.random.default_rng(0))


def _small(kind: str):
    rng = np.random.default_rng(11)
    n = 80
    t = rng.weibull(1.2, n) * 20 + 1.0
    frame = pd.DataFrame({"t": t.round(2), "e": (rng.uniform(size=n) < 0.8).astype(int),
                          "x": rng.choice(["a", "b"], n)})
    if kind == "entry":
        frame["a"] = (t * rng.uniform(0, 0.7, n)).round(2)
        schema = CohortSchema.custom({"ep": ("t", "e")}, factors=[Factor("x", ("a", "b"))],
                                     entries={"ep": "a"})
    else:
        frame["lo"] = np.where(frame["e"] == 1, np.floor(t / 3) * 3, frame["t"])
        frame["up"] = np.where(frame["e"] == 1, np.floor(t / 3) * 3 + 3, np.nan)
        frame = frame.drop(columns=["t", "e"])
        schema = CohortSchema.custom({}, factors=[Factor("x", ("a", "b"))],
                                     intervals={"ep": ("lo", "up")})
    return load_cohort(frame, schema)


def test_late_entry_is_simulated_given_survival_to_entry():
    cohort = _small("entry")
    spec, design, _ = design_for(one_factor_spec("weibull", ["shape", "scale"]), cohort, "ep")
    _, truth = _truth(spec, design, 4)
    censor = censoring_times(design.time, design.event, np.random.default_rng(1))
    out, _ = simulate_observed(spec.family, truth, design, censor, np.random.default_rng(2))
    assert out.entry is not None and np.array_equal(out.entry, design.entry)
    assert np.all(out.time > out.entry)  # every simulated time is after its unit's entry


def test_interval_censored_designs_are_simulated_with_intervals():
    cohort = _small("interval")
    spec, design, _ = design_for(one_factor_spec("weibull", ["shape", "scale"]), cohort, "ep")
    _, truth = _truth(spec, design, 5)
    censor = censoring_times(design.time, design.event, np.random.default_rng(1))
    out, _ = simulate_observed(spec.family, truth, design, censor, np.random.default_rng(2))
    assert isinstance(out, Outcomes) and out.upper is not None
    inside = out.interval
    assert inside.sum() > 0.5 * out.event.sum()  # events are seen at the next assessment
    widths = (out.upper - out.time)[inside]
    assert np.all(widths <= 3.0 + 1e-9) and np.all(widths > 0)  # the design's spacing
    with pytest.raises(ModelDataError, match="interval-censored"):
        simulate_outcomes(spec.family, truth, design, censor, np.random.default_rng(2))

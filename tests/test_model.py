"""The model graph: well-posed at the initial point, exact names and dims, and a pointwise
log-likelihood equal to hand-computed values (censored units included)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import ROOT
from fakes import HAND_PRIORS, hand_posterior, one_factor_spec

from nen_bayes import load_cohort
from nen_bayes.bayes.design import AUTO_CENTRED_MIN_EVENTS, choose_centring, make_design
from nen_bayes.bayes.families import loglik_numpy, median_baseline, survival
from nen_bayes.bayes.inference import log_likelihood, pointwise_log_likelihood
from nen_bayes.bayes.model import build_model, level_group
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import MissingColumnError, ModelDataError, SpecError
from nen_bayes.re_nen import RE_NEN

MODELS = sorted(p.stem for p in (ROOT / "models").glob("*.toml"))


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


def with_subjects(cohort_frame: pd.DataFrame) -> pd.DataFrame:
    """Pair consecutive units of the same centre into one subject (two evaluations each)."""
    f = cohort_frame.copy()
    f["subject_id"] = [f"{c}-{i // 2}" for c, i in
                       zip(f["centre"], f.groupby("centre").cumcount(), strict=True)]
    return f


def subject_schema() -> CohortSchema:
    return CohortSchema.custom(
        {"os": ("os_months", "os_event")}, centre_column="centre",
        factors=[Factor("line"), Factor("grade"), Factor("tumour_burden"),
                 Factor("extrahepatic"), Factor("subject_id")])


@pytest.mark.parametrize("name", MODELS)
def test_logp_and_gradient_finite_at_initial_point(name, cohort, bundled_frame):
    spec = load_spec(ROOT / "models" / name)
    if name.endswith("subject"):
        schema = subject_schema()
        c = load_cohort(with_subjects(bundled_frame), schema)
    else:
        c = cohort
    design = make_design(spec, c, "os")
    model = build_model(spec, design)
    ip = model.initial_point()
    logp = model.compile_logp()(ip)
    grad = model.compile_dlogp()(ip)
    assert np.isfinite(logp) and np.all(np.isfinite(grad)) and grad.size == sum(
        np.size(v) for v in ip.values())


def test_headline_model_names_and_dims(cohort):
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    design = make_design(spec, cohort, "os")
    model = build_model(spec, design)
    assert {v.name for v in model.free_RVs} == {"beta", "shape", "scale", "sd_centre",
                                                  "z_centre"}
    assert {v.name for v in model.deterministics} == {"u_centre"}
    assert [v.name for v in model.observed_RVs] == ["time"]
    dims = model.named_vars_to_dims
    assert dims["beta"] == ("covariate",) and dims["z_centre"] == ("centre",)
    assert dims["u_centre"] == ("centre",) and dims["time"] == ("patient",)
    assert list(model.coords["covariate"]) == [
        "line[salvage]", "grade[G2]", "grade[G3]", "tumour_burden[intermediate]",
        "tumour_burden[high]", "extrahepatic[yes]"]
    assert list(model.coords["centre"]) == [f"C{i}" for i in range(1, 8)]
    assert len(model.coords["patient"]) == 297
    prior_only = build_model(spec, design, prior_only=True)
    assert prior_only.observed_RVs == []


def test_varying_and_piecewise_models_have_their_dims(cohort):
    spec = load_spec(ROOT / "models/weibull_ph_centre_line.toml")
    model = build_model(spec, make_design(spec, cohort, "os"))
    assert model.named_vars_to_dims["u_centre_varying"] == ("centre", "centre_varying")
    assert list(model.coords["centre_varying"]) == ["line[salvage]"]
    spec = load_spec(ROOT / "models/piecewise_ph_centre.toml")
    model = build_model(spec, make_design(spec, cohort, "os"))
    assert list(model.coords["interval"]) == ["[0, 6)", "[6, 12)", "[12, 24)", "[24, 36)",
                                              "[36, 60)", "[60, inf)"]
    assert model.named_vars_to_dims["log_hazard"] == ("interval",)


# Hand-computed example: two units, x = 1 for the first (HR 2), 0 for the second.
#   Weibull shape 2, scale 10: unit 1 event at t = 5: log h = log(2/10) + log(5/10) + log 2
#     = log 0.2 = -1.6094379; H = (5/10)^2 * 2 = 0.5 -> -2.1094379.
#     unit 2 censored at t = 10: H = 1 -> -1.
#   Exponential scale 10: unit 1: log h = log(2/10) = -1.6094379; H = 5 * 2 / 10 = 1
#     -> -2.6094379; unit 2: H = 10 / 10 = 1 -> -1.
#   Piecewise, cut at 4, hazards 0.1 then 0.2: unit 1 event at 5: log h = log(0.2 * 2)
#     = -0.9162907; H = (4 * 0.1 + 1 * 0.2) * 2 = 1.2 -> -2.1162907;
#     unit 2 censored at 2: H = 0.2 -> -0.2.
HAND = {
    "weibull": ({"shape": 2.0, "scale": 10.0}, [5.0, 10.0], [-2.1094379, -1.0], None),
    "exponential": ({"scale": 10.0}, [5.0, 10.0], [-2.6094379, -1.0], None),
    "piecewise": ({"log_hazard": np.log([0.1, 0.2])}, [5.0, 2.0], [-2.1162907, -0.2], [4.0]),
}
PRIORS = HAND_PRIORS


@pytest.mark.parametrize("family", list(HAND))
def test_pointwise_log_likelihood_equals_hand_computation(family):
    params, times, expected, cuts = HAND[family]
    frame = pd.DataFrame({"t": times, "e": [1, 0], "x": ["b", "a"]})
    schema = CohortSchema.custom({"ep": ("t", "e")}, id_column=None, centre_column=None,
                                 factors=[Factor("x", ("a", "b"))])
    cohort = load_cohort(frame, schema)
    need = {"weibull": ["shape", "scale"], "exponential": ["scale"],
            "piecewise": ["log_hazard"]}[family]
    spec = one_factor_spec(family, need, cuts, "hand")
    design = make_design(spec, cohort, "ep")
    model = build_model(spec, design)
    post = hand_posterior(params, math.log(2.0))
    ll = log_likelihood(model, post, design)["time"].to_numpy()[0, 0]
    np.testing.assert_allclose(ll, expected, atol=1e-6)
    assert ll.dtype == np.float32
    # the vectorised NumPy log-likelihood used by fit() gives the same hand-computed values
    ll_np = pointwise_log_likelihood(post, family, design)["time"].to_numpy()
    np.testing.assert_allclose(ll_np[0, 0], expected, atol=1e-6)
    assert ll_np.dtype == np.float32
    # the NumPy formulas used for predictive draws and summaries agree too
    np.testing.assert_allclose(
        loglik_numpy(family, times, [1, 0], np.array([math.log(2), 0.0]), params,
                     np.asarray(cuts) if cuts else None), expected, atol=1e-6)


def test_median_and_survival_closed_forms():
    # Weibull: S(median) = 1/2 with median = scale * ln2^(1/shape) (shape 1.5, scale 30)
    p = {"shape": 1.5, "scale": 30.0}
    m = median_baseline("weibull", p)
    assert m == pytest.approx(30 * math.log(2) ** (1 / 1.5))
    assert survival("weibull", m, p) == pytest.approx(0.5)
    # Piecewise: hazard 0.05 on [0, 10) then 0.1: H(10) = 0.5 < ln 2, so the median is
    # 10 + (ln 2 - 0.5) / 0.1 = 11.931472
    pw = {"log_hazard": np.log([[0.05, 0.1]])}
    assert median_baseline("piecewise", pw, np.array([10.0]))[0] == pytest.approx(11.931472)


def test_design_errors_name_column_and_levels(cohort, bundled_frame):
    spec = spec_from_dict({
        "model": {"name": "m", "family": "exponential"},
        "covariates": [{"column": "age", "type": "numeric"}],
        "priors": {"coefficient": PRIORS["coefficient"], "scale": PRIORS["scale"]}})
    with pytest.raises(MissingColumnError, match="covariate column 'age'"):
        make_design(spec, cohort, "os")
    spec = spec_from_dict({
        "model": {"name": "m", "family": "exponential"},
        "covariates": [{"column": "line", "reference": "third_line"}],
        "priors": {"coefficient": PRIORS["coefficient"], "scale": PRIORS["scale"]}})
    with pytest.raises(ModelDataError, match="reference 'third_line' of 'line' is not a level"):
        make_design(spec, cohort, "os")
    # a subject seen in two centres is not nested
    frame = with_subjects(bundled_frame)
    frame.loc[0, "subject_id"] = frame.loc[200, "subject_id"]
    schema = subject_schema()
    spec = load_spec(ROOT / "models/weibull_ph_centre_subject.toml")
    with pytest.raises(ModelDataError, match=r"declared within 'centre' .* more than one"):
        make_design(spec, load_cohort(frame, schema), "os")


def test_numeric_and_linear_coding():
    frame = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 1, 0, 1, 1, 0],
                          "age": [50.0, 60, 70, 40, 55, 65],
                          "g": ["G1", "G2", "G3", "G1", "G2", "G3"]})
    schema = CohortSchema.custom({"ep": ("t", "e")}, id_column=None, centre_column=None,
                                 factors=[Factor("g", ("G1", "G2", "G3"), ordered=True)],
                                 numerics=["age"])
    cohort = load_cohort(frame, schema)
    spec = spec_from_dict({
        "model": {"name": "m", "family": "exponential"},
        "covariates": [{"column": "age", "type": "numeric", "center": True, "scale": 10},
                       {"column": "g", "type": "ordered", "coding": "linear"}],
        "priors": {"coefficient": PRIORS["coefficient"], "scale": PRIORS["scale"]}})
    d = make_design(spec, cohort, "ep")
    assert d.coefficients == ("age", "g[step]")
    np.testing.assert_allclose(d.X[:, 0], (frame["age"] - 56.666667) / 10, atol=1e-6)
    np.testing.assert_allclose(d.X[:, 1], [0, 1, 2, 0, 1, 2])
    assert d.contrasts == ("per 10 age", "per step (G1 < G2 < G3)")


def test_linear_predictor_per_cell_equals_the_direct_sum():
    """Units sharing covariates and group levels share eta, computed once per cell and copied
    (400 units, 2 x 2 covariate patterns x 5 centres = 20 cells): the same numbers as the
    direct sum X beta + u[centre] for every unit, and the same with every unit its own cell
    (a numeric column)."""
    import xarray as xr

    from nen_bayes.bayes.predict import linear_predictor

    rng = np.random.default_rng(4)
    n, draws = 400, 30
    X = rng.integers(0, 2, (n, 2)).astype(float)
    centre = rng.integers(0, 5, n)
    beta, u = rng.normal(size=(1, draws, 2)), rng.normal(size=(1, draws, 5))
    ds = xr.Dataset({"beta": (("chain", "draw", "covariate"), beta),
                     "u_centre": (("chain", "draw", "centre"), u)})
    direct = beta[0] @ X.T + u[0][:, centre]
    got = linear_predictor(ds, X, {"centre": centre}, np.arange(draws), covariates=["a", "b"])
    np.testing.assert_allclose(got, direct, rtol=1e-14, atol=1e-14)
    X[:, 1] = rng.normal(size=n)  # every unit its own pattern
    direct = beta[0] @ X.T + u[0][:, centre]
    got = linear_predictor(ds, X, {"centre": centre}, np.arange(draws), covariates=["a", "b"])
    np.testing.assert_allclose(got, direct, rtol=1e-14, atol=1e-14)


def test_weibull_log_likelihood_of_many_draws_equals_the_formula():
    """The in-place Weibull path of loglik_draws (log scale, no power) against loglik_numpy's
    formulas (d log h - H, written out) draw by draw, events and censored units, eta varying."""
    from nen_bayes.bayes.families import loglik_draws

    rng = np.random.default_rng(6)
    t, d = rng.exponential(20.0, 50), rng.integers(0, 2, 50)
    shape, scale = rng.uniform(0.5, 2.5, 8), rng.uniform(5.0, 60.0, 8)
    eta = rng.normal(size=(8, 50))
    got = loglik_draws("weibull", t, d, eta, {"shape": shape, "scale": scale})
    for s in range(8):
        a, b = shape[s], scale[s]
        log_h = np.log(a) - np.log(b) + (a - 1) * np.log(t / b) + eta[s]
        expected = d * log_h - (t / b) ** a * np.exp(eta[s])
        np.testing.assert_allclose(got[s], expected, rtol=1e-12, atol=1e-12)



@pytest.mark.parametrize("name", ["weibull_ph_centre", "exponential_ph_centre",
                                  "piecewise_ph_centre", "weibull_ph_centre_line",
                                  "weibull_line_hr_by_time_centre",
                                  "weibull_line_shape_centre"])
def test_numpy_log_likelihood_equals_the_compiled_model(name, cohort):
    """The NumPy log-likelihood fit() stores equals PyMC's log-density of the model graph
    (an independent implementation: PyTensor's compiled logp) at 30 prior draws of every
    parameter, group effects and centre-varying slopes included."""
    import pymc as pm

    spec = load_spec(ROOT / f"models/{name}.toml")
    design = make_design(spec, cohort, "os")
    model = build_model(spec, design)
    prior_model = build_model(spec, design, prior_only=True)
    draws = pm.sample_prior_predictive(draws=30, model=prior_model, random_seed=3)["prior"]
    draws = draws.to_dataset() if hasattr(draws, "to_dataset") else draws
    expected = log_likelihood(model, draws, design)["time"].to_numpy()
    got = pointwise_log_likelihood(draws, spec.family, design)["time"].to_numpy()
    assert got.shape == expected.shape == (1, 30, design.n)
    # float32 storage: agreement to float32 rounding relative to the term's size
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_automatic_centring_counts_events_per_level():
    # rule: centred exactly when every level has >= AUTO_CENTRED_MIN_EVENTS events;
    # censored units do not count
    k = AUTO_CENTRED_MIN_EVENTS
    index = np.repeat([0, 1], [k + 50, k])
    event = np.ones(2 * k + 50, dtype=np.int8)
    assert choose_centring(index, 2, event) is True
    event[-1] = 0  # level 1 now has k - 1 events
    assert choose_centring(index, 2, event) is False
    # a level with no units at all has no events
    assert choose_centring(index, 3, np.ones_like(event)) is False


def test_headline_model_chooses_centring_from_the_data(cohort):
    """Bundled cohort: centres of 15 to 88 units, so non-centred; 7 centres of 200 units with
    every unit an event: centred. The choice is in the design, and the graph follows it."""
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    assert spec.groups[0].centered == "auto"
    design = make_design(spec, cohort, "os")
    assert design.groups[0].auto and design.groups[0].centered is False
    assert "z_centre" in build_model(spec, design).named_vars
    rng = np.random.default_rng(5)
    n = 7 * 200
    frame = pd.DataFrame({"t": rng.exponential(10, n), "e": 1,
                          "centre": np.repeat([f"C{i}" for i in range(7)], 200),
                          "x": rng.choice(["a", "b"], n)})
    schema = CohortSchema.custom({"ep": ("t", "e")}, id_column=None, centre_column="centre",
                                 factors=[Factor("x", ("a", "b"))])
    d = {"model": {"name": "auto", "family": "weibull"},
         "covariates": [{"column": "x", "reference": "a"}],
         "groups": [{"name": "centre", "centered": "auto"}],
         "priors": {k: PRIORS[k] for k in ["coefficient", "shape", "scale"]}
         | {"group_sd": {"dist": "HalfNormal", "sigma": 0.5}}}
    big = make_design(spec_from_dict(d), load_cohort(frame, schema), "ep")
    assert big.groups[0].auto and big.groups[0].centered is True
    model = build_model(spec_from_dict(d), big)
    free = {v.name for v in model.free_RVs}
    # centred around the baseline: the centres' log-hazard levels are sampled, u derived
    assert "level_centre" in free and not {"u_centre", "z_centre"} & free
    assert "u_centre" in {v.name for v in model.deterministics}
    d["groups"][0]["centered"] = "sometimes"
    with pytest.raises(SpecError, match="auto"):
        spec_from_dict(d)


def _subject_cohort(bundled_frame):
    return load_cohort(with_subjects(bundled_frame), subject_schema())


_SLOW = pytest.mark.slow


@pytest.mark.parametrize(("name", "centered"), [
    ("weibull_ph_centre_line", True), ("weibull_ph_centre_subject", False),
    pytest.param("weibull_ph_centre", False, marks=_SLOW),
    pytest.param("weibull_ph_centre", True, marks=_SLOW),
    pytest.param("piecewise_ph_centre", False, marks=_SLOW),
    pytest.param("piecewise_ph_centre", True, marks=_SLOW),
    pytest.param("weibull_ph_centre_line", False, marks=_SLOW),
    pytest.param("weibull_ph_centre_subject", True, marks=_SLOW)])
def test_numpy_prior_draws_and_log_prior_match_pymc(name, centered, cohort, bundled_frame):
    """Prior draws and log prior densities in NumPy against PyMC (an independent
    implementation: the model graph's own forward sampler and log-densities).

    Log prior: equal at 20 of PyMC's prior draws, every free parameter, centred and
    non-centred. Draws: every variable's marginal (first element) against 4000 of PyMC's
    draws by a two-sample Kolmogorov-Smirnov test; 12 variables at most per case, each at
    level 1e-4, so a false alarm has probability < 0.002 per case."""
    import dataclasses

    import pymc as pm
    from scipy import stats

    from nen_bayes.bayes.inference import log_prior, log_prior_numpy, sample_prior

    c = _subject_cohort(bundled_frame) if name.endswith("subject") else cohort
    spec = load_spec(ROOT / f"models/{name}.toml")
    spec = dataclasses.replace(spec, groups=tuple(dataclasses.replace(g, centered=centered)
                                                  for g in spec.groups))
    design = make_design(spec, c, "os")
    model = build_model(spec, design)
    prior_model = build_model(spec, design, prior_only=True)
    ref = pm.sample_prior_predictive(draws=4000, model=prior_model, random_seed=8)["prior"]
    ref = ref.to_dataset() if hasattr(ref, "to_dataset") else ref
    ours = sample_prior(spec, design, 4000, np.random.default_rng(9))
    assert set(ours.data_vars) == set(ref.data_vars)
    for v in ref.data_vars:
        assert ours[v].dims == ref[v].dims, v
        a = ours[v].to_numpy().reshape(4000, -1)[:, 0]
        b = ref[v].to_numpy().reshape(4000, -1)[:, 0]
        assert stats.ks_2samp(a, b).pvalue > 1e-4, v

    sub = ref.isel(draw=slice(0, 20))
    levelled = level_group(spec, design)
    if levelled:  # the graph samples u + the baseline's level: its log cumulative hazard at
        # the geometric mean t0 of the event times (Weibull), its mean log hazard (piecewise)
        log_t0 = np.log(design.time[design.event == 1]).mean()
        level = (sub["shape"] * (log_t0 - np.log(sub["scale"])) if spec.family == "weibull"
                 else sub["log_hazard"].mean("interval"))
        expected = log_prior(model, xr.DataTree.from_dict({"posterior": sub.assign(
            {f"level_{levelled}": sub[f"u_{levelled}"] + level})}))
        # Normal(level; baseline, sd) is Normal(u; 0, sd): the same prior density
        expected = expected.rename({f"level_{levelled}": f"u_{levelled}"})
    else:
        expected = log_prior(model, xr.DataTree.from_dict({"posterior": sub}))
    got = log_prior_numpy(spec, design, sub)
    assert set(got.data_vars) == set(expected.data_vars)
    for v in expected.data_vars:
        np.testing.assert_allclose(got[v].to_numpy(), expected[v].to_numpy(), rtol=1e-6,
                                   atol=1e-6, err_msg=v)


@pytest.mark.slow
def test_prior_log_densities_and_draws_follow_pymc_parameterisation():
    """Every allowed prior: the NumPy log density equals PyMC's at three points, and 4000
    NumPy draws pass a two-sample KS test (level 1e-4) against 4000 of PyMC's."""
    import pymc as pm
    from scipy import stats

    from nen_bayes.bayes.priors import DISTRIBUTIONS, Prior

    vals = {"nu": 4.0, "mu": 0.3, "sigma": 0.7, "alpha": 2.0, "beta": 1.5, "b": 0.8,
            "s": 0.6, "lam": 1.3}
    x = np.array([0.2, 0.9, 2.5])
    rng = np.random.default_rng(12)
    for dist, (names, _) in DISTRIBUTIONS.items():
        prior = Prior(dist, {n: vals[n] for n in names})
        np.testing.assert_allclose(prior.logpdf(x), pm.logp(prior.dist_object(), x).eval(),
                                   rtol=1e-6, err_msg=dist)
        ref = pm.draw(prior.dist_object(), draws=4000, random_seed=13)
        assert stats.ks_2samp(prior.draw((4000,), rng), ref).pvalue > 1e-4, dist

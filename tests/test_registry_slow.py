"""The registry's slow tier: for every family and every outcome kind, simulation-based
calibration (the studies simulate the model they fit) ranks every parameter uniformly, and
leave-one-centre-out cross-validation scores an interval-censored endpoint on the scale of the
same model's PSIS-LOO.

SBC (Talts et al. 2018): with the exact posterior, the rank of a prior draw among posterior
draws of data simulated from it is uniform, whatever the design. Each case runs 50
replications; a case fails only when some parameter's ranks are non-uniform at a family-wise
level of 0.001 (Holm over the parameters), so a calibrated model fails with probability at
most 0.001 on any machine, while a simulator that ignores a parameter (ranks at the extremes,
p-values below 1e-10 at this size) fails surely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nen_bayes import load_cohort
from nen_bayes.bayes import families
from nen_bayes.bayes.spec import load_spec, spec_from_dict
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.posterior.crossval import centre_cv
from nen_bayes.re_nen import RE_NEN
from nen_bayes.settings import Sampling
from nen_bayes.studies.sbc import LOG_LIKELIHOOD, SBCStudy, uniformity_tests

pytestmark = pytest.mark.slow

REPS, L = 50, 39
SAMPLING = Sampling(draws=200, tune=300, chains=2, cores=1)
#: Priors of the baseline parameters (times of about 1 to 60): each family's by name, and a
#: real per-time shape (the Gompertz log-hazard slope) near 0.
PRIORS = {"coefficient": {"dist": "Normal", "mu": 0, "sigma": 1},
          "shape": {"dist": "LogNormal", "mu": 0, "sigma": 0.5},
          "scale": {"dist": "LogNormal", "mu": 3, "sigma": 1},
          "sigma": {"dist": "LogNormal", "mu": 0, "sigma": 0.5},
          "rate": {"dist": "LogNormal", "mu": -3, "sigma": 1},
          "Q": {"dist": "Normal", "mu": 0, "sigma": 1},
          "log_hazard": {"dist": "Normal", "mu": -3, "sigma": 1.5}}


def _spec(family: str):
    fam = families.get_family(family)
    d = {"model": {"name": f"{family}_sbc", "family": family},
         "covariates": [{"column": "x", "reference": "a"}],
         "priors": {"coefficient": PRIORS["coefficient"]}}
    for par in fam.parameters:
        d["priors"][par.name] = (PRIORS[par.name] if par.time != "per_time" else
                                 {"dist": "Normal", "mu": 0.0, "sigma": 0.03})
    if fam.needs_cuts:
        d["baseline"] = {"cuts": [8.0, 20.0]}
    return spec_from_dict(d)


def _cohort(kind: str):
    rng = np.random.default_rng([3, len(kind)])
    n = 70
    t = rng.weibull(1.2, n) * 20 + 1.0
    frame = pd.DataFrame({"t": t.round(2), "e": (rng.uniform(size=n) < 0.75).astype(int),
                          "x": rng.choice(["a", "b"], n)})
    factors = [Factor("x", ("a", "b"))]
    if kind == "entry":
        frame["a"] = (t * rng.uniform(0, 0.7, n) * (rng.uniform(size=n) < 0.6)).round(2)
        return load_cohort(frame, CohortSchema.custom({"ep": ("t", "e")}, factors=factors,
                                                      entries={"ep": "a"}))
    if kind == "interval":
        lo = np.floor(t / 4) * 4
        frame["lo"] = np.where(frame["e"] == 1, lo, frame["t"])
        frame["up"] = np.where(frame["e"] == 1, lo + 4, np.nan)
        frame = frame.drop(columns=["t", "e"])
        return load_cohort(frame, CohortSchema.custom({}, factors=factors,
                                                      intervals={"ep": ("lo", "up")}))
    return load_cohort(frame, CohortSchema.custom({"ep": ("t", "e")}, factors=factors))


def _sbc(study: SBCStudy) -> pd.DataFrame:
    """Every task of ``study`` run in this process on one compiled model; the uniformity
    tests of its ranks."""
    fitter = study.make_fitter(study.model_key({}))
    rows = pd.DataFrame([study.run_task(t, fitter) for t in study.plan()])
    names = [*study.parameters, LOG_LIKELIHOOD]  # and the data-dependent quantity
    ranks = rows[[f"rank[{n}]" for n in names]].set_axis(names, axis=1)
    assert (rows["divergences"] <= 0.02 * SAMPLING.draws * SAMPLING.chains).all()
    return uniformity_tests(ranks, L, bins=5, alpha=0.001, seed=study.seed)


@pytest.mark.parametrize("kind", ["exact", "interval", "entry"])
@pytest.mark.parametrize("family", list(families.REGISTRY))
def test_sbc_ranks_every_parameter_of_every_family_uniformly(family, kind):
    spec = _spec(family)
    study = SBCStudy(spec, _cohort(kind), REPS, seed=11, sampling=SAMPLING, endpoint="ep",
                     n_draws=L, bins=5, alpha=0.001)
    tests = _sbc(study)
    assert set(tests["parameter"]) == {*study.parameters, LOG_LIKELIHOOD}
    assert tests["passed"].all(), tests.to_string()


def test_sbc_of_the_time_varying_model_ranks_its_hr_changes():
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    study = SBCStudy(load_spec("weibull_line_hr_by_time_centre"), cohort, REPS, seed=5,
                     sampling=SAMPLING, n_draws=L, bins=5, alpha=0.001)
    assert [p for p in study.parameters if p.startswith("hr_change[")] == [
        "hr_change[line[salvage]|[12, 36)]", "hr_change[line[salvage]|[36, inf)]"]
    tests = _sbc(study)
    assert tests["passed"].all(), tests.to_string()


def test_centre_cv_of_an_interval_censored_endpoint_is_on_the_psis_loo_scale():
    """The bundled PFS (interval-censored progression): every fold finite, and the sum of the
    centres' joint log predictive densities within 5% of the same model's PSIS-LOO elpd (on
    this cohort -772.7 and -769.8: the units of a centre are nearly independent given the
    between-centre SD)."""
    import arviz_stats as azs

    from nen_bayes.bayes.inference import fit

    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec("weibull_ph_centre")
    cv = centre_cv(spec, cohort, endpoint="pfs", draws=300, tune=300, chains=2, seed=3)
    assert np.isfinite(cv.table["elpd"]).all() and len(cv.table) == 7
    loo = azs.loo(fit(spec, cohort, endpoint="pfs", draws=300, tune=300, chains=2, seed=3,
                      progressbar=False).tree)
    assert cv.elpd == pytest.approx(loo.elpd, rel=0.05)
    assert (cv.table["mcse"] < 0.5).all()


#: A truth per family (times of about 1 to 60) for the recovery test.
TRUTH = {"weibull": {"shape": 1.3, "scale": 20.0}, "weibull_aft": {"shape": 1.3, "scale": 20.0},
         "exponential": {"scale": 20.0}, "lognormal": {"scale": 15.0, "sigma": 0.9},
         "loglogistic": {"shape": 1.8, "scale": 15.0},
         "gompertz": {"rate": 0.03, "shape": 0.02},
         "piecewise": {"log_hazard": np.log([0.06, 0.04, 0.05])},
         "gengamma": {"scale": 15.0, "sigma": 0.8, "Q": 0.5}}


def test_every_registered_family_has_a_truth():
    assert set(TRUTH) == set(families.REGISTRY)


@pytest.mark.parametrize("family", list(families.REGISTRY))
def test_simulate_then_fit_recovers_the_truth(family):
    """1,500 units simulated from a known parameter set with the studies' simulator (log HR
    or log TR 0.5 for level b, administrative censoring at 60), fitted with the family's own
    model: every parameter within 4 posterior SDs of its truth (a correct fit fails with
    probability below 1e-3 over the parameters), and the log effect's posterior SD below 0.1
    (the data inform it)."""
    from nen_bayes.bayes.refit import Refitter
    from nen_bayes.studies.simulation import design_for, parameter_draws, simulate_outcomes

    rng = np.random.default_rng([17, len(family)])
    n = 1500
    frame = pd.DataFrame({"t": rng.uniform(1.0, 59.0, n).round(2), "e": 1,
                          "x": rng.choice(["a", "b"], n)})  # the design's times: replaced
    cohort = load_cohort(frame, CohortSchema.custom({"ep": ("t", "e")},
                                                    factors=[Factor("x", ("a", "b"))]))
    spec, design, _ = design_for(_spec(family), cohort, "ep")
    truth = {"beta": np.array([0.5]), **TRUTH[family]}
    time, event, _ = simulate_outcomes(family, truth, design, np.full(n, 60.0), rng)
    tree = Refitter(spec, design, sampling=SAMPLING).fit(time, event, seed=3)
    post = tree["posterior"].dataset
    names = [f"beta[{design.coefficients[0]}]",
             *families.get_family(family).parameter_labels(design.cuts)]
    draws = parameter_draws(post, names)
    values = {names[0]: 0.5}
    for label in names[1:]:
        var, _, k = label.partition("[")
        values[label] = (float(np.asarray(TRUTH[family][var])[int(k[:-1])]) if k
                         else float(TRUTH[family][var]))
    for name, d in draws.items():
        assert abs(d.mean() - values[name]) < 4 * d.std(), (name, d.mean(), d.std())
    assert draws[names[0]].std() < 0.1

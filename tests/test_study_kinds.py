"""The statistics of the simulation studies, fast: seeded plans, ranks checked on a conjugate
normal model whose posterior is known exactly (so its ranks are exactly uniform; Talts et al.
2018), the uniformity tests' size and power on samples of known distribution, the design's
censoring, and one replication of each kind returning one flat row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT, shipped_model
from nen_bayes.re_nen import LINE_CONTRAST, RE_NEN
from nen_bayes.settings import Sampling
from nen_bayes.studies.assurance import AssuranceStudy
from nen_bayes.studies.operating import OperatingStudy, summarise_cells
from nen_bayes.studies.sbc import (
    SBCStudy,
    chi2_pvalue,
    ecdf_pvalue,
    fractional_ranks,
    rank_of,
    thin,
    uniformity_tests,
)
from nen_bayes.studies.simulation import censoring_times, simulate_outcomes, task_seed

TINY = Sampling(draws=60, tune=60, chains=2, cores=1)


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


@pytest.fixture(scope="module")
def spec():
    return load_spec(shipped_model("weibull_ph_centre"))


def _flat(row: dict) -> bool:
    return all(isinstance(v, int | float | str | np.integer | np.floating) for v in row.values())


def _upper(n: int, p: float, z: float = 3.5) -> float:
    """Largest rate of n Bernoulli(p) trials not an alarm: p + z binomial SEs."""
    return p + z * np.sqrt(p * (1 - p) / n)


# -- plans --------------------------------------------------------------------------------


def test_plans_are_reproducible_from_the_seed_and_task_index(spec, cohort):
    a = SBCStudy(spec, cohort, reps=5, seed=11, sampling=TINY, n_draws=49).plan()
    b = SBCStudy(spec, cohort, reps=3, seed=11, sampling=TINY, n_draws=49).plan()
    c = SBCStudy(spec, cohort, reps=5, seed=12, sampling=TINY, n_draws=49).plan()
    assert a[:3] == b  # a task's seed does not depend on how many tasks the study has
    assert [t["seed"] for t in a] != [t["seed"] for t in c]
    assert len({t["seed"] for t in a}) == 5
    assert a[4]["seed"] == int(np.random.SeedSequence([11, 4]).generate_state(1)[0])
    oc = OperatingStudy(spec, cohort, reps=2, seed=3, contrast=LINE_CONTRAST, hrs=(0.7, 1.0),
                        sds=(0.0, 0.5), sampling=TINY)
    p = oc.plan()
    assert len(p) == 8 and p == oc.plan()
    assert {(t["true_hr"], t["true_sd"]) for t in p} == {(h, s) for h in (0.7, 1.0)
                                                          for s in (0.0, 0.5)}


# -- ranks on a model whose posterior is exact --------------------------------------------


def _conjugate_ranks(n_reps: int, n_draws: int, rng, posterior_sd_factor: float = 1.0):
    """theta ~ N(0, 1), y_1..5 ~ N(theta, 1): the posterior is N(sum y / 6, 1/6) exactly.
    The ranks of theta among posterior draws (two AR(1) chains of that posterior, rho 0.5,
    autocorrelated like MCMC, thinned to n_draws) are uniform on 0..n_draws; a factor != 1 on
    the posterior SD makes them non-uniform."""
    theta = rng.normal(size=n_reps)
    y = rng.normal(theta[:, None], 1.0, (n_reps, 5))
    mean, sd = y.sum(axis=1) / 6, np.sqrt(1 / 6) * posterior_sd_factor
    x = np.empty((n_reps, 2, 300))
    x[:, :, 0] = rng.normal(size=(n_reps, 2))
    for t in range(1, 300):  # stationary AR(1) with N(0, 1) margins
        x[:, :, t] = 0.5 * x[:, :, t - 1] + np.sqrt(0.75) * rng.normal(size=(n_reps, 2))
    chains = mean[:, None, None] + sd * x
    return np.array([rank_of(theta[i], thin(chains[i], n_draws), rng) for i in range(n_reps)])


def test_ranks_of_an_exact_posterior_are_uniform_and_a_too_narrow_one_is_caught():
    rng = np.random.default_rng(2018)
    ranks = _conjugate_ranks(400, 49, rng)
    assert ranks.min() >= 0 and ranks.max() <= 49
    # every bin's count of uniform ranks is Binomial(400, 1/10): 10 bins at 0.001 each
    counts = np.histogram(ranks, bins=np.arange(0, 51, 5))[0]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 400, 0.1)
    assert np.all((counts >= lo) & (counts <= hi)), counts
    assert chi2_pvalue(ranks, 49, 10)[1] > 0.001
    narrow = _conjugate_ranks(200, 49, rng, posterior_sd_factor=0.5)
    assert chi2_pvalue(narrow, 49, 10)[1] < 1e-4  # truth too often in the tails: U-shape


def test_thin_takes_evenly_spaced_draws_from_every_chain():
    draws = np.arange(20).reshape(2, 10)
    assert thin(draws, 4).tolist() == [0, 9, 10, 19]
    assert len(thin(draws, 5)) == 5
    with pytest.raises(ValueError, match="fewer than"):
        thin(draws, 21)


# -- the uniformity test: size and power --------------------------------------------------


def test_uniformity_test_rejects_at_most_its_level_when_ranks_are_uniform():
    rng = np.random.default_rng(7)
    n_sim, alpha = 300, 0.05
    ranks = pd.DataFrame(rng.integers(0, 50, (100, n_sim)))
    rejected = ~uniformity_tests(ranks, 49, alpha=alpha)["p"].ge(alpha)
    # the parameter's p-value is twice the smaller of two valid tests: its size is at most
    # alpha, so the rejection rate must not exceed alpha by more than its binomial error
    assert np.mean(rejected) <= _upper(n_sim, alpha)
    # the ECDF test alone is exact (simulated null): its rate is alpha within binomial error
    rate = np.mean([ecdf_pvalue(rng.uniform(size=100)) < alpha for _ in range(n_sim)])
    assert abs(rate - alpha) <= 3.5 * np.sqrt(alpha * (1 - alpha) / n_sim)


def test_uniformity_test_rejects_non_uniform_ranks_and_names_the_parameter():
    rng = np.random.default_rng(8)
    uniform = rng.integers(0, 50, (100, 15))
    skewed = np.floor(50 * rng.beta(1.0, 1.6, 100)).astype(int)  # too many low ranks
    frame = pd.DataFrame(uniform, columns=[f"p{i}" for i in range(15)]).assign(bad=skewed)
    t = uniformity_tests(frame, 49)
    assert not t.set_index("parameter").loc["bad", "passed"]
    assert t["passed"].sum() >= 14  # Holm keeps the family-wise error of the uniform ones low


def test_fractional_ranks_of_uniform_ranks_are_uniform():
    rng = np.random.default_rng(9)
    u = fractional_ranks(rng.integers(0, 50, 4000), 49, rng)
    assert stats.kstest(u, "uniform").pvalue > 0.001


# -- simulation ---------------------------------------------------------------------------


def test_censoring_keeps_censored_times_and_draws_beyond_each_event():
    rng = np.random.default_rng(3)
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    event = np.array([1, 0, 1, 0, 1, 0])
    c = censoring_times(time, event, rng)
    assert np.array_equal(c[event == 0], time[event == 0])
    assert np.all(c[event == 1] > time[event == 1])
    assert set(c[event == 1]) <= {2.0, 4.0, 6.0}


def test_simulated_weibull_times_follow_the_closed_form(cohort, spec):
    """Uncensored times of one parameter set: the fraction of units dying before each unit's
    own true median is Binomial(n, 1/2)."""
    st = SBCStudy(spec, cohort, reps=1, seed=1, sampling=TINY, n_draws=49)
    _, design, _ = st._design
    rng = np.random.default_rng(4)
    values = {"beta": rng.normal(0, 0.3, design.X.shape[1]), "shape": 1.3, "scale": 40.0,
              "u_centre": rng.normal(0, 0.3, 7)}
    hits = []
    for _ in range(20):
        t, e, _ = simulate_outcomes("weibull", values, design, np.full(design.n, np.inf), rng)
        eta = design.X @ values["beta"] + values["u_centre"][design.groups[0].index]
        median = 40.0 * (np.log(2) * np.exp(-eta)) ** (1 / 1.3)
        hits.append(t < median)
        assert e.all()
    n = np.size(hits)
    assert abs(np.mean(hits) - 0.5) < 4 * np.sqrt(0.25 / n)


def test_task_seed_is_seed_sequence_of_study_seed_and_index():
    assert task_seed(5, 2) == int(np.random.SeedSequence([5, 2]).generate_state(1)[0])


# -- one replication of each kind ---------------------------------------------------------


def test_sbc_run_task_on_one_tiny_fit_returns_one_flat_row(spec, cohort):
    st = SBCStudy(spec, cohort, reps=1, seed=5, sampling=TINY, n_draws=49)
    (task,) = st.plan()
    row = st.run_task(task, st.make_fitter(st.model_key(task)))
    assert _flat(row)
    names = st.parameters
    assert len(names) == 6 + 2 + 1 + 7  # coefficients, shape and scale, sd_centre, 7 centres
    assert all(0 <= row[f"rank[{n}]"] <= 49 for n in names)
    res = st.summarise(pd.DataFrame([{**row, "task": 0, "status": "ok"},
                                     {"task": 1, "status": "failed", "error": "boom"}]))
    assert "1 replication(s) failed" in res.to_text()


class _KnownPosterior:
    """A fitter whose posterior is fixed draws of the line coefficient (the other parameters
    0): what the kinds' rows make of a posterior whose summaries are known."""

    def __init__(self, beta_line: np.ndarray, n_cov: int):
        self.draws = beta_line
        self.n_cov = n_cov

    def fit(self, time, event, *, seed, sampling):
        beta = np.zeros((1, len(self.draws), self.n_cov))
        beta[0, :, 0] = self.draws
        post = xr.Dataset({"beta": (("chain", "draw", "covariate"), beta)})
        stats_ = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((1, len(self.draws))))})
        return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats_})


def test_operating_row_and_cell_rates_from_a_known_posterior(spec, cohort):
    oc = OperatingStudy(spec, cohort, reps=1, seed=2, contrast=LINE_CONTRAST, hrs=(1.0,),
                        sds=(0.2,), sampling=TINY)
    # beta[line[salvage]] draws N(0.5, 0.2): HR(second line vs salvage) = exp(-beta) < 1
    # with probability Phi(0.5 / 0.2) = 0.9938
    draws = np.random.default_rng(1).normal(0.5, 0.2, 4000)
    row = oc.run_task(oc.plan()[0], _KnownPosterior(draws, 6))
    assert _flat(row)
    assert abs(row["p_hr_below_1"] - stats.norm.cdf(2.5)) < 4 * np.sqrt(0.0062 / 4000)
    assert row["decision"] == 1 and row["covered_95"] == 0  # true HR 1 is outside
    cells = summarise_cells(pd.DataFrame([row, {**row, "decision": 0}]))
    assert cells.loc[0, "decision_rate"] == 0.5
    assert cells.loc[0, "decision_rate_se"] == pytest.approx(np.sqrt(0.25 / 2))


def test_assurance_row_from_a_known_posterior(spec, cohort):
    post = xr.Dataset({"beta": (("chain", "draw", "covariate"), np.zeros((1, 10, 6))),
                       "shape": (("chain", "draw"), np.ones((1, 10))),
                       "scale": (("chain", "draw"), np.full((1, 10), 30.0)),
                       "sd_centre": (("chain", "draw"), np.full((1, 10), 0.3))})
    a = AssuranceStudy(spec, cohort, post, reps=1, seed=3, contrast=LINE_CONTRAST, ns=(70,),
                       centres=5, sampling=TINY)
    task = a.plan()[0]
    assert a.model_key(task)[-2:] == (70, 5)  # after the hash of its design
    row = a.run_task(task, _KnownPosterior(np.full(100, -0.3), 6))
    assert _flat(row) and row["n_units"] == 70 and row["true_hr"] == 1.0
    assert row["p_hr_below_1"] == 0.0 and row["decision"] == 0
    # accrual 36 + follow-up 24: nobody is followed beyond 60 months
    cohort_n = a._new_study(70)[0]
    assert cohort_n.data["centre"].nunique() == 5


def test_study_figures_draw_into_given_axes_and_mark_failing_parameters():
    from matplotlib.figure import Figure

    from nen_bayes.plotting import plot_assurance, plot_operating, plot_sbc_ecdf, plot_sbc_ranks
    from nen_bayes.studies.assurance import AssuranceResult
    from nen_bayes.studies.operating import OperatingResult
    from nen_bayes.studies.sbc import SBCResult, ecdf_bands

    rng = np.random.default_rng(1)
    ranks = pd.DataFrame({"a": rng.integers(0, 50, 100), "b": np.zeros(100, int)})
    tests = uniformity_tests(ranks, 49)
    bands = {n: ecdf_bands(fractional_ranks(ranks[n], 49, rng)) for n in ranks}
    res = SBCResult(model="m", table=tests, ranks=ranks, n_draws=49, bins=10, alpha=0.05,
                    bands=bands, verdict="", synthetic=True)
    fig = plot_sbc_ranks(res)
    assert [ax.title.get_color() for ax in fig.axes[:2]] == ["black", "red"]
    own = Figure().subplots(1, 2)
    assert plot_sbc_ecdf(res, ax=own) is own[0].figure
    cells = pd.DataFrame({"true_hr": [0.8, 1.0], "true_sd": [0.2, 0.2]})
    for c in ("decision_rate", "logrank_one_sided_rate"):
        cells[c], cells[c + "_se"] = [0.5, 0.05], [0.05, 0.02]
    oc = OperatingResult(model="m", contrast="c", threshold=0.95, table=cells, verdict="")
    ax = Figure().subplots()
    assert plot_operating(oc, ax=ax) is ax.figure and len(ax.lines) >= 2
    t = pd.DataFrame({"n_units": [100, 200], "n_centres": [7, 7]})
    for c in ("assurance", "logrank_one_sided_power"):
        t[c], t[c + "_se"] = [0.3, 0.5], [0.05, 0.05]
    a = AssuranceResult(model="m", contrast="c", threshold=0.95, table=t, verdict="")
    assert plot_assurance(a).axes

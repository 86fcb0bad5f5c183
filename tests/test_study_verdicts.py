"""What the studies' summaries may say (nen_bayes/studies/sbc.py, operating.py, assurance.py):

- SBC: the power of its test against a posterior shifted by 0.5 SD, checked against ranks of
  simulated normal posteriors; no verdict below 50 replications; a verdict worded with its
  power; R-hat and divergences stated, and the fits failing them shown apart.
- Rates with exact Clopper-Pearson intervals (checked against the binomial tails that define
  them and the closed form at 0 successes), never "± 0.000".
- The adjusted, centre-stratified Cox comparator equals the package's Cox model (validated
  against R's coxph) on the cohort, and its one-sided test looks in the direction of benefit;
  assurance's frequentist power is one-sided in that direction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT, shipped_model
from nen_bayes.frequentist.cox import Term, cox_fit
from nen_bayes.re_nen import LINE_CONTRAST, RE_NEN
from nen_bayes.settings import Sampling
from nen_bayes.studies.assurance import AssuranceStudy
from nen_bayes.studies.operating import (
    OperatingResult,
    OperatingStudy,
    clopper_pearson,
    cox_row,
    summarise_cells,
)
from nen_bayes.studies.sbc import MIN_REPS, SBCStudy, chi2_pvalue, shift_power
from nen_bayes.studies.simulation import contrast_column, design_for

TINY = Sampling(draws=60, tune=60, chains=2, cores=1)
Z = 3.5  # binomial-error multiple of every rate check


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


@pytest.fixture(scope="module")
def spec():
    return load_spec(shipped_model("weibull_ph_centre"))


# -- SBC: power and verdicts ----------------------------------------------------------------

def test_the_power_against_a_shifted_posterior_matches_ranks_of_shifted_normal_draws():
    """Truth Z ~ N(0, 1) in its exact posterior N(0, 1); the fit's L draws from N(0.5, 1): the
    rank is the count of draws below Z. The chi-square test's rejection rate over simulated
    studies must equal shift_power's within both Monte Carlo errors."""
    rng = np.random.default_rng(32)
    n_reps, n_draws, bins, level, sims = 50, 19, 4, 0.05, 1500
    z = rng.standard_normal((sims, n_reps))
    draws = rng.normal(0.5, 1.0, (sims, n_reps, n_draws))
    ranks = (draws < z[:, :, None]).sum(axis=2)
    rate = np.mean([chi2_pvalue(r, n_draws, bins)[1] < level for r in ranks])
    power = shift_power(n_reps, n_draws, bins, level)
    se = np.sqrt(rate * (1 - rate) / sims + power * (1 - power) / 4000)
    assert abs(power - rate) <= Z * se, (power, rate)
    assert 0.2 < power < 0.95  # the comparison is not between two certainties
    assert shift_power(200, n_draws, bins, level) > power > shift_power(10, n_draws, bins, level)


def _sbc_table(n: int, rng, *, rhat=None, div=None) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append({"task": i, "status": "ok", "error": "", "n_events": 60,
                     "rank[a]": int(rng.integers(0, 20)), "rank[b]": int(rng.integers(0, 20)),
                     "max_rhat": 1.001 if rhat is None else rhat(i),
                     "divergences": 0 if div is None else div(i), "min_ess_bulk": 300.0})
    return pd.DataFrame(rows)


def test_no_sbc_verdict_below_the_minimum_and_one_worded_with_its_power_above(spec, cohort):
    rng = np.random.default_rng(5)
    st = SBCStudy(spec, cohort, reps=60, seed=1, sampling=TINY, n_draws=19, bins=4)
    few = st.summarise(_sbc_table(MIN_REPS - 1, rng))
    assert few.verdict.startswith(f"No verdict: {MIN_REPS - 1} replications are fewer than "
                                  f"the {MIN_REPS}")
    assert "calibrated" not in few.verdict.lower()
    res = st.summarise(_sbc_table(80, rng))
    assert res.table["passed"].all()
    assert res.verdict.startswith("No evidence of miscalibration at 80 replications")
    # the power stated is the chi-square test's at alpha / (2 x 2 parameters), by 80 ranks
    assert res.power == pytest.approx(shift_power(80, 19, 4, 0.05 / 4, seed=1))
    assert f"probability at least {res.power:.2f}" in res.verdict
    text = res.to_text()
    assert "R-hat: at most 1.001 over the 80 fits" in text and "0 fit(s) above 1.01" in text
    assert "Divergent transitions: 0 in 0 of the 80 fits." in text
    assert "Fits failing the diagnostics" not in text


def test_a_rejection_below_the_minimum_is_reported_but_calibration_is_not(spec, cohort):
    rng = np.random.default_rng(8)
    st = SBCStudy(spec, cohort, reps=60, seed=1, sampling=TINY, n_draws=19, bins=4)
    t = _sbc_table(30, rng).assign(**{"rank[b]": 0})  # the truth below every draw: a bias
    res = st.summarise(t)
    assert res.failing == ["b"]
    assert res.verdict.startswith("NOT calibrated: the ranks of 1 of 2 parameters")
    assert f"too few (under {MIN_REPS}) to say the other parameters are calibrated" in \
        res.verdict


def test_sbc_fits_failing_r_hat_or_with_divergences_are_shown_apart(spec, cohort):
    rng = np.random.default_rng(6)
    st = SBCStudy(spec, cohort, reps=60, seed=1, sampling=TINY, n_draws=19, bins=4)
    t = _sbc_table(60, rng, rhat=lambda i: 1.05 if i in (3, 7) else 1.002,
                   div=lambda i: 4 if i == 9 else 0)
    res = st.summarise(t)
    assert list(res.diagnostics["task"]) == [3, 7, 9]
    assert "3 of 60 fits failed R-hat <= 1.01 or had divergent transitions" in res.verdict
    text = res.to_text()
    assert "R-hat: at most 1.050 over the 60 fits" in text and "2 fit(s) above 1.01" in text
    assert "Divergent transitions: 4 in 1 of the 60 fits." in text
    apart = text.split("Fits failing the diagnostics")[1]
    assert [int(line.split()[0]) for line in apart.splitlines()[2:5]] == [3, 7, 9]


def test_sbc_notes_low_ess_against_the_ranks_draws(spec, cohort):
    rng = np.random.default_rng(7)
    st = SBCStudy(spec, cohort, reps=60, seed=1, sampling=TINY, n_draws=19, bins=4)
    t = _sbc_table(60, rng).assign(min_ess_bulk=[12.0] + [300.0] * 59)
    assert "1 fit(s) had a bulk ESS below L = 19 (smallest 12)" in " ".join(
        st.summarise(t).notes).replace("for some parameter ", "")


# -- rates --------------------------------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 10), (0, 124), (5, 100), (37, 40), (40, 40)])
def test_clopper_pearson_is_where_the_binomial_tails_are_2_5_percent(k, n):
    lo, hi = clopper_pearson(k, n)
    if k == 0:
        assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    else:
        assert stats.binom.sf(k - 1, n, lo) == pytest.approx(0.025, rel=1e-6)
    if k == n:
        assert hi == 1 and lo == pytest.approx(0.025 ** (1 / n), rel=1e-9)
    else:
        assert stats.binom.cdf(k, n, hi) == pytest.approx(0.025, rel=1e-6)


def test_a_rate_of_zero_has_an_interval_not_a_zero_error():
    ok = pd.DataFrame({"true_hr": 1.0, "true_sd": 0.2, "decision": np.zeros(124, int),
                       "covered_90": 1, "covered_95": 1, "logrank_reject": 0,
                       "logrank_reject_one_sided": 0, "cox_reject": 0,
                       "cox_reject_one_sided": 0, "log_hr_error": np.linspace(-0.1, 0.1, 124)})
    cells = summarise_cells(ok)
    assert cells.loc[0, "decision_rate_hi"] == pytest.approx(1 - 0.025 ** (1 / 124))
    res = OperatingResult(model="m", contrast="c", threshold=0.95, table=cells, verdict="")
    text = res.to_text()
    assert "0.000 (0.000-0.029)" in text and "± 0.000" not in text
    assert "Cox 1-sided" in text and "log-rank 1-sided" in text


# -- the Cox comparator and one-sided power -------------------------------------------------

def test_the_stratified_adjusted_cox_equals_the_package_cox_on_the_cohort(spec, cohort):
    _, design, _ = design_for(spec, cohort)
    j, sign = contrast_column(design, LINE_CONTRAST)
    centres = cohort.data["centre"].to_numpy()
    row = cox_row(design.time, design.event, design.X, centres, j, sign)
    terms = []
    for term in dict.fromkeys(design.terms):
        levels = [c[len(term) + 1:-1] for c in design.coefficients if c.startswith(term + "[")]
        ref = [lv for lv in map(str, cohort.data[term].astype(str).unique())
               if lv not in levels]
        terms.append(Term(term, levels=(ref[0], *levels), reference=ref[0]))
    ref = cox_fit(cohort.data, "os_months", "os_event", terms, strata="centre", zph=False)
    coef = ref.table.set_index("column").loc[design.coefficients[j].replace("[", "=")
                                             .rstrip("]")]
    assert row["cox_hr"] == pytest.approx(np.exp(sign * coef["coef"]), rel=1e-5)
    assert row["cox_p"] == pytest.approx(coef["p"], rel=1e-4)
    # one-sided in favour of the level: z = sign x coef / se below -1.645
    assert row["cox_reject_one_sided"] == int(sign * coef["coef"] / coef["se"] < -1.6449)


def test_the_one_sided_cox_test_looks_in_the_direction_of_benefit():
    rng = np.random.default_rng(11)
    n = 400
    x = (np.arange(n) % 2).astype(float)[:, None]
    strata = (np.arange(n) // 2) % 4  # both values of x in every stratum
    t = rng.exponential(1 / (0.1 * np.exp(np.log(0.5) * x[:, 0])))  # HR 0.5 for x = 1
    c = rng.exponential(20.0, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    benefit = cox_row(time, event, x, strata, 0, 1)
    assert benefit["cox_reject_one_sided"] == 1 and benefit["cox_reject"] == 1
    assert abs(np.log(benefit["cox_hr"]) - np.log(0.5)) < 4 * np.sqrt(4 / event.sum())
    harm = cox_row(time, event, x, strata, 0, -1)  # the contrast the other way round: HR 2
    assert harm["cox_reject"] == 1 and harm["cox_reject_one_sided"] == 0
    aliased = cox_row(time, event, x, np.arange(n) % 2, 0, 1)  # x constant within strata
    assert np.isnan(aliased["cox_p"]) and aliased["cox_reject"] == 0
    assert aliased["cox_warning"] == 1


def test_assurance_power_counts_rejections_in_the_direction_of_benefit_only(spec, cohort):
    post = xr.Dataset({"beta": (("chain", "draw", "covariate"), np.zeros((1, 10, 6))),
                       "shape": (("chain", "draw"), np.ones((1, 10))),
                       "scale": (("chain", "draw"), np.full((1, 10), 30.0))})
    a = AssuranceStudy(spec, cohort, post, reps=20, seed=3, contrast=LINE_CONTRAST, ns=(70,),
                       centres=5, sampling=TINY)
    # every study rejects two-sided, all of them in the wrong direction (the level worse)
    rows = pd.DataFrame({"task": range(20), "status": "ok", "n_units": 70, "n_centres": 5,
                         "n_events": 40, "decision": 0, "logrank_reject": 1,
                         "logrank_reject_one_sided": 0, "cox_reject": 1,
                         "cox_reject_one_sided": 0})
    res = a.summarise(rows)
    r = res.table.iloc[0]
    assert r["logrank_one_sided_power"] == 0 and r["cox_one_sided_power"] == 0
    assert r["cox_one_sided_power_hi"] == pytest.approx(1 - 0.025 ** (1 / 20))
    assert "logrank_power" not in res.table  # no two-sided 'power'
    assert "one-sided power Cox 0.00 (0.00-0.17)" in res.verdict


def test_operating_rows_carry_the_cox_comparator(spec, cohort):
    class Known:
        def fit(self, time, event, *, seed, sampling):
            beta = np.zeros((1, 200, 6))
            post = xr.Dataset({"beta": (("chain", "draw", "covariate"), beta)})
            st = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((1, 200)))})
            return xr.DataTree.from_dict({"posterior": post, "sample_stats": st})

    oc = OperatingStudy(spec, cohort, reps=1, seed=2, contrast=LINE_CONTRAST, hrs=(0.5,),
                        sds=(0.0,), sampling=TINY)
    row = oc.run_task(oc.plan()[0], Known())
    assert 0 <= row["cox_p"] <= 1 and row["cox_hr"] > 0
    assert {"cox_reject", "cox_reject_one_sided", "cox_warning"} <= set(row)

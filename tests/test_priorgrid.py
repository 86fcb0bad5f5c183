"""The prior grid and the summary-level reanalysis against their definitions, the published
test vectors of ../shared/STUDY.md (ANDROMEDA-SHOCK), and a log-rank/Cox cross-check."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from scipy.stats import norm

from nen_bayes.errors import SpecError
from nen_bayes.sensitivity.grid import GridPrior, load_prior_grid, zampieri_grid
from nen_bayes.sensitivity.summary_level import (
    assumption_sweep,
    from_interval,
    from_logrank,
    normal_update,
    summary_reanalysis,
)

SHIPPED = ROOT / "models/priors/line"


def test_grid_priors_have_the_tail_probabilities_that_define_them():
    """Neutral: P(HR < expected) = p; optimistic: P(HR > 1) = p; pessimistic: P(HR < 1) = p
    (the normal CDF, computed here independently of the module)."""
    tails = {"weak": 0.3, "moderate": 0.15, "strong": 0.05}
    for pr in zampieri_grid(0.8, tails):
        p = tails[pr.strength]

        def cdf(x, pr=pr):
            return norm.cdf((math.log(x) - pr.mu) / pr.sigma)

        got = {"neutral": cdf(0.8), "optimistic": 1 - cdf(1.0),
               "pessimistic": cdf(1.0)}[pr.direction]
        assert got == pytest.approx(p, abs=1e-12), pr.name
        assert pr.mu == pytest.approx({"neutral": 0.0, "optimistic": math.log(0.8),
                                       "pessimistic": -math.log(0.8)}[pr.direction])
    with pytest.raises(SpecError, match="expected HR"):
        zampieri_grid(1.2)
    with pytest.raises(SpecError, match="tail probability"):
        zampieri_grid(0.8, {"weak": 0.7})


def test_shipped_prior_files_are_the_default_grid():
    shipped = {p.name: p for p in load_prior_grid(SHIPPED)}
    assert len(shipped) == 9
    for pr in zampieri_grid():
        s = shipped[pr.name]
        assert (s.mu, s.direction, s.strength) == (pr.mu, pr.direction, pr.strength)
        assert s.sigma == pytest.approx(pr.sigma, rel=1e-15)
    order = [p.name for p in load_prior_grid(SHIPPED)]
    assert order[:3] == ["neutral_weak", "neutral_moderate", "neutral_strong"]


@pytest.mark.parametrize(("body", "message"), [
    ('[prior]\nname = "x"\ndist = "Cauchy"\nmu = 0\nsigma = 1\n', "allowed: 'Normal'"),
    ('[prior]\nname = "x"\ndist = "Normal"\nmu = 0\nsigma = 0\n', "sigma = 0"),
    ('[prior]\nname = "x"\ndist = "Normal"\nmu = 0\n', "needs 'sigma'"),
    ('[prior\n', "not valid TOML"),
])
def test_bad_prior_files_are_refused_naming_the_file(tmp_path, body, message):
    (tmp_path / "bad.toml").write_text(body)
    with pytest.raises(SpecError, match=message) as err:
        load_prior_grid(tmp_path)
    assert "bad.toml" in str(err.value)


def test_andromeda_shock_vectors():
    """../shared/STUDY.md: HR 0.75 (95% CI 0.55-1.02). Flat prior: P(HR < 1) about 0.97.
    Sceptical N(0, 0.392^2) on log HR: HR 0.78 (0.59-1.04), P(HR < 1) = 0.95.

    With the SE from the whole interval all three published figures are reproduced to two
    decimals. With the SE from the upper limit (as STUDY.md describes it) the HR and its
    interval are reproduced, but P(HR < 1) is 0.956 and rounds to 0.96, not 0.95. The README
    records this."""
    sceptic = GridPrior("sceptical", "neutral", "custom", 0.0, 0.392, math.nan, math.nan, "")
    flat = summary_reanalysis(from_interval(0.75, 0.55, 1.02), [], flat=True).iloc[0]
    assert round(flat["P(HR < 1)"], 2) == 0.97
    for se_from in ("interval", "upper"):
        t = summary_reanalysis(from_interval(0.75, 0.55, 1.02, se_from=se_from), [sceptic])
        r = t.set_index("prior").loc["sceptical"]
        assert (round(r["median"], 2), round(r["lower"], 2), round(r["upper"], 2)) == \
            (0.78, 0.59, 1.04), se_from
    by_interval = summary_reanalysis(from_interval(0.75, 0.55, 1.02), [sceptic]).iloc[1]
    assert round(by_interval["P(HR < 1)"], 2) == 0.95
    by_upper = summary_reanalysis(from_interval(0.75, 0.55, 1.02, se_from="upper"),
                                  [sceptic]).iloc[1]
    assert by_upper["P(HR < 1)"] == pytest.approx(0.9557, abs=5e-4)


def test_normal_update_closed_form():
    # prior N(0, 1), estimate 1 with SE 1: posterior N(0.5, 1/2)
    mu, sd = normal_update(0.0, 1.0, 1.0, 1.0)
    assert (mu, sd) == pytest.approx((0.5, math.sqrt(0.5)))
    assert normal_update(3.0, math.inf, 1.0, 0.2) == (1.0, 0.2)


def test_parmar_hr_from_logrank_agrees_with_cox_on_simulated_trial():
    """Two arms of 300 (exponential, true HR 0.7, uniform censoring): the HR recovered from the
    log-rank p-value, events and arm sizes (Parmar) agrees with the Cox estimate on the same
    data within 0.05 on the log scale, and its SE within 10%."""
    import pandas as pd

    from nen_bayes.frequentist.cox import Term, cox_fit
    from nen_bayes.frequentist.logrank import logrank_test

    rng = np.random.default_rng(11)
    n = 300
    arm = np.repeat(["a", "b"], n)
    t_ev = rng.exponential(np.where(arm == "a", 1 / 0.7, 1.0) * 20)
    cens = rng.uniform(10, 60, 2 * n)
    time, event = np.minimum(t_ev, cens), (t_ev <= cens).astype(int)
    lr = logrank_test(time, event, arm, levels=("a", "b"))
    est = from_logrank(lr.p_value, event.sum(), n, n, favours="group 1")
    df = pd.DataFrame({"t": time, "e": event, "arm": arm})
    cox = cox_fit(df, "t", "e", [Term("arm", ("b", "a"), "b")], zph=False).table.iloc[0]
    assert abs(est.log_effect - cox["coef"]) < 0.05
    assert est.se == pytest.approx(cox["se"], rel=0.10)


def test_assumption_sweep_flat_prior_is_one_minus_half_p():
    pr = zampieri_grid()[3]  # neutral moderate
    sweep = assumption_sweep(0.078, (150, 223, 297), (0.3, 0.5, 0.7), 297, [pr])
    np.testing.assert_allclose(sweep["P(HR < 1) flat"], 1 - 0.078 / 2, rtol=1e-12)
    col = f"P(HR < 1) {pr.name}"
    by_events = sweep[sweep["share_group_1"] == 0.5].set_index("events")[col]
    # more events: the likelihood dominates the sceptical prior, P(benefit) rises to flat
    assert by_events[150] < by_events[223] < by_events[297] < 1 - 0.078 / 2


def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          check=False, cwd=ROOT)


def test_summary_reanalysis_script_on_the_study(tmp_path):
    out = tmp_path / "s"
    r = run(ROOT / "scripts/summary_reanalysis.py", "--study", "--events", 200, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "ASSUMPTIONS (not published): 200 events" in r.stdout
    assert "P(HR < 1) flat: 0.961 to 0.961" in r.stdout
    for name in ("posterior.csv", "summary.txt", "summary_reanalysis.png", "sweep.csv",
                 "sweep.png"):
        assert (out / name).exists(), name
    r = run(ROOT / "scripts/summary_reanalysis.py", "--p", 1.5, "--events", 10, "--n1", 5,
            "--n2", 5, "--out", tmp_path / "bad")
    assert r.returncode == 2 and "--p" in r.stderr and "between 0 and 1" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_prior_grid_script_writes_and_refuses_to_overwrite(tmp_path):
    r = run(ROOT / "scripts/prior_grid.py", "--expected-hr", 0.7, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(load_prior_grid(tmp_path)) == 9
    assert load_prior_grid(tmp_path)[3].mu == pytest.approx(math.log(0.7))  # optimistic weak
    r = run(ROOT / "scripts/prior_grid.py", "--out", tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr

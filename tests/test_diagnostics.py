"""Run-card checks against draws with known defects (and known health), the posterior
predictive Kaplan-Meier band against a closed form, and diagnose.py's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from fakes import fake_tree, write_run

from nen_bayes.frequentist.km import kaplan_meier
from nen_bayes.posterior.diagnostics import (
    DEFAULT_THRESHOLDS,
    censoring_times,
    diagnose_fit,
    km_on_grid,
    ppc_km,
)

SCRIPT = ROOT / "scripts/diagnose.py"


def by_name(card):
    return {c.name: c for c in card.checks}


def test_iid_draws_pass_every_check():
    card = diagnose_fit(fake_tree(seed=1))
    checks = by_name(card)
    assert card.passed, card.to_text()
    # iid draws: R-hat within 1% of 1, ESS near the 2000 draws, MCSE/SD near 1/sqrt(2000)
    assert checks["rhat"].value < 1.01
    assert checks["ess_bulk"].value > 1200
    assert 0.01 < checks["mcse"].value < 0.04
    # iid energy: E-BFMI = E[(dE)^2] / Var(E) = 2 for independent draws
    assert 1.7 < checks["ebfmi"].value < 2.3
    assert checks["divergences"].value == 0 and checks["pareto_k"].value == 0


def test_a_shifted_chain_fails_rhat_and_names_the_parameter():
    rng = np.random.default_rng(2)
    beta = rng.normal(0.2, 0.1, (4, 500))
    beta[0] += 0.5  # chain 0 sits five SDs away
    card = diagnose_fit(fake_tree(beta=beta, seed=2))
    rhat = by_name(card)["rhat"]
    assert rhat.passed is False and rhat.value > 1.5
    assert rhat.worst.startswith("beta")
    assert not card.passed and "rhat" in card.to_dict()["failed"]
    assert "needs <= 1.01" in card.to_text()


def test_a_looser_threshold_is_honoured():
    rng = np.random.default_rng(3)
    beta = rng.normal(0.2, 0.1, (4, 500))
    beta[0] += 0.05  # half an SD: R-hat a little above 1.01
    strict = by_name(diagnose_fit(fake_tree(beta=beta, seed=3)))["rhat"]
    loose = by_name(diagnose_fit(fake_tree(beta=beta, seed=3),
                                 thresholds={"rhat": 1.5}))["rhat"]
    assert strict.value == loose.value
    assert loose.passed is True and loose.threshold == 1.5
    with pytest.raises(ValueError, match="unknown threshold"):
        diagnose_fit(fake_tree(), thresholds={"r_hat": 1.1})


def test_divergences_and_treedepth_are_counted():
    div = np.zeros((4, 500), bool)
    div[1, :7] = True
    depth = np.zeros((4, 500), bool)
    depth[2, :40] = True  # 40 / 2000 = 2% > 1%
    checks = by_name(diagnose_fit(fake_tree(diverging=div, maxdepth=depth)))
    assert checks["divergences"].value == 7 and checks["divergences"].passed is False
    assert checks["treedepth"].value == pytest.approx(0.02)
    assert checks["treedepth"].passed is False


def test_random_walk_energy_fails_ebfmi():
    """Energy as a random walk of n steps: E-BFMI is about 6/n (sum of squared steps n sigma^2
    against a sum of squared deviations of about n^2 sigma^2 / 6), far below 0.3."""
    rng = np.random.default_rng(4)
    energy = np.cumsum(rng.normal(size=(4, 500)), axis=1)
    ebfmi = by_name(diagnose_fit(fake_tree(energy=energy)))["ebfmi"]
    assert ebfmi.value < 0.1 and ebfmi.passed is False


def test_an_influential_unit_fails_pareto_k_and_is_named():
    """Unit P007's log-likelihood has a heavy left tail (a few draws make it very unlikely):
    its importance ratios exp(-log_lik) are heavy-tailed, so PSIS flags it."""
    rng = np.random.default_rng(5)
    ll = rng.normal(-3.0, 0.05, (4, 500, 60))
    ll[:, :, 7] = -3.0 - 3.0 * np.abs(rng.standard_t(1.5, (4, 500)))
    pk = by_name(diagnose_fit(fake_tree(log_lik=ll)))["pareto_k"]
    assert pk.passed is False and pk.value >= 1
    assert "P007" in pk.worst


def test_run_card_json_lists_threshold_value_and_verdict_of_every_check():
    card = json.loads(diagnose_fit(fake_tree(), run="r1").to_json())
    assert card["run"] == "r1" and card["passed"] is True
    names = [c["name"] for c in card["checks"]]
    assert names == ["rhat", "ess_bulk", "ess_tail", "mcse", "divergences", "treedepth",
                     "ebfmi", "pareto_k"]
    for c in card["checks"]:
        assert {"threshold", "value", "passed", "rule"} <= set(c)
    assert card["thresholds"] == DEFAULT_THRESHOLDS


def test_ppc_km_band_contains_the_true_survival_curve():
    """Replicates and observations from Exp(mean 30), uncensored: the pointwise median of the
    replicated survival curves is exp(-t/30) (closed form) up to Monte Carlo error."""
    rng = np.random.default_rng(6)
    n = 400
    pp = rng.exponential(30.0, (2, 200, n))
    tree = fake_tree(n_units=n, chains=2, draws=200, pp=pp, seed=6)
    tree["observed_data"]["time"].values[:] = rng.exponential(30.0, n)
    tree["constant_data"]["time"].values[:] = 1
    (curve,) = ppc_km(tree)
    truth = np.exp(-curve.grid / 30.0)
    assert np.max(np.abs(curve.median - truth)) < 0.03
    assert np.all(curve.lower <= truth + 1e-9) and np.all(truth <= curve.upper + 1e-9)
    by_line = ppc_km(tree, by="line")
    assert [c.label for c in by_line] == ["line = salvage", "line = second_line"] or \
        [c.label for c in by_line] == ["line = second_line", "line = salvage"]
    assert sum(c.km.n for c in by_line) == n


def test_replicates_are_censored_from_the_reverse_kaplan_meier_estimate():
    """Hand-worked reverse Kaplan-Meier: times 1 (event), 2 (censored), 3 (event), 4, 5
    (censored). Censorings at 2, 4, 5 with 4, 2, 1 at risk: G(2) = 3/4, G(4) = 3/8, G(5) = 0.
    The unit with an event at 1 is censored at 2, 4, 5 with probabilities 1/4, 3/8, 3/8; the
    one at 3 at 4 or 5 with 1/2 each (G(c) / G(3)); censored units keep their own times.
    20,000 draws: each share within 4 binomial SEs (at most 0.014)."""
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    e = np.array([1, 0, 1, 0, 0])
    c = censoring_times(t, e, 20_000, np.random.default_rng(9))
    assert c.shape == (20_000, 5)
    np.testing.assert_array_equal(c[:, [1, 3, 4]], np.broadcast_to(t[[1, 3, 4]], (20_000, 3)))
    for unit, expected in ((0, {2.0: 0.25, 4.0: 0.375, 5.0: 0.375}), (2, {4.0: 0.5, 5.0: 0.5})):
        assert set(np.unique(c[:, unit])) == set(expected)
        for value, p in expected.items():
            assert abs(np.mean(c[:, unit] == value) - p) < 4 * np.sqrt(p * (1 - p) / 20_000)
    # the last unit has an event: mass beyond the last censoring time means "never censored"
    c = censoring_times(np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1]), 1000,
                        np.random.default_rng(10))
    assert np.all(np.isinf(c[:, 1:])) and np.all(c[:, 0] == 1.0)
    assert np.all(np.isinf(censoring_times(t, np.ones(5), 3, np.random.default_rng(0))))


def test_km_on_grid_equals_kaplan_meier_with_ties():
    """Many samples at once against the R-convention Kaplan-Meier of the frequentist layer,
    with tied event times and events tied with censorings."""
    rng = np.random.default_rng(11)
    t = rng.integers(1, 15, (30, 40)).astype(float)
    e = rng.uniform(size=(30, 40)) < 0.6
    grid = np.linspace(0, 16, 33)
    got = km_on_grid(t, e, grid)
    for r in range(30):
        km = kaplan_meier(t[r], e[r].astype(int))
        inside = grid <= km.max_time
        expected = km.survival_at(grid[inside])["surv"].to_numpy()
        np.testing.assert_allclose(got[r, inside], expected, rtol=1e-12)


def test_ppc_km_band_of_censored_replicates_is_the_observed_curves_own():
    """Administrative censoring at 20 for everyone, Exp(mean 30) times: every replicate is
    censored at 20 too, so the band ends flat at 20 and its median tracks exp(-t/30) up to
    20 (Monte Carlo error of 400 unit samples, SD < 0.025: 0.06 allowed), and the observed
    curve, a draw of the same kind, is recorded on the grid."""
    rng = np.random.default_rng(12)
    n = 400
    pp = rng.exponential(30.0, (2, 200, n))
    tree = fake_tree(n_units=n, chains=2, draws=200, pp=pp, seed=12)
    death = rng.exponential(30.0, n)
    tree["observed_data"]["time"].values[:] = np.minimum(death, 20.0)
    tree["constant_data"]["time"].values[:] = death <= 20.0
    (curve,) = ppc_km(tree, times=np.array([5.0, 10.0, 19.9, 20.0, 25.0]))
    truth = np.exp(-curve.grid / 30.0)
    assert np.max(np.abs(curve.median[:3] - truth[:3])) < 0.06
    assert curve.median[4] == curve.median[3] and curve.upper[4] == curve.upper[3]
    assert curve.observed.shape == (5,) and curve.outside.dtype == bool
    np.testing.assert_allclose(curve.observed[:3], curve.km.survival_at([5.0, 10.0, 19.9])
                               ["surv"].to_numpy())


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, check=False, cwd=ROOT)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_diagnose_script_exit_codes_and_outputs(tmp_path):
    good = write_run(fake_tree(seed=7), tmp_path / "good")
    rng = np.random.default_rng(8)
    beta = rng.normal(0.2, 0.1, (4, 500))
    beta[0] += 0.5
    bad = write_run(fake_tree(beta=beta, seed=8), tmp_path / "bad")

    r = run(good, "--no-figures")
    assert r.returncode == 0, r.stderr
    assert json.loads((good / "run_card.json").read_text())["passed"] is True

    r = run(bad)
    assert r.returncode == 3  # EXIT_CHECKS_FAILED
    assert "reason: rhat" in r.stdout and "failed a check" in r.stderr
    assert (bad / "diagnostics" / "rank.png").stat().st_size > 0
    assert (bad / "diagnostics" / "energy.png").exists()

    before = (good / "run_card.json").read_text()
    r = run(good, "--rhat", "1.5")
    assert r.returncode == 2 and "--force" in r.stderr
    assert (good / "run_card.json").read_text() == before

    r = run(tmp_path / "missing")
    assert r.returncode == 2 and "missing" in r.stderr and "Traceback" not in r.stderr

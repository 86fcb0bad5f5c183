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

from nen_bayes.posterior.diagnostics import DEFAULT_THRESHOLDS, diagnose_fit, ppc_km

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
    assert r.returncode == 1
    assert "reason: rhat" in r.stdout and "failed a check" in r.stderr
    assert (bad / "diagnostics" / "rank.png").stat().st_size > 0
    assert (bad / "diagnostics" / "energy.png").exists()

    before = (good / "run_card.json").read_text()
    r = run(good, "--rhat", "1.5")
    assert r.returncode == 2 and "--force" in r.stderr
    assert (good / "run_card.json").read_text() == before

    r = run(tmp_path / "missing")
    assert r.returncode == 2 and "missing" in r.stderr and "Traceback" not in r.stderr

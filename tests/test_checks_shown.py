"""Every fit is held to the run card's checks and its failures are shown as they are: enough
digits to see a value on its side of the threshold, R-hat's need for two chains, the prior-grid
refits' checks, and prior predictive draws without overflow."""

from __future__ import annotations

import numpy as np
from fakes import fake_tree

from nen_bayes.posterior.diagnostics import Check, RunCard, diagnose_fit


def _card(*checks):
    return RunCard(run="r", model="m", endpoint="os", data_hash="h", synthetic=False,
                   checks=tuple(checks))


def test_a_failing_rhat_just_above_the_threshold_is_shown_with_enough_digits():
    fail = Check("rhat", "max R-hat", 1.0104, 1.01, "<=", False, "beta[x]", "")
    text = _card(fail).to_text()
    assert "1.0104" in text and "FAIL" in text
    assert fail.reason.startswith("rhat: 1.0104")
    # a value at the threshold that passes keeps the short form
    ok = Check("rhat", "max R-hat", 1.01, 1.01, "<=", True)
    assert " 1.01 (needs <= 1.01)" in _card(ok).to_text()
    # the same on a ">=" check: an ESS of 399.96 against 400 must not read as "400"
    ess = Check("ess_bulk", "min bulk ESS", 399.96, 400.0, ">=", False)
    assert "399.96" in _card(ess).to_text()


def test_a_one_chain_fit_says_rhat_needs_two_chains():
    card = diagnose_fit(fake_tree(chains=1, seed=4))
    rhat = {c.name: c for c in card.checks}["rhat"]
    assert "two chains" in rhat.reason and "disagree" not in rhat.reason

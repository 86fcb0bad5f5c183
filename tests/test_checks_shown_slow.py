"""The prior-grid refits are held to the run card's checks (a real, short nutpie run)."""

from __future__ import annotations

import pytest
from conftest import ROOT

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.re_nen import RE_NEN
from nen_bayes.sensitivity.grid import load_prior_grid
from nen_bayes.sensitivity.refits import prior_grid_fit
from nen_bayes.settings import Contrast

pytestmark = pytest.mark.slow


def test_every_grid_refit_gets_a_run_card_and_its_failures_are_shown():
    """An ESS threshold no run of 2 x 100 draws can meet (bulk ESS is at most a few times the
    400 draws kept, never 2 x 10^6) must fail in every refit, and the text must say so; the
    threshold given is the one used."""
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    grid = [p for p in load_prior_grid(ROOT / "models/priors/line")
            if p.name == "neutral_weak"]
    res = prior_grid_fit(load_spec(ROOT / "models/weibull_ph_pooled.toml"), cohort, grid,
                         Contrast("line", "second_line", "salvage"), endpoint="os",
                         draws=100, tune=100, chains=2, seed=3,
                         thresholds={"ess_per_chain": 1e6})
    assert len(res.cards) == len(res.table) == 2
    assert all(not c.passed and "ess_bulk" in [x.name for x in c.failures] for c in res.cards)
    assert all(c.thresholds["ess_per_chain"] == 1e6 for c in res.cards)
    assert res.table["checks"].str.startswith("FAIL").all()
    text = res.to_text()
    assert "FAILED in 2 of 2 posteriors" in text and "neutral_weak" in text
    assert "ess_bulk" in text

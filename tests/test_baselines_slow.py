"""Seeded statistical properties of the baselines (slow tier): coverage and type I error
against known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from nen_bayes import cox_fit, kaplan_meier, logrank_test
from nen_bayes.frequentist.cox import Term
from nen_bayes.frequentist.rmst import rmst

pytestmark = pytest.mark.slow

N_SIM = 400


def _exp_sample(rng, n, rate, cens_rate):
    t = rng.exponential(1 / rate, n)
    c = rng.exponential(1 / cens_rate, n)
    return np.minimum(t, c), (t <= c).astype(int)


def test_rmst_and_km_interval_coverage_is_nominal():
    """Exponential(rate 0.1) with 30% censoring, n = 120: the true RMST at tau = 10 is
    (1 - exp(-1)) / 0.1 and S(10) = exp(-1). Over 400 seeded samples the 95% intervals must
    cover at a rate compatible with 0.95 (two-sided binomial test at the 1% level)."""
    rng = np.random.default_rng(20261123)
    true_rmst = (1 - np.exp(-1.0)) / 0.1
    true_s = np.exp(-1.0)
    hit_rmst = hit_log = hit_loglog = 0
    for _ in range(N_SIM):
        t, e = _exp_sample(rng, 120, 0.1, 0.043)
        r = rmst(t, e, 10.0)
        hit_rmst += r.lower <= true_rmst <= r.upper
        for ct in ("log", "log-log"):
            s = kaplan_meier(t, e, conf_type=ct).survival_at([10.0]).iloc[0]
            hit = s["lower"] <= true_s <= s["upper"]
            if ct == "log":
                hit_log += hit
            else:
                hit_loglog += hit
    for hits in (hit_rmst, hit_log, hit_loglog):
        assert binomtest(int(hits), N_SIM, 0.95).pvalue > 0.01, hits / N_SIM


def test_stratified_log_rank_and_cox_keep_their_size_under_centre_effects():
    """No group effect but strong centre effects (log-hazard SD 0.8, 6 centres, group share
    differing by centre): the centre-stratified log-rank test and the centre-stratified Cox
    model reject at close to 5% (binomial test at the 1% level)."""
    rng = np.random.default_rng(7)
    rej_lr = rej_cox = 0
    for _ in range(N_SIM):
        centre = rng.integers(0, 6, 240)
        u = rng.normal(0, 0.8, 6)
        group = (rng.random(240) < 0.2 + 0.1 * centre).astype(int)
        rate = 0.1 * np.exp(u[centre])
        t = rng.exponential(1 / rate)
        c = rng.exponential(15.0, 240)
        time, event = np.minimum(t, c), (t <= c).astype(int)
        lr = logrank_test(time, event, group, strata=centre)
        rej_lr += lr.p_value < 0.05
        df = pd.DataFrame({"time": time, "event": event, "g": group.astype(str),
                           "centre": centre})
        res = cox_fit(df, "time", "event", [Term("g", ("0", "1"))], strata="centre", zph=False)
        rej_cox += res.table["p"].iloc[0] < 0.05
    for rej in (rej_lr, rej_cox):
        assert binomtest(int(rej), N_SIM, 0.05).pvalue > 0.01, rej / N_SIM

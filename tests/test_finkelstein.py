"""Finkelstein's (1986) score test for interval-censored data under proportional hazards: on
right-censored data it is the score test of the discrete-time (complementary log-log) PH
model, which R computes independently from a binomial GLM on person-period data; on
simulated interval-censored data without an effect it rejects at its nominal rate."""

from __future__ import annotations

import numpy as np
import pytest

from nen_bayes.errors import BaselineError
from nen_bayes.frequentist.interval import finkelstein_test

# survival::aml (R 4.2.2, survival 3.5.3): weeks to relapse of acute myelogenous leukaemia,
# maintenance chemotherapy or not (time, status)
AML_MAINTAINED = [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1),
                  (45, 0), (48, 1), (161, 0)]
AML_NOT = [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1), (30, 1),
           (33, 1), (43, 1), (45, 1)]

# R: the grouped PH model is a binomial GLM with cloglog link on the units at risk at each
# event time (a censored unit at t survives t: (t, inf)):
#   times <- sort(unique(aml$time[aml$status == 1]))
#   pp <- do.call(rbind, lapply(seq_len(nrow(aml)), function(i) {
#     tt <- times[times <= aml$time[i]]
#     data.frame(j = factor(tt, levels = times), x = aml$x[i],
#                y = as.integer(tt == aml$time[i] & aml$status[i] == 1)) }))
#   g0 <- glm(y ~ j, family = binomial("cloglog"), data = pp)
#   g1 <- glm(y ~ j + x, family = binomial("cloglog"), data = pp)
#   mu <- fitted(g0); eta <- predict(g0); xx <- as.numeric(pp$x == "Nonmaintained")
#   U <- sum(xx * (pp$y - mu) * exp(eta - exp(eta)) / (mu * (1 - mu)))     # 3.999779386
#   ll <- function(b) { m <- 1 - exp(-exp(drop(model.matrix(g1) %*% b)))
#                       sum(pp$y * log(m) + (1 - pp$y) * log(1 - m)) }
#   I <- -optimHess(c(coef(g0), 0), ll); k <- ncol(I)
#   U^2 / (I[k, k] - I[k, -k] %*% solve(I[-k, -k], I[-k, k]))              # 4.003302984
# (anova(g0, g1, test = "Rao") gives 3.911, the same score with the expected information)
R_SCORE, R_STATISTIC = 3.999779386, 4.003302984


def test_right_censored_data_give_r_grouped_ph_score_test():
    data = [(t, e, "Maintained") for t, e in AML_MAINTAINED] + \
        [(t, e, "Nonmaintained") for t, e in AML_NOT]
    t = np.array([d[0] for d in data], float)
    e = np.array([d[1] for d in data]) == 1
    g = [d[2] for d in data]
    res = finkelstein_test(t, np.where(e, t, np.inf), g, ("Maintained", "Nonmaintained"))
    assert res.score[0] == pytest.approx(R_SCORE, rel=1e-7)
    assert res.statistic == pytest.approx(R_STATISTIC, rel=1e-5)  # R's Hessian is numerical
    assert res.df == 1 and res.p_value == pytest.approx(0.0454, abs=1e-4)


def _scans(rng, n: int, log_hr: float):
    """Weibull PH times (shape 1.3, scale 12) seen at visits every 1, 2 or 3 whole months,
    censored at a whole month from 6 to 35: many shared ends and ties."""
    x = rng.integers(0, 2, n)
    t = 12.0 * (-np.log(rng.random(n)) / np.exp(log_hr * x)) ** (1 / 1.3)
    w = rng.choice([1.0, 2.0, 3.0], n)
    lo, c = np.floor(t / w) * w, rng.integers(6, 36, n).astype(float)
    up = lo + w
    cens = up > c
    return (np.where(cens, np.floor(c / w) * w, lo), np.where(cens, np.inf, up),
            np.where(x == 1, "b", "a"))


def test_size_and_power_on_simulated_interval_censored_data():
    """300 data sets of 100 units without an effect: the 5% test rejects within 3 binomial
    SEs of 5% (0.012 to 0.088); with HR 2.5, 60 data sets: it rejects in more than 80%."""
    rng = np.random.default_rng(10)
    null = [finkelstein_test(*_scans(rng, 100, 0.0)).p_value for _ in range(300)]
    rate = np.mean(np.array(null) < 0.05)
    assert abs(rate - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / 300), rate
    power = [finkelstein_test(*_scans(rng, 100, np.log(2.5))).p_value for _ in range(60)]
    assert np.mean(np.array(power) < 0.05) > 0.8


def test_three_levels_give_two_degrees_of_freedom_and_one_level_is_refused():
    rng = np.random.default_rng(3)
    lo, up, _ = _scans(rng, 150, 0.0)
    g = rng.choice(["a", "b", "c"], 150)
    res = finkelstein_test(lo, up, g)
    assert res.df == 2 and res.levels == ("a", "b", "c") and 0 <= res.p_value <= 1
    with pytest.raises(BaselineError, match="needs two"):
        finkelstein_test(lo, up, np.full(150, "a"))

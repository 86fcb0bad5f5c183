"""Coverage of the non-proportional parameters over simulated cohorts: the line-HR changes by
interval (under a non-proportional truth and under proportional hazards, where the interval
HRs must agree) and the shape change per line. Seeded; about 3 minutes on 2 cores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_time_varying import _inside, fit_simulated, simulate

pytestmark = pytest.mark.slow

N_COHORTS = 50
LEVEL = 0.95
#: Truths (months): Weibull shape 1.2, scale 20. Line HR by interval (cuts 5, 15): log-HR 0.6,
#: 0.0, -0.4 (changes -0.6, -1.0) or proportional (changes 0); shape per line: ratio 1.6.
NON_PH = {"shape": 1.2, "scale": 20.0, "beta": 0.6, "hr_change": (-0.6, -1.0)}
PH = {"shape": 1.2, "scale": 20.0, "beta": 0.6, "hr_change": (0.0, 0.0)}
SHAPE = {"shape": 1.2, "scale": 20.0, "beta": 0.3, "shape_change": math.log(1.6)}


def _band(n: int) -> float:
    """The lowest coverage accepted for ``n`` intervals: nominal less 3 binomial SEs (a false
    alarm about 1 in 700 for calibrated intervals)."""
    return LEVEL - 3 * math.sqrt(LEVEL * (1 - LEVEL) / n)


def test_coverage_of_the_non_proportional_parameters():
    hits = {"non_ph": [], "ph_agree": [], "shape": []}
    for i in range(N_COHORTS):
        rng = np.random.default_rng(1000 + i)
        if i % 2:  # shape per line
            post = fit_simulated("shape", simulate("shape", 400, rng, SHAPE),
                                 seed=i).tree["posterior"].dataset
            hits["shape"] += [_inside(post["shape_change"].values.ravel(),
                                      SHAPE["shape_change"], LEVEL),
                              _inside(post["beta"].values.ravel(), SHAPE["beta"], LEVEL)]
            continue
        truth = NON_PH if (i // 2) % 2 == 0 else PH
        post = fit_simulated("hazard_ratio", simulate("hazard_ratio", 400, rng, truth),
                             seed=i).tree["posterior"].dataset
        ch = post["hr_change"].values.reshape(-1, 2)
        inside = [_inside(ch[:, k], truth["hr_change"][k], LEVEL) for k in range(2)]
        inside.append(_inside(post["beta"].values.ravel(), truth["beta"], LEVEL))
        hits["non_ph" if truth is NON_PH else "ph_agree"] += inside
    for name, h in hits.items():
        assert np.mean(h) >= _band(len(h)), (name, np.mean(h), len(h))

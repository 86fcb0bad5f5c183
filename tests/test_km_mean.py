"""The KM mean (SPSS's Kaplan-Meier "mean survival time"): area under each group's curve up to
its own last follow-up time, with the Greenwood-type SE of the restricted mean; in the
baselines' effects table and the calibration table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from nen_bayes import RE_NEN, load_cohort, run_baselines
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.frequentist.km import kaplan_meier
from nen_bayes.frequentist.rmst import km_mean
from nen_bayes.re_nen.calibration import calibration_distance, calibration_summary
from nen_bayes.re_nen.simulate import load_calibration


def test_km_mean_and_se_closed_form():
    # times 2, 4 (censored), 6, 8: S = 1 on [0,2), 3/4 on [2,6), 3/8 on [6,8): area 5.75.
    # Variance sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j the area from t_j to tau = 8
    # (Klein & Moeschberger 2003, sec. 4.5): t=2: A = 3 + 0.75 = 3.75, n=4, d=1 -> 3.75^2/12;
    # t=6: A = 0.75, n=2, d=1 -> 0.75^2/2; t=8: n = d = 1, term 0 (as R and survRM2).
    r = km_mean(kaplan_meier([2, 4, 6, 8.0], [1, 0, 1, 1]))
    assert r.tau == 8.0 and r.estimate == pytest.approx(5.75)
    assert r.se == pytest.approx(math.sqrt(3.75**2 / 12 + 0.75**2 / 2))


def test_km_mean_matches_lifelines_rmst_at_the_last_time():
    rng = np.random.default_rng(4)
    t = rng.exponential(20, 150)
    c = rng.uniform(0, 60, 150)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    kmf = KaplanMeierFitter().fit(time, event)
    ref = restricted_mean_survival_time(kmf, t=float(time.max()))
    assert km_mean(kaplan_meier(time, event)).estimate == pytest.approx(ref, rel=1e-9)


def test_km_mean_in_baselines_and_calibration():
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    eff = run_baselines(cohort, "os", factors=["line"]).effects
    rows = eff[eff["quantity"] == "km_mean"].set_index("group")
    df = cohort.data
    for lv in ("second_line", "salvage"):
        m = (df["line"].astype(str) == lv).to_numpy()
        km = kaplan_meier(df["os_months"].to_numpy()[m], df["os_event"].to_numpy()[m])
        assert rows.loc[lv, "horizon"] == pytest.approx(df["os_months"].to_numpy()[m].max())
        assert rows.loc[lv, "estimate"] == pytest.approx(
            restricted_mean_survival_time(KaplanMeierFitter().fit(
                df["os_months"].to_numpy()[m], df["os_event"].to_numpy()[m]),
                t=km.max_time), rel=1e-9)
    cal = load_calibration()
    summary = calibration_summary(df)
    assert summary["os_km_mean_salvage_se"] > 0
    # the second reading is shown, not used in the seed search's distance
    targets = {k: v for k, v in cal["targets"].items() if not k.startswith("os_km_mean")}
    assert calibration_distance(summary, cal["targets"]) == calibration_distance(summary,
                                                                                 targets)

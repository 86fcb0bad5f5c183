"""Cluster-robust Cox variances: refused with fewer than MIN_CLUSTERS clusters (one cluster
gives a zero sandwich, a zero-width interval), and offered for every Cox model of the baselines
when the cohort has centres, the univariable ones included."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from nen_bayes import load_cohort
from nen_bayes.cohorts.schema import CohortSchema
from nen_bayes.errors import BaselineError, BaselineWarning
from nen_bayes.frequentist.baselines import run_baselines
from nen_bayes.frequentist.cox import MIN_CLUSTERS, Term, cox_fit


def _cohort_frame(seed: int, n: int, centres: int) -> pd.DataFrame:
    """Exponential times (HR 0.6 for x = b), continuous (no ties), uniform censoring."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    t = rng.exponential(12.0, n) / np.exp(np.log(0.6) * x)
    c = rng.uniform(6, 48, n)
    return pd.DataFrame({"id": np.arange(n), "centre": [f"c{i % centres}" for i in range(n)],
                         "x": np.where(x == 1, "b", "a"), "time": np.round(np.minimum(t, c), 6),
                         "event": (t <= c).astype(int)})


def _baselines(frame: pd.DataFrame):
    schema = CohortSchema.custom({"os": ("time", "event")}, id_column="id",
                                 centre_column="centre", factors=["x"])
    with warnings.catch_warnings():  # the notes of models left out, read from the report
        warnings.simplefilter("ignore", BaselineWarning)
        return run_baselines(load_cohort(frame, schema), "os", ["x"])


def test_the_sandwich_of_one_cluster_is_zero_so_it_is_refused():
    """The clusters' score residuals sum to the score, zero at the estimate: with one cluster
    the sandwich would be exactly zero. cox_fit refuses fewer than MIN_CLUSTERS clusters,
    naming them."""
    d = _cohort_frame(1, 150, 1).assign(b=lambda f: (f["x"] == "b").astype(float))
    with pytest.raises(BaselineError, match=r"1 cluster\(s\) of 'centre'.*\('c0'\).*at least 5"):
        cox_fit(d, "time", "event", [Term("b")], cluster="centre")
    d4 = _cohort_frame(1, 150, MIN_CLUSTERS - 1).assign(b=lambda f: (f["x"] == "b").astype(float))
    with pytest.raises(BaselineError, match="biased downward"):
        cox_fit(d4, "time", "event", [Term("b")], cluster="centre")
    ok = cox_fit(_cohort_frame(1, 150, MIN_CLUSTERS), "time", "event",
                 [Term("x", ("a", "b"))], cluster="centre", zph=False)
    assert ok.table["lower"].iloc[0] < ok.table["hr"].iloc[0] < ok.table["upper"].iloc[0]


def test_a_single_centre_cohort_has_no_zero_width_interval():
    """One centre: every hazard-ratio row of the baselines has an interval of positive width;
    the clustered models are left out with a note that says why."""
    rep = _baselines(_cohort_frame(2, 200, 1))
    hr = rep.effects[rep.effects["quantity"] == "hazard_ratio"]
    assert len(hr) and (np.log(hr["upper"]) - np.log(hr["lower"]) > 0.1).all()
    assert not rep.cox_univariable_cluster
    assert any("clustered SEs" in n and "at least 5" in n for n in rep.not_estimated)
    assert "cluster-robust" not in " ".join(hr["method"])


def test_the_univariable_model_gets_its_cluster_robust_variance():
    """Eight centres, one factor (so no multivariable model): the univariable Cox model is
    also given with centre-clustered SEs, equal to lifelines' robust SEs (documented to match
    R's coxph(cluster = ) when there are no tied times), fitted here independently."""
    from lifelines import CoxPHFitter

    frame = _cohort_frame(3, 240, 8)
    rep = _baselines(frame)
    assert not rep.cox_multivariable
    res = rep.cox_univariable_cluster["x"]
    assert "cluster-robust SE by centre (8 clusters)" in res.method
    ref = CoxPHFitter().fit(pd.DataFrame({"T": frame["time"], "E": frame["event"],
                                          "b": (frame["x"] == "b").astype(float),
                                          "g": frame["centre"]}),
                            "T", "E", robust=True, cluster_col="g")
    row = res.table.iloc[0]
    assert row["coef"] == pytest.approx(float(ref.params_["b"]), rel=1e-6)
    assert row["se"] == pytest.approx(float(ref.standard_errors_["b"]), rel=1e-4)
    eff = rep.effects
    robust = eff[eff["method"].str.startswith("Cluster-robust Cox univariable")]
    assert len(robust) == 1 and robust["lower"].iloc[0] < robust["upper"].iloc[0]
    assert "centre-clustered SE" in rep.to_text()

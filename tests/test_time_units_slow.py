"""The same cohort in months and in days gives the same posterior with every model file.

The bundled (synthetic) cohort is fitted as it is (months) and with its OS times multiplied by
365.25 / 12 (days, ``time_unit="days"``). The model files state their numbers in months, so the
days fit converts them (baseline prior, cuts); the two posteriors must then agree: every
log-HR, every between-group SD, the Weibull shape and the log of the reference unit's median
survival (minus log 30.4375 in days), each within 4 combined Monte Carlo standard errors of its
mean (two independent runs, different seeds). Before the conversion the piecewise model's G3
HR moved from 2.05 to 1.62 and its median by more than half.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT

from nen_bayes import load_cohort
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.spec import load_spec
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.units import unit_factor

pytestmark = pytest.mark.slow

MODELS = sorted(p.stem for p in (ROOT / "models").glob("*.toml"))
DAYS = unit_factor("months", "days")
Z = 4.0  # combined MCSEs


def _cohort(frame, unit: str, subjects: bool):
    factors = [Factor("line"), Factor("grade"), Factor("tumour_burden"), Factor("extrahepatic")]
    if subjects:
        frame = frame.copy()
        frame["subject_id"] = [f"{c}-{i // 2}" for c, i in
                               zip(frame["centre"], frame.groupby("centre").cumcount(),
                                   strict=True)]
        factors.append(Factor("subject_id"))
    schema = CohortSchema.custom({"os": ("os_months", "os_event")}, centre_column="centre",
                                 factors=factors, time_unit=unit)
    if unit == "days":
        frame = frame.assign(os_months=frame["os_months"].astype(float) * DAYS)
    return load_cohort(frame, schema)


def _quantities(tree, shift: float) -> dict[str, np.ndarray]:
    """(chain, draw) arrays of what must agree between the two units."""
    post = tree["posterior"].dataset
    out = {"log median": np.log(post["median_baseline"].to_numpy()) - shift}
    for j, name in enumerate(post["covariate"].to_numpy()):
        out[f"beta {name}"] = post["beta"].to_numpy()[..., j]
    for name in post.data_vars:
        if name.startswith("sd_") and post[name].ndim == 2:
            out[name] = post[name].to_numpy()
    if "shape" in post:
        out["shape"] = post["shape"].to_numpy()
    return out


def _mcse(x: np.ndarray) -> float:
    import arviz_stats

    return float(np.asarray(arviz_stats.mcse(x)))


@pytest.mark.parametrize("name", MODELS)
def test_months_and_days_give_the_same_posterior(name, bundled_frame):
    spec = load_spec(ROOT / "models" / f"{name}.toml")
    subjects = name.endswith("subject")
    runs = {}
    for seed, unit in ((11, "months"), (12, "days")):
        cohort = _cohort(bundled_frame, unit, subjects)
        res = fit(spec, cohort, endpoint="os", draws=500, tune=500, chains=4, seed=seed,
                  progressbar=False, log_lik=False, predictive=False, prior_draws=10)
        runs[unit] = res.tree
    days = runs["days"]
    assert days.attrs["spec_time_unit"] == "months" and days.attrs["time_unit"] == "days"
    assert "x 30.4375" in days.attrs["time_unit_conversion"]
    assert runs["months"].attrs["time_unit_conversion"] == ""
    m = _quantities(runs["months"], 0.0)
    d = _quantities(days, math.log(DAYS))
    assert set(m) == set(d)
    bad = []
    for key in m:
        diff = abs(m[key].mean() - d[key].mean())
        tol = Z * math.hypot(_mcse(m[key]), _mcse(d[key]))
        if not diff <= tol:
            bad.append(f"{key}: months {m[key].mean():.4f}, days {d[key].mean():.4f}, "
                       f"|diff| {diff:.4f} > {tol:.4f}")
    assert not bad, f"{name}: " + "; ".join(bad)

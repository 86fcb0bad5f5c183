"""Prior-grid refits with one compiled model and power-scaling sensitivity."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from nen_bayes import load_cohort
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.model import PRIOR_DATA, build_model
from nen_bayes.bayes.priors import Prior
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.effects import EFFECT_COLUMNS
from nen_bayes.posterior.diagnostics import key_parameters
from nen_bayes.posterior.power_scaling import power_scaling
from nen_bayes.posterior.summary import interval, weighted_interval
from nen_bayes.re_nen import RE_NEN
from nen_bayes.sensitivity.grid import GridPrior
from nen_bayes.sensitivity.refits import GridResult, importance_weights, prior_grid_fit
from nen_bayes.settings import Contrast, Decision, decision_probabilities

SPEC = ROOT / "models/weibull_ph_centre.toml"


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


def test_prior_as_data_gives_the_same_log_density_as_the_prior_in_the_file(cohort):
    """Setting the data containers to N(0.3, 0.2) for the line coefficient must give exactly the
    log density of a model whose file says coefficient_line = Normal(0.3, 0.2)."""
    spec = load_spec(SPEC)
    design = make_design(spec, cohort, "os")
    m_data = build_model(spec, design, prior_data=True)
    mu = m_data[PRIOR_DATA[0]].get_value().copy()
    sd = m_data[PRIOR_DATA[1]].get_value().copy()
    mu[0], sd[0] = 0.3, 0.2
    m_data[PRIOR_DATA[0]].set_value(mu)
    m_data[PRIOR_DATA[1]].set_value(sd)
    changed = spec.with_priors({"coefficient_line": Prior("Normal", {"mu": 0.3, "sigma": 0.2},
                                                          "test")})
    m_file = build_model(changed, design)
    point = m_file.initial_point()
    point["beta"] = np.array([0.1, -0.2, 0.5, 0.3, 0.7, 0.05])
    assert float(m_data.compile_logp()(point)) == pytest.approx(
        float(m_file.compile_logp()(point)), abs=1e-9)


def test_grid_refits_follow_each_prior(cohort):
    """A very strong prior on log HR(second_line vs salvage) = ln 0.5 with SD 0.01 must pull the
    posterior HR to 0.5; the model's own prior row is the ordinary fit."""
    strong = GridPrior("strong_half", "custom", "custom", math.log(0.5), 0.01, 0.5, 0.0, "")
    weak = GridPrior("weak_one", "custom", "custom", 0.0, 10.0, 0.8, 0.0, "")
    res = prior_grid_fit(load_spec(SPEC), cohort, [strong, weak],
                         Contrast("line", "second_line", "salvage"), endpoint="os", draws=150,
                         tune=150, chains=2, seed=3)
    t = res.table.set_index("prior")
    assert list(t.index) == ["model_prior", "strong_half", "weak_one"]
    # SD 0.01 at ln 0.5, where the data put log HR near -0.2 with SD 0.13: no draw under the
    # model's prior is near, so its weights fail and it is refitted; the wide prior is flat
    # where the draws are, so they are reweighted
    assert t.loc["strong_half", "method"] == "sampled" and t.loc["strong_half", "pareto_k"] > 0.7
    assert t.loc["weak_one", "method"] == "reweighted" and t.loc["weak_one", "pareto_k"] < 0.5
    assert "weak_one" in res.weights and "strong_half" not in res.weights
    assert "1 of the other 2 priors by importance reweighting" in res.to_text()
    assert "strong_half            refitted: its weights had Pareto k" in res.to_text()
    assert t.loc["strong_half", "median"] == pytest.approx(0.5, rel=0.03)
    assert t.loc["strong_half", "P(HR < 1)"] == 1.0
    assert 0.6 < t.loc["weak_one", "median"] < 1.05  # the data's HR, about 0.8
    assert t.loc["model_prior", "prior_median"] == pytest.approx(1.0)
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(t.columns)
    assert res.contrast == "second_line vs salvage" and res.provenance["draws"] == 150
    assert res.synthetic  # the bundled cohort
    hr = res.effects[res.effects["quantity"] == "hazard_ratio"]
    assert list(hr["estimate"]) == list(t["median"])


def test_a_given_fit_is_the_grid_first_row_and_nothing_is_compiled(cohort, monkeypatch):
    """The main job gives its headline fit as ``base``: the grid's first row is that fit's HR
    (its very draws), a prior its draws can be reweighted to compiles nothing, and with
    method "refit" the other priors are sampled on one compiled model. A fit of another model,
    a coefficient prior that is not Normal (the grid replaces it, and its density is in the
    importance ratio) and a grid prior equal to the model's own (a constant ratio) are
    handled: the first two refused, the last given equal weights."""
    from dataclasses import replace

    from nen_bayes.bayes.priors import Prior
    from nen_bayes.errors import ModelDataError, SpecError
    from nen_bayes.sensitivity import refits

    spec = load_spec(ROOT / "models/weibull_ph_pooled.toml")
    contrast = Contrast("line", "second_line", "salvage")
    small = dict(endpoint="os", draws=300, tune=300, chains=2, seed=3)
    base = fit(spec, cohort, progressbar=False, log_lik=False, predictive=False, **small).tree
    j, sign, _, _ = refits._contrast_column(make_design(spec, cohort, "os"), contrast)
    own_hr = np.exp(sign * base["posterior"]["beta"].isel(covariate=j).values.ravel())
    compiles = []
    real = refits._grid_model
    monkeypatch.setattr(refits, "_grid_model", lambda *a: compiles.append(1) or real(*a))
    wide = GridPrior("wide", "custom", "custom", 0.0, 10.0, 0.8, 0.0, "")
    same = GridPrior("same", "custom", "custom", 0.0, 1.0, 0.8, 0.0, "")
    assert spec.coefficient_prior("line").params == {"mu": 0.0, "sigma": 1.0}
    res = prior_grid_fit(spec, cohort, [wide, same], contrast, base=base, **small)
    t = res.table.set_index("prior")
    np.testing.assert_array_equal(res.draws["model_prior"], own_hr)
    assert t.loc["model_prior", "median"] == pytest.approx(np.median(own_hr))
    assert list(t["method"]) == ["sampled", "reweighted", "reweighted"] and compiles == []
    np.testing.assert_allclose(res.weights["same"], 1 / own_hr.size)
    assert t.loc["same", "P(HR < 1)"] == pytest.approx(t.loc["model_prior", "P(HR < 1)"])
    assert "the model's own prior from the fit given" in res.to_text()
    res = prior_grid_fit(spec, cohort, [wide], contrast, base=base, method="refit", **small)
    assert list(res.table["method"]) == ["sampled", "sampled"] and compiles == [1]
    np.testing.assert_array_equal(res.draws["model_prior"], own_hr)
    other = replace(spec, name="another_model")
    with pytest.raises(ModelDataError, match="first row is of 'weibull_ph_pooled'"):
        prior_grid_fit(other, cohort, [wide], contrast, base=base, **small)
    student = replace(spec, priors={**spec.priors, "coefficient": Prior(
        "StudentT", {"nu": 3.0, "mu": 0.0, "sigma": 1.0})})
    with pytest.raises(SpecError, match="replaces the Normal prior of 'line'"):
        prior_grid_fit(student, cohort, [wide], contrast, base=base, **small)


def test_importance_weights_reach_a_known_target_and_flag_an_unreliable_one():
    """Independent draws from N(0, 1) reweighted to N(0.3, 0.8^2) (bounded weights): the
    weighted mean, quantiles and P(x < 0) are the target's closed forms within their Monte
    Carlo error (SEs from the effective draws), and Pareto k is small (bounded weights: the
    tail shape is below 0). Weights with an exact Pareto tail of shape 1.5 (w = U^-1.5, U
    uniform) must give k near 1.5 (SE about (1 + k) / sqrt(M) with M = 3 sqrt(S) tail draws,
    Vehtari et al. 2024) and so be flagged above 0.7 (5 SEs below 1.5)."""
    from scipy.stats import norm

    x = np.random.default_rng(11).standard_normal((4, 2000))
    w, k, ess = importance_weights(norm.logpdf(x, 0.3, 0.8) - norm.logpdf(x))
    assert k < 0.5 and 0.5 * x.size < ess <= x.size
    se = 0.8 / math.sqrt(ess)
    assert abs(float(np.sum(w * x.ravel())) - 0.3) < 4 * se
    mid, lo, hi = weighted_interval(x, w, 0.9)
    for got, q in ((mid, 0.5), (lo, 0.05), (hi, 0.95)):
        want = norm.ppf(q, 0.3, 0.8)  # MC SE of a quantile: sqrt(q(1-q)/ess) / density
        assert abs(got - want) < 4 * math.sqrt(q * (1 - q) / ess) / norm.pdf(want, 0.3, 0.8)
    p = decision_probabilities(np.exp(x), weights=w)["P(HR < 1)"]
    p_true = norm.cdf(0, 0.3, 0.8)
    assert abs(p - p_true) < 4 * math.sqrt(p_true * (1 - p_true) / ess)
    u = np.random.default_rng(12).uniform(size=(4, 2000))
    _, k_tail, _ = importance_weights(-1.5 * np.log(u))
    se_k = 2.5 / math.sqrt(3 * math.sqrt(u.size))
    assert abs(k_tail - 1.5) < 4 * se_k and k_tail > 0.7


def test_equal_weights_give_the_unweighted_summaries():
    """With equal weights the weighted interval is the ordinary one to within one draw's
    spacing, and the weighted decision probabilities are the shares of draws."""
    x = np.random.default_rng(2).lognormal(-0.2, 0.15, 999)
    w = np.full(x.size, 1 / x.size)
    spacing = np.diff(np.sort(x)).max()
    np.testing.assert_allclose(weighted_interval(x, w, 0.95), interval(x, 0.95), atol=spacing)
    assert decision_probabilities(x, weights=w) == pytest.approx(decision_probabilities(x))


def test_grid_result_effects_carry_each_prior_and_the_probabilities():
    """A grid result written by hand: every prior gives a hazard-ratio row (its CrI) and one row
    per decision probability, taken from the table under the decision's labels."""
    d = Decision(benefit=0.7, harm=1.4, rope=(0.9, 1.1))
    pr = GridPrior("sceptical", "neutral", "strong", 0.0, 0.1, 0.8, 0.05, "HR < 0.8")
    table = pd.DataFrame([{"prior": "sceptical", "median": 0.9, "lower": 0.7, "upper": 1.2,
                           "P(HR < 1)": 0.8, "P(HR < 0.7)": 0.02, "P(HR > 1.4)": 0.0,
                           "P(0.9 < HR < 1.1)": 0.5}])
    res = GridResult(model="m", endpoint="os", contrast="a vs b", table=table, draws={},
                     priors=(pr,), timings={}, provenance={"synthetic": True, "n_units": 10},
                     term="arm", conf_level=0.9, decision=d)
    e = res.effects.set_index("quantity")
    assert tuple(res.effects.columns) == EFFECT_COLUMNS
    assert e.loc["hazard_ratio", ["estimate", "lower", "upper"]].tolist() == [0.9, 0.7, 1.2]
    assert e.loc["hazard_ratio", "conf_level"] == 0.9
    assert e.loc["prob_hr_below_0.7", "estimate"] == 0.02
    assert e.loc["prob_rope_0.9_1.1", "estimate"] == 0.5
    assert e["method"].str.contains("prior sceptical").all()
    assert (e["term"] == "arm").all() and e["synthetic"].all()


def test_power_scaling_flags_a_prior_that_conflicts_with_the_data(cohort):
    """Baseline scale prior LogNormal(ln 5, 0.1): median 5 months where the data say about 70.
    Power-scaling must flag the scale as prior-sensitive (so tight a prior dominates: ArviZ
    calls it a strong prior with a weak likelihood), and not flag the line HR."""
    spec = load_spec(SPEC).with_priors({"scale": Prior("LogNormal", {"mu": math.log(5.0),
                                                                     "sigma": 0.1}, "test")})
    f = fit(spec, cohort, endpoint="os", draws=300, tune=300, chains=2, seed=5, prior_draws=20,
            progressbar=False, predictive=False)
    ps = power_scaling(f.tree, key_parameters(f.tree)).set_index("parameter")
    assert ps.loc["scale", "prior"] > 0.05
    assert ps.loc["scale", "diagnosis"] in ("potential strong prior / weak likelihood",
                                            "potential prior-data conflict")
    assert ps.loc["beta[line[salvage]]", "diagnosis"] == "-"
    assert ps.loc["beta[line[salvage]]", "prior"] < 0.05
    assert set(ps.index) >= {"shape", "scale", "sd_centre"}
    tree = f.tree.copy()
    del tree["log_prior"]
    with pytest.raises(ValueError, match="log_prior"):
        power_scaling(tree, key_parameters(tree))


def test_sensitivity_script(tmp_path):
    out = tmp_path / "sens"
    r = subprocess.run([sys.executable, str(ROOT / "scripts/sensitivity.py"), "--data",
                        str(BUNDLED_COHORT), "--endpoint", "os", "--draws", "80", "--tune",
                        "80", "--chains", "2", "--out", str(out)], capture_output=True,
                       text=True, check=False, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pessimistic_strong" in r.stdout and "SYNTHETIC DATA" in r.stdout
    for name in ("grid.csv", "prior_grid.png", "sensitivity.txt", "run.json"):
        assert (out / name).exists(), name
    assert len((out / "grid.csv").read_text().splitlines()) == 11  # header + 10 refits


def test_power_scaling_scales_each_coefficient_prior_when_their_distributions_differ(cohort):
    """coefficient_line Normal(0, 1) and coefficient_grade StudentT(3, 0, 0.05): the model
    stores one RV per covariate (beta_line, beta_grade, ...) stacked into the Deterministic
    beta, and power-scaling must scale every one of those priors. Every beta element is
    reported, and the grade coefficients, held at 0 by a prior far tighter than the data (the
    bundled cohort's G3 log HR is about 0.7), are flagged prior-sensitive: with only the
    baseline and SD priors scaled, their prior sensitivity is near 0."""
    spec = load_spec(SPEC).with_priors({
        "coefficient_line": Prior("Normal", {"mu": 0.0, "sigma": 1.0}, "test"),
        "coefficient_grade": Prior("StudentT", {"nu": 3.0, "mu": 0.0, "sigma": 0.05}, "test")})
    f = fit(spec, cohort, endpoint="os", draws=200, tune=200, chains=2, seed=11,
            prior_draws=20, progressbar=False, predictive=False)
    assert {"beta_line", "beta_grade"} <= set(f.tree["log_prior"].dataset.data_vars)
    ps = power_scaling(f.tree, key_parameters(f.tree)).set_index("parameter")
    covariates = [str(c) for c in f.tree["posterior"]["covariate"].values]
    assert {f"beta[{c}]" for c in covariates} <= set(ps.index)
    grade = [f"beta[{c}]" for c in covariates if c.startswith("grade[")]
    assert grade and (ps.loc[grade, "prior"] > 0.05).all(), ps.loc[grade]

"""Two-stage random-effects pooling, the trials' inputs and the meta command (fast tier); the
one-stage hierarchical model against a simulation with known between-trial SD (slow tier)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.stats import halfnorm, norm

from nen_bayes.errors import CohortError
from nen_bayes.settings import Sampling
from nen_bayes.trials.meta import (
    TrialData,
    dersimonian_laird,
    hierarchical,
    leave_one_out,
    load_trial,
    normal_normal,
    stack,
    trial_estimates,
)

Y = [-0.5, -0.1, 0.2]
SE = [0.2, 0.15, 0.3]


def test_dersimonian_laird_matches_the_closed_form_worked_by_hand():
    """By hand: v = (0.04, 0.0225, 0.09), w = (25, 44.444, 11.111), sum w = 80.5556,
    y_F = -14.7222 / 80.5556 = -0.182759; Q = 25 (0.317241)^2 + 44.444 (0.082759)^2
    + 11.111 (0.382759)^2 = 4.44828; C = 80.5556 - 2723.77 / 80.5556 = 46.7432;
    tau^2 = (4.44828 - 2) / 46.7432 = 0.052377; w* = (10.8252, 13.3552, 7.02361), sum 31.2040;
    mu = -5.3434 / 31.2040 = -0.171241; SE = 1 / sqrt(31.2040) = 0.179017;
    I^2 = 2.44828 / 4.44828 = 0.550388; PI = mu -/+ t(0.975, 1) sqrt(tau^2 + SE^2)
    = -0.171241 -/+ 12.7062 x 0.290558."""
    r = dersimonian_laird(Y, SE)
    extra = dict(r.extra)
    assert extra["Q"] == pytest.approx(4.44828, rel=1e-5)
    assert extra["tau2"] == pytest.approx(0.052377, rel=1e-4)
    assert r.mu == pytest.approx(-0.171241, abs=1e-6)
    assert extra["se"] == pytest.approx(0.179017, rel=1e-5)
    assert extra["I2"] == pytest.approx(0.550388, rel=1e-5)
    assert r.lower == pytest.approx(-0.171241 - 1.959964 * 0.179017, abs=1e-5)
    assert r.pred_upper == pytest.approx(-0.171241 + 12.7062 * 0.290558, abs=1e-3)


def test_dersimonian_laird_without_heterogeneity_is_the_fixed_effect_estimate():
    y, se = [0.1, 0.12, 0.09], [0.2, 0.25, 0.3]
    r = dersimonian_laird(y, se)
    w = [1 / s**2 for s in se]
    assert r.tau == 0.0
    assert r.mu == pytest.approx(sum(a * b for a, b in zip(w, y, strict=True)) / sum(w))


def test_normal_normal_matches_a_two_dimensional_integral_of_the_joint_posterior():
    """P(mu < 0 | y) and E(tau | y) by scipy's dblquad over (mu, tau) of the unnormalised joint
    density HalfNormal(tau; 0.5) prod N(y_i; mu, se_i^2 + tau^2) (flat prior on mu)."""
    def joint(mu, tau):
        return halfnorm.pdf(tau, scale=0.5) * np.prod(
            norm.pdf(Y, mu, np.sqrt(np.square(SE) + tau**2)))

    total = integrate.dblquad(joint, 0, 4, -4, 4)[0]
    below = integrate.dblquad(joint, 0, 4, -4, 0)[0] / total
    r = normal_normal(Y, SE, tau_scale=0.5)
    assert dict(r.extra)["P(HR < 1)"] == pytest.approx(below, abs=2e-3)
    # the median of mu: half the mass below it
    half = integrate.dblquad(joint, 0, 4, -4, r.mu)[0] / total
    assert half == pytest.approx(0.5, abs=2e-3)
    # tau's median: half the mass of tau below it
    tau_half = integrate.dblquad(joint, 0, r.tau, -4, 4)[0] / total
    assert tau_half == pytest.approx(0.5, abs=2e-3)


def test_normal_normal_with_a_tiny_tau_prior_is_the_fixed_effect_model():
    r = normal_normal(Y, SE, tau_scale=1e-6)
    w = np.array([1 / s**2 for s in SE])
    mu = float((w * Y).sum() / w.sum())
    assert r.mu == pytest.approx(mu, abs=1e-4)
    assert r.upper - r.lower == pytest.approx(2 * 1.959964 / math.sqrt(w.sum()), rel=1e-3)


def _trial(name, rng, log_hr=-0.3, n=200, rate=0.05):
    arm = np.repeat(["reference", "experimental"], n // 2)
    t = rng.exponential(1 / (rate * np.exp(log_hr * (arm == "experimental"))))
    c = rng.uniform(6, 36, n)
    return TrialData(name, "sim", pd.DataFrame({"time": np.minimum(t, c),
                                                 "event": (t <= c).astype(int), "arm": arm}),
                     False)


def test_leave_one_out_pools_the_other_trials():
    rng = np.random.default_rng(4)
    trials = [_trial(f"t{j}", rng) for j in range(3)]
    est = trial_estimates(trials)
    loo = leave_one_out(est, tau_scale=0.5)
    assert list(loo["left_out"]) == ["t0", "t0", "t1", "t1", "t2", "t2"]
    rest = est[est["trial"] != "t1"]
    dl = dersimonian_laird(rest["log_hr"], rest["se"])
    got = loo[(loo["left_out"] == "t1") & (loo["method"] == "DerSimonian-Laird")]
    assert got["hr"].iloc[0] == pytest.approx(math.exp(dl.mu))


def test_trial_estimates_are_the_cox_hrs_of_each_trial():
    from lifelines import CoxPHFitter

    trial = _trial("a", np.random.default_rng(5))
    x = trial.data.assign(g=(trial.data["arm"] == "experimental").astype(float))
    ref = CoxPHFitter().fit(x[["time", "event", "g"]], "time", "event")
    got = trial_estimates([trial]).iloc[0]
    assert got["log_hr"] == pytest.approx(ref.params_["g"], abs=1e-6)
    assert got["se"] == pytest.approx(ref.standard_errors_["g"], abs=1e-6)


@pytest.mark.parametrize(("text", "kw", "match"), [
    ("t,event,arm\n1,1,a\n2,0,b\n", {"reference": "a"},
     r"no column\(s\) \['time'\]; a trial's patient data need time, event and arm"),
    ("time,event,arm\n1,1,a\n2,0,b\n", {"reference": "placebo"},
     r"the reference arm 'placebo' is not a level of 'arm' \(\['a', 'b'\]\)"),
    ("time,event,arm\n1,1,a\n2,0,a\n", {"reference": "a"}, r"column 'arm' has levels \['a'\]"),
    ("time,event,arm\n1,1,a\n-2,0,b\n3,2,b\n", {"reference": "a"}, r"rows \[3, 4\] are not"),
    ("time,event,arm\n1,1,a\n2,0,b\n", {"reference": "a", "time_unit": "fortnights"},
     r"time unit 'fortnights' is not a known unit"),
])
def test_a_patient_level_input_is_validated_with_its_file_named(tmp_path, text, kw, match):
    path = tmp_path / "trial.csv"
    path.write_text(text)
    with pytest.raises(CohortError, match=match):
        load_trial(str(path), **kw)


def test_a_csv_input_is_put_in_months_with_the_shared_arm_coding(tmp_path):
    path = tmp_path / "trial.csv"
    path.write_text("time,event,arm\n365.25,1,ctl\n730.5,0,new\n")
    t = load_trial(str(path), reference="ctl", time_unit="days")
    assert t.data["time"].tolist() == pytest.approx([12.0, 24.0])
    assert t.data["arm"].tolist() == ["reference", "experimental"]


def test_stacking_needs_two_trials_with_distinct_names():
    rng = np.random.default_rng(0)
    with pytest.raises(CohortError, match=r"trial names repeat: \['a', 'a'\]"):
        stack([_trial("a", rng), _trial("a", rng)])
    with pytest.raises(CohortError, match="at least two trials"):
        stack([_trial("a", rng)])
    cohort = stack([_trial("a", rng), _trial("b", rng)])
    assert set(cohort.data["trial"]) == {"a", "b"} and len(cohort.data) == 400


def test_the_meta_command_writes_the_two_stage_tables(tmp_path, capsys):
    from nen_bayes.commands.meta import main

    rng = np.random.default_rng(8)
    paths = []
    for j in range(3):
        p = tmp_path / f"t{j}.csv"
        _trial(f"t{j}", rng).data.to_csv(p, index=False)
        paths.append(str(p))
    refs = [x for p in paths for x in ("--reference", f"{p}=reference")]
    out = tmp_path / "out"
    assert main([*paths, *refs, "--no-one-stage", "--out", str(out)]) == 0
    pooled = pd.read_csv(out / "pooled.csv")
    assert list(pooled["method"].str[:12]) == ["DerSimonian-", "Bayesian nor"]
    forest = pd.read_csv(out / "forest.csv")
    assert list(forest["kind"]) == ["trial"] * 3 + ["pooled", "prediction"] * 2
    assert (out / "forest.png").stat().st_size > 0 and (out / "forest.svg").exists()
    assert len(pd.read_csv(out / "leave_one_out.csv")) == 6
    assert main([*paths, "--no-one-stage", "--out", str(tmp_path / "o2")]) == 2
    assert "the reference arm None is not a level" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def _simulate(rng, k: int, sd: float, beta: float, n: int = 400):
    trials, v = [], rng.normal(0.0, sd, k)
    for j in range(k):
        trials.append(_trial(f"t{j}", rng, log_hr=beta + v[j], n=n,
                             rate=0.05 * math.exp(rng.normal(0.0, 0.5))))
    return trials, v


@pytest.mark.slow
def test_the_one_stage_model_recovers_a_known_between_trial_sd():
    """12 trials of 400 units, log HR -0.4 + v_j with v_j ~ N(0, 0.4): the posterior interval of
    the between-trial SD holds the simulated truth (and the realised SD), that of the pooled
    log HR holds -0.4; the same trials without heterogeneity (SD 0) give a clearly smaller SD."""
    rng = np.random.default_rng(20261208)
    sampling = Sampling(draws=500, tune=500, chains=2, seed=3)
    trials, v = _simulate(rng, 12, 0.4, -0.4)
    het = hierarchical(stack(trials), tau_scale=0.5, sampling=sampling).estimate()
    assert het.tau_lower < 0.4 < het.tau_upper
    assert het.tau_lower < np.std(v, ddof=1) < het.tau_upper  # the SD of the realised v_j
    assert het.lower < -0.4 < het.upper
    assert het.pred_upper - het.pred_lower > het.upper - het.lower
    hom, _ = _simulate(rng, 12, 0.0, -0.4)
    flat = hierarchical(stack(hom), tau_scale=0.5, sampling=sampling).estimate()
    assert flat.lower < -0.4 < flat.upper
    assert flat.tau < het.tau / 2


@pytest.mark.slow
def test_the_meta_command_end_to_end_with_the_one_stage_model_and_its_leave_one_out(tmp_path):
    from nen_bayes.commands.meta import main

    rng = np.random.default_rng(9)
    paths = []
    for j in range(3):
        p = tmp_path / f"t{j}.csv"
        _trial(f"t{j}", rng, n=300).data.to_csv(p, index=False)
        paths.append(str(p))
    refs = [x for p in paths for x in ("--reference", f"{p}=reference")]
    out = tmp_path / "out"
    assert main([*paths, *refs, "--loo-one-stage", "--draws", "300", "--tune", "300",
                 "--chains", "2", "--out", str(out)]) == 0
    pooled = pd.read_csv(out / "pooled.csv")
    assert len(pooled) == 3 and pooled["method"].iloc[2].startswith("one-stage Weibull PH")
    one = pooled.iloc[2]
    assert one["pred_lower"] < one["lower"] < one["hr"] < one["upper"] < one["pred_upper"]
    loo = pd.read_csv(out / "leave_one_out.csv")
    assert len(loo) == 9 and loo["method"].str.startswith("one-stage").sum() == 3
    eff = pd.read_csv(out / "effects.csv")
    assert (eff["quantity"] == "hazard_ratio").sum() == 3
    assert "One-stage model, each trial's HR" in (out / "report.txt").read_text()


def test_the_forest_plot_draws_every_row_on_a_log_axis():
    import matplotlib

    matplotlib.use("Agg")
    from nen_bayes.plotting import plot_forest

    table = pd.DataFrame({"label": ["a", "b", "DL", "new trial (DL)"],
                          "kind": ["trial", "trial", "pooled", "prediction"],
                          "hr": [0.7, 0.9, 0.8, 0.8], "lower": [0.5, 0.6, 0.65, 0.4],
                          "upper": [1.0, 1.35, 0.98, 1.6]})
    fig = plot_forest(table)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table["label"])
    lo, hi = ax.get_xlim()
    assert lo <= 0.4 and hi >= 1.6  # every interval inside the axis

"""Treatment-line contrasts against closed forms: probabilities of a normal log-HR, exponential
survival, medians and RMSTs, g-computation over centre effects, a new centre, and
line_effects.py."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from fakes import fake_tree, write_run
from scipy.stats import norm

from nen_bayes.errors import ResultError
from nen_bayes.posterior.contrast import contrast_effects
from nen_bayes.settings import Contrast, Decision

LINE = Contrast("line")  # the model's own contrast: salvage vs second_line (the reference)
SALVAGE = Contrast("line", "salvage", "second_line")
SECOND_LINE = Contrast("line", "second_line", "salvage")

SHAPE = (4, 10_000)


def test_probabilities_match_the_normal_distribution_of_the_log_hr():
    """log HR(salvage vs second_line) ~ N(0.25, 0.15^2): P(HR < x) = Phi((ln x - 0.25)/0.15).
    40,000 draws: Monte Carlo SE <= 0.0025, tolerance 0.01."""
    rng = np.random.default_rng(1)
    mu, sd = 0.25, 0.15
    tree = fake_tree(beta=rng.normal(mu, sd, SHAPE), chains=4, draws=SHAPE[1], seed=1)
    r = contrast_effects(tree, SALVAGE, max_draws=50)
    p = r.probabilities.set_index("event")["probability"]

    def cdf(x):
        return norm.cdf((math.log(x) - mu) / sd)

    assert p["P(HR < 1)"] == pytest.approx(cdf(1), abs=0.01)
    assert p["P(HR < 0.8)"] == pytest.approx(cdf(0.8), abs=0.01)
    assert p["P(HR > 1.25)"] == pytest.approx(1 - cdf(1.25), abs=0.01)
    assert p["P(0.91 < HR < 1.1)"] == pytest.approx(cdf(1.10) - cdf(0.91), abs=0.01)
    assert r.hr[0] == pytest.approx(math.exp(mu), rel=0.01)
    assert r.hr[1] == pytest.approx(math.exp(mu - 1.959964 * sd), rel=0.02)
    # the reverse contrast is the reciprocal, and its probabilities mirror
    rev = contrast_effects(tree, SECOND_LINE, max_draws=50)
    assert rev.hr[0] == pytest.approx(1 / r.hr[0], rel=1e-6)
    q = rev.probabilities.set_index("event")["probability"]
    assert q["P(HR < 1)"] == pytest.approx(1 - p["P(HR < 1)"], abs=1e-9)
    assert q["P(HR < 0.8)"] == pytest.approx(p["P(HR > 1.25)"], abs=1e-9)  # 1/1.25 = 0.8


def test_thresholds_are_options():
    tree = fake_tree(seed=2)
    r = contrast_effects(tree, LINE, decision=Decision(benefit=0.7, harm=1.4, rope=(0.95, 1.05)),
                         max_draws=20)
    assert list(r.probabilities["event"]) == ["P(HR < 1)", "P(HR < 0.7)", "P(HR > 1.4)",
                                              "P(0.95 < HR < 1.05)"]
    assert list(r.probabilities["quantity"]) == ["prob_hr_below_1", "prob_hr_below_0.7",
                                                 "prob_hr_above_1.4", "prob_rope_0.95_1.05"]
    with pytest.raises(ValueError, match="benefit < 1 < harm"):
        Decision(benefit=1.2)
    with pytest.raises(ResultError, match="not a level of 'line'"):
        contrast_effects(tree, Contrast("line", "first_line"))
    with pytest.raises(ResultError, match="versus 'third_line' is not a level of 'line'"):
        contrast_effects(tree, Contrast("line", versus="third_line"))
    # level=None is the model's first non-reference level, here salvage itself
    with pytest.raises(ResultError, match="level and versus are both 'salvage'"):
        contrast_effects(tree, Contrast("line", versus="salvage"))
    with pytest.raises(ResultError, match="not a covariate"):
        contrast_effects(tree, Contrast("grade"))


def test_exponential_curves_medians_and_rmst_match_closed_forms():
    """Fixed parameters (every draw equal): scale 40, log HR(salvage) = ln 1.5, no centre
    effects. Standardised S(t) = exp(-t h), h = exp(b)/40; median ln 2 / h;
    RMST(tau) = (1 - exp(-tau h)) / h."""
    b = math.log(1.5)
    shp = (2, 50)
    tree = fake_tree(beta=np.full(shp, b), scale=np.full(shp, 40.0), chains=2, draws=50)
    r = contrast_effects(tree, SALVAGE, horizons=(24.0, 60.0), grid_points=400)
    h = {"second_line": 1 / 40, "salvage": 1.5 / 40}
    for lv, rate in h.items():
        c = r.curves[r.curves["level"] == lv]
        np.testing.assert_allclose(c["estimate"], np.exp(-c["time"] * rate), atol=1e-10)
        med = r.medians.set_index("group").loc[lv, "estimate"]
        assert med == pytest.approx(math.log(2) / rate, rel=1e-6)
        for tau in (24.0, 60.0):
            rm = r.rmst[(r.rmst["group"] == lv) & (r.rmst["horizon"] == tau)]["estimate"]
            assert float(rm.iloc[0]) == pytest.approx((1 - math.exp(-tau * rate)) / rate,
                                                      rel=1e-4)
    d = r.medians[r.medians["what"] == "difference"].iloc[0]
    assert d["estimate"] == pytest.approx(math.log(2) * 40 * (1 / 1.5 - 1), rel=1e-6)
    assert d["prob_positive"] == 0.0  # salvage is worse in every draw


def test_g_computation_averages_unit_curves_over_centre_effects():
    """Weibull, shape 1.3, scale 30, centre effects u = (-0.5, 0, 0.7) on thirds of the units,
    no line effect: the standardised curve is the mean of exp(-(t/30)^1.3 exp(u_c)) over the
    units (written out here), not the curve of the average unit."""
    shp = (2, 20)
    u = np.broadcast_to(np.array([-0.5, 0.0, 0.7]), (*shp, 3))
    tree = fake_tree(family="weibull", beta=np.zeros(shp), scale=np.full(shp, 30.0),
                     shape=np.full(shp, 1.3), sd_centre=np.full(shp, 0.5), u_centre=u,
                     chains=2, draws=20, n_units=60)
    r = contrast_effects(tree, SALVAGE, grid_points=50)
    c = r.curves[r.curves["level"] == "second_line"]
    t = c["time"].to_numpy()
    expected = np.mean([np.exp(-(t / 30) ** 1.3 * math.exp(v)) for v in (-0.5, 0.0, 0.7)],
                       axis=0)
    np.testing.assert_allclose(c["estimate"], expected, atol=1e-12)
    assert r.hr == pytest.approx((1.0, 1.0, 1.0))
    cen = r.centres.set_index("level")
    assert cen.loc["C3", "hr"] == pytest.approx(math.exp(0.7))
    assert list(cen["n"]) == [20, 20, 20]


def test_a_new_centre_has_the_lognormal_prediction_interval_of_its_sd():
    """sd_centre = 0.5 in every draw: a new centre's HR against the typical one is
    exp(N(0, 0.25)), whose 95% interval is exp(+/-1.96 x 0.5) = 0.375-2.66."""
    shp = (4, 10_000)
    rng = np.random.default_rng(3)
    tree = fake_tree(sd_centre=np.full(shp, 0.5), u_centre=rng.normal(0, 0.5, (*shp, 3)),
                     chains=4, draws=shp[1], seed=3)
    r = contrast_effects(tree, LINE, max_draws=20)
    new = r.new_centre.set_index("quantity")
    assert new.loc["new_group_hr", "lower"] == pytest.approx(math.exp(-1.959964 * 0.5),
                                                             rel=0.03)
    assert new.loc["new_group_hr", "upper"] == pytest.approx(math.exp(1.959964 * 0.5),
                                                             rel=0.03)
    # no centre-varying line effect: the line HR in a new centre is the population HR
    assert new.loc["new_group_contrast_hr", "estimate"] == pytest.approx(r.hr[0])
    assert r.group_sd["centre"][0] == pytest.approx(0.5)


def test_a_centre_varying_line_effect_gives_centre_line_hrs_and_a_wider_new_centre():
    """Line log-HR 0.2 plus centre deviations v = (-0.3, 0, 0.3) with sd_varying 0.3: centre
    c's line HR is exp(0.2 + v_c); a new centre's line HR is exp(0.2 + N(0, 0.09))."""
    shp = (4, 5_000)
    uv = np.broadcast_to(np.array([-0.3, 0.0, 0.3]), (*shp, 3))
    tree = fake_tree(beta=np.full(shp, 0.2), sd_centre=np.full(shp, 0.1),
                     u_centre=np.zeros((*shp, 3)), u_varying=uv, sd_varying=np.full(shp, 0.3),
                     chains=4, draws=shp[1])
    r = contrast_effects(tree, SALVAGE, max_draws=20)
    cen = r.centres.set_index("level")
    for lv, v in zip(("C1", "C2", "C3"), (-0.3, 0.0, 0.3), strict=True):
        assert cen.loc[lv, "line_hr"] == pytest.approx(math.exp(0.2 + v))
    new = r.new_centre.set_index("quantity").loc["new_group_contrast_hr"]
    assert new["lower"] == pytest.approx(math.exp(0.2 - 1.959964 * 0.3), rel=0.03)
    assert new["upper"] == pytest.approx(math.exp(0.2 + 1.959964 * 0.3), rel=0.03)


def test_effects_rows_use_the_shared_table():
    from nen_bayes.effects import EFFECT_COLUMNS

    r = contrast_effects(fake_tree(seed=4), LINE, max_draws=50)
    e = r.effects
    assert tuple(e.columns) == EFFECT_COLUMNS
    assert {"hazard_ratio", "prob_hr_below_1", "prob_hr_below_0.8", "prob_hr_above_1.25",
            "prob_rope_0.91_1.1", "standardised_median_difference",
            "standardised_rmst_difference"} <= set(e["quantity"])


def test_line_effects_script(tmp_path):
    run_dir = write_run(fake_tree(seed=5, synthetic=True), tmp_path / "fit_os")
    out = tmp_path / "line"
    cmd = [sys.executable, str(ROOT / "scripts/line_effects.py"), str(run_dir), "--out",
           str(out), "--max-draws", "100"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "line: second_line vs salvage" in r.stdout
    for name in ("effects.csv", "effects.json", "curves_os.csv", "standardised_os.png",
                 "hr_os.png", "line_effects.txt"):
        assert (out / name).exists(), name
    r = subprocess.run([*cmd[:-4], "--out", str(tmp_path / "x"), "--level", "third_line"],
                       capture_output=True, text=True, check=False, cwd=ROOT)
    assert r.returncode == 2 and "third_line" in r.stderr
    assert not (tmp_path / "x").exists()


def test_without_standardisation_the_hr_and_probabilities_are_unchanged():
    tree = fake_tree(seed=6)
    full = contrast_effects(tree, LINE, max_draws=50)
    bare = contrast_effects(tree, LINE, max_draws=50, standardise=False)
    assert bare.hr == full.hr
    assert bare.probabilities.equals(full.probabilities)
    assert bare.curves.empty and bare.medians.empty and bare.rmst.empty
    assert bare.n_draws_curves == 0 and full.n_draws_curves == 50


def test_probabilities_are_written_with_the_shared_convention_and_synthetic_travels():
    """Every draw has HR 1.5: P(HR < 1) is exactly 0 and is written "<0.001", never 0.000;
    P(HR > 1.25) is exactly 1 and is written ">0.999"."""
    shp = (2, 50)
    tree = fake_tree(beta=np.full(shp, math.log(1.5)), chains=2, draws=50, synthetic=True)
    r = contrast_effects(tree, SALVAGE, standardise=False)
    p = r.probabilities.set_index("event")["probability"]
    assert p["P(HR < 1)"] == 0.0 and p["P(HR > 1.25)"] == 1.0
    text = r.to_text()
    assert "P(HR < 1)                <0.001" in text
    assert "P(HR > 1.25)             >0.999" in text
    assert r.synthetic and r.notice.startswith("SYNTHETIC DATA")
    assert r.effects["synthetic"].all()
    assert not contrast_effects(fake_tree(seed=7), LINE, standardise=False).synthetic


def test_figures_draw_into_given_axes():
    """One single-panel and one two-panel figure drawn into the caller's axes: the caller's
    figure comes back with no axes added, and a wrong number of axes is refused."""
    from matplotlib.figure import Figure

    from nen_bayes.plotting import plot_caterpillar, plot_hr_posterior

    shp = (2, 200)
    uv = np.broadcast_to(np.array([-0.3, 0.0, 0.3]), (*shp, 3))
    tree = fake_tree(beta=np.full(shp, 0.2), sd_centre=np.full(shp, 0.1),
                     u_centre=np.zeros((*shp, 3)), u_varying=uv, sd_varying=np.full(shp, 0.3),
                     chains=2, draws=200)
    r = contrast_effects(tree, SALVAGE, standardise=False)

    fig = Figure()
    ax = fig.subplots()
    assert plot_hr_posterior(r, ax=ax) is fig
    assert fig.axes == [ax]
    assert ax.get_xlabel() == "Hazard ratio, salvage vs second_line"
    assert "P(HR < 1) < 0.001" in ax.get_title()  # log HR 0.2 in every draw

    fig2 = Figure()
    left, right = fig2.subplots(1, 2)
    assert plot_caterpillar(r, ax=[left, right]) is fig2
    assert fig2.axes == [left, right]
    assert left.get_xlabel() == "HR against the typical centre"
    assert right.get_xlabel() == "line HR salvage vs second_line in each centre"
    with pytest.raises(ValueError, match="plot_caterpillar draws 2 panel"):
        plot_caterpillar(r, ax=left)
    with pytest.raises(ValueError, match="plot_hr_posterior draws 1 panel"):
        plot_hr_posterior(r, ax=[left, right])


# --- each level keeps one colour in every figure (issue 16, finding 6) ----------------------
def _line_colours(fig, levels, *, prefix="{}") -> dict:
    """The colour of the first line of each level (matched by its legend label)."""
    from matplotlib.colors import to_hex

    out = {}
    for line in fig.axes[0].get_lines():
        for lv in levels:
            if line.get_label().startswith(prefix.format(lv)) and lv not in out:
                out[lv] = to_hex(line.get_color())
    return out


def test_each_level_has_the_same_colour_in_the_km_and_standardised_figures():
    """The case study's contrast, second_line vs salvage, puts the comparator (salvage) first
    in the contrast while the factor declares second_line first: both figures colour a level by
    its position in the declared order (the Kaplan-Meier curves' order), so second_line is the
    same colour in both, and salvage too."""
    from nen_bayes.frequentist.km import kaplan_meier
    from nen_bayes.plotting import plot_km, plot_standardised_survival

    tree = fake_tree(seed=3)
    r = contrast_effects(tree, SECOND_LINE, max_draws=20)
    t = tree["observed_data"]["time"].values
    e = tree["constant_data"]["time"].values
    salvage = tree["constant_data"]["X"].values[:, 0] == 1
    curves = {"second_line": kaplan_meier(t[~salvage], e[~salvage], label="second_line"),
              "salvage": kaplan_meier(t[salvage], e[salvage], label="salvage")}
    levels = list(curves)
    km = _line_colours(plot_km(curves), levels)
    std = _line_colours(plot_standardised_survival(r, observed=curves), levels)
    assert set(km) == set(std) == set(levels)
    assert km["second_line"] != km["salvage"]
    assert std == km
    # the declared order can be given without the Kaplan-Meier curves (line_effects.py)
    alone = _line_colours(plot_standardised_survival(r, levels=levels), levels)
    assert alone == km
    # the reverse contrast keeps the colours: they belong to the levels, not to the roles
    rev = contrast_effects(tree, SALVAGE, max_draws=20)
    assert _line_colours(plot_standardised_survival(rev, observed=curves), levels) == km


def test_the_posterior_predictive_check_by_level_uses_the_levels_colours():
    """The by-level panels of the posterior predictive Kaplan-Meier check colour each level's
    band as the Kaplan-Meier figure colours its curve, whatever order the units come in."""
    from matplotlib.colors import to_hex

    from nen_bayes.frequentist.km import kaplan_meier
    from nen_bayes.plotting import diagnostic_figures, plot_km

    n = 60
    line = np.r_[np.ones(n // 2), np.zeros(n // 2)]  # salvage units first
    rng = np.random.default_rng(4)
    tree = fake_tree(n_units=n, line=line, chains=2, draws=50, seed=4,
                     pp=rng.exponential(30.0, (2, 50, n)))
    t = tree["observed_data"]["time"].values
    e = tree["constant_data"]["time"].values
    s = line == 1
    km = _line_colours(plot_km({"second_line": kaplan_meier(t[~s], e[~s]),
                                "salvage": kaplan_meier(t[s], e[s])}),
                       ["second_line", "salvage"])
    fig = diagnostic_figures(tree, by="line")["ppc_km_line"]
    bands = {ax.get_title().split(" = ", 1)[1]: to_hex(ax.collections[0].get_facecolor()[0])
             for ax in fig.axes if " = " in ax.get_title()}
    assert bands == km


def test_median_differences_say_over_which_draws_they_are_computed():
    """Exponential survival, no centre effects, so a level's standardised median is
    ln 2 x scale / exp(b) (closed form), and the median search stops at the curve's horizon
    H = 1000 x the longest follow-up. Per chain of 40 draws:
      20 draws scale 40, b = ln 1.5: both medians reached (27.7 and 18.5 months);
      8 draws scale 2H / ln 2, b = ln 4: the reference's median 2H is beyond H, salvage's H / 2
        is reached;
      12 draws scale 1e3 H, b = ln 1.5: neither is reached.
    So the reference lacks a median in 50% of draws, salvage in 30%, and the difference is
    computed over the 50% of draws with both, where it is ln 2 x 40 x (1/1.5 - 1) exactly."""
    tree0 = fake_tree(chains=2, draws=40)
    horizon = 1e3 * float(tree0["observed_data"]["time"].values.max())
    scale = np.r_[np.full(20, 40.0), np.full(8, 2 * horizon / math.log(2)),
                  np.full(12, 1e3 * horizon)]
    b = np.r_[np.full(20, math.log(1.5)), np.full(8, math.log(4.0)),
              np.full(12, math.log(1.5))]
    tree = fake_tree(chains=2, draws=40, scale=np.tile(scale, (2, 1)), beta=np.tile(b, (2, 1)))
    r = contrast_effects(tree, SALVAGE, horizons=(24.0,), grid_points=50)
    m = r.medians.set_index("group")
    assert m.loc["second_line", "not_reached"] == pytest.approx(0.5)
    assert m.loc["salvage", "not_reached"] == pytest.approx(0.3)
    d = m.loc["salvage minus second_line"]
    assert d["not_reached"] == pytest.approx(0.5)
    assert d["estimate"] == pytest.approx(math.log(2) * 40 * (1 / 1.5 - 1), rel=1e-6)
    convention = ("computed over the 50% of draws in which both medians are reached within "
                  "the curve's horizon")
    assert convention in d["note"]
    text = r.to_text()
    assert convention in text
    assert "not reached in 50% of draws" in text and "not reached in 30% of draws" in text
    assert any(convention in n for n in r.notes)
    e = r.effects
    diff = e[e["quantity"] == "standardised_median_difference"].iloc[0]
    assert convention in diff["method"]
    # every median reached: no note, and the difference row says so by an empty note
    full = contrast_effects(fake_tree(beta=np.full((2, 40), 0.4), scale=np.full((2, 40), 40.0),
                                      chains=2, draws=40), SALVAGE, horizons=(24.0,),
                            grid_points=50)
    assert not any("medians are reached" in n for n in full.notes)
    assert (full.medians["not_reached"] == 0).all() and (full.medians["note"] == "").all()


def _relabelled(tree, term: str, level: str, reference: str):
    """The fake fit with its one covariate renamed: ``term`` with levels ``reference`` (the
    model's reference) and ``level``."""
    import json

    col = f"{term}[{level}]"
    out = tree.copy()
    for g in ("posterior", "constant_data"):
        out[g] = out[g].to_dataset().assign_coords(covariate=[col])
    out.attrs["terms"] = json.dumps({col: term})
    out.attrs["contrasts"] = json.dumps({col: f"{level} vs {reference}"})
    return out


def test_new_centre_rows_are_labelled_with_what_they_are_about():
    """A contrast of a term other than line (arm: drug vs placebo) in a model with centre
    intercepts: the new centre's HR against the typical centre is a centre quantity (term
    "centre", like each centre's HR and the between-centre SD), and the HR of the contrast in
    a new centre carries the contrast's own term, in the effects table and in the text."""
    shp = (2, 200)
    rng = np.random.default_rng(8)
    tree = _relabelled(fake_tree(sd_centre=np.full(shp, 0.5),
                                 u_centre=rng.normal(0, 0.5, (*shp, 3)), chains=2, draws=200),
                       "arm", "drug", "placebo")
    r = contrast_effects(tree, Contrast("arm", "drug", "placebo"), max_draws=20)
    e = r.effects.set_index("quantity")
    assert e.loc["new_group_hr", "term"] == "centre"
    assert e.loc["new_group_contrast_hr", "term"] == "arm"
    assert (e.loc[["group_sd", "group_hr"], "term"] == "centre").all()
    assert not (r.effects["term"] == "line").any()
    assert "new centre: arm HR" in r.to_text() and "line" not in r.to_text()

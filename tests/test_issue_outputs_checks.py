"""One verdict per fit: the run card, the convergence verdict and the effects tables' checks
column ask one function; a high Pareto k is a LOO caveat, not a failed fit."""

from __future__ import annotations

import numpy as np
from fakes import fake_tree

from nen_bayes.effects import EFFECT_COLUMNS
from nen_bayes.posterior.compare import side_by_side
from nen_bayes.posterior.diagnostics import (
    convergence_verdict,
    diagnose_fit,
    fit_checks,
    record_verdict,
)


def _influential():
    """Unit P007's log-likelihood has a heavy left tail: PSIS flags it (Pareto k > 0.7)."""
    rng = np.random.default_rng(5)
    ll = rng.normal(-3.0, 0.05, (4, 500, 60))
    ll[:, :, 7] = -3.0 - 3.0 * np.abs(rng.standard_t(1.5, (4, 500)))
    return fake_tree(log_lik=ll)


def test_high_pareto_k_is_a_loo_caveat_not_a_failed_fit():
    card = diagnose_fit(_influential())
    assert [c.name for c in card.loo_caveats] == ["pareto_k"]
    assert card.passed and card.status == "pass" and card.failures == []
    text = card.to_text()
    assert "all sampler checks pass" in text and "FAILED" not in text
    assert "LOO caveat (not a failed fit)" in text and "P007" in text
    assert card.to_dict()["loo_caveats"] == ["pareto_k"]


def _stuck_chain():
    """Chain 0 sits 1 SD away from the others: R-hat fails."""
    rng = np.random.default_rng(2)
    beta = rng.normal(0.2, 0.1, (4, 500))
    beta[0] += 0.5
    return fake_tree(beta=beta)


def _deep_trees():
    depth = np.zeros((4, 500), bool)
    depth[:, :40] = True  # 2% of transitions at the maximum tree depth (allowed: 1%)
    return fake_tree(maxdepth=depth)


def test_the_card_and_the_convergence_verdict_agree():
    for tree, failed in ((_stuck_chain(), "rhat"), (_deep_trees(), "treedepth"),
                         (fake_tree(), None), (_influential(), None)):
        card = diagnose_fit(tree)
        verdict = convergence_verdict(tree)
        assert card.passed == verdict.converged, (failed, card.to_text())
        assert card.status == fit_checks(tree)
        if failed:
            assert failed in verdict.failed and failed in [c.name for c in card.failures]


def test_the_comparison_effects_carry_each_fits_checks():
    good, bad = fake_tree(model="good"), _stuck_chain()
    bad.attrs["model"] = "bad"
    for t in (good, bad):
        record_verdict(t, convergence_verdict(t))
    _, effects = side_by_side({"good": good, "bad": bad})
    assert tuple(effects.columns) == EFFECT_COLUMNS
    bayes = effects[effects["interval"] == "CrI"]
    by_model = {m: set(g["checks"]) for m, g in bayes.groupby(
        bayes["method"].str.contains("bad"))}
    assert by_model == {False: {"pass"}, True: {"FAIL"}}
    assert effects.loc[effects["interval"] == "CI", "checks"].isna().all()


def test_adjusted_only_for_a_model_with_other_covariates(tmp_path):
    import dataclasses
    from pathlib import Path

    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.pipeline.sections import _adjusted, _adjusted_words

    root = Path(__file__).resolve().parents[1]
    spec = load_spec(root / "models/weibull_ph_pooled.toml")  # line, grade, burden, ...
    assert _adjusted(spec, "line")
    alone = dataclasses.replace(spec, covariates=tuple(c for c in spec.covariates
                                                       if c.column == "line"))
    assert not _adjusted(alone, "line")
    assert "not adjusted" in _adjusted_words(alone, "line")


def test_the_group_is_worded_by_its_own_name():
    import matplotlib

    matplotlib.use("Agg")
    from types import SimpleNamespace

    import pandas as pd

    from nen_bayes.plotting import group_word, plot_caterpillar

    centres = pd.DataFrame({"level": ["p1", "p2"], "n": [2, 2], "hr": [0.9, 1.1],
                            "lower": [0.5, 0.6], "upper": [1.5, 1.9],
                            "line_hr": [np.nan] * 2})
    new = pd.DataFrame({"quantity": ["new_group_hr"], "estimate": [1.0], "lower": [0.4],
                        "upper": [2.5]})
    res = SimpleNamespace(centres=centres, new_centre=new, group_sd={"pair": (0.3, 0.1, 0.8)},
                          hr=(0.8, 0.6, 1.1))
    assert group_word(res) == "pair"
    ax = plot_caterpillar(res).axes[0]
    assert ax.get_title() == "between-pair SD 0.30 (0.10-0.80)"
    assert ax.get_xlabel() == "HR against the typical pair"
    assert "new pair (prediction)" in [t.get_text() for t in ax.get_yticklabels()]
    assert group_word(SimpleNamespace(group_sd={})) == "centre"


def test_an_rmst_horizon_beyond_an_arms_follow_up_is_said():
    from types import SimpleNamespace

    import pandas as pd

    from nen_bayes.frequentist.km import kaplan_meier
    from nen_bayes.pipeline.summary import rmst_follow_up_caveats

    rng = np.random.default_rng(8)
    short = kaplan_meier(rng.uniform(1, 20, 30), np.ones(30, int))   # follow-up < 20
    long = kaplan_meier(rng.uniform(1, 60, 30), np.ones(30, int))
    con = SimpleNamespace(term="arm", time_unit="months",
                          rmst=pd.DataFrame({"horizon": [12.0, 36.0, 36.0]}))
    rep = SimpleNamespace(curves={"arm": {"A": short, "B": long}})
    said = rmst_follow_up_caveats(con, rep)
    assert len(said) == 1 and "arm = A" in said[0] and "36 months" in said[0]
    assert f"{short.max_time:.1f}" in said[0] and "extrapolation" in said[0]
    con = SimpleNamespace(term="arm", time_unit="months",
                          rmst=pd.DataFrame({"horizon": [12.0]}))
    assert rmst_follow_up_caveats(con, rep) == []

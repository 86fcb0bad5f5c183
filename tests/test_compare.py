"""Model comparison: refusal of incomparable fits, the LOO table against closed forms, the Cox
side of the side-by-side table against the baselines' own Cox fits, and compare.py."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from fakes import fake_tree, write_run

from nen_bayes import load_cohort, run_baselines
from nen_bayes.bayes.inference import fit, write_fit
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.effects import EFFECT_COLUMNS
from nen_bayes.errors import ComparisonError
from nen_bayes.pipeline.sections import comparison_section
from nen_bayes.posterior.compare import (
    check_comparable,
    compare_report,
    cox_effects,
    format_side_by_side,
    loo_table,
    loo_verdict,
    side_by_side,
)
from nen_bayes.re_nen import RE_NEN

SCRIPT = ROOT / "scripts/compare.py"


def test_fits_to_different_data_or_endpoints_are_refused():
    a = fake_tree(seed=1)
    b = fake_tree(seed=2, data_hash="sha256:" + "1" * 64)
    with pytest.raises(ComparisonError, match=r"data \(content hash\).*a: sha256:0+.*b: "):
        check_comparable({"a": a, "b": b})
    c = fake_tree(seed=3, endpoint="pfs")
    with pytest.raises(ComparisonError, match=r"endpoint.*a: os; c: pfs"):
        check_comparable({"a": a, "c": c})
    check_comparable({"a": a, "d": fake_tree(seed=4)})  # same data and endpoint: fine


def test_loo_table_matches_closed_forms():
    """Log-likelihoods almost constant over draws (SD 1e-3): PSIS-LOO's elpd_i is the
    constant itself. Model B is model A minus 0.5 per unit: elpd_diff = -0.5 n with SE ~ 0, and
    stacking puts (almost) all weight on A."""
    rng = np.random.default_rng(1)
    n = 60
    a_i = rng.normal(-3, 0.5, n)
    ll_a = a_i + rng.normal(0, 1e-3, (4, 500, n))
    ll_b = ll_a - 0.5
    table = loo_table({"A": fake_tree(log_lik=ll_a, seed=1),
                       "B": fake_tree(log_lik=ll_b, seed=1)})
    t = table.set_index("model")
    assert list(table["model"]) == ["A", "B"] and list(table["rank"]) == [0, 1]
    assert t.loc["A", "elpd_loo"] == pytest.approx(a_i.sum(), abs=0.01)
    assert t.loc["B", "elpd_diff"] == pytest.approx(-0.5 * n, abs=0.01)
    assert t.loc["B", "dse"] < 0.01
    assert t.loc["A", "weight"] > 0.99 and t.loc["A", "weight"] + t.loc["B", "weight"] == \
        pytest.approx(1.0)
    assert t.loc["A", "p_loo"] == pytest.approx(0.0, abs=0.01)
    assert (table["n_high_k"] == 0).all() and (table["warning"] == "").all()


def _loo_pair_at(k_se: float, *, n: int = 60, seed: int = 1):
    """Log-likelihoods of A and B = A + d (d_i a per-unit shift, so the PSIS weights are the
    same and elpd_i(B) - elpd_i(A) = d_i exactly), with d built so that
    sum(d) = -k_se * sqrt(n var(d)): B is exactly ``k_se`` SEs of the difference below A."""
    rng = np.random.default_rng(seed)
    a_i = rng.normal(-3, 0.5, n)
    e = rng.normal(0, 1, n)
    e = (e - e.mean()) / e.std(ddof=1)              # mean 0, SD 1 exactly
    d = e - k_se / np.sqrt(n)                       # sum -k_se sqrt(n); sqrt(n var(d)) = sqrt(n)
    ll_a = a_i + rng.normal(0, 1e-3, (4, 500, n))
    return ll_a, ll_a + d


def test_a_difference_within_two_se_prefers_no_model():
    """B is exactly 1 SE of the difference below A (closed form, see _loo_pair_at): the two
    are indistinguishable by PSIS-LOO, no model is preferred, and the text says so with the
    stacking weights."""
    ll_a, ll_b = _loo_pair_at(1.0)
    rep = compare_report({"A": fake_tree(log_lik=ll_a, seed=1),
                          "B": fake_tree(log_lik=ll_b, seed=1)})
    t = rep.loo.set_index("model")
    assert -t.loc["B", "elpd_diff"] / t.loc["B", "dse"] == pytest.approx(1.0, abs=1e-3)
    assert rep.preferred is None
    assert rep.indistinguishable == ("A", "B")
    text = rep.to_text()
    assert "preferred (highest ELPD)" not in text
    w = t["weight"]
    assert (f"no model preferred: A, B within 2 SE of the best PSIS-LOO ELPD (stacking "
            f"weights {w['A']:.2f}, {w['B']:.2f}; the weights say how to combine the models' "
            "predictions, not how likely each model is)") in text


def test_a_difference_beyond_two_se_prefers_the_best():
    """B is exactly 5 SE of the difference below A: A is preferred."""
    ll_a, ll_b = _loo_pair_at(5.0)
    rep = compare_report({"A": fake_tree(log_lik=ll_a, seed=1),
                          "B": fake_tree(log_lik=ll_b, seed=1)})
    t = rep.loo.set_index("model")
    assert -t.loc["B", "elpd_diff"] / t.loc["B", "dse"] == pytest.approx(5.0, abs=1e-3)
    assert rep.preferred == "A" and rep.indistinguishable == ()
    assert "preferred: A (PSIS-LOO ELPD more than 2 SE above every other model" in \
        rep.to_text()


def test_every_model_within_two_se_of_the_best_is_named():
    """Three models: B 1 SE below A, C 5 SE below A. A and B are indistinguishable, C is not
    among them."""
    ll_a, ll_b = _loo_pair_at(1.0)
    _, ll_c = _loo_pair_at(5.0)
    rep = compare_report({"C": fake_tree(log_lik=ll_c, seed=1),
                          "A": fake_tree(log_lik=ll_a, seed=1),
                          "B": fake_tree(log_lik=ll_b, seed=1)})
    assert rep.preferred is None and rep.indistinguishable == ("A", "B")
    assert compare_report({"A": fake_tree(log_lik=ll_a, seed=1)}).preferred == "A"


def test_report_has_one_effects_table_and_writes_probabilities_by_the_convention():
    """Two fits of one (fake) cohort. Model a's line log-HR is 0.2 in every draw, so its
    P(HR < 1) is exactly 0 and is written "<0.001"; model b's is -0.2, so P(HR < 1) = 1 is
    written ">0.999". The synthetic flag of the fits reaches the report and its text."""
    shp = (4, 500)
    a = fake_tree(seed=1, beta=np.full(shp, 0.2), synthetic=True)
    b = fake_tree(seed=1, beta=np.full(shp, -0.2), synthetic=True)
    rep = compare_report({"a": a, "b": b})
    assert tuple(rep.effects.columns) == EFFECT_COLUMNS
    assert set(rep.effects["interval"]) == {"CI", "CrI", ""}
    assert not hasattr(rep, "long")
    cells = format_side_by_side(rep.wide, ["a", "b"]).iloc[0]
    assert (cells["a P(HR<1)"], cells["b P(HR<1)"]) == ("<0.001", ">0.999")
    assert rep.synthetic and rep.to_text().count("SYNTHETIC DATA") == 2
    assert not compare_report({"a": fake_tree(seed=1)}).synthetic


@pytest.fixture(scope="module")
def two_fits(tmp_path_factory):
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    out = {}
    for name in ("weibull_ph_centre", "weibull_ph_pooled"):
        res = fit(load_spec(ROOT / f"models/{name}.toml"), cohort, draws=100, tune=100,
                  chains=2, seed=3, prior_draws=50, progressbar=False)
        d = tmp_path_factory.mktemp(name)
        write_fit(res, d / "fit.nc")
        out[name] = (res.tree, d)
    return cohort, out


def test_cox_side_equals_the_baselines_multivariable_cox(two_fits):
    """The comparison refits Cox on the stored design matrix; the baselines fit it from the raw
    columns. Same covariates, same references: identical hazard ratios and p-values."""
    cohort, fits = two_fits
    tree = fits["weibull_ph_centre"][0]
    cox = cox_effects(tree)
    rep = run_baselines(cohort, "os", ["line", "grade", "tumour_burden", "extrahepatic"],
                        numerics=[], dcr=False)
    for variant, tag in (("plain", "same covariates as the model"),
                         ("centre_strata", "stratified by centre")):
        ref = rep.cox_multivariable[variant].table
        mine = cox[cox["method"].str.contains(tag)]
        assert len(mine) == len(ref) == 6
        for _, r in ref.iterrows():
            m = mine[mine["group"] == f"{r['level']} vs {r['reference']}"]
            assert float(m["estimate"].iloc[0]) == pytest.approx(r["hr"], rel=1e-6)
            assert float(m["p_value"].iloc[0]) == pytest.approx(r["p"], rel=1e-5)


def test_side_by_side_has_cox_and_every_model(two_fits):
    _, fits = two_fits
    wide, long = side_by_side({k: v[0] for k, v in fits.items()})
    row = wide[wide["contrast"] == "salvage vs second_line"].iloc[0]
    for col in ("cox_hr", "cox_p", "cox_strat_hr", "weibull_ph_centre_hr",
                "weibull_ph_centre_p_hr_below_1", "weibull_ph_pooled_lower"):
        assert np.isfinite(row[col]), col
    assert set(long["interval"]) == {"CI", "CrI", ""}


def test_compare_script_writes_tables_and_refuses_other_data(two_fits, tmp_path):
    _, fits = two_fits
    dirs = [str(v[1]) for v in fits.values()]
    out = tmp_path / "cmp"
    r = subprocess.run([sys.executable, str(SCRIPT), *dirs, "--out", str(out)],
                       capture_output=True, text=True, check=False, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert ("preferred: " in r.stdout or "no model preferred: " in r.stdout) and \
        "SYNTHETIC DATA" in r.stdout
    for name in ("loo.csv", "side_by_side.csv", "effects.csv", "effects.json", "elpd.png",
                 "compare.txt", "averaged.csv", "extrapolation.png"):
        assert (out / name).exists(), name
    # model averaging with the comparison's weights: every fit's rows and the mixture's
    avg = pd.read_csv(out / "averaged.csv")
    loo = pd.read_csv(out / "loo.csv")
    assert set(avg["model"]) == {*loo["model"], "model-averaged (stacking)"}
    eff = pd.read_csv(out / "effects.csv")
    assert (eff["method"].astype(str).str.startswith("model-averaged (stacking) over")).sum() \
        == (avg["model"] == "model-averaged (stacking)").sum()
    meta = json.loads((out / "effects.json").read_text())["metadata"]
    assert meta["endpoint"] == "os" and meta["data_hash"].startswith("sha256:")

    other = write_run(fake_tree(seed=9), tmp_path / "other")
    r = subprocess.run([sys.executable, str(SCRIPT), dirs[0], str(other), "--out",
                        str(tmp_path / "no")], capture_output=True, text=True, check=False,
                       cwd=ROOT)
    assert r.returncode == 2 and "differ in data" in r.stderr
    assert not (tmp_path / "no").exists()


def test_report_comparison_section_says_what_is_measured_and_the_verdict():
    """The report's comparison section states the 2-SE rule and, for B 1 SE below A (closed
    form, see _loo_pair_at), that no model is preferred, naming both with their weights."""
    ll_a, ll_b = _loo_pair_at(1.0)
    rep = compare_report({"A": fake_tree(log_lik=ll_a, seed=1),
                          "B": fake_tree(log_lik=ll_b, seed=1)})
    ep = SimpleNamespace(endpoint="os", compare=SimpleNamespace(report=rep, average=None,
                                                                figures={"elpd": b""}),
                         contrast=SimpleNamespace(
                             result=SimpleNamespace(term="line", level="second_line",
                                                    reference="salvage", conf_level=0.95),
                             across=pd.DataFrame({"endpoint": ["os"]})))
    texts = [c for kind, c, _ in comparison_section(None, ep).blocks if kind == "p"]
    assert len(texts) == 1
    assert "more than 2 SE of the difference (dse)" in texts[0]
    assert "No model preferred: A, B within 2 SE of the best PSIS-LOO ELPD" in texts[0]


def test_a_difference_without_an_se_prefers_no_model():
    """A difference whose SE cannot be computed (NaN, e.g. one unit) is not evidence: no
    model is preferred. Exactly 2 SE is not more than 2 SE."""
    def table(diff, dse):
        return pd.DataFrame({"model": ["A", "B"], "elpd_diff": [0.0, diff],
                             "dse": [0.0, dse]})
    assert loo_verdict(table(-5.0, np.nan)) == (None, ("A", "B"))
    assert loo_verdict(table(-4.0, 2.0)) == (None, ("A", "B"))
    assert loo_verdict(table(-4.0, 1.9)) == ("A", ())


def test_loo_comparison_does_not_copy_the_log_weights():
    """The comparison of 3 fits (2 x 500 draws, 800 units: 6.4 MB of log weights each)
    allocates less than one fit's log weights: ArviZ's compare deep-copies what it is given,
    so the weights must not be in it. The table is the same as with them."""
    import tracemalloc

    import arviz_stats as azs

    from nen_bayes.posterior.compare import loo_table
    from nen_bayes.posterior.diagnostics import psis_loo

    trees = {f"m{i}": fake_tree(n_units=800, chains=2, seed=i, model=f"m{i}")
             for i in range(3)}
    loos = {k: psis_loo(t) for k, t in trees.items()}
    size = loos["m0"].log_weights.nbytes
    assert size >= 6e6
    tracemalloc.start()
    table = loo_table(trees, loos=loos)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < size, (peak, size)
    ref = azs.compare(loos, round_to="none")
    for name in loos:
        assert float(table.set_index("model").loc[name, "weight"]) == pytest.approx(
            float(ref.loc[name, "weight"]), abs=1e-9)
    assert all(lo.log_weights is not None for lo in loos.values())  # callers' objects intact

"""Typed settings, the one decision-probability computation and the one number formatter."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy.stats import norm

from nen_bayes.formatting import format_interval, format_p, format_prob
from nen_bayes.settings import Contrast, Decision, Sampling, decision_probabilities


def test_decision_thresholds_are_checked():
    assert Decision().rope == (0.91, 1.10)
    for bad in ({"benefit": 1.1}, {"harm": 0.9}, {"rope": (1.0, 1.2)}, {"rope": (0.9, 0.99)},
                {"benefit": 0.0}):
        with pytest.raises(ValueError, match="benefit < 1 < harm"):
            Decision(**bad)


def test_decision_probabilities_closed_form():
    """log HR ~ N(mu, sd): every probability is a difference of normal CDFs (closed form,
    computed here with scipy independently of the function's own arithmetic)."""
    mu, sd = math.log(0.8), 0.15
    d = Decision(benefit=0.75, harm=1.3, rope=(0.9, 1.12))
    got = decision_probabilities(lambda x: norm.cdf((math.log(x) - mu) / sd), d)
    assert list(got) == ["P(HR < 1)", "P(HR < 0.75)", "P(HR > 1.3)", "P(0.9 < HR < 1.12)"]
    assert got["P(HR < 1)"] == pytest.approx(norm.cdf(-mu / sd), abs=1e-12)
    assert got["P(HR < 0.75)"] == pytest.approx(norm.cdf((math.log(0.75) - mu) / sd))
    assert got["P(HR > 1.3)"] == pytest.approx(norm.sf((math.log(1.3) - mu) / sd))
    assert got["P(0.9 < HR < 1.12)"] == pytest.approx(
        norm.cdf((math.log(1.12) - mu) / sd) - norm.cdf((math.log(0.9) - mu) / sd))


def test_decision_probabilities_from_draws_match_the_closed_form():
    """Draws of the same normal give the closed form within Monte Carlo error
    (5 binomial SEs at n = 200,000 draws)."""
    mu, sd, n = math.log(0.85), 0.2, 200_000
    hr = np.exp(np.random.default_rng(1).normal(mu, sd, n))
    d = Decision()
    exact = decision_probabilities(lambda x: norm.cdf((math.log(x) - mu) / sd), d)
    mc = decision_probabilities(hr, d)
    for k, p in exact.items():
        assert abs(mc[k] - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-12, k
    # strict inequalities on draws: a draw equal to a threshold counts on neither side
    assert decision_probabilities(np.array([1.0, 1.0]), d)["P(HR < 1)"] == 0.0
    with pytest.raises(ValueError, match="no draws"):
        decision_probabilities(np.array([]), d)


def test_sampling_and_contrast_are_checked():
    assert Sampling().kwargs()["target_accept"] == 0.9
    for bad in ({"draws": 0}, {"chains": 0}, {"target_accept": 1.0}, {"sampler": "hmc"}):
        with pytest.raises(ValueError):
            Sampling(**bad)
    with pytest.raises(ValueError, match="both 'a'"):
        Contrast("line", "a", "a")
    with pytest.raises(ValueError, match="needs a term"):
        Contrast("")


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "<0.001"), (0.00099, "<0.001"), (0.001, "0.001"), (0.0784, "0.078"), (0.5, "0.500"),
    (0.999, "0.999"), (0.99925, ">0.999"), (1.0, ">0.999"), (float("nan"), ""), (None, ""),
])
def test_one_convention_for_p_values_and_probabilities(value, text):
    """R's format.pval(p, eps = 0.001, digits = 3) convention at three decimals: never 0.000
    or 1.000."""
    assert format_prob(value) == text
    assert format_p(value) == text
    assert format_p(None, missing="n/a") == "n/a"


def test_format_interval():
    assert format_interval(0.7412, 0.531, 1.0249) == "0.74 (95% CrI 0.53-1.02)"


@pytest.mark.parametrize(("value", "text"), [
    (0.0784, "= 0.078"), (0.00012, "< 0.001"), (0.99925, "> 0.999"), (None, "= n/a")])
def test_probabilities_in_sentences_read_as_they_mean(value, text):
    """"P(HR < 1) > 0.999", never "P(HR < 1) = >0.999"."""
    from nen_bayes.formatting import format_equals

    assert format_equals(value) == text


def test_quick_compile_only_for_small_cohorts_and_never_over_the_user(monkeypatch):
    from nen_bayes.pipeline.cli import QUICK_COMPILE_UNITS, quick_compile

    monkeypatch.delenv("NUMBA_OPT", raising=False)
    quick_compile(QUICK_COMPILE_UNITS + 1)
    assert "NUMBA_OPT" not in os.environ
    quick_compile(QUICK_COMPILE_UNITS)
    assert os.environ["NUMBA_OPT"] == "0"
    monkeypatch.setenv("NUMBA_OPT", "2")
    quick_compile(10)
    assert os.environ["NUMBA_OPT"] == "2"

"""``nen-bayes trial``: a card built from public patient data reanalysed end to end.

The card is made as a reader of a paper would make it: the GBSG2 trial's patient data
(lifelines.datasets.load_gbsg2, R's TH.data::GBSG2: recurrence-free survival in days by hormone
therapy, 686 patients), each arm's Kaplan-Meier curve read as a digitiser would (both corners of
every step with reading noise, ``roundtrip.digitise``), the numbers at risk every 250 days, and as
"published" figures the full data's own unadjusted Cox HR, log-rank p and medians. The reference
HR is computed by lifelines' CoxPHFitter here, independently of the package's Cox code; R gives
the same: ``exp(coef(coxph(Surv(time, cens) ~ horTh, data = GBSG2)))`` = 0.695.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from nen_bayes.commands.trial import main
from nen_bayes.reconstruction.roundtrip import at_risk, digitise, load_dataset
from nen_bayes.trials.reanalysis import HR_TOLERANCE

pytestmark = pytest.mark.slow


def _ipd_cox(frame: pd.DataFrame):
    from lifelines import CoxPHFitter

    x = pd.DataFrame({"t": frame["time"], "e": frame["event"],
                      "g": (frame["arm"] == "yes").astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter().fit(x, "t", "e")
    return float(np.exp(cph.params_["g"])), np.exp(cph.confidence_intervals_.loc["g"]).to_numpy()


def _write_card(tmp_path, *, seed: int = 3, hr=None, ci=None) -> tuple:
    _, frame = load_dataset("gbsg2")
    rng = np.random.default_rng(seed)
    hr0, ci0 = _ipd_cox(frame)
    arms = []
    for arm in ("no", "yes"):
        sub = frame[frame["arm"] == arm]
        digitise(sub["time"], sub["event"], rng).to_csv(tmp_path / f"{arm}.csv", index=False)
        times = np.arange(0, 2750, 250)
        arms.append(f'[[arms]]\nname = "{arm}"\ncurve = "{arm}.csv"\nn = {len(sub)}\n'
                    f'events = {int(sub["event"].sum())}\n'
                    f'at_risk = {{ times = {times.tolist()}, '
                    f'n = {at_risk(sub["time"], times).tolist()} }}\n')
    hr = round(hr0, 2) if hr is None else hr
    lo, up = (round(ci0[0], 2), round(ci0[1], 2)) if ci is None else ci
    card = ('[trial]\nname = "gbsg2"\ncitation = "GBSG2 patient data (lifelines)"\n'
            'endpoint = "recurrence-free survival"\ntime_unit = "days"\nreference = "no"\n\n'
            + "\n".join(arms)
            + f'\n[published]\nhr = {hr}\nci = [{lo}, {up}]\nmodel = "Cox, unadjusted"\n'
              'p = 0.003\ntest = "log-rank"\nmedians = { no = 1528, yes = 2018 }\n')
    (tmp_path / "card.toml").write_text(card)
    return tmp_path / "card.toml", hr0


def test_the_card_reconstructs_the_trials_hr_within_the_round_trip_tolerance(tmp_path):
    card, hr0 = _write_card(tmp_path)
    assert abs(hr0 - 0.695) < 0.0005  # R's coxph on GBSG2, quoted in the module docstring
    out = tmp_path / "out"
    assert main([str(card), "--draws", "300", "--tune", "300", "--chains", "2", "--seed", "1",
                 "--out", str(out)]) == 0
    assert {"report.txt", "comparison.csv", "effects.csv", "ipd.csv", "accuracy.csv",
            "summary_level.csv", "trial.json", "reconstruction.png"} <= {
        p.name for p in out.iterdir()}
    comp = pd.read_csv(out / "comparison.csv").set_index("quantity")
    hr_rec = comp.loc["HR", "reconstructed"]
    assert abs(hr_rec / hr0 - 1) <= HR_TOLERANCE
    assert comp["agree"].all()
    report = (out / "report.txt").read_text()
    assert report.startswith("Trial gbsg2")
    assert "Every published figure is met within reconstruction error." in report.splitlines()[:20]
    eff = pd.read_csv(out / "effects.csv")
    hrs = eff[eff["quantity"] == "hazard_ratio"]
    assert {"published (Cox, unadjusted)", "Cox univariable: Cox PH (Efron ties)"} <= set(
        hrs["method"])
    bayes = hrs[hrs["method"].str.startswith("Bayesian")]
    assert len(bayes) == 1 and abs(np.log(bayes["estimate"].iloc[0] / hr0)) < 0.1
    assert json.loads((out / "trial.json").read_text())["disagreements"] == []


def test_a_published_hr_far_from_the_curves_is_reported_as_a_disagreement(tmp_path, capsys):
    card, _ = _write_card(tmp_path, hr=0.5, ci=(0.39, 0.64))
    out = tmp_path / "out"
    assert main([str(card), "--no-fit", "--no-figure", "--out", str(out)]) == 0
    head = (out / "report.txt").read_text().splitlines()[:20]
    line = next(x for x in head if x.startswith("Reconstructed and published disagree"))
    assert "HR, CI lower, CI upper" in line
    assert any("another model than an unadjusted Cox model" in x for x in head)
    assert "disagree beyond reconstruction error" in capsys.readouterr().out


def test_a_broken_card_exits_2_and_writes_nothing(tmp_path, capsys):
    card, _ = _write_card(tmp_path)
    card.write_text(card.read_text().replace('reference = "no"', 'reference = "placebo"'))
    out = tmp_path / "out"
    assert main([str(card), "--no-fit", "--out", str(out)]) == 2
    assert "reference 'placebo' is not an arm" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_over_digitiser_seeds_the_reconstructed_hr_stays_within_tolerance(tmp_path, seed):
    from nen_bayes.trials.card import load_card
    from nen_bayes.trials.reanalysis import reanalyse_trial

    card, hr0 = _write_card(tmp_path, seed=seed)
    result = reanalyse_trial(load_card(card), bayes=False)
    hr_rec = result.comparison.set_index("quantity").loc["HR", "reconstructed"]
    assert abs(hr_rec / hr0 - 1) <= HR_TOLERANCE
    assert (result.reconstruction.accuracy()["n"] == [440, 246]).all()

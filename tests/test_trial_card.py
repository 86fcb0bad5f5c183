"""The paper card: parsed and validated at the boundary, every rule with its message."""

from __future__ import annotations

import copy

import pytest

from nen_bayes.trials.card import CardError, card_from_dict, load_card


def _card(tmp_path) -> dict:
    for arm in ("control", "treatment"):
        (tmp_path / f"{arm}.csv").write_text("time,survival\n0,1\n5,0.8\n10,0.6\n")
    return {
        "trial": {"name": "t", "citation": "Example trial", "endpoint": "overall survival",
                  "time_unit": "months", "reference": "control"},
        "arms": [
            {"name": "control", "curve": "control.csv", "n": 50, "events": 30,
             "at_risk": {"times": [0, 5, 10], "n": [50, 40, 20]}},
            {"name": "treatment", "curve": "treatment.csv", "n": 52,
             "at_risk": {"times": [0, 5, 10], "n": [52, 45, 25]}},
        ],
        "published": {"hr": 0.7, "ci": [0.5, 0.98], "model": "Cox, unadjusted", "p": 0.04,
                      "test": "log-rank", "medians": {"control": 8.0, "treatment": 11.0}},
    }


def test_a_valid_card_parses_into_a_frozen_card(tmp_path):
    card = card_from_dict(_card(tmp_path), source="card.toml", base=tmp_path)
    assert card.reference == "control" and card.experimental == "treatment"
    assert card.arm("control").events == 30 and card.arm("treatment").events is None
    assert card.arm("treatment").risk_n == (52, 45, 25)
    assert card.published.median("treatment") == 11.0 and card.published.conf_level == 0.95
    assert card.arm("control").curve == (tmp_path / "control.csv").resolve()
    with pytest.raises(AttributeError):
        card.name = "other"


def test_load_card_reads_toml_relative_to_its_folder(tmp_path):
    _card(tmp_path)
    (tmp_path / "card.toml").write_text(
        '[trial]\ncitation = "c"\nendpoint = "os"\ntime_unit = "month"\nreference = "a"\n'
        '[[arms]]\nname = "a"\ncurve = "control.csv"\nn = 3\n'
        'at_risk = { times = [0, 5], n = [3, 2] }\n'
        '[[arms]]\nname = "b"\ncurve = "treatment.csv"\nn = 4\n'
        'at_risk = { times = [0, 5], n = [4, 2] }\n'
        '[published]\nhr = 1.2\nci = [0.8, 1.9]\nmodel = "Cox"\n')
    card = load_card(tmp_path / "card.toml")
    assert card.name == "card" and card.time_unit == "months"


def _broken(tmp_path, edit):
    data = copy.deepcopy(_card(tmp_path))
    edit(data)
    return lambda: card_from_dict(data, source="card.toml", base=tmp_path)


CASES = [
    ("unknown top key", lambda d: d.update(extra=1), r"card.toml: unknown key\(s\) \['extra'\]"),
    ("unknown trial key", lambda d: d["trial"].update(phase=3),
     r"table trial: unknown key\(s\) \['phase'\]"),
    ("unknown arm key", lambda d: d["arms"][1].update(colour="red"),
     r"arm 'treatment': unknown key\(s\) \['colour'\]"),
    ("bad unit", lambda d: d["trial"].update(time_unit="fortnights"),
     r"time_unit 'fortnights'; allowed: days, weeks, months, years"),
    ("three arms", lambda d: d["arms"].append(dict(d["arms"][0], name="x")),
     r"exactly two \[\[arms\]\] \(the two arms the hazard ratio compares\); got 3"),
    ("reference", lambda d: d["trial"].update(reference="placebo"),
     r"reference 'placebo' is not an arm; arms are \['control', 'treatment'\]"),
    ("missing curve", lambda d: d["arms"][0].update(curve="nope.csv"),
     r"arm 'control': curve file 'nope.csv' not found"),
    ("events > n", lambda d: d["arms"][0].update(events=60),
     r"arm 'control': 60 events but n = 50"),
    ("risk at 0", lambda d: d["arms"][1]["at_risk"].update(n=[51, 45, 25]),
     r"arm 'treatment', table at_risk: 51 at risk at time 0, but the arm's n is 52"),
    ("risk rises", lambda d: d["arms"][0]["at_risk"].update(n=[50, 40, 41]),
     r"arm 'control', table at_risk: the numbers at risk cannot rise"),
    ("risk starts late", lambda d: d["arms"][0]["at_risk"].update(times=[1, 5, 10]),
     r"table at_risk: the first time must be 0"),
    ("risk lengths", lambda d: d["arms"][0]["at_risk"].update(times=[0, 5]),
     r"'times' has 2 values and 'n' 3"),
    ("no at risk", lambda d: d["arms"][0].pop("at_risk"), r"arm 'control': needs an at_risk"),
    ("hr outside ci", lambda d: d["published"].update(hr=1.1),
     r"table published: need 0 < lower < hr < upper; got hr 1.1"),
    ("p range", lambda d: d["published"].update(p=1.5), r"'p' must lie in \(0, 1\]"),
    ("median arm", lambda d: d["published"]["medians"].update(placebo=3.0),
     r"table medians: arm 'placebo' is not an arm of the card"),
    ("no model", lambda d: d["published"].pop("model"), r"'model' must be a non-empty string"),
    ("unknown published key", lambda d: d["published"].update(hr_adjusted=0.8),
     r"table published: unknown key\(s\) \['hr_adjusted'\]"),
]


@pytest.mark.parametrize(("edit", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_of_the_card_names_the_file_table_and_arm(tmp_path, edit, match):
    with pytest.raises(CardError, match=match):
        _broken(tmp_path, edit)()


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    (tmp_path / "card.toml").write_text("[trial\n")
    with pytest.raises(CardError, match=r"card\.toml: not a TOML file"):
        load_card(tmp_path / "card.toml")

"""Every script checks every option before it starts: a value at or beyond its limit (0,
negative, huge, the wrong type, a name that means nothing) ends in exit 0 or 2 with a message,
never a traceback; the values that make no sense end in exit 2 naming the option.

The scripts run in this process (their ``main``), each with inputs that exist (the bundled
cohort, a hand-built fit) and an --out that exists without --force, so that an accepted value
stops at that check, before any fit or long computation."""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from fakes import fake_tree, write_run

from nen_bayes.data import BUNDLED_COHORT

SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
#: values tried for every option that takes one: at and beyond the limits of any number, and
#: text that names nothing
FUZZ = ("0", "-1", "1e999", "nonsense")
_MODULES: dict = {}


def _module(name: str):
    if name not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"script_{name[:-3]}",
                                                      ROOT / "scripts" / name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _MODULES[name] = mod
    return _MODULES[name]


def run_main(name: str, argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of ``scripts/<name> argv``; any other exception (a traceback)
    propagates and fails the test."""
    capsys.readouterr()
    try:
        rc = _module(name).main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Existing inputs and outputs: two fits, a Kaplan-Meier reading, an existing --out."""
    d = tmp_path_factory.mktemp("limits")
    run1 = write_run(fake_tree(seed=1), d / "run1")
    run2 = write_run(fake_tree(seed=2, model="other_model"), d / "run2")
    for r in (run1, run2):  # diagnose.py stops at an existing run card
        (r / "run_card.json").write_text("{}\n")
    exists = d / "exists"
    exists.mkdir()
    (exists / "file.csv").write_text("x\n")
    t = np.linspace(0, 20, 11)
    pd.DataFrame({"arm": "A", "time": t, "survival": np.exp(-t / 20)}).to_csv(
        d / "points.csv", index=False)
    pd.DataFrame({"arm": "A", "time": [0, 10], "n_risk": [50, 30]}).to_csv(
        d / "risk.csv", index=False)
    return {"run1": run1, "run2": run2, "exists": exists, "exists_file": exists / "file.csv",
            "points": d / "points.csv", "risk": d / "risk.csv"}


def base_args(name: str, p: dict) -> list:
    """Arguments with which the script would run, stopping at an existing output."""
    data = ["--data", BUNDLED_COHORT, "--endpoint", "os"]
    return {
        "baseline.py": [*data, "--out", p["exists"]],
        "compare.py": [p["run1"], p["run2"], "--out", p["exists"]],
        "crossval.py": [*data, "--model", ROOT / "models/weibull_ph_centre.toml", "--out",
                        p["exists"]],
        "describe.py": ["--data", p["points"], "--time", "time", "--event", "nonsense"],
        "diagnose.py": [p["run1"], "--no-figures"],
        "fit.py": [*data, "--out", p["exists"]],
        "line_effects.py": [p["run1"], "--out", p["exists"]],
        "prior_grid.py": ["--out", p["exists"]],
        "reanalyse.py": [*data, "--out", p["exists"]],
        "reconstruct.py": ["--points", p["points"], "--at-risk", p["risk"], "--out",
                           p["exists"]],
        "sensitivity.py": [*data, "--out", p["exists"]],
        "simulate.py": ["--out", p["exists_file"]],
        "study.py": ["sbc", "--out", p["exists"]],
        "summary_reanalysis.py": ["--study", "--out", p["exists"]],
        "trial.py": [ROOT / "examples/trial_gbsg2/card.toml", "--out", p["exists"]],
        "meta.py": [ROOT / "examples/trial_gbsg2/card.toml",
                    ROOT / "examples/trial_gbsg2/card.toml", "--out", p["exists"]],
        "validate_reconstruction.py": ["--out", p["exists_file"]],
    }[name]


def _value_options(name: str, capsys) -> list[argparse.Action]:
    """The options of a script that take a value (read from its own parser)."""
    seen = []
    original = argparse.ArgumentParser.parse_args

    def spy(self, *a, **k):
        seen.append(self)
        return original(self, *a, **k)

    argparse.ArgumentParser.parse_args = spy
    try:
        run_main(name, ["--help"], capsys)
    finally:
        argparse.ArgumentParser.parse_args = original
    return [a for a in seen[0]._actions
            if a.option_strings and a.nargs != 0 and a.option_strings[-1] != "--out"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_option_at_and_beyond_its_limits_exits_0_or_2_without_traceback(
        script, inputs, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a value names as a path lands here
    name = script.name
    base = base_args(name, inputs)
    rc, err = run_main(name, base, capsys)
    assert rc in (0, 2), (name, rc, err)
    problems = []
    for action in _value_options(name, capsys):
        opt = action.option_strings[-1]
        for value in FUZZ:
            rc, err = run_main(name, [*base, opt, value], capsys)
            if rc not in (0, 2) or "Traceback" in err:
                problems.append((opt, value, rc, err[-300:]))
            numeric = action.type not in (None, str) and callable(action.type)
            if numeric and value in ("-1", "1e999", "nonsense") and \
                    not (rc == 2 and opt in err):
                problems.append((opt, value, rc, f"not refused by name: {err[-300:]}"))
    assert not problems, problems


# -- the cases users met, each checked before any work ------------------------------------------

@pytest.mark.parametrize(("script", "extra", "option"), [
    ("line_effects.py", ["--max-draws", "0"], "--max-draws"),
    ("line_effects.py", ["--conf-level", "95"], "--conf-level"),
    ("reanalyse.py", ["--max-draws", "0"], "--max-draws"),
    ("reanalyse.py", ["--horizon", "-5"], "--horizon"),
    ("sensitivity.py", ["--horizon", "-5"], "--horizon"),
    ("sensitivity.py", ["--max-draws", "0"], "--max-draws"),
    ("compare.py", ["--conf-level", "0"], "--conf-level"),
    ("diagnose.py", ["--rhat", "0"], "--rhat"),
    ("fit.py", ["--prior-draws", "0"], "--prior-draws"),
    ("baseline.py", ["--tau", "-1"], "--tau"),
])
def test_an_option_out_of_range_is_refused_by_name(script, extra, option, inputs, capsys):
    rc, err = run_main(script, [*base_args(script, inputs), *extra], capsys)
    assert rc == 2 and option in err, err
    assert "Traceback" not in err


def test_line_effects_percent_conf_level_gets_a_hint(inputs, capsys):
    rc, err = run_main("line_effects.py", [inputs["run1"], "--conf-level", "95", "--out",
                                           inputs["exists"]], capsys)
    assert rc == 2 and "0.95" in err


def test_compare_needs_two_runs(inputs, capsys, tmp_path):
    rc, err = run_main("compare.py", [inputs["run1"], "--out", tmp_path / "cmp"], capsys)
    assert rc == 2 and "two" in err
    assert not (tmp_path / "cmp").exists()


def test_diagnose_refuses_an_unknown_by_term_without_figures(tmp_path, capsys):
    run = write_run(fake_tree(seed=3), tmp_path / "run")
    rc, err = run_main("diagnose.py", [run, "--by", "nonsense", "--no-figures"], capsys)
    assert rc == 2 and "--by nonsense" in err
    assert not (run / "run_card.json").exists()


def test_prior_grid_refuses_a_weak_prior_narrower_than_the_moderate_one(tmp_path, capsys):
    """weak=0.1 with moderate=0.15: SD = |ln 0.8| / z(1 - p) would make "weak" the narrower
    prior (z(0.9) = 1.28 > z(0.85) = 1.04)."""
    rc, err = run_main("prior_grid.py", ["--tail", "weak=0.1", "--out", tmp_path / "g"],
                       capsys)
    assert rc == 2 and "decreasing order" in err and "weak=0.1" in err
    assert not (tmp_path / "g").exists()
    rc, _ = run_main("prior_grid.py", ["--tail", "weak=0.4", "--out", tmp_path / "ok"], capsys)
    assert rc == 0 and len(list((tmp_path / "ok").glob("*.toml"))) == 9


def test_the_main_job_refuses_a_grid_contrast_off_the_reference_before_any_fit():
    """The prior grid is on one coefficient: G3 vs G2 of grade (reference G1) cannot carry it;
    check_settings must say so before the first fit, not the grid step after all of them."""
    from nen_bayes import load_cohort
    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.errors import ModelDataError
    from nen_bayes.pipeline.settings import ReanalysisSettings, check_settings
    from nen_bayes.re_nen import RE_NEN
    from nen_bayes.sensitivity.grid import load_prior_grid
    from nen_bayes.settings import Contrast

    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    specs = (load_spec(ROOT / "models/weibull_ph_centre.toml"),)
    priors = tuple(load_prior_grid(ROOT / "models/priors/line"))
    s = ReanalysisSettings(specs=specs, contrast=Contrast("grade", "G3", "G2"),
                           priors=priors, endpoints=("os",))
    with pytest.raises(ModelDataError, match="prior grid is on one coefficient"):
        check_settings(cohort, s)
    check_settings(cohort, ReanalysisSettings(specs=specs, contrast=Contrast("grade", "G3", "G2"),
                                              endpoints=("os",)))  # no grid: allowed


@pytest.mark.parametrize("script", [s for s in SCRIPTS if "--formats" in (
    ROOT / "nen_bayes" / "commands" / s.name).read_text()],
                         ids=lambda p: p.name)
def test_an_unknown_figure_format_is_refused_before_any_work(script, inputs, capsys):
    """Figures are written last: an unknown format must stop the script at parsing, not after
    the fits and tables are computed."""
    rc, err = run_main(script.name, [*base_args(script.name, inputs), "--formats", "png,bmp"],
                       capsys)
    assert rc == 2 and "--formats" in err and "bmp" in err, err

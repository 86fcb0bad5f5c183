"""The study command's options and what identifies a study (fast tier, nothing fitted): -q/-v
before or after KIND, one at a time; a --resume given another --quiet or --verbose continues
the study, one given another option that changes a task's row is refused."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from nen_bayes.commands.study import _settings, build_parser, main
from nen_bayes.errors import EXIT_BAD_INPUT, ResultError
from nen_bayes.pipeline import cli
from nen_bayes.studies.engine import check_study_directory, prepare_study_directory

SPEC = SimpleNamespace(hash="model-hash")
COHORT = SimpleNamespace(data_hash="data-hash")
PLAN = [{"task": 0, "seed": 11}, {"task": 1, "seed": 12}]
SBC = ["sbc", "--reps", "2", "--draws", "60", "--tune", "100", "--out", "results/sbc"]


@pytest.fixture(autouse=True)
def _verbosity_restored(monkeypatch):
    """Parsing -q/-v sets the run's level of output and logging; put both back after a test."""
    monkeypatch.setitem(cli._VERBOSITY, "level", 0)
    yield
    logging.disable(logging.NOTSET)


def _parse(argv):
    return build_parser().parse_args(argv)


def _identity(argv) -> dict:
    return _settings(_parse(argv), SPEC, COHORT)


@pytest.mark.parametrize("argv", [["--quiet", *SBC], [*SBC, "--quiet"], ["-q", *SBC],
                                  [*SBC, "-q"]])
def test_quiet_before_or_after_the_kind(argv):
    args = _parse(argv)
    assert (args.quiet, args.verbose, args.kind) == (True, False, "sbc")
    assert cli.verbosity() == -1


@pytest.mark.parametrize("argv", [["--verbose", *SBC], [*SBC, "--verbose"], ["-v", *SBC]])
def test_verbose_before_or_after_the_kind(argv):
    args = _parse(argv)
    assert (args.quiet, args.verbose) == (False, True)
    assert cli.verbosity() == 1


def test_neither_is_the_default():
    args = _parse(SBC)
    assert (args.quiet, args.verbose) == (False, False)


@pytest.mark.parametrize("argv", [[*SBC, "-q", "-v"], ["-q", *SBC, "--verbose"],
                                  ["--verbose", *SBC, "--quiet"]])
def test_quiet_with_verbose_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_BAD_INPUT
    assert "not allowed with argument" in capsys.readouterr().err


def test_resume_with_another_quiet_or_verbose_continues_the_study(tmp_path):
    out = tmp_path / "study"
    prepare_study_directory(out, _identity(SBC), PLAN)
    for argv in ([*SBC, "--quiet"], ["--verbose", *SBC], [*SBC, "-v"], ["-q", *SBC]):
        assert check_study_directory(out, _identity(argv), PLAN, resume=True) == out, argv
    quiet_first = tmp_path / "quiet_first"
    prepare_study_directory(quiet_first, _identity([*SBC, "--quiet"]), PLAN)
    assert check_study_directory(quiet_first, _identity([*SBC, "--verbose"]), PLAN,
                                 resume=True) == quiet_first


@pytest.mark.parametrize(("option", "then", "now"), [("--draws", "60", "100"),
                                                      ("--tune", "100", "200"),
                                                      ("--seed", "1", "2"),
                                                      ("--bins", "10", "5")])
def test_resume_with_another_result_option_is_refused(option, then, now, tmp_path):
    out = tmp_path / "study"
    prepare_study_directory(out, _identity([*SBC, option, then, "--quiet"]), PLAN)
    with pytest.raises(ResultError, match=f"{option[2:]}: {then!s}.* then, {now!s}.* now"):
        check_study_directory(out, _identity([*SBC, option, now, "--quiet"]), PLAN,
                              resume=True)
    with pytest.raises(ResultError, match="holds another study"):
        check_study_directory(out, _identity([*SBC, option, now, "--verbose"]), PLAN,
                              resume=True)


def test_a_changed_model_or_data_is_refused(tmp_path):
    out = tmp_path / "study"
    args = _parse(SBC)
    prepare_study_directory(out, _settings(args, SPEC, COHORT), PLAN)
    for spec, cohort, what in ((SimpleNamespace(hash="other"), COHORT, "model_hash"),
                               (SPEC, SimpleNamespace(data_hash="other"), "data_hash")):
        with pytest.raises(ResultError, match=what):
            check_study_directory(out, _settings(args, spec, cohort), PLAN, resume=True)

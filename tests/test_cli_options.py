"""The command line as a user meets it: ``nen-bayes --help`` and ``-V`` at once and without the
scientific stack, one ``build_parser()`` per command (the documentation pages are made from
them), ``--quiet``/``--verbose`` everywhere, the exit codes said in every ``--help``, examples
that run for an installed user (``--data bundled``, shipped models by name), a run's temporary
files in a scratch directory of its own, and the libraries' versions in the provenance."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import itertools
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import ROOT, write_csv

import nen_bayes
from nen_bayes.bayes.inference import versions
from nen_bayes.commands import commands
from nen_bayes.commands import main as nen_bayes_main
from nen_bayes.data import BUNDLED_COHORT, shipped_model
from nen_bayes.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECKS_FAILED,
    EXIT_CODES,
    EXIT_NOT_STARTED,
    EXIT_OK,
)
from nen_bayes.pipeline.cli import (
    add_verbosity_options,
    exit_codes_text,
    main_guard,
    script_parser,
    verbosity,
)

#: what a list of commands or a version needs none of
SCIENTIFIC = ("pymc", "pytensor", "nutpie", "arviz", "scipy", "lifelines", "autograd",
              "matplotlib", "xarray", "dask", "distributed", "formulae", "numpy", "pandas")
#: what no command's --help needs (the samplers, ArviZ, the figures, the cluster)
HEAVY = ("pymc", "pytensor", "nutpie", "arviz", "matplotlib", "xarray", "dask", "distributed")

#: what the parser of a light command needs none of: SciPy's statistics, the samplers, ArviZ,
#: lifelines, the figures (the top-level packages, and scipy.stats with its submodules)
STATISTICS = ("scipy.stats", "pymc", "pytensor", "arviz", "lifelines", "matplotlib")
#: the commands whose --help is built without them; the others take a default or a list of
#: choices from a module that needs scipy.stats (baseline: the Kaplan-Meier interval types;
#: reanalyse, study: the main job's model set; reconstruct, validate-reconstruction: the
#: reconstruction's rules and data sets)
LIGHT = ("compare", "crossval", "describe", "diagnose", "fit", "line-effects", "prior-grid",
         "sensitivity", "simulate", "summary-reanalysis")

MODULES = commands()


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter (nothing imported yet) and read its JSON answer."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=ROOT, check=False, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])


def _module(name: str):
    return importlib.import_module(f"nen_bayes.commands.{MODULES[name]}")


def _parser(name: str) -> argparse.ArgumentParser:
    return _module(name).build_parser()


def test_help_and_version_answer_without_importing_the_scientific_stack():
    got = _fresh("""
import contextlib, io, json, sys
from nen_bayes.commands import main
out = {}
for args in (["--help"], ["-h"], ["-V"], ["--version"]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(args)
    out[args[0]] = [code, buf.getvalue()]
print(json.dumps({"out": out, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
""")
    loaded = [m for m in SCIENTIFIC if m in got["loaded"]]
    assert loaded == [], f"nen-bayes --help / -V imported {loaded}"
    out = got["out"]
    assert all(code == EXIT_OK for code, _ in out.values())
    assert out["-V"][1] == out["--version"][1] == f"nen-bayes {nen_bayes.__version__}\n"
    assert out["-h"][1] == out["--help"][1]
    text = " ".join(out["--help"][1].split())
    for name in MODULES:  # each described by its docstring's first words, read from the source
        doc = " ".join((_module(name).__doc__ or "").split())
        assert f" {name} {doc[:40]}" in text, name
    for code, words in EXIT_CODES.items():
        assert f"{code} {' '.join(words.split())[:40]}" in text


def test_a_command_help_imports_no_sampler_plotting_or_cluster():
    got = _fresh("""
import contextlib, io, json, sys
from nen_bayes.commands import commands, main
found = {}
for name in commands():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            code = main([name, "--help"])
        except SystemExit as exc:
            code = exc.code
    found[name] = [code, "usage:" in buf.getvalue(),
                   sorted({m.split(".")[0] for m in sys.modules})]
print(json.dumps(found))
""")
    assert set(got) == set(MODULES)
    for name, (code, usage, loaded) in got.items():  # cumulative: the first to import one fails
        assert code == 0 and usage, name
        heavy = [m for m in HEAVY if m in loaded]
        assert heavy == [], f"nen-bayes {name} --help imported {heavy}"


def _statistics(loaded: list[str]) -> list[str]:
    """The modules of :data:`STATISTICS` among ``loaded`` (names of ``sys.modules``)."""
    return sorted(m for m in loaded
                  if m.split(".")[0] in STATISTICS or m.startswith("scipy.stats.")
                  or m == "scipy.stats")


def test_the_statistics_check_finds_what_it_looks_for():
    assert _statistics(["scipy.stats", "scipy.stats._distn_infrastructure", "lifelines.utils",
                        "matplotlib", "pymc.math", "arviz"]) == [
        "arviz", "lifelines.utils", "matplotlib", "pymc.math", "scipy.stats",
        "scipy.stats._distn_infrastructure"]
    assert _statistics(["scipy", "scipy.special", "numpy", "pandas", "scipy.statsmodels"]) == []
    assert set(LIGHT) < set(MODULES)


def test_the_figure_formats_are_one_tuple_of_the_base_settings_and_the_main_job():
    import nen_bayes.pipeline.settings as job
    import nen_bayes.settings as base

    assert base.FIGURE_FORMATS == ("png", "svg", "pdf")
    assert job.FIGURE_FORMATS is base.FIGURE_FORMATS  # the main job's, as it was imported
    assert "FIGURE_FORMATS" in base.__all__ and "FIGURE_FORMATS" in job.__all__


@pytest.mark.parametrize("name", LIGHT)
def test_a_light_command_builds_its_parser_without_scipy_stats_samplers_or_figures(name):
    got = _fresh(f"""
import contextlib, io, json, sys
from nen_bayes.commands import {MODULES[name]} as command
from nen_bayes.commands import main
text = command.build_parser().format_help()
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    try:
        code = main([{name!r}, "--help"])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({{"help": text, "code": code, "printed": buf.getvalue(),
                  "loaded": sorted(sys.modules)}}))
""")
    assert got["help"].startswith(f"usage: nen-bayes {name} ") and "Exit codes" in got["help"]
    assert got["code"] == EXIT_OK and got["printed"] == got["help"]
    assert _statistics(got["loaded"]) == [], f"nen-bayes {name} --help imported them"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_command_builds_its_parser_and_main_uses_it(name, monkeypatch):
    parser = _parser(name)
    assert isinstance(parser, argparse.ArgumentParser)
    assert parser.prog == f"nen-bayes {name}"
    assert parser.description and parser.description.strip()

    class Used(Exception):
        pass

    class Refusing(argparse.ArgumentParser):
        def parse_args(self, *args, **kwargs):
            raise Used

    module = _module(name)
    monkeypatch.setattr(module, "build_parser", lambda: Refusing(prog="x"))
    with pytest.raises(Used):
        module.main(["--anything"])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_command_has_quiet_and_verbose_one_at_a_time(name):
    parser = _parser(name)
    options = {s for a in parser._actions for s in a.option_strings}
    assert {"-q", "--quiet", "-v", "--verbose"} <= options
    exclusive = [{s for a in g._group_actions for s in a.option_strings}
                 for g in parser._mutually_exclusive_groups]
    assert {"-q", "--quiet", "-v", "--verbose"} in exclusive
    assert "--quiet" in parser.format_help() and "--verbose" in parser.format_help()


def test_quiet_with_verbose_is_a_usage_error(capsys):
    from nen_bayes.commands.describe import main

    with pytest.raises(SystemExit) as exc:
        main(["--data", "bundled", "--quiet", "--verbose"])
    assert exc.value.code == EXIT_BAD_INPUT
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_help_says_the_exit_codes(name):
    parser = _parser(name)
    epilog = parser.epilog or ""
    assert exit_codes_text((EXIT_OK, EXIT_BAD_INPUT)).splitlines()[0] in epilog
    for code in (EXIT_OK, EXIT_BAD_INPUT):
        assert f"  {code}  {EXIT_CODES[code][:30]}" in epilog, code
    fits = {"fit", "diagnose"}
    assert (f"  {EXIT_CHECKS_FAILED}  " in epilog) == (name in fits)
    assert "Exit codes" in parser.format_help()


def test_the_exit_codes_are_distinct_and_each_described():
    codes = (EXIT_OK, EXIT_NOT_STARTED, EXIT_BAD_INPUT, EXIT_CHECKS_FAILED)
    assert codes == (0, 1, 2, 3) and set(EXIT_CODES) == set(codes)
    text = exit_codes_text(codes)
    assert text.startswith("Exit codes:") and all(f"\n  {c}  " in text for c in codes)


def _examples(epilog: str) -> list[list[str]]:
    """The commands of a help's examples (continuation lines joined, comments dropped)."""
    lines, out, current = epilog.splitlines(), [], ""
    for line in lines:
        stripped = line.strip()
        if not current and not stripped.startswith("nen-bayes "):
            continue
        current += " " + stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            out.append(shlex.split(current, comments=True))
            current = ""
    return out


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_help_examples_run_for_an_installed_user(name, tmp_path, monkeypatch):
    """Every example is a ``nen-bayes`` command that its command's parser accepts; it names no
    path of a clone (scripts/, models/), a model without a path is a shipped model, and a
    command that reads a cohort shows it on the bundled one."""
    monkeypatch.chdir(tmp_path)  # where an installed user may be: no clone around
    parser = _parser(name)
    epilog = parser.epilog or ""
    examples = _examples(epilog)
    assert examples, "no example"
    assert "scripts/" not in epilog
    for tokens in examples:
        assert tokens[0] == "nen-bayes" and tokens[1] in MODULES, tokens
        assert not any(t.startswith(("models/", "nen_bayes/")) for t in tokens), tokens
        for option, value in itertools.pairwise(tokens):
            if option == "--model" and "/" not in value and not value.endswith(".toml"):
                assert shipped_model(value) is not None, f"{value}: not a shipped model"
        try:
            _parser(tokens[1]).parse_args(tokens[2:])
        except SystemExit as exc:
            pytest.fail(f"{' '.join(tokens)}: refused by its parser (exit {exc.code})")
    has_data = any("--data" in a.option_strings for a in parser._actions)
    if has_data:
        assert any(t[1] == name and "--data" in t and t[t.index("--data") + 1] == "bundled"
                   for t in examples), "no example on --data bundled"


def test_data_bundled_reads_the_bundled_cohort(tmp_path, monkeypatch, capsys):
    from nen_bayes.commands.describe import main

    monkeypatch.chdir(tmp_path)
    assert main(["--data", "bundled", "--json"]) == EXIT_OK
    described = json.loads(capsys.readouterr().out)
    assert described["provenance"]["source"] == str(BUNDLED_COHORT)
    assert described["provenance"]["synthetic"] is True
    (tmp_path / "bundled").write_text("patient_id\n1\n")  # a file of that name: ambiguous
    with pytest.raises(SystemExit) as exc:
        main(["--data", "bundled"])
    assert exc.value.code == EXIT_BAD_INPUT
    assert "./bundled" in capsys.readouterr().err


@main_guard
def _command(argv):
    """A command that says what the run's scratch directory and logging were."""
    parser = script_parser("probe.py", "A probe.\n\nExamples\n--------\n  nen-bayes probe")
    add_verbosity_options(parser)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("pymc").info("sampling ...")  # a library's INFO message
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write("def generated(): pass\n")
    child = subprocess.run([sys.executable, "-c", "import tempfile; "
                            "print(tempfile.mkstemp(prefix='child-')[1])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    _command.seen = {"file": f.name, "child": child, "tmpdir": os.environ["TMPDIR"],
                     "level": verbosity()}
    if args.fail:
        from nen_bayes.errors import CohortError

        raise CohortError("cohort.csv: column 'os_months', row 4: -1 is not a time")
    return EXIT_OK


def test_a_run_keeps_its_temporary_files_in_a_scratch_directory_removed_at_exit(
        tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert _command([]) == EXIT_OK
    seen = _command.seen
    scratch = Path(seen["tmpdir"])
    assert scratch.parent == tmp  # the run's own directory in the user's TMPDIR
    assert Path(seen["file"]).parent == scratch and Path(seen["child"]).parent == scratch
    assert not scratch.exists() and not Path(seen["file"]).exists()
    # multiprocessing's own directory (made before the run, removed by it at exit) aside,
    # nothing is left
    assert [p.name for p in tmp.iterdir() if not p.name.startswith("pymp-")] == []
    assert os.environ["TMPDIR"] == str(tmp) and tempfile.tempdir is None


def test_quiet_silences_the_libraries_info_and_verbose_shows_the_traceback(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="pymc"):
        assert _command([]) == EXIT_OK
        assert "sampling ..." in caplog.text
        caplog.clear()
        assert _command(["--quiet"]) == EXIT_OK
        assert "sampling ..." not in caplog.text and _command.seen["level"] == -1
    assert logging.root.manager.disable == logging.NOTSET  # restored after the run
    assert verbosity() == 0
    capsys.readouterr()
    assert _command(["--fail"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "error: cohort.csv: column 'os_months', row 4" in err and "Traceback" not in err
    assert _command(["--fail", "--verbose"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "error: cohort.csv" in err and "Traceback (most recent call last)" in err
    assert "CohortError" in err and _command.seen["level"] == 1


def test_a_bad_cohort_exits_2_naming_file_column_and_row(tmp_path, small, capsys):
    from nen_bayes.commands.describe import main

    frame = small.copy()
    frame.loc[2, "os_months"] = "-1"
    path = write_csv(tmp_path / "bad.csv", frame)
    assert main(["--data", str(path), "--quiet"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "bad.csv" in err and "'os_months'" in err and "row 4" in err


def test_the_provenance_names_every_library_that_computes_a_number():
    got = versions()
    for package in ("lifelines", "scipy", "formulae", "matplotlib", "dask", "distributed",
                    "pymc", "numpy"):
        assert got[package] == version(package), package
    assert got["nen-bayes"] == nen_bayes.__version__


def test_the_top_command_dispatches_with_the_exit_code_of_the_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert nen_bayes_main(["describe", "--data", "missing.csv"]) == EXIT_BAD_INPUT
        assert nen_bayes_main(["-X"]) == EXIT_BAD_INPUT
    assert "missing.csv" in err.getvalue() and "unknown command '-X'" in err.getvalue()

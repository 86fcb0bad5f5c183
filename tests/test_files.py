"""Results directories that appear whole or not at all, and the leftovers of runs that were
killed before they finished (issue 16, finding 7): a killed run leaves its hidden partial
directory beside --out; the next run in the same folder removes those whose process is gone,
never one whose process is alive, and says so."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from nen_bayes import files
from nen_bayes.errors import OutputExistsError
from nen_bayes.files import check_output_directory, output_directory

LINUX = Path("/proc/self/stat").exists()


def _dead_pid() -> int:
    """The id of a process that has finished (and been reaped): nothing runs under it."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leftover(parent: Path, name: str, *, size: int = 0, **owner) -> Path:
    """A partial directory as output_directory leaves it, with the owner record given."""
    d = parent / name
    d.mkdir()
    if owner:
        record = {"writer": "nen_bayes", "host": socket.gethostname(), **owner}
        (d / files.OWNER_FILE).write_text(json.dumps(record))
    if size:
        (d / "fit.nc").write_bytes(b"\0" * size)
    return d


def _write_results(out: Path) -> None:
    with output_directory(out) as d:
        (d / "summary.txt").write_text("done\n")


def test_a_results_directory_appears_whole_and_without_its_owner_record(tmp_path):
    out = tmp_path / "results"
    with output_directory(out) as d:
        assert d.parent == tmp_path and d.name.startswith(".results.") and \
            d.name.endswith(".partial")
        record = json.loads((d / files.OWNER_FILE).read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        (d / "summary.txt").write_text("done\n")
        assert not out.exists()
    assert sorted(p.name for p in out.iterdir()) == ["summary.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
    with pytest.raises(OutputExistsError, match="--force"):
        check_output_directory(out)


def test_a_failed_run_leaves_nothing(tmp_path):
    out = tmp_path / "results"
    with pytest.raises(RuntimeError, match="boom"), output_directory(out) as d:
        (d / "half.csv").write_text("x\n")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_only_the_leftover_whose_process_is_gone_is_removed_and_reported(tmp_path):
    dead = _leftover(tmp_path, ".results.ab12.partial", size=1_100_000, pid=_dead_pid())
    live = _leftover(tmp_path, ".results.cd34.partial", size=10, pid=os.getpid())
    other = _leftover(tmp_path, ".fit_os.ef56.partial", size=2_000, pid=_dead_pid())
    with pytest.warns(UserWarning) as said:
        _write_results(tmp_path / "results")
    assert not dead.exists() and not other.exists()
    assert live.is_dir() and (live / "fit.nc").exists()  # a running process's: never touched
    assert (tmp_path / "results" / "summary.txt").exists()
    assert len(said) == 1
    message = str(said[0].message)
    assert message.startswith("removed 2 leftovers of runs that did not finish: ")
    assert ".results.ab12.partial (1.1 MB)" in message and ".cd34." not in message
    assert re.search(r"\.fit_os\.ef56\.partial \(2\.\d kB\)", message)  # 2,000 bytes + record


def test_one_leftover_is_reported_in_the_singular(tmp_path):
    _leftover(tmp_path, ".results.ab12.partial", size=1_100_000, pid=_dead_pid())
    with pytest.warns(UserWarning, match=re.escape(
            "removed 1 leftover of a run that did not finish: .results.ab12.partial (1.1 MB)")):
        check_output_directory(tmp_path / "results")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not LINUX, reason="process start times are read from /proc (Linux)")
def test_a_reused_process_id_does_not_keep_a_leftover(tmp_path):
    """The record holds the owner's start time: a live process that now has the owner's id
    but started at another time is not the owner."""
    reused = _leftover(tmp_path, ".results.ab12.partial", pid=os.getpid(), started=1)
    with pytest.warns(UserWarning, match="removed 1 leftover"):
        _write_results(tmp_path / "results")
    assert not reused.exists()


def test_leftovers_it_cannot_judge_are_left_in_place(tmp_path, recwarn):
    """Another host's run (its process cannot be seen from here) is never touched, nor is a
    directory without a readable owner record; one named like this output's leftovers is
    mentioned so that it can be removed by hand."""
    elsewhere = _leftover(tmp_path, ".results.ab12.partial", pid=_dead_pid(),
                          host="another-host.example")
    unowned = _leftover(tmp_path, ".results.cd34.partial", size=5)
    garbled = _leftover(tmp_path, ".results.ef56.partial")
    (garbled / files.OWNER_FILE).write_text("{not json")
    foreign = _leftover(tmp_path, ".download.gh78.partial", size=5)
    _write_results(tmp_path / "results")
    assert elsewhere.is_dir() and unowned.is_dir() and garbled.is_dir() and foreign.is_dir()
    messages = [str(w.message) for w in recwarn.list]
    assert len(messages) == 1 and "removed" not in messages[0]
    assert ".results.cd34.partial" in messages[0] and ".results.ef56.partial" in messages[0]
    assert "left in place" in messages[0] and ".download" not in messages[0]
    assert ".results.ab12" not in messages[0]


def test_the_previous_results_left_by_a_killed_replacement_are_removed(tmp_path):
    """A run killed while it removed the results it replaced leaves .<out>.<pid>.old beside
    the new results: removed once its process is gone. Without the new results it is the only
    copy of the previous ones: kept, and the message says how to restore it."""
    out = tmp_path / "results"
    _write_results(out)
    old = tmp_path / f".results.{_dead_pid()}.old"
    old.mkdir()
    (old / "summary.txt").write_text("previous\n")
    with pytest.warns(UserWarning, match=re.escape(f"{old.name} (9 bytes)")):
        check_output_directory(out, force=True)
    assert not old.exists()

    other = tmp_path / "fits"
    kept = tmp_path / f".fits.{_dead_pid()}.old"
    kept.mkdir()
    with pytest.warns(UserWarning, match=f"{kept.name}.*rename it to fits"):
        check_output_directory(other)
    assert kept.is_dir()


_KILLED_RUN = """
import sys, time
from nen_bayes.files import output_directory
with output_directory(sys.argv[1]) as d:
    (d / "fit.nc").write_bytes(b"\\0" * 2000)
    print(d.name, flush=True)
    time.sleep(300)
"""


def test_a_run_killed_with_sigkill_is_cleaned_up_by_the_next_run(tmp_path):
    """A real SIGKILL (no handler runs): the partial directory stays, --out never appears;
    the next command that writes beside it removes it and prints what it removed."""
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_KILLED_RUN), str(out)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        name = proc.stdout.readline().strip()
        assert name.startswith(".results.") and (tmp_path / name).is_dir()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / name / "fit.nc").exists() and not out.exists()

    r = subprocess.run([sys.executable, str(ROOT / "scripts/summary_reanalysis.py"),
                        "--estimate", "0.75", "--ci", "0.55,1.02", "--formats", "png",
                        "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"warning: removed 1 leftover of a run that did not finish: {name} (" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]

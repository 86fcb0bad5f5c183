"""The engine of simulation studies on Dask (nen_bayes/studies/engine.py), with a tiny study
kind whose fit is a closed form (tests/study_fakes.py): a study on a 2-process LocalCluster
completes and writes its table; a failing task is recorded, not fatal; each worker compiles
(builds) a model once; a worker killed mid-study has its tasks rescheduled; a client killed
mid-study is resumed without redoing a finished task; the same seed gives the same table on 1
and 2 workers; a scheduler that does not answer is refused."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT
from study_fakes import FakeKind

from nen_bayes.errors import OutputExistsError, ResultError
from nen_bayes.studies.engine import (
    RESULTS_FILE,
    ClusterError,
    read_results,
    run_study,
    run_tasks_here,
)

#: columns that depend on where and when a task ran, not on what it computed
WHERE = ["seconds", "worker", "fitter", "fits_by_fitter"]


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded processes shared by the tests that pass its
    address as an existing scheduler."""
    from distributed import LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=None, silence_logs=logging.ERROR,
                     scheduler_kwargs={"dashboard_address": ":0"})
    yield c
    c.close()


def _same_result(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns=WHERE), b.drop(columns=WHERE))


def test_a_study_on_two_processes_completes_records_a_failure_and_matches_one_worker(tmp_path):
    kind = FakeKind(reps=8, fail=(3,))
    two = run_study(kind, tmp_path / "two", workers=2, progress=False)
    assert two.workers == 2 and two.ran == 8
    t = two.table
    assert list(t["task"]) == list(range(8))
    assert list(t["status"]) == ["ok"] * 3 + ["failed"] + ["ok"] * 4
    assert "ValueError: task 3 cannot be fitted" in t.loc[3, "error"]
    assert t.loc[t["status"] == "ok", "error"].eq("").all()
    _same_result(read_results(tmp_path / "two"), t)  # the table on disk is the whole table
    # one fitter per worker process, reused by every task it ran there
    ok = t[t["status"] == "ok"]
    assert ok.groupby("worker")["fitter"].nunique().eq(1).all()
    assert ok.groupby("fitter")["fits_by_fitter"].max().sum() == len(ok)
    one = run_study(kind, tmp_path / "one", workers=1, progress=False)
    assert one.workers == 1
    _same_result(one.table, t)
    _same_result(run_tasks_here(kind), t)  # and in this process, one task after another


def test_a_killed_worker_has_its_tasks_rescheduled(cluster, tmp_path):
    marker = tmp_path / "killed"
    kind = FakeKind(reps=8, sleep=0.05, kill_once=str(marker))
    run = run_study(kind, tmp_path / "out", scheduler=cluster.scheduler_address,
                    progress=False)
    assert marker.exists()  # task 2 killed its worker once
    assert list(run.table["status"]) == ["ok"] * 8
    _same_result(run.table, run_tasks_here(FakeKind(reps=8)))


def test_resume_after_the_client_is_killed_redoes_nothing_finished(cluster, tmp_path):
    log, out = tmp_path / "log", tmp_path / "out"
    log.mkdir()
    args = {"reps": 10, "sleep": 0.3, "log": str(log)}
    code = ("import sys; sys.path.insert(0, 'tests'); from study_fakes import FakeKind; "
            "from nen_bayes.studies.engine import run_study; "
            f"run_study(FakeKind(**{args!r}), {str(out)!r}, "
            f"scheduler={cluster.scheduler_address!r}, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(read_results(out)) >= 3:  # part files as batches finish
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = read_results(out)
    assert 3 <= len(before) < 10, "the client was not killed mid-study"
    runs_before = {int(p.name.split("-")[0]) for p in log.iterdir()}
    run = run_study(FakeKind(**args), out, scheduler=cluster.scheduler_address, resume=True,
                    progress=False)
    assert run.resumed == len(before) and run.ran == 10 - len(before)
    assert list(run.table["task"]) == list(range(10))
    assert (run.table["status"] == "ok").all()
    runs = pd.Series([int(p.name.split("-")[0]) for p in log.iterdir()]).value_counts()
    for task in before["task"]:
        assert runs[task] == 1, f"task {task} was finished before the kill and ran again"
    assert set(runs.index) == set(range(10)) and runs_before <= set(runs.index)
    _same_result(run.table[run.table["task"].isin(before["task"])].reset_index(drop=True),
                 before)


def test_an_existing_study_needs_resume_or_force_and_resume_needs_the_same_study(
        cluster, tmp_path):
    out = tmp_path / "out"
    run_study(FakeKind(reps=2), out, scheduler=cluster.scheduler_address, progress=False,
              settings={"draws": 100})
    with pytest.raises(OutputExistsError, match="--resume"):
        run_study(FakeKind(reps=2), out, progress=False, settings={"draws": 100})
    with pytest.raises(ResultError, match="draws: 100 then, 200 now"):
        run_study(FakeKind(reps=2), out, resume=True, settings={"draws": 200})
    with pytest.raises(ResultError, match="plan"):
        run_study(FakeKind(reps=3), out, resume=True, settings={"draws": 100})
    again = run_study(FakeKind(reps=2), out, resume=True, settings={"draws": 100},
                      progress=False)
    assert again.ran == 0 and again.resumed == 2  # nothing to do: no cluster started


def test_a_scheduler_that_does_not_answer_is_refused(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=rf"no Dask scheduler answered at tcp://127.0.0.1:{port}"):
        run_study(FakeKind(reps=2), tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}",
                  connect_timeout=1, progress=False)
    assert time.monotonic() - t0 < 20
    assert not (tmp_path / "out" / RESULTS_FILE).exists()


def test_a_task_that_returns_draws_is_recorded_as_failed():
    class Draws(FakeKind):
        def run_task(self, task, fitter):
            return {"draws": fitter.fit([1.0], [1], seed=task["seed"])}

    t = run_tasks_here(Draws(reps=1))
    assert t.loc[0, "status"] == "failed" and "never draws or arrays" in t.loc[0, "error"]


# -- the command: bad options end in exit 2 with a clear message, before anything runs ---------

def _study(argv, capsys) -> tuple[int, str]:
    from nen_bayes.commands.study import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def test_the_command_refuses_bad_options_with_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    rc, err = _study(["sbc", "--model", "no_such_model", "--out", out], capsys)
    assert rc == 2 and "no_such_model" in err and "Traceback" not in err
    rc, err = _study(["sbc", "--reps", "0", "--out", out], capsys)
    assert rc == 2 and "--reps" in err and "below the smallest allowed value, 1" in err
    rc, err = _study(["operating", "--hr", "0.6,-1", "--out", out], capsys)
    assert rc == 2 and "--hr" in err and "must be above 0" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, err = _study(["sbc", "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout",
                      "1", "--out", out], capsys)
    assert rc == 2 and f"no Dask scheduler answered at tcp://127.0.0.1:{port}" in err
    assert "dask scheduler" in err
    rc, err = _study(["assurance", "--fit", tmp_path / "no_fit.nc", "--out", out], capsys)
    assert rc == 2 and "no_fit.nc: no such file" in err
    (tmp_path / "not_a_fit.nc").write_text("x\n")
    rc, err = _study(["assurance", "--fit", tmp_path / "not_a_fit.nc", "--out", out], capsys)
    assert rc == 2 and "not a fit that fit.py wrote" in err
    assert not out.exists()  # nothing written by any of them
    out.mkdir()
    (out / "results.parquet").write_bytes(b"")
    rc, err = _study(["sbc", "--out", out], capsys)
    assert rc == 2 and "--resume" in err and "--force" in err
    rc, err = _study(["sbc", "--out", out, "--resume", "--force"], capsys)
    assert rc == 2 and "one of them" in err
    rc, err = _study(["nonsense", "--out", out], capsys)
    assert rc == 2 and "invalid choice" in err

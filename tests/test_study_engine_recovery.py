"""The engine's model cache, recovery, checks of the cluster and results files
(nen_bayes/studies/engine.py), with fits that compile nothing (tests/study_fakes.py):

- a compiled model is keyed by the design's data: an SBC of one design, then an SBC of the
  same cohort with its covariates shuffled across rows (same units, same plan), builds a second
  model on the same worker, and a cached model of another design under a key is built again;
- the only worker killed mid-study loses no task (the study object is recomputable);
- --resume runs the failed tasks again and keeps the finished ones;
- a port that accepts connections but is no scheduler fails within the timeout; a scheduler
  without workers ends with exit 2 and writes nothing; a damaged results.parquet is refused
  on resume with its name; workers of other versions are named;
- rows go to part files of their own batch, read back with the gathered table;
- a task runs with one OpenMP thread on a worker started without that setting; the
  LocalCluster's dashboard is on 127.0.0.1 and its scratch directory is removed at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import tempfile
import threading
import time
from collections import Counter

import numpy as np
import pytest
from study_fakes import EnvKind, FakeKind, PriorRefitter, PriorSBC

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT, shipped_model
from nen_bayes.errors import ResultError
from nen_bayes.re_nen import RE_NEN
from nen_bayes.settings import Sampling
from nen_bayes.studies import engine
from nen_bayes.studies.engine import (
    PARTS_DIR,
    RESULTS_FILE,
    SETTINGS_FILE,
    ClusterError,
    check_scheduler,
    read_results,
    run_study,
    version_problems,
)

TINY = Sampling(draws=60, tune=60, chains=2, cores=1)


def _in_process(workers: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                        protocol="tcp", host="127.0.0.1", dashboard_address=None,
                        silence_logs=logging.ERROR)


@pytest.fixture
def inproc():
    """A scheduler and one worker thread in this process (the worker's model cache is this
    module's ``engine._FITTERS``)."""
    c = _in_process(1)
    yield c
    c.close()


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(BUNDLED_COHORT, RE_NEN)


@pytest.fixture(scope="module")
def spec():
    return load_spec(shipped_model("weibull_ph_centre"))


def _two_designs(spec, cohort):
    """SBC of the cohort's design and of the same cohort with its covariates shuffled across
    rows: the same units, plan and model, other covariates."""
    a = PriorSBC(spec, cohort, reps=3, seed=4, sampling=TINY, n_draws=19, bins=4)
    terms = sorted(set(a._design[1].terms))
    data = cohort.data.copy()
    perm = np.random.default_rng(1).permutation(len(data))
    data[terms] = data[terms].iloc[perm].to_numpy()
    b = PriorSBC(spec, dataclasses.replace(cohort, data=data), reps=3, seed=4, sampling=TINY,
                 n_draws=19, bins=4)
    return a, b


def test_a_second_design_with_the_same_units_builds_its_own_model(inproc, tmp_path, spec,
                                                                  cohort):
    a, b = _two_designs(spec, cohort)
    da, db = a._design[1], b._design[1]
    assert da.n == db.n and a.plan() == b.plan()  # what the old key was made of: the same
    assert not np.array_equal(da.X, db.X)
    ka, kb = a.model_key(a.plan()[0]), b.model_key(b.plan()[0])
    assert ka != kb
    engine._FITTERS.clear()
    for kind, out in ((a, "a"), (b, "b")):
        run = run_study(kind, tmp_path / out, scheduler=inproc.scheduler_address,
                        progress=False)
        assert (run.table["status"] == "ok").all(), run.table["error"].tolist()
    fitters = {key: f for (_, key), f in engine._FITTERS.items() if key[0] == "sbc"}
    assert set(fitters) == {ka, kb}
    assert np.array_equal(fitters[kb].design.X, db.X)
    assert np.array_equal(fitters[ka].design.X, da.X)
    assert fitters[ka].n_fits == fitters[kb].n_fits == 3
    engine._FITTERS.clear()


def test_a_cached_model_of_another_design_under_the_key_is_built_again(spec, cohort):
    a, b = _two_designs(spec, cohort)
    key = b.model_key({})
    stale = PriorRefitter(spec, a._design[1])
    assert stale.matches(spec, a._design[1]) and not stale.matches(spec, b._design[1])
    assert not b.fitter_matches(key, stale)
    engine._FITTERS.clear()
    engine._FITTERS[("token", key)] = stale  # as if a key had not told the designs apart
    fitter = engine.cached_fitter(b, "token", key)
    assert fitter is not stale and np.array_equal(fitter.design.X, b._design[1].X)
    assert engine.cached_fitter(b, "token", key) is fitter  # and kept
    engine._FITTERS.clear()
    with pytest.raises(ValueError, match="not this study's key"):
        b.make_fitter(a.model_key({}))


def test_the_only_worker_killed_mid_study_loses_no_task_and_scratch_is_removed(
        tmp_path, monkeypatch):
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    marker, said, seen = tmp_path / "killed", [], []
    kind = FakeKind(reps=6, sleep=0.05, kill_once=str(marker))

    def on_row(row):
        seen.extend(p.name for d in scratch_root.glob("nen-bayes-study-*") for p in d.iterdir())

    run = run_study(kind, tmp_path / "out", workers=1, progress=False, on_row=on_row,
                    say=said.append)
    assert marker.exists()  # task 2 killed the only worker once; its nanny restarted it
    assert list(run.table["status"]) == ["ok"] * 6, run.table["error"].tolist()
    assert run.workers == 1
    assert any(re.search(r"http://127\.0\.0\.1:\d+/status", s) for s in said), said
    assert "dask-scratch-space" in seen  # Dask's files went to the run's scratch directory
    assert list(scratch_root.iterdir()) == []  # which is gone


def test_resume_runs_the_failed_tasks_again_and_keeps_the_finished(inproc, tmp_path):
    log, out = tmp_path / "log", tmp_path / "out"
    log.mkdir()
    first = run_study(FakeKind(reps=5, fail=(1, 3), log=str(log)), out,
                      scheduler=inproc.scheduler_address, progress=False)
    assert list(first.table["status"]) == ["ok", "failed", "ok", "failed", "ok"]
    again = run_study(FakeKind(reps=5, log=str(log)), out, scheduler=inproc.scheduler_address,
                      resume=True, progress=False)
    assert again.ran == 2 and again.resumed == 3 and again.rerun_failed == 2
    assert (again.table["status"] == "ok").all()
    runs = Counter(int(p.name.split("-")[0]) for p in log.iterdir())
    assert runs == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1}
    assert (read_results(out)["status"] == "ok").all()
    assert not (out / PARTS_DIR).exists()  # gathered into results.parquet at the end


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.05)
    stop, conns = threading.Event(), []

    def accept():
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def _study(argv, capsys) -> tuple[int, str]:
    from nen_bayes.commands.study import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def test_a_port_that_accepts_but_is_no_scheduler_fails_within_the_timeout(silent_port,
                                                                           tmp_path, capsys):
    address = f"tcp://127.0.0.1:{silent_port}"
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match="nothing that speaks Dask's protocol answered"):
        run_study(FakeKind(reps=2), tmp_path / "out", scheduler=address, connect_timeout=1.0,
                  progress=False)
    assert time.monotonic() - t0 < 3.0  # 1 s and the set-up (a client alone waits minutes)
    assert not (tmp_path / "out").exists()
    t0 = time.monotonic()
    rc, err = _study(["sbc", "--scheduler", address, "--scheduler-timeout", "1", "--out",
                      tmp_path / "cmd"], capsys)
    assert time.monotonic() - t0 < 3.0
    assert rc == 2 and f"no Dask scheduler answered at {address} within 1 s" in err
    assert "Traceback" not in err and not (tmp_path / "cmd").exists()


def test_a_scheduler_without_workers_ends_with_exit_2_and_leaves_nothing(tmp_path, capsys):
    c = _in_process(0)
    try:
        address, out = c.scheduler_address, tmp_path / "out"
        with pytest.raises(ClusterError, match=r"has 0 worker\(s\) after 1 s"):
            check_scheduler(address, 1.0)
        with pytest.raises(ClusterError, match="dask worker"):
            run_study(FakeKind(reps=2), out, scheduler=address, connect_timeout=1.0,
                      progress=False)
        assert not out.exists()
        argv = ["sbc", "--scheduler", address, "--scheduler-timeout", "1", "--reps", "2",
                "--out", out]
        for _ in range(2):  # the same command again is not refused for a study.json
            rc, err = _study(argv, capsys)
            assert rc == 2 and "has 0 worker(s)" in err and "dask worker" in err, err
            assert not out.exists()
    finally:
        c.close()


def test_a_damaged_results_file_is_refused_on_resume_with_its_name(inproc, tmp_path):
    out = tmp_path / "out"
    run_study(FakeKind(reps=2), out, scheduler=inproc.scheduler_address, progress=False)
    assert (out / SETTINGS_FILE).exists()
    (out / RESULTS_FILE).write_bytes(b"not a table\x00\x01\x02" * 10)
    name = re.escape(str(out / RESULTS_FILE))
    with pytest.raises(ResultError, match=rf"{name} is not a readable Parquet table.*--force"):
        run_study(FakeKind(reps=2), out, scheduler=inproc.scheduler_address, resume=True,
                  progress=False)


def test_workers_of_other_versions_are_named_and_the_same_ones_pass(inproc):
    mine = {"python": "3.12.1.final.0", "dask": "2026.11.0", "numpy": "2.5.5",
            "nen-bayes": "0.2.0", "pymc": "6.4.0"}
    versions = {"client": {"packages": mine}, "workers": {
        "tcp://a:1": {"packages": {**mine, "python": "3.12.4.final.0"}},  # same X.Y
        "tcp://b:1": {"packages": {**mine, "nen-bayes": None}},
        "tcp://c:1": {"packages": {**mine, "numpy": "1.26.4"}}}}
    assert version_problems(versions) == ["tcp://b:1: nen-bayes not installed (here 0.2.0)",
                                          "tcp://c:1: numpy 1.26.4 (here 2.5.5)"]
    assert check_scheduler(inproc.scheduler_address, 5.0) == 1  # this process's own worker
    answers = {"tcp://a:1": 123, "tcp://b:1": ModuleNotFoundError("No module named 'nen_bayes'")}
    assert engine.import_problems(answers) == [
        "tcp://b:1: cannot import nen_bayes (ModuleNotFoundError: No module named 'nen_bayes')"]


def test_rows_go_to_part_files_of_their_batch_and_read_back_with_the_table(tmp_path):
    rows = [{"task": 0, "x": 1.0, "status": "ok", "error": "", "seconds": 0.1, "worker": "w"},
            {"task": 1, "status": "failed", "error": "boom", "seconds": 0.1, "worker": "w"}]
    engine._gather(tmp_path, engine._ordered(rows))
    part = engine._write_part(tmp_path, 1, [{**rows[0], "task": 1, "x": 2.0},
                                            {**rows[0], "task": 2, "x": 3.0}])
    import pandas as pd

    assert len(pd.read_parquet(part)) == 2  # the batch only, not the table
    t = read_results(tmp_path)
    assert list(t["task"]) == [0, 1, 2] and list(t["x"]) == [1.0, 2.0, 3.0]
    assert list(t["status"]) == ["ok"] * 3  # the later row of task 1 wins


def test_a_task_runs_with_one_openmp_thread_on_a_worker_started_without_it(
        inproc, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run = run_study(EnvKind(reps=2), tmp_path / "out", scheduler=inproc.scheduler_address,
                    progress=False)
    assert list(run.table["omp_threads"]) == ["1", "1"]

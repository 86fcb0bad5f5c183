"""The engine of simulation studies: many seeded fits on a Dask cluster, streamed to Parquet.

A study kind (:mod:`nen_bayes.studies`, e.g. simulation-based calibration) gives a plan, one
plain dict per task (its index ``task`` and its ``seed``, derived from the study's seed and the
task index, so that a task gives the same row on any worker); :func:`run_study` sends every task
of the plan to a Dask cluster (a :class:`distributed.LocalCluster` of one single-threaded
process per core by default, or the scheduler at ``scheduler=ADDRESS``), and writes each row as
it comes back to ``<out>/results.parquet`` (rewritten atomically after every batch of finished
tasks, so that the file is always whole).

- Workers keep summaries only: a task returns one flat row of numbers and text (a row holding
  anything else is recorded as a failed task), never draws.
- Each worker process compiles a model once per :meth:`model_key <StudyKind.model_key>` and
  reuses it for every task that needs it (:func:`cached_fitter`; at most :data:`MAX_FITTERS`
  per process), so a task costs a data swap and a short run of the sampler.
- A task that raises is recorded (``status`` ``"failed"``, ``error`` its message) and the study
  goes on; a worker that dies has its tasks rescheduled by Dask on the others.
- ``resume=True`` keeps the rows of ``results.parquet`` (ok or failed) and runs only the tasks
  that have none, after checking that the study is the same (``study.json``: the settings and
  a hash of the plan).

The engine adds the columns :data:`ENGINE_COLUMNS` to each row.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Number
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from nen_bayes.errors import OutputExistsError, ResultError
from nen_bayes.files import atomic_write_bytes, atomic_write_text

__all__ = ["ENGINE_COLUMNS", "MAX_FITTERS", "RESULTS_FILE", "SETTINGS_FILE", "ClusterError",
           "StudyKind", "StudyRun", "cached_fitter", "check_scheduler", "default_workers",
           "prepare_study_directory", "read_results", "run_study", "task_seed"]

#: Columns the engine adds to every row of a kind.
ENGINE_COLUMNS = ("task", "status", "error", "seconds", "worker")
#: The table of finished tasks inside a study's directory.
RESULTS_FILE = "results.parquet"
#: What identifies a study (its settings and plan hash), read back by ``resume``.
SETTINGS_FILE = "study.json"
#: Compiled models a worker process keeps (least recently used dropped first).
MAX_FITTERS = 4
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 10.0


class ClusterError(RuntimeError):
    """No Dask scheduler answered at the address given (or a cluster could not start)."""


class StudyKind(Protocol):
    """What the engine needs of a kind of study (the contract of :mod:`nen_bayes.studies`)."""

    name: str

    def plan(self) -> list[dict]: ...

    def model_key(self, task: dict) -> tuple: ...

    def make_fitter(self, key): ...

    def run_task(self, task: dict, fitter) -> dict: ...

    def summarise(self, table: pd.DataFrame): ...


def task_seed(study_seed: int, task: int) -> int:
    """The seed of task ``task`` of a study seeded ``study_seed``: the same on every worker and
    every cluster (``numpy.random.SeedSequence([study_seed, task])``, first 32-bit word)."""
    return int(np.random.SeedSequence([int(study_seed), int(task)]).generate_state(1)[0])


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


# --- worker side ------------------------------------------------------------------------------
#: (study token, model key) -> fitter, in this worker process
_FITTERS: OrderedDict = OrderedDict()


def cached_fitter(kind, token: str, key, *, reuse: bool = True):
    """The fitter of ``key`` for this process: built once by ``kind.make_fitter(key)`` and kept
    (at most :data:`MAX_FITTERS`) for the tasks of the study ``token`` that need it; a new one
    per call with ``reuse=False`` (what the benchmark measures the cache against)."""
    if not reuse:
        return kind.make_fitter(key)
    k = (token, key)
    if k in _FITTERS:
        _FITTERS.move_to_end(k)
        return _FITTERS[k]
    fitter = kind.make_fitter(key)
    _FITTERS[k] = fitter
    while len(_FITTERS) > MAX_FITTERS:
        _FITTERS.popitem(last=False)
    return fitter


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, Number, np.generic))


def _flat_row(row) -> dict:
    """The kind's row, checked to be one flat mapping of scalars (a summary, not draws)."""
    if not isinstance(row, Mapping):
        raise TypeError(f"run_task returned {type(row).__name__}, not a dict of summaries")
    bad = [k for k, v in row.items() if not _is_scalar(v)]
    if bad:
        raise TypeError(f"run_task returned non-scalar values in {sorted(map(str, bad))}: a "
                        "task returns summaries (numbers and text), never draws or arrays")
    clash = [k for k in row if k in ENGINE_COLUMNS and k != "task"]
    if clash:
        raise TypeError(f"run_task returned the engine's own columns {clash}")
    return {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _error_text(exc: BaseException) -> str:
    """The exception's type and message, and where it was raised (last frame)."""
    text = f"{type(exc).__name__}: {exc}".strip()
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        f = frames[-1]
        text += f" (at {Path(f.filename).name}:{f.lineno} in {f.name})"
    return text


def execute_task(kind, token: str, task: dict, reuse: bool = True) -> dict:
    """Run one task where it is called (on a worker): the kind's row plus the engine's
    columns; an exception becomes a failed row with its message."""
    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        fitter = cached_fitter(kind, token, kind.model_key(task), reuse=reuse)
        row, status, error = _flat_row(kind.run_task(task, fitter)), "ok", ""
    except Exception as exc:  # recorded in the table; the study goes on
        row, status, error = {}, "failed", _error_text(exc)
    return {**row, "task": int(task["task"]), "status": status, "error": error,
            "seconds": round(time.perf_counter() - t0, 4), "worker": worker}


# --- the study's directory --------------------------------------------------------------------
def plan_hash(plan: list[dict]) -> str:
    """A hash of the plan (every task's fields): resume refuses a study whose plan changed."""
    text = json.dumps(plan, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_study_directory(out: str | os.PathLike, settings: Mapping, plan: list[dict], *,
                            resume: bool = False, force: bool = False) -> Path:
    """Make ``out`` ready for a study and record what identifies it (:data:`SETTINGS_FILE`).

    A missing or empty directory is used as it is; an existing non-empty one needs ``resume``
    (and then must hold the same study: same settings, same plan) or ``force`` (it is emptied
    first). Raises :class:`~nen_bayes.errors.OutputExistsError` or, for a resume of another
    study, :class:`~nen_bayes.errors.ResultError`; nothing is written then."""
    p = Path(out)
    record = {"settings": dict(settings), "plan_hash": plan_hash(plan), "tasks": len(plan)}
    record = json.loads(json.dumps(record, default=str))  # as it reads back
    if p.exists() and not p.is_dir():
        raise OutputExistsError(f"{p} exists and is not a directory.")
    full = p.exists() and any(p.iterdir())
    if full and resume:
        _check_same_study(p, record)
    elif full and not force:
        raise OutputExistsError(f"{p} exists and is not empty; pass --resume to continue the "
                                "study it holds, or --force to replace it (nothing was "
                                "written).")
    elif full:
        shutil.rmtree(p)
    p.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p / SETTINGS_FILE, json.dumps(record, indent=1) + "\n", force=True)
    return p


def _check_same_study(p: Path, record: dict) -> None:
    try:
        old = json.loads((p / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        raise ResultError(f"{p} holds no study to resume (no readable {SETTINGS_FILE}); give "
                          "another --out, or --force to replace it.") from None
    diff = [f"{k}: {old.get('settings', {}).get(k)!r} then, {v!r} now"
            for k, v in record["settings"].items() if old.get("settings", {}).get(k) != v]
    if diff or old.get("plan_hash") != record["plan_hash"]:
        what = "; ".join(diff) or "the plan of tasks differs"
        raise ResultError(f"{p} holds another study than the one asked ({what}); --resume "
                          "continues the same study only: repeat its options, or give another "
                          "--out.")


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """The rows written so far (an empty table when there are none)."""
    path = Path(out) / RESULTS_FILE
    if not path.exists():
        return pd.DataFrame(columns=list(ENGINE_COLUMNS))
    return pd.read_parquet(path)


def _ordered(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame.from_records(rows)
    own = [c for c in table.columns if c not in ENGINE_COLUMNS]
    table = table[["task", *own, *ENGINE_COLUMNS[1:]]]
    table["error"] = table["error"].fillna("").astype(str)
    return table.sort_values("task", kind="stable").reset_index(drop=True)


def _write_table(path: Path, rows: list[dict]) -> None:
    buf = io.BytesIO()
    _ordered(rows).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue(), force=True)


# --- the cluster ------------------------------------------------------------------------------
def _client(workers: int | None, scheduler: str | None, timeout: float):
    """A Dask client: of the scheduler at ``scheduler``, or of a new LocalCluster of
    ``workers`` single-threaded processes (default: one per core)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=timeout, set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"no Dask scheduler answered at {scheduler} within {timeout:g} s ({exc}). Start "
                "one with `dask scheduler` and workers with `dask worker ADDRESS`, and give "
                "its address (e.g. tcp://10.0.0.5:8786); without --scheduler the study runs "
                "on this machine.") from None
    n = workers or default_workers()
    one_thread = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                   "MKL_NUM_THREADS")}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR,
                           # the scheduler's HTTP server on any free port, not 8787
                           scheduler_kwargs={"dashboard_address": ":0"}, env=one_thread)
    return Client(cluster, set_as_default=False), cluster


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT) -> int:
    """The number of workers of the scheduler at ``address``; :class:`ClusterError` when it
    does not answer within ``timeout`` s (checked before a study loads or simulates anything)."""
    client, _ = _client(None, address, timeout)
    try:
        return len(client.scheduler_info()["workers"])
    finally:
        client.close()


@dataclass(frozen=True)
class StudyRun:
    """What one run of :func:`run_study` did: the whole table (earlier rows of a resumed study
    included), how many tasks it ran now and how long that took, on how many workers."""

    table: pd.DataFrame
    ran: int
    resumed: int
    seconds: float
    workers: int
    scheduler: str
    timings: dict = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        return self.table[self.table["status"] != "ok"]

    @property
    def fits_per_minute(self) -> float:
        return 60.0 * self.ran / self.seconds if self.seconds > 0 and self.ran else float("nan")

    def to_text(self) -> str:
        n, bad = len(self.table), len(self.failed)
        lines = [f"{n} tasks, {n - bad} ok, {bad} failed; this run: {self.ran} tasks in "
                 f"{self.seconds:.1f} s on {self.workers} worker(s) "
                 f"({self.fits_per_minute:.1f} fits per minute)"
                 + (f", {self.resumed} done before and kept" if self.resumed else "")]
        for r in self.failed.head(5).itertuples():
            lines.append(f"  task {r.task} failed: {r.error}")
        if bad > 5:
            lines.append(f"  ... and {bad - 5} more (column 'error' of {RESULTS_FILE})")
        return "\n".join(lines) + "\n"


def _progress(total: int, done: int, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=desc, unit="fit", disable=not show,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def run_study(kind: StudyKind, out: str | os.PathLike, *, settings: Mapping | None = None,
              workers: int | None = None, scheduler: str | None = None, resume: bool = False,
              force: bool = False, progress: bool = True, reuse_models: bool = True,
              connect_timeout: float = CONNECT_TIMEOUT,
              on_row: Callable[[dict], None] | None = None) -> StudyRun:
    """Run every task of ``kind.plan()`` not already in ``<out>/results.parquet`` on a Dask
    cluster and stream the rows there.

    ``settings`` (plain values: the kind's options, the sampler's) identify the study in
    :data:`SETTINGS_FILE`, with a hash of the plan, so that ``resume`` continues only the same
    study. ``workers`` sizes the LocalCluster (default: one per core); ``scheduler`` uses an
    existing cluster instead (:class:`ClusterError` when it does not answer within
    ``connect_timeout`` s). ``reuse_models=False`` builds a new fitter for every task (to
    measure what the cache saves). ``on_row`` is called with each row as it arrives.
    """
    plan = kind.plan()
    ids = [t.get("task") for t in plan]
    if len(set(ids)) != len(ids) or not all(isinstance(i, (int, np.integer)) for i in ids):
        raise ResultError(f"the plan of {kind.name!r} must give every task a distinct whole "
                          "number 'task'")
    settings = {"kind": kind.name, **(settings or {})}
    p = prepare_study_directory(out, settings, plan, resume=resume, force=force)
    token = plan_hash(plan)
    kept = read_results(p) if resume else pd.DataFrame(columns=list(ENGINE_COLUMNS))
    kept = kept[kept["task"].isin(ids) & kept["status"].isin(["ok", "failed"])]
    rows = kept.to_dict(orient="records")
    done = set(kept["task"].astype(int))
    todo = [t for t in plan if int(t["task"]) not in done]
    bar = _progress(len(plan), len(done), kind.name, progress)
    failed = int((kept["status"] == "failed").sum())
    bar.set_postfix_str(f"failed {failed}")
    t0 = time.perf_counter()
    n_workers, address = 0, scheduler or "local"
    if todo:
        from distributed import as_completed

        client, cluster = _client(workers, scheduler, connect_timeout)
        try:
            n_workers = len(client.scheduler_info()["workers"])
            address = scheduler or f"LocalCluster ({n_workers} processes x 1 thread)"
            shared = client.scatter(kind, broadcast=True, hash=False)
            run_id = uuid.uuid4().hex[:8]  # a key of its own per run: no stale result reused
            futures, tasks = [], {}
            for t in todo:
                f = client.submit(execute_task, shared, token, t, reuse_models, pure=False,
                                  key=f"{kind.name}-{token}-{run_id}-task-{int(t['task'])}")
                futures.append(f)
                tasks[f.key] = t
            for batch in as_completed(futures, loop=client.loop).batches():
                for f in batch:
                    task = tasks[f.key]
                    try:
                        row = f.result()
                    except Exception as exc:  # the worker died too often, or the task was lost
                        row = {"task": int(task["task"]), "status": "failed",
                               "error": _error_text(exc), "seconds": float("nan"),
                               "worker": ""}
                    f.release()
                    rows.append(row)
                    failed += row["status"] != "ok"
                    if on_row is not None:
                        on_row(row)
                _write_table(p / RESULTS_FILE, rows)
                bar.update(len(batch))
                bar.set_postfix_str(f"failed {failed}")
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    seconds = time.perf_counter() - t0
    table = _ordered(rows) if rows else pd.DataFrame(columns=list(ENGINE_COLUMNS))
    if rows and not todo:
        _write_table(p / RESULTS_FILE, rows)
    return StudyRun(table=table, ran=len(todo), resumed=len(done), seconds=seconds,
                    workers=n_workers, scheduler=address)


def run_tasks_here(kind: StudyKind, *, reuse_models: bool = True,
                   tasks: list[dict] | None = None) -> pd.DataFrame:
    """Every task of the plan (or ``tasks``) in this process, one after another, with the same
    rows as :func:`run_study` gives (for tests and for a study too small for a cluster)."""
    token = plan_hash(kind.plan())
    rows = [execute_task(kind, token, t, reuse_models) for t in (tasks or kind.plan())]
    return _ordered(rows)


def identity(values: Mapping[str, Any]) -> dict:
    """``values`` as the plain JSON values :data:`SETTINGS_FILE` holds."""
    return json.loads(json.dumps(dict(values), default=str))


__all__ += ["execute_task", "identity", "plan_hash", "run_tasks_here"]

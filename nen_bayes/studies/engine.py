"""The engine of simulation studies: many seeded fits on a Dask cluster, streamed to Parquet.

A study kind (:mod:`nen_bayes.studies`, e.g. simulation-based calibration) gives a plan, one
plain dict per task (its index ``task`` and its ``seed``, derived from the study's seed and the
task index, so that a task gives the same row on any worker); :func:`run_study` sends every task
of the plan to a Dask cluster (a :class:`distributed.LocalCluster` of one single-threaded
process per core on 127.0.0.1 by default, or the scheduler at ``scheduler=ADDRESS``), and
writes each batch of rows as it comes back as a part file of its own under
``<out>/results.parts/`` (cost linear in the batch, not in the table); at the end, and when a
study is resumed, the parts are gathered into ``<out>/results.parquet``. Each file is written
atomically, so that every file is whole at any moment; :func:`read_results` reads both.

- Before any task the client checks the cluster, each step with a timeout that holds: the
  address answers as a Dask scheduler (a port that accepts connections but speaks another
  protocol fails within the timeout), it has workers (``wait_for_workers``), and the workers
  run the versions of Python, Dask, NumPy, pandas, PyMC, PyTensor, nutpie and nen-bayes this
  process runs (:class:`ClusterError` otherwise, saying what to install). Nothing is written
  to ``out`` before these checks pass.
- Workers keep summaries only: a task returns one flat row of numbers and text (a row holding
  anything else is recorded as a failed task), never draws.
- Each worker process compiles a model once per :meth:`model_key <StudyKind.model_key>` and
  reuses it for every task that needs it (:func:`cached_fitter`; at most :data:`MAX_FITTERS`
  per process). A kind's key names everything the compiled model depends on (the model's
  hash and a hash of the design's arrays, :func:`design_hash`), and a kind may check a cached
  model on every use (``fitter_matches(key, fitter)``): one that does not match is built
  again.
- Every task on a worker runs with one thread for BLAS and OpenMP (``OMP_NUM_THREADS``,
  ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and a thread-pool limit, set by the task, so on
  workers started by hand too; :func:`run_tasks_here` leaves the caller's threads alone).
- The study object is sent to the cluster as a task of its own (not scattered data): a worker
  that dies or is restarted loses nothing the scheduler cannot compute again, and every task
  has ``retries`` on the cluster. A task that raises is recorded (``status`` ``"failed"``,
  ``error`` its message) and the study goes on.
- ``resume=True`` keeps the rows of the tasks that finished (``status`` ``"ok"``) and runs the
  others again, the failed ones included, after checking that the study is the same
  (``study.json``: the settings and a hash of the plan). A results file that cannot be read is
  refused with its name and what to do.
- A LocalCluster's temporary files (Dask's scratch space, PyTensor's compile directory) go to a
  scratch directory of the run's own, removed when it ends; its dashboard is on 127.0.0.1.

The engine adds the columns :data:`ENGINE_COLUMNS` to each row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import importlib.util
import io
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
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

__all__ = ["ENGINE_COLUMNS", "MAX_FITTERS", "PARTS_DIR", "RESULTS_FILE", "RETRIES",
           "SAME_VERSIONS", "SETTINGS_FILE", "ClusterError", "StudyKind", "StudyRun",
           "array_hash", "cached_fitter", "check_scheduler", "default_workers", "design_hash",
           "prepare_study_directory", "read_results", "run_study", "task_seed",
           "version_problems"]

#: Columns the engine adds to every row of a kind.
ENGINE_COLUMNS = ("task", "status", "error", "seconds", "worker")
#: The table of finished tasks inside a study's directory.
RESULTS_FILE = "results.parquet"
#: The folder of part files (one per batch of finished tasks) not yet gathered into
#: :data:`RESULTS_FILE`.
PARTS_DIR = "results.parts"
#: What identifies a study (its settings and plan hash), read back by ``resume``.
SETTINGS_FILE = "study.json"
#: Compiled models a worker process keeps (least recently used dropped first).
MAX_FITTERS = 4
#: Seconds each step of connecting to a scheduler (and waiting for its workers) may take.
CONNECT_TIMEOUT = 10.0
#: Times the cluster runs a task again when it fails outside the kind's code (a task that
#: raises inside the kind is a failed row, not retried).
RETRIES = 2
#: Packages whose versions every worker must share with this process (Python by X.Y).
SAME_VERSIONS = ("python", "dask", "distributed", "cloudpickle", "numpy", "pandas", "pymc",
                 "pytensor", "nutpie", "nen-bayes")
#: One thread for the linear algebra and OpenMP libraries of a single-threaded worker.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class ClusterError(RuntimeError):
    """No usable Dask cluster: no scheduler answered at the address given, it has no workers,
    its workers run other versions, or a LocalCluster could not start."""


class StudyKind(Protocol):
    """What the engine needs of a kind of study (the contract of :mod:`nen_bayes.studies`).
    A kind may also define ``fitter_matches(key, fitter) -> bool``, which the engine calls
    before every use of a cached fitter."""

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


def array_hash(*arrays) -> str:
    """A SHA-256 (16 hex digits) of arrays' dtypes, shapes and bytes, in order (None counts as
    an array of its own): equal exactly when every array is equal element by element."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"None;")
            continue
        a = np.asarray(a)
        if a.dtype == object:
            a = a.astype(str)
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def design_hash(design) -> str:
    """A hash of everything a compiled model holds of a design (:class:`~nen_bayes.bayes.
    design.Design`): the covariate matrix and its column names, each group's name, levels,
    unit index and parameterisation, the times, events, entry times and upper bounds, the cut
    points, a time-varying effect's columns, and the time unit."""
    groups = [(g.name, tuple(map(str, g.levels)), str(g.centered), tuple(g.varying or ()))
              for g in design.groups]
    tv = design.tv or {}
    head = json.dumps([list(design.coefficients), list(design.terms), design.time_unit,
                       groups, tv.get("effect"), list(tv.get("columns", ()))], default=str)
    return array_hash(np.frombuffer(head.encode(), np.uint8), design.X, design.ids,
                      design.time, design.event, design.entry, design.upper, design.cuts,
                      tv.get("x"), tv.get("cuts"), *[g.index for g in design.groups])


# --- worker side ------------------------------------------------------------------------------
#: (study token, model key) -> fitter, in this worker process
_FITTERS: OrderedDict = OrderedDict()
_ONE_THREAD_SET: list = []  # the thread-pool limit of this process, once set


def one_thread() -> None:
    """One thread for BLAS and OpenMP in this process: the variables :data:`ONE_THREAD` (for
    libraries loaded later and processes started from here) and a thread-pool limit on the
    libraries already loaded (threadpoolctl). Called by every task, so that workers started by
    hand (``dask worker``) run as the LocalCluster's do."""
    for k, v in ONE_THREAD.items():
        os.environ[k] = v
    if not _ONE_THREAD_SET:
        from threadpoolctl import threadpool_limits

        _ONE_THREAD_SET.append(threadpool_limits(1))


def _on_worker() -> bool:
    """Whether this runs inside a Dask worker (not in the caller's process)."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _fits(kind, key, fitter) -> bool:
    check = getattr(kind, "fitter_matches", None)
    return True if check is None else bool(check(key, fitter))


def _built(kind, key):
    fitter = kind.make_fitter(key)
    if not _fits(kind, key, fitter):
        raise ResultError(f"{kind.name}: the model built for {key!r} does not match the "
                          "study's design (its fitter_matches refuses it); the kind's "
                          "model_key and make_fitter disagree")
    return fitter


def cached_fitter(kind, token: str, key, *, reuse: bool = True):
    """The fitter of ``key`` for this process: built once by ``kind.make_fitter(key)`` and kept
    (at most :data:`MAX_FITTERS`) for the tasks of the study ``token`` that need it; checked on
    every use by the kind's ``fitter_matches(key, fitter)`` where it has one (a cached fitter
    that does not match is built again); a new one per call with ``reuse=False`` (what the
    benchmark measures the cache against)."""
    if not reuse:
        return _built(kind, key)
    k = (token, key)
    fitter = _FITTERS.get(k)
    if fitter is not None and not _fits(kind, key, fitter):
        del _FITTERS[k]  # another design under the same key: never reused
        fitter = None
    if fitter is not None:
        _FITTERS.move_to_end(k)
        return fitter
    fitter = _built(kind, key)
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
    """Run one task where it is called (on a worker: with one BLAS/OpenMP thread, see
    :func:`one_thread`; in the caller's process its threads are left as they are): the kind's
    row plus the engine's columns; an exception becomes a failed row with its message."""
    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if _on_worker():
        one_thread()
    try:
        fitter = cached_fitter(kind, token, kind.model_key(task), reuse=reuse)
        row, status, error = _flat_row(kind.run_task(task, fitter)), "ok", ""
    except Exception as exc:  # recorded in the table; the study goes on
        row, status, error = {}, "failed", _error_text(exc)
    return {**row, "task": int(task["task"]), "status": status, "error": error,
            "seconds": round(time.perf_counter() - t0, 4), "worker": worker}


def _the_study(kind):
    """The study object as a task's result: the cluster keeps how to compute it again."""
    return kind


# --- the study's directory --------------------------------------------------------------------
def plan_hash(plan: list[dict]) -> str:
    """A hash of the plan (every task's fields): resume refuses a study whose plan changed."""
    text = json.dumps(plan, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _record(settings: Mapping, plan: list[dict]) -> dict:
    record = {"settings": dict(settings), "plan_hash": plan_hash(plan), "tasks": len(plan)}
    return json.loads(json.dumps(record, default=str))  # as it reads back


def check_study_directory(out: str | os.PathLike, settings: Mapping, plan: list[dict], *,
                          resume: bool = False, force: bool = False) -> Path:
    """What :func:`prepare_study_directory` checks, writing nothing: ``out`` is missing,
    empty, holds the same study (``resume``) or may be replaced (``force``)."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise OutputExistsError(f"{p} exists and is not a directory.")
    full = p.exists() and any(p.iterdir())
    if full and resume:
        _check_same_study(p, _record(settings, plan))
    elif full and not force:
        raise OutputExistsError(f"{p} exists and is not empty; pass --resume to continue the "
                                "study it holds, or --force to replace it (nothing was "
                                "written).")
    return p


def prepare_study_directory(out: str | os.PathLike, settings: Mapping, plan: list[dict], *,
                            resume: bool = False, force: bool = False) -> Path:
    """Make ``out`` ready for a study and record what identifies it (:data:`SETTINGS_FILE`).

    A missing or empty directory is used as it is; an existing non-empty one needs ``resume``
    (and then must hold the same study: same settings, same plan) or ``force`` (it is emptied
    first). Raises :class:`~nen_bayes.errors.OutputExistsError` or, for a resume of another
    study, :class:`~nen_bayes.errors.ResultError`; nothing is written then."""
    p = check_study_directory(out, settings, plan, resume=resume, force=force)
    if p.exists() and any(p.iterdir()) and not resume:
        shutil.rmtree(p)
    p.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p / SETTINGS_FILE, json.dumps(_record(settings, plan), indent=1) + "\n",
                      force=True)
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


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ResultError(
            f"{path} is not a readable Parquet table ({type(exc).__name__}: {exc}). It should "
            f"hold the finished tasks of the study in {path.parent}: restore it from a copy, "
            f"or move it out of {path.parent} (--resume then runs its tasks again), or start "
            "the study again with --force.") from None


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """The rows written so far: :data:`RESULTS_FILE` and the part files not yet gathered into
    it (one row per task, the latest; an empty table when there are none). Raises
    :class:`~nen_bayes.errors.ResultError` naming a file that cannot be read."""
    p = Path(out)
    frames = [_read_table(p / RESULTS_FILE)] if (p / RESULTS_FILE).exists() else []
    frames += [_read_table(f) for f in sorted((p / PARTS_DIR).glob("part-*.parquet"))]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(ENGINE_COLUMNS))
    table = pd.concat(frames, ignore_index=True)
    missing = [c for c in ENGINE_COLUMNS if c not in table]
    if missing:
        raise ResultError(f"{p / RESULTS_FILE} has no column {missing}: it is not a table of "
                          "this engine; give another --out, or --force to replace it.")
    return _ordered(table.drop_duplicates("task", keep="last"))


def _ordered(table: pd.DataFrame | list[dict]) -> pd.DataFrame:
    table = pd.DataFrame.from_records(table) if isinstance(table, list) else table
    own = [c for c in table.columns if c not in ENGINE_COLUMNS]
    table = table[["task", *own, *ENGINE_COLUMNS[1:]]].copy()
    table["error"] = table["error"].fillna("").astype(str)
    return table.sort_values("task", kind="stable").reset_index(drop=True)


def _parquet_bytes(table: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()


def _write_part(p: Path, number: int, rows: list[dict]) -> Path:
    """One batch of rows as a part file of its own (atomically): the cost of the batch."""
    return atomic_write_bytes(p / PARTS_DIR / f"part-{number:06d}.parquet",
                              _parquet_bytes(_ordered(rows)), force=True)


def _gather(p: Path, table: pd.DataFrame) -> None:
    """``table`` (every task's latest row) as :data:`RESULTS_FILE`, then the parts removed."""
    atomic_write_bytes(p / RESULTS_FILE, _parquet_bytes(table), force=True)
    shutil.rmtree(p / PARTS_DIR, ignore_errors=True)


# --- the cluster ------------------------------------------------------------------------------
async def _identity(address: str, timeout: float) -> dict:
    from distributed.core import rpc

    r = rpc(address, timeout=timeout)
    try:
        return await r.identity()
    finally:
        await r.close_rpc()


def _no_scheduler(address: str, timeout: float, why: str) -> ClusterError:
    return ClusterError(
        f"no Dask scheduler answered at {address} within {timeout:g} s ({why}). Start one with "
        "`dask scheduler --host 127.0.0.1` and workers with `dask worker ADDRESS --nthreads 1`, "
        "and give its address (e.g. tcp://127.0.0.1:8786); without --scheduler the study runs "
        "on this machine.")


def _probe(address: str, timeout: float) -> dict:
    """The scheduler's identity, within ``timeout`` s whatever listens at ``address`` (a
    client's own timeout does not hold against a port that accepts connections but does not
    speak Dask's protocol)."""
    def ask():
        return asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # works under a running loop too
        try:
            info = pool.submit(ask).result()
        except TimeoutError:
            raise _no_scheduler(address, timeout, "nothing that speaks Dask's protocol "
                                "answered") from None
        except Exception as exc:  # refused, unreachable, a malformed address or reply
            raise _no_scheduler(address, timeout, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(info, dict) or info.get("type") != "Scheduler":
        kind = info.get("type") if isinstance(info, dict) else type(info).__name__
        raise _no_scheduler(address, timeout, f"it answers as a {kind}, not a scheduler")
    return info


def version_problems(versions: Mapping) -> list[str]:
    """What differs between this process and each worker in ``versions`` (the answer of
    ``Client.get_versions``): one line per worker and package of :data:`SAME_VERSIONS`
    (Python by major.minor), empty when every worker matches."""
    def v(pkg, packages):
        got = (packages or {}).get(pkg)
        return ".".join(str(got).split(".")[:2]) if pkg == "python" and got else got

    mine = versions["client"]["packages"]
    out = []
    for worker, info in sorted(versions.get("workers", {}).items()):
        theirs = (info or {}).get("packages", {}) if isinstance(info, Mapping) else {}
        for pkg in SAME_VERSIONS:
            a, b = v(pkg, mine), v(pkg, theirs)
            if a != b:
                out.append(f"{worker}: {pkg} {b or 'not installed'} (here {a or 'none'})")
    return out


def worker_imports() -> int:
    """Run on each worker by :func:`_check_cluster`: sent by reference, so a worker that cannot
    import this module (nen-bayes missing or broken there) fails to run it."""
    return os.getpid()


def import_problems(answers: Mapping) -> list[str]:
    """One line per worker whose answer to :func:`worker_imports` is an exception."""
    return [f"{w}: cannot import nen_bayes ({type(a).__name__}: {a})"
            for w, a in sorted(answers.items()) if isinstance(a, BaseException)]


def _check_cluster(client, where: str, need: int, timeout: float) -> int:
    """``need`` workers within ``timeout`` s, running the versions this process runs: their
    number, or :class:`ClusterError` saying what to start or install."""
    try:
        client.wait_for_workers(need, timeout=timeout)
    except TimeoutError:
        have = len(client.scheduler_info()["workers"])
        raise ClusterError(
            f"the Dask scheduler at {where} has {have} worker(s) after {timeout:g} s (at least "
            f"{need} needed). Start workers with `dask worker {where} --nthreads 1` on the "
            "machines that should work (each with nen-bayes installed), then run the same "
            "command again (nothing was written).") from None
    try:
        versions = client.sync(client._get_versions, packages=list(SAME_VERSIONS[4:]),
                               callback_timeout=timeout)
    except TimeoutError:
        raise ClusterError(f"the workers of {where} did not say which versions they run "
                           f"within {timeout:g} s; check them (`dask worker` logs) and run "
                           "the command again (nothing was written).") from None
    try:
        answers = client.sync(client._run, worker_imports, on_error="return",
                              callback_timeout=timeout)
    except TimeoutError:
        answers = {}  # the versions answered: a slow import is not a missing one
    bad = import_problems(answers) + version_problems(versions)
    if bad:
        mine = versions["client"]["packages"]
        pins = " ".join(f"{k}=={mine[k]}" for k in SAME_VERSIONS[1:] if mine.get(k))
        raise ClusterError(
            f"the workers of {where} do not run what this machine runs: " + "; ".join(bad[:8])
            + (f"; and {len(bad) - 8} more" if len(bad) > 8 else "") + ". Install the same "
            f"versions in every worker's environment (`pip install {pins}`), restart the "
            "workers and run the command again (nothing was written).")
    return len(client.scheduler_info()["workers"])


def _client(workers: int | None, scheduler: str | None, timeout: float, scratch: str):
    """A Dask client: of the scheduler at ``scheduler`` (checked to answer as one first), or
    of a new LocalCluster of ``workers`` single-threaded processes (default: one per core) on
    127.0.0.1, its temporary files in ``scratch``."""
    from distributed import Client, LocalCluster

    if scheduler:
        _probe(scheduler, timeout)
        try:
            return Client(scheduler, timeout=timeout, set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise _no_scheduler(scheduler, timeout, str(exc)) from None
    n = workers or default_workers()
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    env = {**ONE_THREAD, "TMPDIR": scratch,
           "PYTENSOR_FLAGS": ",".join(f for f in (flags, f"compiledir={scratch}/pytensor")
                                      if f)}
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               local_directory=scratch, silence_logs=logging.ERROR, env=env)
    except (OSError, RuntimeError) as exc:
        raise ClusterError(f"a LocalCluster of {n} processes could not start ({exc}); try "
                           "fewer --workers") from None
    return Client(cluster, set_as_default=False), cluster


def dashboard_text(client) -> str:
    """Where the cluster's dashboard is (it needs bokeh)."""
    link = getattr(client, "dashboard_link", "") or ""
    if not link:
        return "Dask dashboard: none (the scheduler serves none)"
    if importlib.util.find_spec("bokeh") is None:
        return f"Dask dashboard: install bokeh>=3.1 to see it at {link}"
    return f"Dask dashboard: {link}"


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT) -> int:
    """The number of workers of the scheduler at ``address``: :class:`ClusterError` when it
    does not answer as a Dask scheduler within ``timeout`` s, has no worker within another
    ``timeout`` s, or its workers run other versions (checked before a study loads or
    simulates anything)."""
    client, _ = _client(None, address, timeout, "")
    try:
        return _check_cluster(client, address, 1, timeout)
    finally:
        client.close()


@dataclass(frozen=True)
class StudyRun:
    """What one run of :func:`run_study` did: the whole table (earlier rows of a resumed study
    included), how many tasks it ran now (failed ones of before among them) and how long that
    took, on how many workers, and where the dashboard was."""

    table: pd.DataFrame
    ran: int
    resumed: int
    seconds: float
    workers: int
    scheduler: str
    timings: dict = field(default_factory=dict)
    rerun_failed: int = 0
    dashboard: str = ""

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
                 + (f", {self.resumed} done before and kept" if self.resumed else "")
                 + (f", {self.rerun_failed} failed before and run again"
                    if self.rerun_failed else "")]
        for r in self.failed.head(5).itertuples():
            lines.append(f"  task {r.task} failed: {r.error}")
        if bad > 5:
            lines.append(f"  ... and {bad - 5} more (column 'error' of {RESULTS_FILE})")
        return "\n".join(lines) + "\n"


def _progress(total: int, done: int, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=desc, unit="fit", disable=not show,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _lost_row(task: dict, exc: BaseException) -> dict:
    return {"task": int(task["task"]), "status": "failed", "error": _error_text(exc),
            "seconds": float("nan"), "worker": ""}


# long: the run's steps (checks, the cluster, submission, streaming) read best in one place
def run_study(kind: StudyKind, out: str | os.PathLike, *, settings: Mapping | None = None,
              workers: int | None = None, scheduler: str | None = None, resume: bool = False,
              force: bool = False, progress: bool = True, reuse_models: bool = True,
              connect_timeout: float = CONNECT_TIMEOUT, retries: int = RETRIES,
              on_row: Callable[[dict], None] | None = None,
              say: Callable[[str], None] | None = None) -> StudyRun:
    """Run every task of ``kind.plan()`` without a finished row in ``out`` on a Dask cluster
    and stream the rows there.

    ``settings`` (plain values: the kind's options, the sampler's) identify the study in
    :data:`SETTINGS_FILE`, with a hash of the plan, so that ``resume`` continues only the same
    study (tasks that failed before are run again). ``workers`` sizes the LocalCluster
    (default: one per core); ``scheduler`` uses an existing cluster instead
    (:class:`ClusterError` when it does not answer as a scheduler, has no worker, or its workers
    run other versions, each within ``connect_timeout`` s; nothing is written to ``out``
    then). ``retries``: times the cluster runs a task again after a failure outside the kind's
    code. ``reuse_models=False`` builds a new fitter for every task (to measure what the cache
    saves). ``on_row`` is called with each row as it arrives, ``say`` with what the run says
    before its tasks (the dashboard's address).
    """
    plan = kind.plan()
    ids = [t.get("task") for t in plan]
    if len(set(ids)) != len(ids) or not all(isinstance(i, (int, np.integer)) for i in ids):
        raise ResultError(f"the plan of {kind.name!r} must give every task a distinct whole "
                          "number 'task'")
    settings = {"kind": kind.name, **(settings or {})}
    p = check_study_directory(out, settings, plan, resume=resume, force=force)
    before = read_results(p) if resume else pd.DataFrame(columns=list(ENGINE_COLUMNS))
    before = before[before["task"].isin(ids)]
    kept = before[before["status"] == "ok"]
    rows = kept.to_dict(orient="records")
    done = set(kept["task"].astype(int))
    rerun = int((before["status"] != "ok").sum())
    todo = [t for t in plan if int(t["task"]) not in done]
    token = plan_hash(plan)
    t0 = time.perf_counter()
    n_workers, address, dashboard = 0, scheduler or "local", ""
    if not todo:
        if resume and (p / PARTS_DIR).exists():
            _gather(p, _ordered(rows))
        table = _ordered(rows) if rows else pd.DataFrame(columns=list(ENGINE_COLUMNS))
        return StudyRun(table=table, ran=0, resumed=len(done), seconds=0.0, workers=0,
                        scheduler=address)
    import dask
    from distributed import as_completed

    scratch = tempfile.mkdtemp(prefix="nen-bayes-study-")
    bar = None
    config = dask.config.set({"temporary-directory": scratch})  # undone below
    try:
        client, cluster = _client(workers, scheduler, connect_timeout, scratch)
        try:
            need = 1 if scheduler else (workers or default_workers())
            n_workers = _check_cluster(client, scheduler or "the LocalCluster", need,
                                       connect_timeout)
            address = scheduler or f"LocalCluster ({n_workers} processes x 1 thread)"
            dashboard = dashboard_text(client)
            if say is not None:
                say(dashboard)
            # the cluster is usable: only now is anything written to out
            p = prepare_study_directory(p, settings, plan, resume=resume, force=force)
            if resume and len(before):  # the parts of earlier runs gathered: parts anew
                _gather(p, _ordered(before.to_dict(orient="records")))
            bar = _progress(len(plan), len(done), kind.name, progress)
            failed = 0
            bar.set_postfix_str(f"failed {failed}")
            run_id = uuid.uuid4().hex[:8]  # a key of its own per run: no stale result reused
            prefix = f"{kind.name}-{token}-{run_id}"
            # a task, not scattered data: the scheduler computes it again if its worker is lost
            study = client.submit(_the_study, kind, key=f"{prefix}-study", pure=False,
                                  retries=retries)
            futures, tasks = [], {}
            for t in todo:
                f = client.submit(execute_task, study, token, t, reuse_models, pure=False,
                                  retries=retries, key=f"{prefix}-task-{int(t['task'])}")
                futures.append(f)
                tasks[f.key] = t
            for part, batch in enumerate(as_completed(futures, loop=client.loop).batches(), 1):
                new = []
                for f in batch:
                    try:
                        row = f.result()
                    except Exception as exc:  # the worker died too often, or the task was lost
                        row = _lost_row(tasks[f.key], exc)
                    f.release()
                    new.append(row)
                    failed += row["status"] != "ok"
                    if on_row is not None:
                        on_row(row)
                _write_part(p, part, new)
                rows += new
                bar.update(len(batch))
                bar.set_postfix_str(f"failed {failed}")
            study.release()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    finally:
        config.__exit__(None, None, None)
        if bar is not None:
            bar.close()
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - t0
    table = _ordered(rows)
    _gather(p, table)
    return StudyRun(table=table, ran=len(todo), resumed=len(done), seconds=seconds,
                    workers=n_workers, scheduler=address, rerun_failed=rerun,
                    dashboard=dashboard)


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


__all__ += ["check_study_directory", "dashboard_text", "execute_task", "identity",
            "import_problems", "one_thread", "plan_hash", "run_tasks_here", "worker_imports"]

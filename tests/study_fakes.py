"""A tiny study kind for the engine's tests: exponential outcomes, and a fitter that draws from
the conjugate Gamma posterior of the rate (closed form, no compilation), so that the tests are
about the engine (scheduling, streaming, resume, failures) and take milliseconds per task; and
SBC with a fitter that compiles nothing (PriorSBC), for the tests of the engine's model cache."""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nen_bayes.bayes.inference import sample_prior
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import in_time_unit
from nen_bayes.studies.engine import task_seed
from nen_bayes.studies.sbc import SBCStudy


class ConjugateFitter:
    """Posterior of an exponential rate under a Gamma(a, b) prior: Gamma(a + events,
    b + total time); ``fit`` returns draws of it (the seed fixes them)."""

    def __init__(self, a: float = 1.0, b: float = 1.0):
        self.a, self.b = a, b
        self.n_fits = 0

    def fit(self, time, event, *, seed: int, sampling=None):
        self.n_fits += 1
        rng = np.random.default_rng(seed)
        return rng.gamma(self.a + np.sum(event), 1.0 / (self.b + np.sum(time)), size=100)


@dataclass(frozen=True)
class StudyTable:
    table: pd.DataFrame
    verdict: str

    def to_text(self) -> str:
        return self.verdict + "\n"


@dataclass(frozen=True)
class FakeKind:
    """``reps`` tasks; ``fail`` lists tasks that raise; ``kill_once`` is a marker file: the
    task ``kill_task`` kills its own worker process the first time (the marker absent);
    ``log`` is a folder where every run of a task leaves a file; ``sleep`` seconds per task."""

    name: str = "fake"
    reps: int = 6
    seed: int = 1
    n: int = 50
    sleep: float = 0.0
    fail: tuple = ()
    kill_once: str = ""
    kill_task: int = 2
    log: str = ""

    def plan(self) -> list[dict]:
        return [{"task": i, "seed": task_seed(self.seed, i), "rate": 0.5 + 0.25 * (i % 3)}
                for i in range(self.reps)]

    def model_key(self, task: dict) -> tuple:
        return ("exponential", self.n)

    def make_fitter(self, key) -> ConjugateFitter:
        return ConjugateFitter()

    def run_task(self, task: dict, fitter) -> dict:
        if self.log:
            (Path(self.log) / f"{task['task']}-{uuid.uuid4().hex}").touch()
        if self.kill_once and task["task"] == self.kill_task and \
                not Path(self.kill_once).exists():
            Path(self.kill_once).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        if task["task"] in self.fail:
            raise ValueError(f"task {task['task']} cannot be fitted (on purpose)")
        time.sleep(self.sleep)
        rng = np.random.default_rng(task["seed"])
        t = rng.exponential(1 / task["rate"], self.n)
        c = rng.exponential(2.0, self.n)
        draws = fitter.fit(np.minimum(t, c), (t <= c).astype(int), seed=task["seed"])
        return {"true_rate": task["rate"], "rank": int(np.sum(draws < task["rate"])),
                "post_mean": float(draws.mean()), "fitter": f"{os.getpid()}:{id(fitter)}",
                "fits_by_fitter": fitter.n_fits}

    def summarise(self, table: pd.DataFrame) -> StudyTable:
        ok = table[table["status"] == "ok"]
        return StudyTable(ok, f"{len(ok)} of {len(table)} tasks ok")


class PriorRefitter(Refitter):
    """A Refitter that compiles nothing: it keeps the spec and design as a Refitter does (so
    that :meth:`Refitter.matches` is the real check) and its 'posterior' is two chains of prior
    draws (cheap, and the DataTree has the layout SBC's run_task reads)."""

    def __init__(self, spec, design, *, sampling=None):
        self.spec, _ = in_time_unit(spec, design.time_unit)
        self.design = design
        self.sampling = sampling
        self.intervals = design.upper is not None
        self.compile_seconds, self.n_fits = 0.0, 0

    def fit(self, time, event, *, seed: int, sampling=None, **_):
        import xarray as xr

        self.n_fits += 1
        rng = np.random.default_rng(seed)
        chains = [sample_prior(self.spec, self.design, 60, rng) for _ in range(2)]
        post = xr.concat(chains, dim="chain").assign_coords(chain=[0, 1])
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 60), bool))})
        return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


@dataclass(frozen=True)
class PriorSBC(SBCStudy):
    """SBC as it is (plan, keys, the check of a cached fitter, run_task) with a fitter that
    compiles nothing (:class:`PriorRefitter`)."""

    def make_fitter(self, key) -> PriorRefitter:
        if key != self.model_key({}):
            raise ValueError(f"not this study's key: {key!r}")
        return PriorRefitter(self.fit_spec or self.spec, self._design[1])


@dataclass(frozen=True)
class EnvKind(FakeKind):
    """FakeKind whose rows also say how many threads OpenMP was given where the task ran."""

    def run_task(self, task: dict, fitter) -> dict:
        return {**FakeKind.run_task(self, task, fitter),
                "omp_threads": os.environ.get("OMP_NUM_THREADS", "")}

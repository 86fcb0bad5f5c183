"""A tiny study kind for the engine's tests: exponential outcomes, and a fitter that draws from
the conjugate Gamma posterior of the rate (closed form, no compilation), so that the tests are
about the engine (scheduling, streaming, resume, failures) and take milliseconds per task."""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nen_bayes.studies.engine import task_seed


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

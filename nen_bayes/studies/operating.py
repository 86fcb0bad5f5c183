"""Operating characteristics of a reanalysis: how often its conclusions are right.

Over a grid of true HRs of one contrast (``level`` vs ``versus``; the study's is second line vs
salvage) and true between-centre SDs, each replication simulates a cohort on the design's units
(their covariates, centres of unequal size and the design's censoring, see
:mod:`nen_bayes.studies.simulation`) from a Weibull proportional-hazards truth: the contrast's
log HR from the grid, the other coefficients and the baseline fixed (:func:`default_truth`),
new centre effects drawn from Normal(0, SD) for every replication. It fits the model (the
headline model by default) and records P(HR < 1), the posterior median HR, whether the 90% and
95% central intervals cover the true HR, and the log-rank test of the contrast on the same
cohort.

Per cell the summary gives the rate of P(HR < 1) > ``threshold`` (0.95 by default), the
coverage of the two intervals, the bias and RMSE of the posterior median HR on the log scale
(log of the posterior median minus the true log HR), and the log-rank test's rejection rate at
0.05 (two-sided, and one-sided in favour of the level: the counterpart of the one-sided
posterior decision), each with its Monte Carlo standard error: sqrt(p (1 - p) / n) for a rate,
SD / sqrt(n) for the bias, and the delta-method SE of sqrt(mean squared error) for the RMSE.
Under HR = 1 the decision rate is the reanalysis's false-positive rate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import ModelSpec
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.provenance import SYNTHETIC_NOTICE
from nen_bayes.settings import Contrast, Sampling
from nen_bayes.studies.simulation import (
    censoring_times,
    contrast_column,
    design_for,
    hr_row,
    logrank_row,
    posterior_of,
    simulate_outcomes,
    task_seed,
)

__all__ = ["OperatingResult", "OperatingStudy", "RateResult", "default_truth", "rate_pm", "rate_se",
           "summarise_cells"]

HRS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1)
SDS = (0.0, 0.2, 0.5)


def default_truth(spec: ModelSpec, design, cohort: Cohort) -> dict:
    """The parameters other than the contrast's log HR and the centre effects: for a synthetic
    cohort with a truth file that states them (the bundled one), its generator's log HRs of the
    model's coefficients and its Weibull shape and scale; otherwise every other coefficient 0,
    shape 1 and the scale of the crude exponential rate (follow-up time / events)."""
    beta = np.zeros(len(design.coefficients))
    truth = cohort.truth or {}
    death = truth.get("processes", {}).get("death", {})
    log_hr = death.get("log_hr", {})
    for j, (c, term) in enumerate(zip(design.coefficients, design.terms, strict=True)):
        level = c[len(term) + 1:-1]
        beta[j] = float(log_hr.get(term, {}).get(level, 0.0))
    if spec.family == "weibull" and "shape" in death and design.time_unit == "months":
        return {"beta": beta, "shape": float(death["shape"]),
                "scale": float(death["scale_months"])}
    crude = float(design.time.sum() / max(float(design.event.sum()), 1.0))
    return {"beta": beta, "shape": 1.0, "scale": crude}


def rate_se(hits) -> tuple[float, float]:
    """A rate and its binomial Monte Carlo SE."""
    hits = np.asarray(hits, float)
    hits = hits[~np.isnan(hits)]
    n = len(hits)
    if n == 0:
        return np.nan, np.nan
    p = float(hits.mean())
    return p, float(np.sqrt(p * (1 - p) / n))


def summarise_cells(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per (true HR, SD) cell: every rate with its MC SE, bias and RMSE of the log HR."""
    rows = []
    for (hr, sd), g in ok.groupby(["true_hr", "true_sd"], sort=True):
        row = {"true_hr": hr, "true_sd": sd, "n": len(g)}
        for col, name in (("decision", "decision_rate"), ("covered_90", "coverage_90"),
                          ("covered_95", "coverage_95"), ("logrank_reject", "logrank_rate"),
                          ("logrank_reject_one_sided", "logrank_one_sided_rate")):
            row[name], row[name + "_se"] = rate_se(g[col])
        e = g["log_hr_error"].to_numpy(float)
        mse = float(np.mean(e ** 2))
        row["bias_log_hr"] = float(e.mean())
        row["bias_log_hr_se"] = float(e.std(ddof=1) / np.sqrt(len(e))) if len(e) > 1 else np.nan
        row["rmse_log_hr"] = float(np.sqrt(mse))
        row["rmse_log_hr_se"] = (float(np.std(e ** 2, ddof=1) / np.sqrt(len(e)) /
                                       (2 * np.sqrt(mse))) if len(e) > 1 and mse > 0 else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class RateResult:
    """A study's table of rates with their Monte Carlo SEs, its verdict and notes."""

    model: str
    contrast: str
    threshold: float
    table: pd.DataFrame
    verdict: str
    notes: tuple[str, ...] = ()
    synthetic: bool = False

    def _text(self, header: str, shown: pd.DataFrame) -> str:
        """``header``, the verdict, the table as ``shown``, the notes (and the synthetic
        notice)."""
        lines = [header, self.verdict, "", shown.to_string(index=False), *self.notes]
        if self.synthetic:
            lines.append(SYNTHETIC_NOTICE)
        return "\n".join(lines)


@dataclass(frozen=True)
class OperatingResult(RateResult):
    """The operating characteristics: ``table`` one row per cell (rates with MC SEs)."""

    def to_text(self) -> str:
        t = self.table
        shown = pd.DataFrame({
            "HR": t["true_hr"], "SD": t["true_sd"], "n": t["n"],
            f"P(HR<1)>{self.threshold:g}": rate_pm(t, "decision_rate"),
            "cover 90%": rate_pm(t, "coverage_90"), "cover 95%": rate_pm(t, "coverage_95"),
            "bias logHR": rate_pm(t, "bias_log_hr"), "RMSE logHR": rate_pm(t, "rmse_log_hr"),
            "log-rank 0.05": rate_pm(t, "logrank_rate"),
            "log-rank 1-sided": rate_pm(t, "logrank_one_sided_rate")})
        return self._text(f"Operating characteristics of {self.model} for {self.contrast} "
                          "(rate ± Monte Carlo SE; bias and RMSE of the posterior median on "
                          "the log HR scale)", shown)


def rate_pm(t: pd.DataFrame, col: str) -> list[str]:
    """Column ``col`` of a study's table with its Monte Carlo SE (``col``_se): "0.123 ± 0.045"."""
    return [f"{a:.3f} ± {b:.3f}" for a, b in zip(t[col], t[col + "_se"], strict=True)]


@dataclass(frozen=True)
class OperatingStudy:
    """``reps`` replications in every cell of ``hrs`` x ``sds`` for ``contrast`` (its HR:
    hazard of ``level`` over that of ``versus``), on the design of ``cohort``; ``truth`` (default
    :func:`default_truth`) the other parameters."""

    spec: ModelSpec
    cohort: Cohort
    reps: int
    seed: int
    contrast: Contrast
    hrs: tuple[float, ...] = HRS
    sds: tuple[float, ...] = SDS
    threshold: float = 0.95
    sampling: Sampling = field(default_factory=lambda: Sampling(draws=500, tune=500, chains=2,
                                                                cores=1))
    endpoint: str | None = None
    truth: dict | None = None
    name: str = "operating"

    def __post_init__(self):
        if self.reps < 1:
            raise ValueError(f"an operating-characteristics study needs at least 1 replication "
                             f"per cell, got {self.reps}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")
        bad = [h for h in self.hrs if not h > 0] + [s for s in self.sds if not s >= 0]
        if bad or not self.hrs or not self.sds:
            raise ValueError(f"true HRs must be > 0 and SDs >= 0 (and neither list empty); got "
                             f"HRs {list(self.hrs)}, SDs {list(self.sds)}")

    @functools.cached_property
    def _design(self):
        spec, design, endpoint = design_for(self.spec, self.cohort, self.endpoint)
        j, sign = contrast_column(design, self.contrast)
        truth = self.truth or default_truth(spec, design, self.cohort)
        return spec, design, endpoint, j, sign, truth

    def plan(self) -> list[dict]:
        cells = [(h, s) for s in self.sds for h in self.hrs]
        tasks, i = [], 0
        for c, (h, s) in enumerate(cells):
            for r in range(self.reps):
                tasks.append({"task": i, "seed": task_seed(self.seed, i), "cell": c,
                              "rep": r, "true_hr": float(h), "true_sd": float(s)})
                i += 1
        return tasks

    def model_key(self, task: dict) -> tuple:
        return ("operating", self.spec.name, self.spec.hash, len(self.cohort))

    def make_fitter(self, key) -> Refitter:
        return Refitter(self.spec, self._design[1], sampling=self.sampling)

    def run_task(self, task: dict, fitter) -> dict:
        spec, design, _, j, sign, truth = self._design
        rng = np.random.default_rng(task["seed"])
        beta = np.array(truth["beta"], float)
        beta[j] = sign * np.log(task["true_hr"])
        values = {"beta": beta, "shape": truth.get("shape", 1.0), "scale": truth["scale"]}
        for g in design.groups:
            values[f"u_{g.name}"] = task["true_sd"] * rng.standard_normal(len(g.levels))
        censor = censoring_times(design.time, design.event, rng)
        time, event, raised = simulate_outcomes(spec.family, values, design, censor, rng)
        tree = fitter.fit(time, event, seed=int(rng.integers(2**31)), sampling=self.sampling)
        hr = np.exp(sign * posterior_of(tree)["beta"].isel(covariate=j).to_numpy())
        labels = self.cohort.data[self.contrast.term].to_numpy()
        return {"seed": int(task["seed"]), "cell": task["cell"], "rep": task["rep"],
                "true_hr": task["true_hr"], "true_sd": task["true_sd"],
                "n_events": int(event.sum()), "raised_times": raised,
                "divergences": int(np.asarray(tree["sample_stats"]["diverging"]).sum()),
                **hr_row(hr, task["true_hr"], self.threshold),
                **logrank_row(time, event, labels, self.contrast)}

    def summarise(self, table: pd.DataFrame) -> OperatingResult:
        ok = table[table["status"] == "ok"] if "status" in table else table
        cells = summarise_cells(ok)
        notes = []
        if "status" in table and (table["status"] != "ok").any():
            notes.append(f"{int((table['status'] != 'ok').sum())} replication(s) failed and are "
                         "not in the rates.")
        return OperatingResult(model=self.spec.name, contrast=self.contrast.describe(),
                               threshold=self.threshold, table=cells,
                               verdict=_verdict(cells, self.threshold), notes=tuple(notes),
                               synthetic=bool(self.cohort.synthetic))


def _verdict(cells: pd.DataFrame, threshold: float) -> str:
    null = cells[np.isclose(cells["true_hr"], 1.0)]
    if null.empty:
        return "No cell with true HR 1: the false-positive rate is not estimated."
    parts = [f"SD {r.true_sd:g}: {r.decision_rate:.3f} ± {r.decision_rate_se:.3f} "
             f"(log-rank {r.logrank_rate:.3f} ± {r.logrank_rate_se:.3f})"
             for r in null.itertuples()]
    return (f"Under no effect (HR 1) the reanalysis reports P(HR < 1) > {threshold:g} at the "
            "rate " + "; ".join(parts) + ".")

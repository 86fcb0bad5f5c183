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

The frequentist comparators on the same cohort: the adjusted Cox model the reanalysis would
be checked against (lifelines' ``CoxPHFitter``, Efron ties, the model's covariates, a baseline
hazard of its own per centre: ``strata=`` the centre), with its Wald test of the contrast, and
the unadjusted log-rank test of the contrast. Both are reported two-sided at 0.05 and
one-sided at 0.05 in favour of the level (the counterpart of the one-sided posterior decision).

Per cell the summary gives the rate of P(HR < 1) > ``threshold`` (0.95 by default), the
coverage of the two intervals, the bias and RMSE of the posterior median HR on the log scale
(log of the posterior median minus the true log HR), and the rejection rates of the Cox and
log-rank tests. Every rate comes with its exact Clopper-Pearson 95% interval (``_lo``,
``_hi``; from the beta distribution, so a rate of 0 of n has an interval, not a zero error)
and its binomial Monte Carlo SE ``sqrt(p (1 - p) / n)`` (``_se``); the bias with SD /
sqrt(n), the RMSE with the delta-method SE of sqrt(mean squared error). Under HR = 1 the
decision rate is the reanalysis's false-positive rate.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from nen_bayes.bayes.families import get_family
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import ModelSpec
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.provenance import SYNTHETIC_NOTICE
from nen_bayes.settings import Contrast, Sampling
from nen_bayes.studies.engine import design_hash
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

__all__ = ["RATES", "OperatingResult", "OperatingStudy", "RateResult", "clopper_pearson",
           "cox_row", "default_truth", "rate_ci", "rate_interval", "rate_pm", "rate_se",
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
    # the truth file states a Weibull shape and scale: used when the family has exactly those
    if (get_family(spec.family).parameter_names == ("shape", "scale") and "shape" in death
            and design.time_unit == "months"):
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


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial rate, ``k`` successes of ``n``:
    the ``(1 - level) / 2`` quantile of Beta(k, n - k + 1) (0 when k = 0) and the
    ``(1 + level) / 2`` quantile of Beta(k + 1, n - k) (1 when k = n); NaN when n = 0."""
    if n == 0:
        return np.nan, np.nan
    a = (1 - level) / 2
    lo = float(stats.beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(stats.beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def rate_interval(hits) -> dict[str, float]:
    """A rate of 0/1 ``hits`` (NaN left out): ``rate``, ``se`` (binomial Monte Carlo SE),
    ``lo`` and ``hi`` (Clopper-Pearson 95%)."""
    hits = np.asarray(hits, float)
    hits = hits[~np.isnan(hits)]
    p, se = rate_se(hits)
    lo, hi = clopper_pearson(int(hits.sum()), len(hits))
    return {"rate": p, "se": se, "lo": lo, "hi": hi}


#: Row column -> table column of every rate a cell reports.
RATES = (("decision", "decision_rate"), ("covered_90", "coverage_90"),
         ("covered_95", "coverage_95"), ("cox_reject", "cox_rate"),
         ("cox_reject_one_sided", "cox_one_sided_rate"), ("logrank_reject", "logrank_rate"),
         ("logrank_reject_one_sided", "logrank_one_sided_rate"))


def _put_rate(row: dict, name: str, hits) -> None:
    r = rate_interval(hits)
    row[name], row[name + "_se"], row[name + "_lo"], row[name + "_hi"] = (
        r["rate"], r["se"], r["lo"], r["hi"])


def summarise_cells(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per (true HR, SD) cell: every rate with its Clopper-Pearson interval and MC SE,
    bias and RMSE of the log HR (a rate whose column the rows lack is left out)."""
    rows = []
    for (hr, sd), g in ok.groupby(["true_hr", "true_sd"], sort=True):
        row = {"true_hr": hr, "true_sd": sd, "n": len(g)}
        for col, name in RATES:
            if col in g:
                _put_rate(row, name, g[col])
        e = g["log_hr_error"].to_numpy(float)
        mse = float(np.mean(e ** 2))
        row["bias_log_hr"] = float(e.mean())
        row["bias_log_hr_se"] = float(e.std(ddof=1) / np.sqrt(len(e))) if len(e) > 1 else np.nan
        row["rmse_log_hr"] = float(np.sqrt(mse))
        row["rmse_log_hr_se"] = (float(np.std(e ** 2, ddof=1) / np.sqrt(len(e)) /
                                       (2 * np.sqrt(mse))) if len(e) > 1 and mse > 0 else np.nan)
        if "cox_warning" in g:
            row["cox_warnings"] = int(np.nansum(g["cox_warning"].to_numpy(float)))
        rows.append(row)
    return pd.DataFrame(rows)


def cox_row(time, event, X: np.ndarray, strata, column: int, sign: int) -> dict:
    """The adjusted Cox model of one simulated cohort (lifelines ``CoxPHFitter``, Efron ties):
    every column of the model's design matrix ``X`` as a covariate, a baseline hazard per
    level of ``strata`` (the centre), and the Wald test of the contrast, column ``column``
    times ``sign`` (its log HR): the two-sided p-value, rejection at 0.05, one-sided rejection
    at 0.05 in favour of the level (z below -1.645: HR < 1), the estimated HR and whether
    lifelines warned that the fit did not converge well (``cox_warning``). A fit that fails
    (no events, a singular matrix) gives NaN and no rejection."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    X = np.asarray(X, float)
    names = [f"x{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    frame["__time"] = np.asarray(time, float)
    frame["__event"] = np.asarray(event, int)
    frame["__stratum"] = pd.factorize(np.asarray(strata, dtype=object).astype(str))[0]
    failed = {"cox_p": np.nan, "cox_hr": np.nan, "cox_reject": 0, "cox_reject_one_sided": 0,
              "cox_warning": 0}
    if frame["__event"].sum() == 0:
        return failed
    # an aliased column (constant within every stratum) has a negative or zero variance:
    # NaN here, a failed comparator below, not a numerical warning
    with warnings.catch_warnings(record=True) as caught, np.errstate(invalid="ignore",
                                                                     divide="ignore"):
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            cph = CoxPHFitter().fit(frame, "__time", "__event", strata=["__stratum"])
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            return {**failed, "cox_warning": 1}
    warned = int(any(issubclass(w.category, ConvergenceWarning) for w in caught))
    for w in caught:  # anything but lifelines' convergence notices is shown as it came
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    b = sign * float(cph.params_[names[column]])
    se = float(cph.standard_errors_[names[column]])
    if not (np.isfinite(b) and np.isfinite(se) and se > 0):
        return {**failed, "cox_warning": 1}
    z = b / se
    p = float(2 * stats.norm.sf(abs(z)))
    return {"cox_p": p, "cox_hr": float(np.exp(b)), "cox_reject": int(p < 0.05),
            "cox_reject_one_sided": int(z < stats.norm.ppf(0.05)), "cox_warning": warned}


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
    """The operating characteristics: ``table`` one row per cell (rates with Clopper-Pearson
    intervals and MC SEs)."""

    def to_text(self) -> str:
        t = self.table
        cols = {"HR": t["true_hr"], "SD": t["true_sd"], "n": t["n"],
                f"P(HR<1)>{self.threshold:g}": rate_ci(t, "decision_rate"),
                "cover 90%": rate_ci(t, "coverage_90"), "cover 95%": rate_ci(t, "coverage_95"),
                "bias logHR": rate_pm(t, "bias_log_hr"), "RMSE logHR": rate_pm(t, "rmse_log_hr")}
        for name, label in (("cox_one_sided_rate", "Cox 1-sided"), ("cox_rate", "Cox 0.05"),
                            ("logrank_one_sided_rate", "log-rank 1-sided"),
                            ("logrank_rate", "log-rank 0.05")):
            if name in t:
                cols[label] = rate_ci(t, name)
        return self._text(f"Operating characteristics of {self.model} for {self.contrast} "
                          "(rates with exact Clopper-Pearson 95% intervals; bias and RMSE of "
                          "the posterior median on the log HR scale ± Monte Carlo SE; Cox: "
                          "adjusted for the model's covariates, stratified by centre; "
                          "log-rank: unadjusted; both at 0.05)", pd.DataFrame(cols))


def _digits(x: float) -> str:
    """A Monte Carlo SE to two significant digits (never shown as 0.000)."""
    if not np.isfinite(x):
        return "nan"
    return "0" if x == 0 else f"{x:.2g}"


def rate_pm(t: pd.DataFrame, col: str) -> list[str]:
    """An estimate of a study's table with its Monte Carlo SE (``col``_se), the SE to two
    significant digits: "0.123 ± 0.0045"."""
    return [f"{a:.3f} ± {_digits(b)}" for a, b in zip(t[col], t[col + "_se"], strict=True)]


def rate_ci(t: pd.DataFrame, col: str) -> list[str]:
    """A rate of a study's table with its Clopper-Pearson 95% interval (``col``_lo,
    ``col``_hi): "0.050 (0.031-0.076)"."""
    return [f"{a:.3f} ({lo:.3f}-{hi:.3f})" for a, lo, hi in
            zip(t[col], t[col + "_lo"], t[col + "_hi"], strict=True)]


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

    @functools.cached_property
    def _design_hash(self) -> str:
        return design_hash(self._design[1])

    def model_key(self, task: dict) -> tuple:
        """The model (name and hash) and a hash of the design's arrays."""
        return ("operating", self.spec.name, self.spec.hash, self._design_hash)

    def make_fitter(self, key) -> Refitter:
        if key != self.model_key({}):
            raise ValueError(f"operating: the key {key!r} is not this study's (another model "
                             "or design)")
        return Refitter(self.spec, self._design[1], sampling=self.sampling)

    def fitter_matches(self, key, fitter) -> bool:
        """Whether a cached ``fitter`` was compiled for this study's model and design."""
        return (key == self.model_key({}) and hasattr(fitter, "matches")
                and fitter.matches(self.spec, self._design[1])
                and design_hash(fitter.design) == self._design_hash)

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
        centres = self.cohort.data[self.cohort.schema.centre_column].to_numpy()
        return {"seed": int(task["seed"]), "cell": task["cell"], "rep": task["rep"],
                "true_hr": task["true_hr"], "true_sd": task["true_sd"],
                "n_events": int(event.sum()), "raised_times": raised,
                "divergences": int(np.asarray(tree["sample_stats"]["diverging"]).sum()),
                **hr_row(hr, task["true_hr"], self.threshold),
                **cox_row(time, event, design.X, centres, j, sign),
                **logrank_row(time, event, labels, self.contrast)}

    def summarise(self, table: pd.DataFrame) -> OperatingResult:
        ok = table[table["status"] == "ok"] if "status" in table else table
        cells = summarise_cells(ok)
        notes = []
        if "status" in table and (table["status"] != "ok").any():
            notes.append(f"{int((table['status'] != 'ok').sum())} replication(s) failed and are "
                         "not in the rates.")
        if "cox_warnings" in cells and cells["cox_warnings"].sum():
            notes.append(f"{int(cells['cox_warnings'].sum())} Cox fit(s) did not converge "
                         "cleanly (lifelines' convergence warning: a stratum or covariate "
                         "level with few events); they are in the rates as fitted.")
        return OperatingResult(model=self.spec.name, contrast=self.contrast.describe(),
                               threshold=self.threshold, table=cells,
                               verdict=_verdict(cells, self.threshold), notes=tuple(notes),
                               synthetic=bool(self.cohort.synthetic))


def _verdict(cells: pd.DataFrame, threshold: float) -> str:
    null = cells[np.isclose(cells["true_hr"], 1.0)]
    if null.empty:
        return "No cell with true HR 1: the false-positive rate is not estimated."

    def ci(r, name):
        return (f"{getattr(r, name):.3f} ({getattr(r, name + '_lo'):.3f}-"
                f"{getattr(r, name + '_hi'):.3f})")

    parts = []
    for r in null.itertuples():
        other = [f"{label} {ci(r, name)}" for name, label in
                 (("cox_one_sided_rate", "adjusted Cox"),
                  ("logrank_one_sided_rate", "log-rank")) if name in null]
        parts.append(f"SD {r.true_sd:g}, {r.n} replications: {ci(r, 'decision_rate')}"
                     + (f" (one-sided at 0.05: {', '.join(other)})" if other else ""))
    return (f"Under no effect (HR 1) the reanalysis reports P(HR < 1) > {threshold:g} at the "
            "rate (exact 95% interval) " + "; ".join(parts) + ".")

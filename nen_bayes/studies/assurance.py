"""Assurance of a prospective study: the probability, averaged over a fitted posterior, that a
new study of N units in K centres reaches P(HR < 1) > ``threshold`` (O'Hagan, Stevens and
Campbell 2005), beside the log-rank test's power averaged the same way.

Each replication draws one posterior draw of the fit (every coefficient, the baseline and the
between-centre SD), gives each of K new centres an effect from Normal(0, that SD), simulates
the new study's outcomes from the fitted model and fits the same model to them.

The new study's design (assumptions, each an option):

- units: N rows drawn with replacement from the fitted cohort (their covariates, the contrast's
  factor included, so the new study keeps the cohort's mix), assigned to K centres of equal
  size (unit i to centre i mod K). The rows of each N are drawn once, from (study seed, N), and
  shared by that N's replications, so that one compiled model serves them;
- accrual uniform over ``accrual`` time units (36 months by default), analysis ``follow_up``
  (24) after the last unit enters: unit i is censored administratively at
  ``accrual + follow_up - entry_i``;
- loss to follow-up: exponential with rate ``dropout`` per time unit (0 by default).

The frequentist power beside the assurance is one-sided at 0.05 in the direction of benefit
(the level's hazard lower than the comparator's, the direction P(HR < 1) rewards): a
two-sided test would count as successes the studies that find the level worse. It is given
for the adjusted Cox model (the model's covariates, a baseline hazard per new centre;
:func:`~nen_bayes.studies.operating.cox_row`) and for the unadjusted log-rank test. Every rate
comes with its exact Clopper-Pearson 95% interval and its binomial Monte Carlo SE.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import ModelSpec
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.settings import Contrast, Sampling
from nen_bayes.studies.engine import design_hash
from nen_bayes.studies.operating import RateResult, cox_row, rate_ci, rate_interval
from nen_bayes.studies.simulation import (
    contrast_column,
    design_for,
    hr_row,
    logrank_row,
    posterior_of,
    simulate_outcomes,
    task_seed,
)

__all__ = ["DRAWN", "NS", "AssuranceResult", "AssuranceStudy", "design_prior"]

NS = (100, 200, 300, 500)
#: The posterior variables a replication draws (with each group's ``sd_<g>``).
DRAWN = ("beta", "shape", "scale", "log_hazard")


def design_prior(posterior):
    """The variables of a fit's posterior Dataset that assurance draws: the coefficients, the
    baseline and each group's SD (not the per-unit or per-level quantities a fit also keeps,
    which would only make the study heavier to send to a cluster)."""
    return posterior[[v for v in posterior.data_vars if v in DRAWN or str(v).startswith("sd_")]]


@dataclass(frozen=True)
class AssuranceResult(RateResult):
    """Assurance and one-sided frequentist power by N: ``table`` one row per (N, K)."""

    def to_text(self) -> str:
        t = self.table
        cols = {"N": t["n_units"], "K": t["n_centres"], "reps": t["n"],
                "assurance": rate_ci(t, "assurance")}
        for name, label in (("cox_one_sided_power", "Cox power"),
                            ("logrank_one_sided_power", "log-rank power")):
            if name in t:
                cols[label] = rate_ci(t, name)
        return self._text(f"Assurance of a new study for {self.contrast} ({self.model}; "
                          "averaged over the fitted posterior; exact Clopper-Pearson 95% "
                          "intervals; power one-sided at 0.05 in the direction of benefit, Cox "
                          "adjusted and stratified by centre, log-rank unadjusted)",
                          pd.DataFrame(cols))


@dataclass(frozen=True)
class AssuranceStudy:
    """``reps`` replications for every N of ``ns``, K = ``centres``, from the posterior of a fit
    (``posterior``: its posterior Dataset) of ``spec`` on ``cohort``."""

    spec: ModelSpec
    cohort: Cohort
    posterior: object = field(repr=False)
    reps: int = 100
    seed: int = 1
    contrast: Contrast | None = None
    ns: tuple[int, ...] = NS
    centres: int = 7
    accrual: float = 36.0
    follow_up: float = 24.0
    dropout: float = 0.0
    threshold: float = 0.95
    sampling: Sampling = field(default_factory=lambda: Sampling(draws=500, tune=500, chains=2,
                                                                cores=1))
    endpoint: str | None = None
    name: str = "assurance"

    def __post_init__(self):
        if self.contrast is None:
            raise ValueError("assurance needs a contrast (the HR whose P(HR < 1) decides)")
        if self.reps < 1:
            raise ValueError(f"assurance needs at least 1 replication per N, got {self.reps}")
        if not self.ns or min(self.ns) < 2 * self.centres or self.centres < 2:
            raise ValueError(f"every N must be at least 2 units per centre and K at least 2; "
                             f"got N {list(self.ns)}, K {self.centres}")
        if self.accrual < 0 or self.follow_up <= 0 or self.dropout < 0:
            raise ValueError(f"accrual >= 0, follow-up > 0 and dropout >= 0 are required; got "
                             f"{self.accrual}, {self.follow_up}, {self.dropout}")

    @functools.cached_property
    def _draws(self) -> dict[str, np.ndarray]:
        post = design_prior(self.posterior)
        flat = {}
        for v in post.data_vars:
            a = post[v].to_numpy()
            flat[v] = a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])
        return flat

    @functools.cached_property
    def _studies(self) -> dict:
        return {}

    def _new_study(self, n_units: int):
        """The cohort of a new study of ``n_units`` (rows resampled, K new centres), its spec
        and design, the contrast's column and sign (built once per N)."""
        if n_units not in self._studies:
            self._studies[n_units] = self._build_study(n_units)
        return self._studies[n_units]

    def _build_study(self, n_units: int):
        rng = np.random.default_rng([int(self.seed), int(n_units), 0x5EED])
        rows = rng.integers(0, len(self.cohort), n_units)
        data = self.cohort.data.iloc[rows].reset_index(drop=True).copy()
        width = len(str(self.centres))
        centre_col = self.cohort.schema.centre_column
        data[centre_col] = [f"N{(i % self.centres) + 1:0{width}d}" for i in range(n_units)]
        if self.cohort.schema.id_column:
            data[self.cohort.schema.id_column] = [f"new{i + 1}" for i in range(n_units)]
        cohort = dataclasses.replace(self.cohort, data=data, rows=np.arange(n_units) + 2,
                                     source=f"{self.cohort.source} (new study of {n_units})")
        spec, design, endpoint = design_for(self.spec, cohort, self.endpoint)
        j, sign = contrast_column(design, self.contrast)
        return cohort, spec, design, endpoint, j, sign

    def plan(self) -> list[dict]:
        out, i = [], 0
        for n in self.ns:
            for r in range(self.reps):
                out.append({"task": i, "seed": task_seed(self.seed, i), "n_units": int(n),
                            "n_centres": self.centres, "rep": r})
                i += 1
        return out

    def model_key(self, task: dict) -> tuple:
        """The model (name and hash), a hash of the new study's design arrays, N and K."""
        design = self._new_study(int(task["n_units"]))[2]
        return ("assurance", self.spec.name, self.spec.hash, design_hash(design),
                int(task["n_units"]), int(task["n_centres"]))

    def make_fitter(self, key) -> Refitter:
        """The model compiled once for the new study of N = ``key[-2]`` units."""
        design = self._new_study(int(key[-2]))[2]
        if key[3] != design_hash(design):
            raise ValueError(f"assurance: the key {key!r} is not of this study's design of "
                             f"{key[-2]} units")
        return Refitter(self.spec, design, sampling=self.sampling)

    def fitter_matches(self, key, fitter) -> bool:
        """Whether a cached ``fitter`` was compiled for this model and the design of N units."""
        design = self._new_study(int(key[-2]))[2]
        return (hasattr(fitter, "matches") and fitter.matches(self.spec, design)
                and design_hash(fitter.design) == key[3] == design_hash(design))

    def run_task(self, task: dict, fitter) -> dict:
        cohort, spec, design, _, j, sign = self._new_study(task["n_units"])
        rng = np.random.default_rng(task["seed"])
        d = self._draws
        k = int(rng.integers(len(d["beta"])))
        values = {name: a[k] for name, a in d.items()}
        for g in design.groups:  # new levels: effects from Normal(0, the drawn SD)
            values[f"u_{g.name}"] = values.get(f"sd_{g.name}", 0.0) * \
                rng.standard_normal(len(g.levels))
        n = design.n
        entry = rng.uniform(0, self.accrual, n)
        censor = self.accrual + self.follow_up - entry
        if self.dropout > 0:
            censor = np.minimum(censor, rng.exponential(1 / self.dropout, n))
        time, event, raised = simulate_outcomes(spec.family, values, design, censor, rng)
        true_hr = float(np.exp(sign * values["beta"][j]))
        tree = fitter.fit(time, event, seed=int(rng.integers(2**31)), sampling=self.sampling)
        hr = np.exp(sign * posterior_of(tree)["beta"].isel(covariate=j).to_numpy())
        labels = cohort.data[self.contrast.term].to_numpy()
        centres = cohort.data[cohort.schema.centre_column].to_numpy()
        return {"seed": int(task["seed"]), "n_units": n, "n_centres": task["n_centres"],
                "rep": task["rep"], "draw": k, "true_hr": true_hr,
                "n_events": int(event.sum()), "raised_times": raised,
                "divergences": int(np.asarray(tree["sample_stats"]["diverging"]).sum()),
                **hr_row(hr, true_hr, self.threshold),
                **cox_row(time, event, design.X, centres, j, sign),
                **logrank_row(time, event, labels, self.contrast)}

    def summarise(self, table: pd.DataFrame) -> AssuranceResult:
        ok = table[table["status"] == "ok"] if "status" in table else table
        rows = []
        for (n, k), g in ok.groupby(["n_units", "n_centres"], sort=True):
            row = {"n_units": int(n), "n_centres": int(k), "n": len(g),
                   "events_median": float(g["n_events"].median())}
            for col, name in (("decision", "assurance"),
                              ("cox_reject_one_sided", "cox_one_sided_power"),
                              ("logrank_reject_one_sided", "logrank_one_sided_power")):
                if col in g:
                    r = rate_interval(g[col])
                    row[name], row[name + "_se"] = r["rate"], r["se"]
                    row[name + "_lo"], row[name + "_hi"] = r["lo"], r["hi"]
            rows.append(row)
        t = pd.DataFrame(rows)
        notes = [f"Design: N units resampled from {self.cohort.source}, {self.centres} centres "
                 f"of equal size, uniform accrual over {self.accrual:g} and follow-up "
                 f"{self.follow_up:g} after the last entry ({self.cohort.schema.time_unit}), "
                 f"loss to follow-up rate {self.dropout:g}."]
        if "status" in table and (table["status"] != "ok").any():
            notes.append(f"{int((table['status'] != 'ok').sum())} replication(s) failed and "
                         "are not in the rates.")
        def ci(r, name):
            return (f"{getattr(r, name):.2f} ({getattr(r, name + '_lo'):.2f}-"
                    f"{getattr(r, name + '_hi'):.2f})")

        verdict = ("; ".join(
            f"N {r.n_units}: {ci(r, 'assurance')}; one-sided power "
            + ", ".join(f"{label} {ci(r, name)}" for name, label in
                        (("cox_one_sided_power", "Cox"), ("logrank_one_sided_power", "log-rank"))
                        if name in t)
            for r in t.itertuples()) if len(t) else "no replication finished")
        return AssuranceResult(model=self.spec.name, contrast=self.contrast.describe(),
                               threshold=self.threshold, table=t,
                               verdict=f"Assurance of P(HR < 1) > {self.threshold:g}: {verdict}.",
                               notes=tuple(notes), synthetic=bool(self.cohort.synthetic))

"""Several trials in one hierarchical model, beside a two-stage random-effects meta-analysis.

One stage: the trials' patient-level data (reconstructed from paper cards, or given) stacked
with a ``trial`` column, arm coded ``reference`` / ``experimental`` in every trial, time in
months, fitted with a Weibull PH model (:func:`meta_spec`)::

    log h_ij(t) = log h0(t) + u_j + (beta + v_j) x_ij,   u_j ~ N(0, sd_trial),
                  v_j ~ N(0, sd_arm),                    x_ij = 1 for the experimental arm

* trial-specific baselines: the group ``trial`` carries a random intercept ``u_j`` with a wide SD
  prior (HalfNormal(2) on the log hazard: trial hazards may differ 50-fold). Trial as a fixed
  categorical covariate would be aliased with the group's own intercept, which every group of
  the model has; with hundreds of units per trial a wide-SD intercept shrinks each baseline by
  a negligible amount, and the treatment effect stays a within-trial comparison. The Weibull
  shape is common to the trials (an assumption the report states);
* the treatment effect common (``beta``) plus random by trial (``varying = ["arm"]``, ``v_j``),
  the between-trial SD ``sd_arm`` with a HalfNormal prior of the user's scale;
* the pooled HR exp(beta), the between-trial SD and the prediction interval of a new trial's
  HR: log HR_new = beta + v_new, v_new ~ N(0, sd_arm), one draw of v_new per posterior draw.

Two stages: each trial's Cox log HR and SE, pooled by :func:`dersimonian_laird` and by the
Bayesian normal-normal model :func:`normal_normal` (quadrature over the between-trial SD with
the same HalfNormal prior). :func:`leave_one_out` repeats the two-stage pooling without each
trial in turn, :func:`leave_one_out_one_stage` the one-stage fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import halfnorm, norm
from scipy.stats import t as student_t

from nen_bayes.bayes.families import WEIBULL
from nen_bayes.bayes.inference import fit
from nen_bayes.bayes.priors import lognormal_table
from nen_bayes.bayes.spec import ModelSpec, spec_from_dict
from nen_bayes.cohorts.cohort import Cohort, load_cohort
from nen_bayes.cohorts.read import read_table
from nen_bayes.cohorts.schema import CohortSchema, Factor
from nen_bayes.errors import CohortError
from nen_bayes.frequentist.cox import Term, cox_fit
from nen_bayes.settings import Sampling
from nen_bayes.trials.card import load_card
from nen_bayes.trials.reanalysis import reconstruct_card
from nen_bayes.units import canonical_unit, unit_factor

__all__ = ["ARMS", "META_UNIT", "HierarchicalResult", "MetaResult", "PooledEstimate",
           "TrialData", "dersimonian_laird", "hierarchical", "leave_one_out",
           "leave_one_out_one_stage", "load_trial", "meta_analysis", "meta_spec",
           "normal_normal", "stack", "trial_estimates"]

#: The arm coding shared by every trial of the stacked data.
ARMS = ("reference", "experimental")
#: The time unit of the stacked data.
META_UNIT = "months"


@dataclass(frozen=True)
class TrialData:
    """One trial's patient-level data: ``time`` (months), ``event``, ``arm`` in :data:`ARMS`."""

    name: str
    source: str
    data: pd.DataFrame
    reconstructed: bool


def load_trial(path: str, *, reference: str | None = None, time_unit: str = META_UNIT,
               name: str | None = None) -> TrialData:
    """A paper card (``.toml``: reconstructed) or a patient-level CSV with columns ``time``,
    ``event`` (1 = event) and ``arm`` (two levels, ``reference`` naming the comparator)."""
    if str(path).endswith(".toml"):
        card = load_card(path)
        ipd = reconstruct_card(card).ipd
        factor = unit_factor(card.time_unit, META_UNIT)
        arm = np.where(ipd["arm"] == card.reference, ARMS[0], ARMS[1])
        frame = pd.DataFrame({"time": ipd["time"] * factor, "event": ipd["event"], "arm": arm})
        return TrialData(name or card.name, str(path), frame, True)
    raw = read_table(path)
    frame = raw.frame
    missing = [c for c in ("time", "event", "arm") if c not in frame.columns]
    if missing:
        raise CohortError(f"{raw.source}: no column(s) {missing}; a trial's patient data need "
                          f"time, event and arm; columns are {list(frame.columns)}")
    levels = sorted(frame["arm"].astype(str).str.strip().unique())
    if len(levels) != 2:
        raise CohortError(f"{raw.source}: column 'arm' has levels {levels}; a trial needs two")
    if reference not in levels:
        raise CohortError(f"{raw.source}: the reference arm {reference!r} is not a level of "
                          f"'arm' ({levels}); give it as --reference {path}=LEVEL")
    unit = canonical_unit(time_unit)
    if unit is None:
        raise CohortError(f"{raw.source}: time unit {time_unit!r} is not a known unit")
    time = pd.to_numeric(frame["time"], errors="coerce")
    event = pd.to_numeric(frame["event"], errors="coerce")
    bad = time.isna() | event.isna() | ~event.isin([0, 1]) | (time <= 0)
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + raw.first_row)[:8].tolist()
        raise CohortError(f"{raw.source}: time must be a number > 0 and event 0 or 1; rows "
                          f"{rows} are not")
    arm = np.where(frame["arm"].astype(str).str.strip() == reference, ARMS[0], ARMS[1])
    out = pd.DataFrame({"time": time * unit_factor(unit, META_UNIT), "event": event.astype(int),
                        "arm": arm})
    stem = name or str(path).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return TrialData(stem, raw.source, out, False)


def stack(trials: list[TrialData]) -> Cohort:
    """The trials' units in one cohort: ``id, time, event, arm, trial``."""
    names = [t.name for t in trials]
    if len(set(names)) != len(names):
        raise CohortError(f"trial names repeat: {names}; each trial needs its own name")
    if len(trials) < 2:
        raise CohortError("a meta-analysis needs at least two trials")
    frame = pd.concat([t.data.assign(trial=t.name) for t in trials], ignore_index=True)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    schema = CohortSchema.custom({"endpoint": ("time", "event")}, id_column="id",
                                 centre_column="trial", time_unit=META_UNIT,
                                 factors=(Factor("arm", ARMS, reference=ARMS[0]),))
    return load_cohort(frame, schema, synthetic=False)


def trial_estimates(trials: list[TrialData]) -> pd.DataFrame:
    """Each trial's unadjusted Cox log HR (experimental vs reference, Efron ties) and SE."""
    rows = []
    for t in trials:
        r = cox_fit(t.data, "time", "event", [Term("arm", ARMS, ARMS[0])], zph=False)
        row = r.table.iloc[0]
        rows.append({"trial": t.name, "n": len(t.data), "events": int(t.data["event"].sum()),
                     "log_hr": float(row["coef"]), "se": float(row["se"]),
                     "hr": float(row["hr"]), "lower": float(row["lower"]),
                     "upper": float(row["upper"])})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PooledEstimate:
    """A pooled log HR with its interval, the between-trial SD and a new trial's interval."""

    method: str
    mu: float
    lower: float
    upper: float
    tau: float
    tau_lower: float
    tau_upper: float
    pred_lower: float
    pred_upper: float
    extra: tuple[tuple[str, float], ...] = ()

    def row(self) -> dict:
        return {"method": self.method, "hr": math.exp(self.mu), "lower": math.exp(self.lower),
                "upper": math.exp(self.upper), "tau": self.tau, "tau_lower": self.tau_lower,
                "tau_upper": self.tau_upper, "pred_lower": math.exp(self.pred_lower),
                "pred_upper": math.exp(self.pred_upper), **dict(self.extra)}


def dersimonian_laird(y, se, *, level: float = 0.95) -> PooledEstimate:
    """DerSimonian-Laird random-effects pooling of estimates ``y`` with standard errors ``se``.

    With ``v_i = se_i^2`` and fixed-effect weights ``w_i = 1 / v_i``::

        y_F   = sum(w_i y_i) / sum(w_i)
        Q     = sum(w_i (y_i - y_F)^2)                      (Cochran's Q, k - 1 df)
        tau^2 = max(0, (Q - (k - 1)) / (sum(w_i) - sum(w_i^2) / sum(w_i)))
        w*_i  = 1 / (v_i + tau^2)
        mu    = sum(w*_i y_i) / sum(w*_i),   SE(mu) = 1 / sqrt(sum(w*_i))
        CI    = mu -/+ z SE(mu)
        PI    = mu -/+ t_{k-2} sqrt(tau^2 + SE(mu)^2)       (Higgins et al. 2009; k >= 3)
        I^2   = max(0, (Q - (k - 1)) / Q)

    (DerSimonian & Laird, Control Clin Trials 1986;7:177-188). ``tau_lower``/``tau_upper`` are
    NaN: the method gives no interval for tau.
    """
    y, v = np.asarray(y, float), np.asarray(se, float) ** 2
    k = len(y)
    w = 1 / v
    y_f = (w * y).sum() / w.sum()
    q = float((w * (y - y_f) ** 2).sum())
    tau2 = float(max(0.0, (q - (k - 1)) / (w.sum() - (w ** 2).sum() / w.sum())))
    ws = 1 / (v + tau2)
    mu = float((ws * y).sum() / ws.sum())
    se_mu = 1 / math.sqrt(ws.sum())
    z = norm.ppf((1 + level) / 2)
    half = student_t.ppf((1 + level) / 2, k - 2) * math.sqrt(tau2 + se_mu ** 2) if k >= 3 \
        else math.nan
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    return PooledEstimate("DerSimonian-Laird", mu, mu - z * se_mu, mu + z * se_mu,
                          math.sqrt(tau2), math.nan, math.nan, mu - half, mu + half,
                          (("se", se_mu), ("Q", q), ("I2", i2), ("tau2", tau2)))


def _quantiles(grid: np.ndarray, cdf: np.ndarray, probs) -> list[float]:
    """Quantiles by inverting a CDF tabulated on ``grid`` (linear interpolation)."""
    cdf = cdf / cdf[-1]
    return [float(np.interp(p, cdf, grid)) for p in probs]


def _mixture_cdf(grid: np.ndarray, wt: np.ndarray, m: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """CDF on ``grid`` of the normal mixture sum_k wt_k N(m_k, sd_k^2)."""
    return (wt[:, None] * norm.cdf((grid[None, :] - m[:, None]) / sd[:, None])).sum(axis=0)


def normal_normal(y, se, *, tau_scale: float, level: float = 0.95,
                  n_tau: int = 2000) -> PooledEstimate:
    """Bayesian normal-normal random-effects model by quadrature.

    ``y_i ~ N(theta_i, se_i^2)``, ``theta_i ~ N(mu, tau^2)``, ``mu`` flat, ``tau ~
    HalfNormal(tau_scale)``. Given tau, ``mu | y, tau ~ N(m(tau), V(tau))`` with
    ``V = 1 / sum(1 / (se_i^2 + tau^2))`` and ``m = V sum(y_i / (se_i^2 + tau^2))``; the
    marginal posterior of tau is ``p(tau) V^(1/2) prod (se_i^2 + tau^2)^(-1/2)
    exp(-sum (y_i - m)^2 / (se_i^2 + tau^2) / 2)``, evaluated on a grid of tau. The pooled
    mu, and a new trial's ``theta_new | y, tau ~ N(m, V + tau^2)``, are mixtures over that grid;
    their quantiles are read from the mixture's CDF (a sum of normal CDFs) on a fine grid.
    """
    y, v = np.asarray(y, float), np.asarray(se, float) ** 2
    taus = np.linspace(0.0, halfnorm.ppf(0.99999, scale=tau_scale), n_tau)
    vt = v[None, :] + taus[:, None] ** 2
    V = 1 / (1 / vt).sum(axis=1)
    m = V * (y[None, :] / vt).sum(axis=1)
    logp = (halfnorm.logpdf(taus, scale=tau_scale) + 0.5 * np.log(V)
            - 0.5 * np.log(vt).sum(axis=1) - 0.5 * ((y[None, :] - m[:, None]) ** 2 / vt).sum(1))
    wt = np.exp(logp - logp.max())
    wt = wt / wt.sum()
    lo, hi = (1 - level) / 2, (1 + level) / 2
    span = 10 * math.sqrt(float((wt * (V + taus ** 2)).sum()))
    mean = float((wt * m).sum())
    grid = np.linspace(mean - span, mean + span, 8001)
    cdf_mu = _mixture_cdf(grid, wt, m, np.sqrt(V))
    cdf_new = _mixture_cdf(grid, wt, m, np.sqrt(V + taus ** 2))
    mu_med, mu_lo, mu_hi = _quantiles(grid, cdf_mu, (0.5, lo, hi))
    new_lo, new_hi = _quantiles(grid, cdf_new, (lo, hi))
    # tau's posterior on its grid: the CDF by the trapezoid rule
    cdf_tau = np.r_[0.0, np.cumsum((wt[1:] + wt[:-1]) / 2)]
    tau_med, tau_lo, tau_hi = _quantiles(taus, cdf_tau, (0.5, lo, hi))
    p_below = float(_mixture_cdf(np.array([0.0]), wt, m, np.sqrt(V))[0])
    return PooledEstimate(f"Bayesian normal-normal (tau ~ HalfNormal({tau_scale:g}), "
                          "quadrature)", mu_med, mu_lo, mu_hi, tau_med, tau_lo, tau_hi,
                          new_lo, new_hi, (("P(HR < 1)", p_below),))


def meta_spec(tau_scale: float) -> ModelSpec:
    """The one-stage model of the module docstring, priors with their reasons."""
    return spec_from_dict({
        "model": {"name": "weibull_ph_trials", "title": "Weibull PH, trials hierarchical",
                  "description": "Weibull PH of arm; trial intercepts and trial-varying arm "
                                 "effect", "family": WEIBULL.name,
                  "parameterisation": WEIBULL.parameterisation,
                  "time_unit": META_UNIT},
        "outcome": {"endpoint": "endpoint"},
        "covariates": [{"column": "arm", "type": "categorical", "reference": ARMS[0]}],
        "groups": [{"name": "trial", "column": "trial", "centered": False, "varying": ["arm"]}],
        "priors": {
            "coefficient": {"dist": "Normal", "mu": 0.0, "sigma": 1.0,
                            "reason": "pooled log HR: 95% on HR 0.14-7.1, centred on no effect"},
            "shape": lognormal_table(0.0, 1.0,
                      "Weibull shape common to the trials: median 1, 95% 0.14-7.1"),
            "scale": lognormal_table(math.log(24.0), 2.0,
                      "baseline scale in months: median 24, 95% 0.5-1,200"),
            "group_sd": {"dist": "HalfNormal", "sigma": 2.0,
                         "reason": "between-trial SD of the log baseline hazard: wide, so "
                                   "each trial keeps its own baseline"},
            "varying_sd": {"dist": "HalfNormal", "sigma": tau_scale,
                           "reason": "between-trial SD of the log HR (the user's choice)"},
        },
    }, source="meta model (weibull_ph_trials)")


@dataclass(frozen=True)
class HierarchicalResult:
    """Draws of the one-stage model: pooled log HR, between-trial SD, a new trial's log HR."""

    beta: np.ndarray
    sd: np.ndarray
    new: np.ndarray
    trial_log_hr: pd.DataFrame      # per trial: median and interval of beta + v_j
    tau_scale: float

    def estimate(self, level: float = 0.95) -> PooledEstimate:
        q = [(1 - level) / 2, 0.5, (1 + level) / 2]
        b, s, n = (np.quantile(x, q) for x in (self.beta, self.sd, self.new))
        return PooledEstimate(f"one-stage Weibull PH, trial-varying arm effect (sd ~ "
                              f"HalfNormal({self.tau_scale:g}))", b[1], b[0], b[2], s[1], s[0],
                              s[2], n[0], n[2], (("P(HR < 1)", float((self.beta < 0).mean())),))


def hierarchical(cohort: Cohort, *, tau_scale: float, sampling: Sampling | None = None,
                 level: float = 0.95, seed: int = 0) -> HierarchicalResult:
    """Fit :func:`meta_spec` to the stacked trials and draw a new trial's log HR."""
    spec = meta_spec(tau_scale)
    result = fit(spec, cohort, sampling=sampling, progressbar=False, log_lik=False,
                 predictive=False)
    post = result.tree["posterior"].dataset
    beta = post["beta"].values.reshape(-1, post["beta"].shape[-1])[:, 0]
    sd = post["sd_trial_varying"].values.reshape(-1)
    rng = np.random.default_rng(seed)
    new = beta + rng.normal(0.0, 1.0, beta.shape) * sd
    v = post["u_trial_varying"].values
    v = v.reshape(-1, v.shape[-2], v.shape[-1])[:, :, 0]
    trials = [str(x) for x in post["trial"].values]
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    rows = [{"trial": t, **dict(zip(("lower", "median", "upper"),
                                    np.quantile(beta + v[:, j], q), strict=True))}
            for j, t in enumerate(trials)]
    return HierarchicalResult(beta, sd, new, pd.DataFrame(rows), tau_scale)


def leave_one_out(est: pd.DataFrame, *, tau_scale: float) -> pd.DataFrame:
    """The two-stage pooled HR without each trial in turn (needs 3 trials or more)."""
    rows = []
    for i, t in enumerate(est["trial"]):
        rest = est.drop(index=est.index[i])
        for pooled in (dersimonian_laird(rest["log_hr"], rest["se"]),
                       normal_normal(rest["log_hr"], rest["se"], tau_scale=tau_scale)):
            r = pooled.row()
            rows.append({"left_out": t, "method": r["method"], "hr": r["hr"],
                         "lower": r["lower"], "upper": r["upper"], "tau": r["tau"]})
    return pd.DataFrame(rows)


def leave_one_out_one_stage(trials: list[TrialData], *, tau_scale: float,
                            sampling: Sampling | None = None) -> pd.DataFrame:
    """The one-stage model refitted without each trial in turn (needs 3 trials or more)."""
    rows = []
    for i, t in enumerate(trials):
        rest = [x for j, x in enumerate(trials) if j != i]
        r = hierarchical(stack(rest), tau_scale=tau_scale, sampling=sampling,
                         seed=(sampling or Sampling()).seed).estimate().row()
        rows.append({"left_out": t.name, "method": r["method"], "hr": r["hr"],
                     "lower": r["lower"], "upper": r["upper"], "tau": r["tau"]})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class MetaResult:
    """The trials, their own HRs, the pooled estimates side by side, leave-one-out."""

    trials: tuple[TrialData, ...]
    estimates: pd.DataFrame
    pooled: tuple[PooledEstimate, ...]
    loo: pd.DataFrame
    hierarchical: HierarchicalResult | None

    def pooled_table(self) -> pd.DataFrame:
        return pd.DataFrame([p.row() for p in self.pooled])

    def forest_table(self) -> pd.DataFrame:
        """Rows of a forest plot: each trial's HR, then each pooled HR and its prediction."""
        rows = [{"label": r.trial, "kind": "trial", "hr": r.hr, "lower": r.lower,
                 "upper": r.upper} for r in self.estimates.itertuples()]
        for p in self.pooled:
            r = p.row()
            rows.append({"label": r["method"], "kind": "pooled", "hr": r["hr"],
                         "lower": r["lower"], "upper": r["upper"]})
            rows.append({"label": f"new trial ({r['method']})", "kind": "prediction",
                         "hr": r["hr"], "lower": r["pred_lower"], "upper": r["pred_upper"]})
        return pd.DataFrame(rows)

    def to_text(self) -> str:
        f3 = lambda v: f"{v:.3f}"  # noqa: E731
        lines = ["Trials (unadjusted Cox HR, experimental vs reference, on each trial's data):",
                 self.estimates.to_string(index=False, float_format=f3), "",
                 "Pooled HR (95% interval), between-trial SD of the log HR (tau) and the 95% "
                 "prediction interval of a new trial's HR:",
                 self.pooled_table().to_string(index=False, float_format=f3), ""]
        if self.hierarchical is not None:
            lines += ["One-stage model, each trial's HR (posterior median and 95% CrI of "
                      "exp(beta + v_trial)):",
                      self.hierarchical.trial_log_hr.assign(
                          **{c: np.exp(self.hierarchical.trial_log_hr[c])
                             for c in ("lower", "median", "upper")}).to_string(
                          index=False, float_format=f3),
                      "The one-stage model assumes one Weibull shape for every trial; "
                      "the two-stage HRs are Cox models, free of that assumption.", ""]
        if len(self.loo):
            lines += ["Leave one trial out (the pooled HR of the others):",
                      self.loo.to_string(index=False, float_format=f3)]
        return "\n".join(lines) + "\n"


def meta_analysis(trials: list[TrialData], *, tau_scale: float, sampling: Sampling | None =
                  None, one_stage: bool = True, loo_one_stage: bool = False) -> MetaResult:
    """Every part of ``nen-bayes meta`` (``one_stage=False`` skips the hierarchical fit;
    ``loo_one_stage`` adds its leave-one-trial-out refits to the two-stage ones)."""
    cohort = stack(trials)
    est = trial_estimates(trials)
    pooled = [dersimonian_laird(est["log_hr"], est["se"]),
              normal_normal(est["log_hr"], est["se"], tau_scale=tau_scale)]
    hier = None
    if one_stage:
        hier = hierarchical(cohort, tau_scale=tau_scale, sampling=sampling,
                            seed=(sampling or Sampling()).seed)
        pooled.append(hier.estimate())
    loo = leave_one_out(est, tau_scale=tau_scale) if len(trials) >= 3 else pd.DataFrame()
    if one_stage and loo_one_stage and len(trials) >= 3:
        loo = pd.concat([loo, leave_one_out_one_stage(trials, tau_scale=tau_scale,
                                                      sampling=sampling)], ignore_index=True)
    return MetaResult(tuple(trials), est, tuple(pooled), loo, hier)

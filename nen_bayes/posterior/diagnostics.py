"""Sampler and model diagnostics of a fit, as a run card: each check, its threshold, its value,
pass or fail.

Checks (ArviZ's functions; thresholds from Vehtari et al. 2021, "Rank-normalization, folding,
and localization", and the Stan/ArviZ defaults; each is an option):

=================  =====================================================  ===================
check              what                                                   passes when
=================  =====================================================  ===================
``rhat``           max rank-normalised split R-hat over all parameters    <= 1.01
``ess_bulk``       min bulk effective sample size                         >= 100 per chain
``ess_tail``       min tail (5%/95% quantile) effective sample size       >= 100 per chain
``mcse``           max MCSE of the mean / posterior SD                    <= 0.1
``divergences``    divergent transitions after tuning                     == 0
``treedepth``      share of transitions that hit the maximum tree depth   <= 0.01
``ebfmi``          min energy Bayesian fraction of missing information    >= 0.3
``pareto_k``       units whose PSIS-LOO Pareto k exceeds the sample-size  == 0
                   dependent threshold min(1 - 1/log10(S), 0.7)
=================  =====================================================  ===================

The parameters checked are the model's own (``beta``, the baseline, the group SDs and effects,
the non-centred ``z``); derived quantities (``hr``, ``median_baseline``) are monotone transforms
or functions of those and are not checked twice.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from nen_bayes.bayes import families
from nen_bayes.bayes.predict import draw_indices, flat_draws, unit_levels
from nen_bayes.frequentist.interval import turnbull_npmle, turnbull_on_grid
from nen_bayes.frequentist.km import KaplanMeier, kaplan_meier
from nen_bayes.posterior.power_scaling import power_scaling
from nen_bayes.provenance import is_synthetic
from nen_bayes.settings import DEFAULT_SEED

__all__ = ["CONVERGENCE_CHECKS", "DEFAULT_THRESHOLDS", "LOO_CHECKS", "Check", "PPCCurve",
           "RunCard", "Verdict", "censoring_times", "checks_status", "convergence_verdict",
           "diagnose_fit", "fit_checks", "key_parameters", "km_on_grid", "model_parameters",
           "ppc_km", "psis_loo", "record_verdict", "sampler_failures", "scan_replicates"]

DEFAULT_THRESHOLDS = {
    "rhat": 1.01,
    "ess_per_chain": 100.0,
    "mcse_ratio": 0.1,
    "divergences": 0,
    "treedepth_share": 0.01,
    "ebfmi": 0.3,
    "pareto_k_bad": 0,
}

_DERIVED = {"hr", "median_baseline"}


@dataclass(frozen=True)
class Check:
    """One diagnostic: its value against its threshold."""

    name: str
    description: str
    value: float | None
    threshold: float
    rule: str               # "<=" or ">="
    passed: bool | None     # None: not available for this fit (e.g. no sampler statistic)
    worst: str = ""         # the parameter (or unit) that decides the value
    detail: str = ""

    @property
    def shown(self) -> str:
        """The value as displayed: enough digits to see it on its side of the threshold."""
        return _shown(self)

    @property
    def reason(self) -> str:
        v = _shown(self)
        where = f" ({self.worst})" if self.worst else ""
        return f"{self.name}: {v}{where}, needs {self.rule} {self.threshold:g}. {self.detail}"


@dataclass(frozen=True)
class RunCard:
    """All checks of one fit, with its provenance."""

    run: str
    model: str
    endpoint: str
    data_hash: str
    synthetic: bool
    checks: tuple[Check, ...]
    thresholds: dict = field(default_factory=dict)
    #: power-scaling sensitivity per top-level parameter (reported, not a pass/fail check):
    #: dicts with parameter, prior, likelihood, diagnosis; empty when the fit has no log_prior
    power_scaling: tuple = ()

    @property
    def passed(self) -> bool:
        """Whether every sampler check passed (:func:`sampler_failures`); high Pareto k is a
        caveat of the LOO estimate (:attr:`loo_caveats`), not a failed fit."""
        return not sampler_failures(self.checks)

    @property
    def failures(self) -> list[Check]:
        """The sampler checks that failed (:func:`sampler_failures`)."""
        return sampler_failures(self.checks)

    @property
    def loo_caveats(self) -> list[Check]:
        """The LOO reliability checks that flagged (:data:`LOO_CHECKS`): the fit's numbers
        stand, its PSIS-LOO estimate is not reliable."""
        return [c for c in self.checks if c.name in LOO_CHECKS and c.passed is False]

    @property
    def status(self) -> str:
        """``pass`` or ``FAIL``: the one verdict every table and text shows for this fit."""
        return checks_status(self.checks)

    def to_dict(self) -> dict:
        return {"run": self.run, "model": self.model, "endpoint": self.endpoint,
                "data_hash": self.data_hash, "synthetic": self.synthetic,
                "passed": self.passed, "failed": [c.name for c in self.failures],
                "loo_caveats": [c.name for c in self.loo_caveats],
                "thresholds": self.thresholds,
                "checks": [asdict(c) for c in self.checks],
                "power_scaling": list(self.power_scaling)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=_json_default) + "\n"

    def to_text(self) -> str:
        verdict = ("all sampler checks pass" if self.passed else
                   f"FAILED {len(self.failures)}")
        lines = [f"{self.run}: {self.model}, endpoint {self.endpoint}: {verdict}"]
        for c in self.checks:
            status = {True: "pass", False: "FAIL", None: "n/a"}[c.passed]
            v = _shown(c)
            lines.append(f"  [{status:>4}] {c.name:<12} {v:>10} (needs {c.rule} {c.threshold:g})"
                         f"{'  worst: ' + c.worst if c.worst else ''}")
        for c in self.failures:
            lines.append(f"  reason: {c.reason}")
        for c in self.loo_caveats:
            lines.append(f"  LOO caveat (not a failed fit): {c.reason}; the PSIS-LOO estimate "
                         "of this fit is not reliable (K-fold CV or exact refits of those "
                         "units give one that is)")
        if self.power_scaling:
            lines.append("  power-scaling sensitivity (reported, not a check; > 0.05 flags):")
            for r in self.power_scaling:
                lines.append(f"    {r['parameter']:<34} prior {r['prior']:.3f}  likelihood "
                             f"{r['likelihood']:.3f}  {r['diagnosis']}")
        return "\n".join(lines) + "\n"


def _shown(c: Check) -> str:
    """A check's value with enough digits to be seen on its side of the threshold: a failing
    R-hat of 1.0104 is written 1.0104, not 1.01 (which would read as passing)."""
    if c.value is None:
        return "n/a"
    v = float(c.value)
    if not np.isfinite(v):
        return f"{v}"

    def passes(x: float) -> bool:
        return x <= c.threshold if c.rule == "<=" else x >= c.threshold

    for digits in range(4, 18):
        text = f"{v:.{digits}g}"
        if passes(float(text)) == passes(v):
            return text
    return repr(v)


#: The checks a fit must pass before its estimates are read as a result: the chains agree
#: (R-hat), there are enough effective draws in the bulk and the tails, the Monte Carlo error is
#: small against the posterior SD, and the sampler explored the posterior faithfully (no
#: divergent transition, few transitions at the maximum tree depth, E-BFMI above its floor).
#: Every sampler check of the run card, so the run card and the convergence verdict agree.
CONVERGENCE_CHECKS = ("rhat", "ess_bulk", "ess_tail", "mcse", "divergences", "treedepth",
                      "ebfmi")

#: The checks of the PSIS-LOO estimate's reliability: a LOO caveat, never a failed fit.
LOO_CHECKS = ("pareto_k",)


def sampler_failures(checks) -> list[Check]:
    """The failed checks that make a fit's numbers not a result: every check but the LOO
    reliability ones (:data:`LOO_CHECKS`). The run card, the convergence verdict, the effects
    tables' ``checks`` column and the report all ask this function."""
    return [c for c in checks if c.name not in LOO_CHECKS and c.passed is False]


def checks_status(checks) -> str:
    """``"pass"`` or ``"FAIL"`` for a fit's checks (:func:`sampler_failures`)."""
    return "FAIL" if sampler_failures(checks) else "pass"


@dataclass(frozen=True)
class Verdict:
    """Whether a fit met the convergence thresholds (:data:`CONVERGENCE_CHECKS`).

    ``converged`` is False when any of those checks failed; a check that could not be computed
    (no sampler statistics) is neither a pass nor a failure and is listed in ``unavailable``."""

    converged: bool
    failed: tuple[str, ...]
    reasons: tuple[str, ...]
    unavailable: tuple[str, ...] = ()
    thresholds: dict = field(default_factory=dict)

    def banner(self) -> str:
        """The lines printed above a fit's estimates: empty when it converged."""
        if self.converged:
            return ""
        lines = ["NOT CONVERGED: this fit missed the convergence checks "
                 f"({', '.join(self.failed)}); its estimates below are NOT a result.",
                 *[f"  {r}" for r in self.reasons],
                 "  Rerun with more --tune/--draws or a higher --target-accept, centre or "
                 "rescale covariates, or use less vague priors."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"converged": self.converged, "failed": list(self.failed),
                "reasons": list(self.reasons), "unavailable": list(self.unavailable),
                "checks": list(CONVERGENCE_CHECKS), "thresholds": self.thresholds}


def convergence_verdict(tree, *, thresholds: dict | None = None,
                        var_names: list[str] | None = None) -> Verdict:
    """The convergence verdict of a fit's ``DataTree`` (R-hat, bulk and tail ESS, divergent
    transitions, E-BFMI against :data:`DEFAULT_THRESHOLDS`, or ``thresholds``). Cheap: no
    PSIS-LOO, no power-scaling; meant for every fit, prior-grid refits included."""
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    unknown = set(thresholds or {}) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ValueError(f"unknown threshold(s) {sorted(unknown)}; allowed: "
                         f"{sorted(DEFAULT_THRESHOLDS)}")
    names = var_names or model_parameters(tree)
    checks = [c for c in (*_convergence_checks(tree, names, th), *_sampler_checks(tree, th))
              if c.name in CONVERGENCE_CHECKS]
    failed = sampler_failures(checks)
    return Verdict(converged=not failed, failed=tuple(c.name for c in failed),
                   reasons=tuple(c.reason.strip() for c in failed),
                   unavailable=tuple(c.name for c in checks if c.passed is None),
                   thresholds={k: th[k] for k in ("rhat", "ess_per_chain", "mcse_ratio",
                                                  "divergences", "treedepth_share",
                                                  "ebfmi")})


def fit_checks(tree, *, thresholds: dict | None = None) -> str:
    """``"pass"`` or ``"FAIL"`` for a fit's ``DataTree``: the verdict recorded in its attrs
    (:func:`record_verdict`) when it has one, else computed (:func:`convergence_verdict`), both
    through :func:`sampler_failures`, as the run card's."""
    if "converged" in tree.attrs:
        return "pass" if int(tree.attrs["converged"]) else "FAIL"
    with warnings.catch_warnings():  # constant draws: R-hat is NaN, which fails its check
        warnings.simplefilter("ignore", RuntimeWarning)
        verdict = convergence_verdict(tree, thresholds=thresholds)
    return "pass" if verdict.converged else "FAIL"


def record_verdict(tree, verdict: Verdict) -> None:
    """Write ``verdict`` into the fit's attrs: ``converged`` (1/0), ``convergence_failed``
    (JSON list of the failed checks) and ``convergence`` (the verdict as JSON)."""
    tree.attrs.update({"converged": int(verdict.converged),
                       "convergence_failed": json.dumps(list(verdict.failed)),
                       "convergence": json.dumps(verdict.to_dict(), default=_json_default)})


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def model_parameters(tree) -> list[str]:
    """Posterior variables checked by the diagnostics: all but the derived ones."""
    return [v for v in tree["posterior"].dataset.data_vars if v not in _DERIVED]


def _extreme(ds, pick) -> tuple[float, str]:
    """The max (pick=np.nanargmax) or min value over all variables and elements, and where."""
    best_v, best_name = None, ""
    for name, da in ds.data_vars.items():
        a = np.asarray(da.values, float)
        if a.size == 0 or np.all(np.isnan(a)):
            continue
        k = int(pick(a.ravel()))
        v = float(a.ravel()[k])
        if best_v is None or (pick is np.nanargmax and v > best_v) or \
                (pick is np.nanargmin and v < best_v):
            label = name
            if a.ndim:
                pos = np.unravel_index(k, a.shape)
                labels = [str(da.coords[d].values[i]) if d in da.coords else str(i)
                          for d, i in zip(da.dims, pos, strict=True)]
                label = f"{name}[{', '.join(labels)}]"
            best_v, best_name = v, label
    return (np.nan if best_v is None else best_v), best_name


def diagnose_fit(tree, *, run: str = "", thresholds: dict | None = None,
                 var_names: list[str] | None = None, loo=None) -> RunCard:
    """Run every check on a fit's ``DataTree`` and return the run card. ``loo``: the fit's
    PSIS-LOO (:func:`psis_loo`) when the caller already has it."""
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    unknown = set(thresholds or {}) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ValueError(f"unknown threshold(s) {sorted(unknown)}; allowed: "
                         f"{sorted(DEFAULT_THRESHOLDS)}")
    names = var_names or model_parameters(tree)
    checks = [*_convergence_checks(tree, names, th), *_sampler_checks(tree, th),
              _pareto_check(tree, th, loo)]
    psense = ()
    if "log_prior" in tree.children and "log_likelihood" in tree.children:
        psense = tuple(power_scaling(tree, key_parameters(tree)).to_dict(orient="records"))
    a = tree.attrs
    return RunCard(run=run, model=str(a.get("model", "")), endpoint=str(a.get("endpoint", "")),
                   data_hash=str(a.get("data_hash", "")), synthetic=is_synthetic(a),
                   checks=tuple(checks), thresholds=th, power_scaling=psense)


def _convergence_checks(tree, names: list[str], th: dict) -> list[Check]:
    """R-hat, bulk and tail ESS, MCSE over the posterior SD."""
    import arviz_stats as azs

    post = tree["posterior"]
    rhat, where = _extreme(azs.rhat(tree, var_names=names).dataset, np.nanargmax)
    n_chains = post.sizes["chain"]
    checks = [Check("rhat", "max rank-normalised split R-hat", rhat, th["rhat"], "<=",
                    bool(rhat <= th["rhat"]), where,
                    "Chains disagree: run longer, or reparameterise." if n_chains > 1 else
                    f"R-hat needs at least two chains to compare; this fit has {n_chains}: "
                    "rerun with --chains 2 or more.")]
    ess_min = th["ess_per_chain"] * post.sizes["chain"]
    for method in ("bulk", "tail"):
        v, where = _extreme(azs.ess(tree, var_names=names, method=method).dataset,
                            np.nanargmin)
        checks.append(Check(f"ess_{method}", f"min {method} effective sample size", v,
                            ess_min, ">=", bool(v >= ess_min), where,
                            "Too few effective draws: increase --draws."))
    mcse = azs.mcse(tree, var_names=names).dataset
    sd = post.dataset[names].std(dim=("chain", "draw"))
    ratio, where = _extreme(mcse / sd, np.nanargmax)
    checks.append(Check("mcse", "max MCSE of the posterior mean / posterior SD", ratio,
                        th["mcse_ratio"], "<=", bool(ratio <= th["mcse_ratio"]), where,
                        "Monte Carlo error is large against the posterior spread."))
    return checks


def _sampler_checks(tree, th: dict) -> list[Check]:
    """Divergences, tree depth and E-BFMI from the sampler statistics (n/a without them)."""
    import arviz_stats as azs

    stats = tree["sample_stats"].dataset if "sample_stats" in tree.children else None
    post = tree["posterior"]
    n_trans = post.sizes["chain"] * post.sizes["draw"]
    checks = []
    if stats is not None and "diverging" in stats:
        n_div = int(stats["diverging"].sum())
        checks.append(Check("divergences", "divergent transitions after tuning", n_div,
                            th["divergences"], "<=", n_div <= th["divergences"], "",
                            f"{n_div / n_trans:.2%} of transitions. Divergences bias the "
                            "posterior: raise --target-accept or use a non-centred "
                            "parameterisation."))
    else:
        checks.append(Check("divergences", "divergent transitions", None, th["divergences"],
                            "<=", None, detail="no sampler statistic 'diverging'"))
    depth_var = next((v for v in ("maxdepth_reached", "reached_max_treedepth")
                      if stats is not None and v in stats), None)
    if depth_var:
        share = float(np.asarray(stats[depth_var], bool).mean())
        checks.append(Check("treedepth", "share of transitions at the maximum tree depth",
                            share, th["treedepth_share"], "<=",
                            share <= th["treedepth_share"], depth_var,
                            "Trajectories are cut short: sampling is inefficient."))
    else:
        checks.append(Check("treedepth", "share at maximum tree depth", None,
                            th["treedepth_share"], "<=", None,
                            detail="no tree-depth statistic"))
    if stats is not None and "energy" in stats:
        bf = np.asarray(azs.bfmi(tree).dataset["energy"].values, float).ravel()
        k = int(np.argmin(bf))
        checks.append(Check("ebfmi", "min E-BFMI over chains", float(bf[k]), th["ebfmi"], ">=",
                            bool(bf[k] >= th["ebfmi"]), f"chain {k}",
                            "The momentum resampling explores the energy poorly: "
                            "heavy tails or a funnel."))
    else:
        checks.append(Check("ebfmi", "min E-BFMI", None, th["ebfmi"], ">=", None,
                            detail="no sampler energy"))
    return checks


def _pareto_check(tree, th: dict, loo=None) -> Check:
    """Units whose PSIS-LOO Pareto k exceeds the sample-size dependent threshold."""
    if "log_likelihood" not in tree.children:
        return Check("pareto_k", "PSIS-LOO Pareto k", None, th["pareto_k_bad"], "<=",
                     None, detail="no log_likelihood group")
    loo = loo if loo is not None else psis_loo(tree)
    k = np.asarray(loo.pareto_k.values, float).ravel()
    good = float(loo.good_k)
    bad = int(np.sum(k > good))
    units = tree["log_likelihood"]["patient"].values
    worst = units[np.argsort(k)[::-1][:min(bad, 5)]]
    return Check("pareto_k", f"units with PSIS-LOO Pareto k > {good:.2f}", bad,
                 th["pareto_k_bad"], "<=", bad <= th["pareto_k_bad"],
                 ", ".join(map(str, worst)),
                 f"max k = {k.max():.2f}; LOO is unreliable for these units "
                 "(influential observations).")


def psis_loo(tree):
    """PSIS-LOO of a fit (ArviZ), with its Pareto k per unit."""
    import arviz_stats as azs

    with warnings.catch_warnings():
        # the Pareto-k warning is reported by the run card and the comparison table
        warnings.filterwarnings("ignore", message=".*[Pp]areto.*")
        warnings.filterwarnings("ignore", message=".*[Ee]stimated shape parameter.*")
        return azs.loo(tree, pointwise=True)


@dataclass(frozen=True)
class PPCCurve:
    """Observed Kaplan-Meier curve of a set of units and the band of the Kaplan-Meier curves of
    their posterior predictive replicates, censored as the units were, on ``grid``.

    ``observed`` is the observed Kaplan-Meier curve on the same grid; :attr:`outside` marks the
    grid times at which it leaves the band (the check's alarms)."""

    label: str
    km: KaplanMeier
    grid: np.ndarray
    lower: np.ndarray
    median: np.ndarray
    upper: np.ndarray
    observed: np.ndarray
    #: "Kaplan-Meier", or "Turnbull" for an interval-censored fit (then ``observed`` is the
    #: Turnbull estimate and ``km`` the Kaplan-Meier curve of the detection times)
    method: str = "Kaplan-Meier"
    #: for a Turnbull check, the observed Turnbull curve itself
    #: (:func:`~nen_bayes.frequentist.interval.turnbull_npmle`: ``time``, ``upper``, ``lower``,
    #: ``determined``), so that its stretches where the NPMLE is not unique are drawn as such
    turnbull: object = None

    @property
    def outside(self) -> np.ndarray:
        """Grid times at which the observed curve is below or above the band."""
        return (self.observed < self.lower) | (self.observed > self.upper)


def censoring_times(time, event, draws: int, rng: np.random.Generator, entry=None
                    ) -> np.ndarray:
    """Censoring times for ``draws`` replicates of the units, (draws, units).

    A censored unit keeps its own censoring time. A unit with an event was censored at some
    unknown time after its event: each replicate draws it from the reverse Kaplan-Meier
    estimate G of the censoring distribution (Kaplan-Meier with the censorings as events, the
    follow-up pattern of these units), conditional on exceeding the event time:
    P(C > c | C > t_i) = G(c) / G(t_i). Where G keeps mass beyond the last censoring time (the
    last unit had an event), a draw in that mass means no censoring (``inf``)."""
    t = np.asarray(time, float)
    e = np.asarray(event).astype(bool)
    out = np.broadcast_to(np.where(e, np.inf, t), (draws, len(t))).copy()
    if not e.any() or e.all():
        return out  # no event to censor, or no censoring seen: never censored
    atoms, n_cens = np.unique(t[~e], return_counts=True)
    at_risk = len(t) - np.searchsorted(np.sort(t), atoms, side="left")
    if entry is not None:  # late entry: under observation only once entered (entry < s)
        ent = np.sort(np.asarray(entry, float))
        at_risk = at_risk - (len(ent) - np.searchsorted(ent, atoms, side="left"))
    g = np.cumprod(1.0 - n_cens / at_risk)          # G(s_j) = P(C > s_j), non-increasing
    k = np.searchsorted(atoms, t[e], side="right") - 1
    g_event = np.where(k >= 0, g[np.maximum(k, 0)], 1.0)   # G(t_i) for the event units
    target = rng.uniform(size=(draws, int(e.sum()))) * g_event
    j = np.searchsorted(-g, -target, side="left")   # first atom with G(s_j) <= U G(t_i)
    out[:, e] = np.where(j < len(atoms), atoms[np.minimum(j, len(atoms) - 1)], np.inf)
    return out


def km_on_grid(time, event, grid, entry=None) -> np.ndarray:
    """Kaplan-Meier curves of many samples at once: ``time`` and ``event`` (samples, units),
    the curves on ``grid`` (samples, grid). Events come before censorings at tied times, as
    in :func:`~nen_bayes.frequentist.km.kaplan_meier`. ``entry`` (units,): late entry, a unit
    at risk at s when entry < s <= time (R's ``Surv(entry, time, event)``)."""
    t = np.atleast_2d(np.asarray(time, float))
    e = np.atleast_2d(np.asarray(event).astype(bool))
    order = np.lexsort((~e, t))
    ts = np.take_along_axis(t, order, axis=1)
    es = np.take_along_axis(e, order, axis=1)
    at_risk = t.shape[1] - np.arange(t.shape[1])
    if entry is not None:  # less those not yet entered at each time (entry >= time_j)
        ent = np.sort(np.asarray(entry, float))
        at_risk = at_risk - (len(ent) - np.searchsorted(ent, ts, side="left"))
    surv = np.cumprod(1.0 - es / at_risk, axis=1)
    out = np.empty((t.shape[0], len(grid)))
    for r in range(t.shape[0]):
        k = np.searchsorted(ts[r], grid, side="right")
        out[r] = np.where(k > 0, surv[r, np.maximum(k - 1, 0)], 1.0)
    return out


def ppc_km(tree, *, by: str | None = None, max_draws: int = 400, grid_points: int = 100,
           conf_level: float = 0.95, times=None, seed: int = DEFAULT_SEED) -> list[PPCCurve]:
    """Posterior predictive check of the survival curve, censoring included.

    For each of ``max_draws`` posterior draws the units' replicated (uncensored) times are
    censored as the units were (:func:`censoring_times`: a censored unit at its own censoring
    time, a unit with an event at a time drawn from the reverse Kaplan-Meier estimate of the
    censoring distribution, beyond its event time) and the replicate's Kaplan-Meier curve is
    taken; the band is the pointwise ``conf_level`` interval of those curves. The observed
    Kaplan-Meier curve is one more draw of the same kind when the model is right, so it leaves
    the band at a given time with probability about 1 - ``conf_level`` (uncensored replicates
    would give a band too narrow in the tail, where censoring makes the observed curve
    noisier).

    With late entry (``entry`` in the fit's constant data) the replicates are drawn given
    survival to each unit's entry (the fit's posterior predictive, from the truncated
    distribution) and every curve, observed and replicated, is the Kaplan-Meier estimate with
    the risk sets starting at entry.

    ``by`` names a categorical term of the model (e.g. ``"line"``): one curve per level, each
    censored with its own units' follow-up pattern. ``times``: the grid (default
    ``grid_points`` times from 0 to the set's longest time). ``seed``: the censoring draws.
    """
    t = tree["observed_data"]["time"].values
    e = tree["constant_data"]["time"].values.astype(int)
    const = tree["constant_data"].dataset
    entry = const["entry"].values if "entry" in const else None
    pp = tree["posterior_predictive"].dataset
    interval = "upper" in tree["constant_data"]
    idx = draw_indices(tree, min(max_draws, INTERVAL_PPC_DRAWS) if interval else max_draws)
    rep = flat_draws(pp, "time", idx).astype(float)
    rng = np.random.default_rng(seed)
    sets = [("all units", np.ones(len(t), bool))]
    if by is not None:
        lv = unit_levels(tree, by)
        sets = [(f"{by} = {level}", lv == level) for level in dict.fromkeys(lv)]
    q = [(1 - conf_level) / 2, 0.5, (1 + conf_level) / 2]
    out = []
    if interval:
        upper = tree["constant_data"]["upper"].values
        return [_ppc_interval(label, t[m], e[m], upper[m], rep[:, m], grid_points, times, q,
                              rng) for label, m in sets]
    for label, m in sets:
        em = None if entry is None else entry[m]
        km = kaplan_meier(t[m], e[m], label=label, entry=em)
        grid = np.linspace(0.0, float(t[m].max()), grid_points) if times is None else \
            np.asarray(times, float)
        c = censoring_times(t[m], e[m], len(idx), rng, entry=em)
        surv = km_on_grid(np.minimum(rep[:, m], c), rep[:, m] <= c, grid, entry=em)
        lo, mid, hi = np.quantile(surv, q, axis=0)
        out.append(PPCCurve(label, km, grid, lo, mid, hi,
                            km_on_grid(t[m], e[m], grid, entry=em)[0]))
    return out


#: Posterior predictive replicates of an interval-censored fit: each needs a Turnbull estimate
#: (:func:`~nen_bayes.frequentist.interval.turnbull_npmle`, 5 to 50 ms for 300 units), so
#: fewer than for a Kaplan-Meier check.
INTERVAL_PPC_DRAWS = 40


def scan_replicates(lower, event, upper, rep, cens) -> tuple[np.ndarray, np.ndarray]:
    """Replicated times ``rep`` (draws, units) observed by each unit's own scheme: the unit's
    scans every ``upper - lower`` (the median width of the interval events for units without
    one), phased to pass through its ``lower``; a replicate is seen as ``(last scan before,
    first scan after]``, right-censored at its censoring time ``cens`` (draws, units) when it
    lies beyond it; a unit with an exact event (``lower == upper``, e.g. death) stays exact."""
    ev = event == 1
    width = np.where(ev & (upper > lower), upper - lower, np.nan)
    typical = float(np.nanmedian(width)) if np.isfinite(width).any() else 0.0
    exact = ev & (upper == lower)
    w = np.where(exact, 0.0, np.where(np.isnan(width), typical, width))
    scanned = w > 0
    ws = np.where(scanned, w, 1.0)
    phase = np.mod(lower, ws)
    k = np.floor((rep - phase) / ws)
    s_lo = np.maximum(phase + k * ws, 0.0)
    s_up = phase + (k + 1) * ws
    lo = np.where(scanned, s_lo, rep)
    up = np.where(scanned, s_up, rep)
    censored = up > cens
    lo = np.where(censored, np.where(scanned, np.minimum(s_lo, cens), cens), lo)
    lo = np.where(censored & (lo <= 0), cens, lo)
    return lo, np.where(censored, np.inf, up)


def _ppc_interval(label, lower, event, upper, rep, grid_points, times, q, rng) -> PPCCurve:
    """One set's check of an interval-censored fit: the observed Turnbull estimate against the
    band of the Turnbull estimates of replicates observed by the same scan scheme."""
    detect = np.where(event == 1, upper, lower)
    km = kaplan_meier(detect, event, label=label)
    grid = np.linspace(0.0, float(detect.max()), grid_points) if times is None else \
        np.asarray(times, float)
    obs_up = np.where(event == 1, upper, np.inf)
    curve = turnbull_npmle(lower, obs_up)
    observed = turnbull_on_grid(curve, grid)
    cens = censoring_times(detect, event, rep.shape[0], rng)
    lo, up = scan_replicates(lower, event, upper, rep, cens)
    # on a grid of 1/1000 of the follow-up: lifelines' NPMLE slows with distinct end points
    step = float(detect.max()) / 1000
    lo = np.floor(lo / step) * step
    up = np.where(np.isinf(up), np.inf, np.maximum(np.ceil(up / step) * step, lo))
    surv = np.array([turnbull_on_grid(turnbull_npmle(lo[d], up[d]), grid)
                     for d in range(rep.shape[0])])
    b_lo, mid, b_hi = np.quantile(surv, q, axis=0)
    return PPCCurve(label, km, grid, b_lo, mid, b_hi, observed, method="Turnbull",
                    turnbull=curve)


def key_parameters(tree) -> list[str]:
    """The parameters shown in rank and prior-posterior figures: coefficients, baseline and
    group SDs (the group effects follow from these)."""
    ds = tree["posterior"].dataset
    names = ("beta", *families.get_family(tree.attrs["family"]).parameter_names)
    return [v for v in names if v in ds] + [v for v in ds.data_vars if v.startswith("sd_")]

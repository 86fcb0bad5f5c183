"""Simulation-based calibration (SBC; Talts et al. 2018, Modrak et al. 2023) of a model file on
a design.

Each replication draws every parameter from the model's priors
(:func:`nen_bayes.bayes.inference.sample_prior`), simulates the outcomes of the design's units
with the model's own likelihood (:func:`~nen_bayes.studies.simulation.simulate_observed`) and
the design's censoring (:func:`~nen_bayes.studies.simulation.censoring_times`), fits the model
and records, for every parameter (each coefficient, the shape or baseline hazards, each group's
SD and each group level's effect), the rank of the true value among ``L`` posterior draws: the
number of those draws below it, 0..L. The ``L`` draws are thinned evenly from every chain
(``chains x draws`` of them, so the thinning factor is ``chains x draws / L``); each row records
the smallest bulk ESS of the fit, and the summary says when it falls below ``L`` (ranks from
autocorrelated draws pile up at the extremes). When the fit is the exact posterior the ranks are
uniform on 0..L, whatever the design: a rank histogram that is not flat shows a prior, a
likelihood or a sampler that is wrong. Beside the parameters, the rank of a data-dependent
quantity (Modrak et al. 2023) is tested likewise: the joint log-likelihood of the simulated
data at the truth among its values at the thinned posterior draws (``log_likelihood``), which
a simulator that leaves out a parameter's effect, or a likelihood that scores an outcome kind
wrongly, moves away from uniform even where each parameter's own ranks look flat.

Uniformity test per parameter (:func:`uniformity_tests`): a chi-square test of the ranks in
``bins`` equal bins, and the simultaneous ECDF test of Säilynoja, Bürkner and Vehtari (2022) on
the randomised fractional ranks ``(rank + V) / (L + 1)``, ``V ~ U(0, 1)`` (uniform on (0, 1)
exactly when the ranks are uniform); the parameter's p-value is twice the smaller of the two
(Bonferroni over the two tests), and the verdict applies Holm's step-down over the parameters at
a family-wise level ``alpha`` (0.05), so that a calibrated model fails with probability at most
``alpha`` however many parameters it has.

A replication whose simulated cohort has fewer than :data:`FEW_EVENTS` events is kept in every
test (leaving it out would condition on the data and break the uniformity the test relies on)
and counted in the summary, with its task numbers. A task that failed (the engine records its
error) is not in the ranks: the summary names how many and says that the verdict is conditional
on the fits that ran.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import bdtr

from nen_bayes.bayes.inference import pointwise_log_likelihood, sample_prior
from nen_bayes.bayes.refit import Refitter
from nen_bayes.bayes.spec import ModelSpec
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.provenance import SYNTHETIC_NOTICE
from nen_bayes.settings import Sampling
from nen_bayes.studies.engine import design_hash
from nen_bayes.studies.simulation import (
    censoring_times,
    design_for,
    parameter_draws,
    parameter_names,
    parameter_values,
    simulate_observed,
    task_seed,
)

__all__ = [
    "FEW_EVENTS",
    "LOG_LIKELIHOOD",
    "MAX_RHAT",
    "MIN_REPS",
    "SHIFT",
    "SBCResult",
    "SBCStudy",
    "chi2_pvalue",
    "ecdf_bands",
    "ecdf_pvalue",
    "fractional_ranks",
    "rank_of",
    "rank_probabilities",
    "shift_power",
    "thin",
    "uniformity_tests",
]

#: The name of the ranked data-dependent quantity: the joint log-likelihood of the data.
LOG_LIKELIHOOD = "log_likelihood"
#: A simulated cohort with fewer events than this is counted as degenerate (kept, reported).
FEW_EVENTS = 10
#: Draws of the null distribution of the ECDF test's statistic.
ECDF_SIMULATIONS = 2000
#: No verdict from fewer replications: with 16 parameters (the headline model) the test finds
#: a posterior shifted by :data:`SHIFT` SD with probability about 0.23 at 50 replications and
#: 0.04 at 20 (:func:`shift_power`); below 50 even a model of one parameter is tested with
#: power below 0.5.
MIN_REPS = 50
#: The miscalibration whose detection probability a verdict states: the fitted posterior of
#: one parameter shifted by this many of its SDs from the exact one.
SHIFT = 0.5
#: A fit with a larger R-hat (rank-normalised, Vehtari et al. 2021) for some parameter is
#: shown apart in the report.
MAX_RHAT = 1.01
#: Simulated studies behind :func:`shift_power` (its Monte Carlo SE is at most 0.008).
POWER_SIMULATIONS = 4000


def thin(draws: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws taken evenly spaced from every chain of ``draws`` (chain, draw): the chains
    share ``n`` as evenly as they can. Raises ``ValueError`` when there are fewer than ``n``."""
    draws = np.asarray(draws)
    chains, per = draws.shape
    if chains * per < n:
        raise ValueError(f"{chains} chains x {per} draws are fewer than the {n} draws the ranks "
                         "need; sample more draws")
    counts = [n // chains + (c < n % chains) for c in range(chains)]
    return np.concatenate([draws[c, np.round(np.linspace(0, per - 1, k)).astype(int)]
                           for c, k in enumerate(counts) if k])


def rank_of(truth: float, draws: np.ndarray, rng: np.random.Generator) -> int:
    """The number of ``draws`` below ``truth`` (0..len(draws)); draws equal to it count with
    probability 1/2 each (random tie-breaking, so that ties do not bias the rank)."""
    draws = np.asarray(draws)
    ties = int(np.sum(draws == truth))
    return int(np.sum(draws < truth)) + (int(rng.binomial(ties, 0.5)) if ties else 0)


def fractional_ranks(ranks: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``(rank + V) / (L + 1)`` with ``V ~ U(0, 1)``: uniform on (0, 1) when the ranks are
    uniform on 0..L."""
    ranks = np.asarray(ranks, float)
    return (ranks + rng.uniform(size=ranks.shape)) / (n_draws + 1)


def chi2_pvalue(ranks: np.ndarray, n_draws: int, bins: int) -> tuple[float, float]:
    """Chi-square test of uniform ranks on 0..L in ``bins`` bins of consecutive ranks (expected
    counts proportional to the ranks each bin holds): (statistic, p-value)."""
    ranks = np.asarray(ranks, int)
    edges = np.floor(np.linspace(0, n_draws + 1, bins + 1)).astype(int)
    observed = np.array([np.sum((ranks >= a) & (ranks < b)) for a, b in
                         itertools.pairwise(edges)])
    expected = len(ranks) * np.diff(edges) / (n_draws + 1)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat, float(stats.chi2.sf(stat, bins - 1))


def _gamma(u: np.ndarray) -> np.ndarray:
    """Säilynoja et al.'s statistic for samples u (rows): 1 - 2 x the smallest binomial tail
    probability of the ECDF at the points 1/n, ..., (n-1)/n; large when the ECDF strays."""
    u = np.atleast_2d(u)
    n = u.shape[1]
    z = np.arange(1, n) / n
    counts = (np.sort(u, axis=1)[:, :, None] <= z).sum(axis=1)
    lower = bdtr(counts, n, z).min(axis=1)
    with np.errstate(invalid="ignore"):  # bdtr(-1, ...) is nan: P(count >= 0) = 1
        above = np.where(counts > 0, 1.0 - bdtr(np.maximum(counts - 1, 0), n, z), 1.0)
    upper = above.min(axis=1)
    return 1.0 - 2.0 * np.minimum(lower, upper)


@functools.lru_cache(maxsize=16)
def _null_gamma(n: int, simulations: int = ECDF_SIMULATIONS) -> np.ndarray:
    rng = np.random.default_rng([20220530, n])
    return np.sort(_gamma(rng.uniform(size=(simulations, n))))


def ecdf_pvalue(u: np.ndarray) -> float:
    """The simultaneous ECDF uniformity test of Säilynoja, Bürkner and Vehtari (2022): the
    fraction of uniform samples of the same size whose statistic is at least the observed one
    (the ECDF leaves the simultaneous ``1 - p`` band exactly when the p-value is below ``p``)."""
    if len(u) < 2:
        return 1.0  # one value: no ECDF to test
    null = _null_gamma(len(u))
    g = float(_gamma(np.asarray(u, float))[0])
    return float((np.sum(null >= g - 1e-12) + 1) / (len(null) + 1))


def ecdf_bands(u: np.ndarray, prob: float = 0.95, simulations: int = 1000,
               seed: int = 214) -> dict[str, np.ndarray]:
    """ArviZ's simultaneous ECDF band for uniform values (``arviz_stats.ecdf_utils.ecdf_pit``,
    the simulation method of Säilynoja et al. 2022): evaluation points, the ECDF and the band."""
    from arviz_stats.ecdf_utils import ecdf_pit

    x, ecdf, lo, hi = ecdf_pit(np.asarray(u, float), prob, simulations,
                               rng=np.random.default_rng(seed))
    return {"x": x, "ecdf": ecdf, "lower": lo, "upper": hi}


def rank_probabilities(n_draws: int, shift: float) -> np.ndarray:
    """P(rank = k), k = 0..L, when the fitted posterior is the exact one shifted by ``shift``
    of its SDs (normal posteriors, independent draws): with ``Z`` the truth's standardised
    position in the exact posterior (standard normal), each of the L draws falls below the
    truth with probability ``Phi(Z - shift)``, so the rank is Binomial(L, Phi(Z - shift))
    averaged over ``Z`` (Gauss-Hermite quadrature, 120 nodes); uniform when ``shift`` is 0."""
    z, w = np.polynomial.hermite_e.hermegauss(120)
    q = stats.norm.cdf(z - shift)
    k = np.arange(n_draws + 1)
    pmf = stats.binom.pmf(k[:, None], n_draws, q[None, :]) @ (w / np.sqrt(2 * np.pi))
    return pmf / pmf.sum()


def shift_power(n_reps: int, n_draws: int, bins: int, level: float, shift: float = SHIFT,
                simulations: int = POWER_SIMULATIONS, seed: int = 0) -> float:
    """The probability that the chi-square test of :func:`chi2_pvalue` (``bins`` bins) rejects
    at ``level`` the ranks of ``n_reps`` replications whose posterior is shifted by ``shift``
    SD (:func:`rank_probabilities`): the rate among ``simulations`` seeded multinomial
    draws of the bin counts (Monte Carlo SE at most ``0.5 / sqrt(simulations)``). A verdict
    tests each parameter at most at twice the smaller of this and the ECDF test's p-value,
    Holm-adjusted over P parameters, so at ``level = alpha / (2 P)`` this is a lower bound of
    the probability that a shift in one parameter is found."""
    if n_reps < 1:
        return 0.0
    pmf = rank_probabilities(n_draws, shift)
    edges = np.floor(np.linspace(0, n_draws + 1, bins + 1)).astype(int)
    p1 = np.array([pmf[a:b].sum() for a, b in itertools.pairwise(edges)])
    p0 = np.diff(edges) / (n_draws + 1)
    counts = np.random.default_rng([seed, n_reps]).multinomial(n_reps, p1 / p1.sum(),
                                                                size=simulations)
    expected = n_reps * p0
    stat = ((counts - expected) ** 2 / expected).sum(axis=1)
    return float(np.mean(stats.chi2.sf(stat, bins - 1) < level))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    out = np.empty_like(adj)
    out[order] = adj
    return out


def uniformity_tests(ranks: pd.DataFrame, n_draws: int, *, bins: int = 10,
                     alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """One row per parameter (a column of ``ranks``): the chi-square and ECDF p-values, the
    parameter's p-value (twice the smaller), Holm's adjusted p-value over the parameters, and
    ``passed`` (adjusted p-value at least ``alpha``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in ranks.columns:
        r = ranks[name].dropna().to_numpy(int)
        stat, p_chi2 = chi2_pvalue(r, n_draws, bins)
        p_ecdf = ecdf_pvalue(fractional_ranks(r, n_draws, rng))
        rows.append({"parameter": name, "n": len(r), "chi2": stat, "p_chi2": p_chi2,
                     "p_ecdf": p_ecdf, "p": min(1.0, 2 * min(p_chi2, p_ecdf))})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"].to_numpy()) if len(out) else []
    out["passed"] = out["p_holm"] >= alpha
    return out


@dataclass(frozen=True)
class SBCResult:
    """What an SBC study found: ``table`` (one row per parameter: tests and verdict),
    ``ranks`` (one row per replication, one column per parameter), the ECDF bands by parameter,
    the verdict and what it rests on: ``power`` (the probability, at least, that a posterior
    shifted by ``shift`` SD in one parameter is found at these replications, NaN when not
    computed), ``min_reps`` (no verdict below it), ``diagnostics`` (the fits with R-hat above
    :data:`MAX_RHAT` or divergent transitions: task, max_rhat, divergences, min_ess_bulk)."""

    model: str
    table: pd.DataFrame
    ranks: pd.DataFrame
    n_draws: int
    bins: int
    alpha: float
    bands: dict = field(repr=False)
    verdict: str
    notes: tuple[str, ...] = ()
    synthetic: bool = False
    power: float = float("nan")
    shift: float = SHIFT
    min_reps: int = MIN_REPS
    diagnostics: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def failing(self) -> list[str]:
        return self.table.loc[~self.table["passed"], "parameter"].tolist()

    def to_text(self) -> str:
        lines = [f"Simulation-based calibration of {self.model}: {len(self.ranks)} replications, "
                 f"ranks among L = {self.n_draws} thinned posterior draws",
                 self.verdict, ""]
        t = self.table[["parameter", "n", "p_chi2", "p_ecdf", "p_holm", "passed"]]
        lines.append(t.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        lines += ["", *self.notes]
        if self.diagnostics is not None and len(self.diagnostics):
            lines += ["", f"Fits failing the diagnostics (R-hat above {MAX_RHAT:g} or divergent "
                      "transitions), kept in the ranks (leaving them out would condition the "
                      "test on the data):",
                      self.diagnostics.to_string(index=False,
                                                 float_format=lambda x: f"{x:.3f}")]
        if self.synthetic:
            lines.append(SYNTHETIC_NOTICE)
        return "\n".join(lines)


@dataclass(frozen=True)
class SBCStudy:
    """SBC of ``spec`` on the design of ``cohort`` (its covariates, groups and censoring):
    ``reps`` replications seeded from ``seed``, each fit with ``sampling`` (its seed is replaced
    by the task's), ranks among ``n_draws`` thinned draws. ``fit_spec`` (default ``spec``) is
    the model fitted: a different one (other priors) shows what a miscalibrated fit looks like.
    """

    spec: ModelSpec
    cohort: Cohort
    reps: int
    seed: int
    sampling: Sampling = field(default_factory=lambda: Sampling(draws=500, tune=500, chains=2,
                                                                cores=1))
    endpoint: str | None = None
    n_draws: int = 99
    bins: int = 10
    alpha: float = 0.05
    fit_spec: ModelSpec | None = None
    name: str = "sbc"

    def __post_init__(self):
        if self.reps < 1:
            raise ValueError(f"an SBC study needs at least 1 replication, got {self.reps}")
        if self.sampling.chains * self.sampling.draws < self.n_draws:
            raise ValueError(f"{self.sampling.chains} chains x {self.sampling.draws} draws are "
                             f"fewer than the {self.n_draws} thinned draws the ranks need")
        if (self.n_draws + 1) < self.bins:
            raise ValueError(f"{self.bins} bins need at least {self.bins} possible ranks")
        if self.bins < 2 or self.n_draws < 1:
            raise ValueError(f"ranks need at least 1 draw and 2 bins, got L = {self.n_draws} "
                             f"and {self.bins} bins")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")

    @functools.cached_property
    def _design(self):
        return design_for(self.spec, self.cohort, self.endpoint)

    @property
    def parameters(self) -> list[str]:
        spec, design, _ = self._design
        return parameter_names(spec, design)

    def plan(self) -> list[dict]:
        return [{"task": i, "seed": task_seed(self.seed, i)} for i in range(self.reps)]

    @functools.cached_property
    def _design_hash(self) -> str:
        return design_hash(self._design[1])

    def model_key(self, task: dict) -> tuple:
        """The fitted model (name and hash) and the design's data (a hash of its arrays:
        :func:`~nen_bayes.studies.engine.design_hash`): what the compiled model holds."""
        spec = self.fit_spec or self.spec
        return ("sbc", spec.name, spec.hash, self._design_hash)

    def make_fitter(self, key) -> Refitter:
        """The fitted model (``fit_spec``, else ``spec``) compiled once for the design; a key
        of another design is refused."""
        if key != self.model_key({}):
            raise ValueError(f"sbc: the key {key!r} is not this study's "
                             f"{self.model_key({})!r} (another model or design)")
        return Refitter(self.fit_spec or self.spec, self._design[1], sampling=self.sampling)

    def fitter_matches(self, key, fitter) -> bool:
        """Whether a cached ``fitter`` was compiled for this study's model and design: its
        :meth:`Refitter.matches <nen_bayes.bayes.refit.Refitter.matches>` (model, units,
        covariates, groups, cuts) and the same design hash (outcomes included)."""
        design = self._design[1]
        return (key == self.model_key({}) and hasattr(fitter, "matches")
                and fitter.matches(self.fit_spec or self.spec, design)
                and design_hash(fitter.design) == self._design_hash)

    def run_task(self, task: dict, fitter) -> dict:
        spec, design, _ = self._design
        names = parameter_names(spec, design)
        rng = np.random.default_rng(task["seed"])
        truth_ds = sample_prior(spec, design, 1, rng)
        truth = {k: truth_ds[k].to_numpy()[0, 0] for k in truth_ds.data_vars}
        censor = censoring_times(design.time, design.event, rng)
        # the outcome kinds of the design (late entry, interval censoring) simulated as fitted
        sim, raised = simulate_observed(spec.family, truth, design, censor, rng)
        event = sim.event
        tree = fitter.fit(sim.time, sim.event, seed=int(rng.integers(2**31)),
                          sampling=self.sampling, entry=sim.entry,
                          upper=sim.upper if getattr(fitter, "intervals", False) else None)
        post = tree["posterior"].dataset if hasattr(tree["posterior"], "dataset") \
            else tree["posterior"]
        draws = parameter_draws(post, names)
        values = parameter_values(truth_ds, names)
        row = {"seed": int(task["seed"]), "n_events": int(event.sum()), "n_units": design.n,
               "raised_times": raised, "n_draws": self.n_draws,
               "divergences": int(np.asarray(tree["sample_stats"]["diverging"]).sum())}
        row.update(_convergence(draws))
        for name in names:
            row[f"rank[{name}]"] = rank_of(values[name], thin(draws[name], self.n_draws), rng)
            row[f"truth[{name}]"] = values[name]
        # a data-dependent quantity (Modrak et al. 2023): the joint log-likelihood of the
        # simulated data at the truth, ranked among its values at the posterior draws
        seen = dataclasses.replace(design, time=sim.time, event=sim.event, entry=sim.entry,
                                   upper=sim.upper)
        ll = _total_log_likelihood(post, spec.family, seen)
        ll_truth = float(_total_log_likelihood(truth_ds, spec.family, seen).ravel()[0])
        row[f"rank[{LOG_LIKELIHOOD}]"] = rank_of(ll_truth, thin(ll, self.n_draws), rng)
        row[f"truth[{LOG_LIKELIHOOD}]"] = ll_truth
        return row

    def summarise(self, table: pd.DataFrame) -> SBCResult:
        ok = table[table["status"] == "ok"] if "status" in table else table
        names = [c[5:-1] for c in ok.columns if c.startswith("rank[")]
        ranks = ok[[f"rank[{n}]" for n in names]].set_axis(names, axis=1).reset_index(drop=True)
        tests = uniformity_tests(ranks, self.n_draws, bins=self.bins, alpha=self.alpha,
                                 seed=self.seed)
        rng = np.random.default_rng(self.seed)
        bands = {n: ecdf_bands(fractional_ranks(ranks[n].to_numpy(), self.n_draws, rng))
                 for n in names} if len(ranks) >= 2 else {}  # no ECDF of fewer than 2
        tests["outside_band"] = [bool(np.any((b["ecdf"] < b["lower"]) | (b["ecdf"] > b["upper"])))
                                 for b in bands.values()] if bands else False
        level = self.alpha / (2 * max(len(names), 1))
        power = shift_power(len(ranks), self.n_draws, self.bins, level, seed=self.seed)
        flagged = _flagged(ok)
        notes = _notes(table, ok, self.n_draws, flagged)
        return SBCResult(model=(self.fit_spec or self.spec).name, table=tests, ranks=ranks,
                         n_draws=self.n_draws, bins=self.bins, alpha=self.alpha, bands=bands,
                         verdict=_verdict(tests, len(ranks), self.alpha, power=power,
                                          flagged=len(flagged), n_draws=self.n_draws,
                                          bins=self.bins),
                         notes=tuple(notes), synthetic=bool(self.cohort.synthetic),
                         power=power, diagnostics=flagged)


def _total_log_likelihood(ds, family: str, design) -> np.ndarray:
    """The joint log-likelihood of ``design``'s outcomes at every draw of ``ds``: (chain,
    draw), float64 sums of the pointwise terms."""
    ll = pointwise_log_likelihood(ds, family, design)["time"].to_numpy()
    return ll.astype(np.float64).sum(axis=-1)


def _convergence(draws: dict[str, np.ndarray]) -> dict:
    from arviz_stats.base import array_stats

    ess = [float(array_stats.ess(d, chain_axis=0, draw_axis=1)) for d in draws.values()]
    rhat = [float(array_stats.rhat(d, chain_axis=0, draw_axis=1)) for d in draws.values()]
    return {"min_ess_bulk": float(np.nanmin(ess)), "max_rhat": float(np.nanmax(rhat))}


def _flagged(ok: pd.DataFrame) -> pd.DataFrame:
    """The fits with R-hat above :data:`MAX_RHAT` or divergent transitions."""
    cols = [c for c in ("task", "max_rhat", "divergences", "min_ess_bulk") if c in ok]
    if "max_rhat" not in ok or "divergences" not in ok:
        return pd.DataFrame(columns=cols)
    bad = (ok["max_rhat"].astype(float) > MAX_RHAT) | (ok["divergences"].astype(float) > 0)
    return ok.loc[bad, cols].reset_index(drop=True)


def _verdict(tests: pd.DataFrame, n: int, alpha: float, *, power: float = float("nan"),
             flagged: int = 0, n_draws: int = 99, bins: int = 10) -> str:
    """What the ranks of ``n`` replications support: miscalibration where a parameter fails
    (at any ``n``: the family-wise level holds whatever the number), else nothing below
    :data:`MIN_REPS` (with the power that would be needed), or no evidence of miscalibration
    with the probability that a shift of :data:`SHIFT` SD would have been found."""
    if n == 0:
        return "No replication finished: nothing to test."
    k = len(tests)
    found = (f"a shift of {SHIFT:g} SD in one parameter's posterior would be detected with "
             f"probability at least {power:.2f} (the chi-square test alone, {bins} bins, at "
             f"{alpha:g} / (2 x {k}): a lower bound for the test used)")
    diag = (f" {flagged} of {n} fits failed R-hat <= {MAX_RHAT:g} or had divergent "
            "transitions (listed below): their ranks may reflect the sampler, not the model."
            if flagged else "")
    bad = tests.loc[~tests["passed"], "parameter"].tolist()
    if n < MIN_REPS and not bad:
        need = shift_power(MIN_REPS, n_draws, bins, alpha / (2 * max(k, 1)))
        return (f"No verdict: {n} replications are fewer than the {MIN_REPS} a verdict needs; "
                f"at {n}, {found}; at {MIN_REPS} the probability is {need:.2f}. Run more "
                "replications (--reps, in a new --out)." + diag)
    if n < MIN_REPS:  # a rejection holds at any number: Holm's level does not depend on it
        return (f"NOT calibrated: the ranks of {len(bad)} of {k} parameters are not uniform "
                f"(Holm-adjusted p < {alpha:g}, {n} replications): {', '.join(bad)}. A "
                f"rejection at the family-wise level holds with few replications; {n} are too "
                f"few (under {MIN_REPS}) to say the other parameters are calibrated." + diag)
    if not bad:
        return (f"No evidence of miscalibration at {n} replications (Holm-adjusted p >= "
                f"{alpha:g} for each of the {k} parameters); {found}." + diag)
    return (f"NOT calibrated: the ranks of {len(bad)} of {k} parameters are not uniform "
            f"(Holm-adjusted p < {alpha:g}, {n} replications): {', '.join(bad)}." + diag)


def _notes(table: pd.DataFrame, ok: pd.DataFrame, n_draws: int,
           flagged: pd.DataFrame | None = None) -> list[str]:
    notes = []
    if "status" in table and (table["status"] != "ok").any():
        failed = table.loc[table["status"] != "ok", "task"].tolist()
        notes.append(f"{len(failed)} replication(s) failed and are not in the ranks (tasks "
                     f"{failed}); the verdict is conditional on the fits that ran.")
    few = ok[ok["n_events"] < FEW_EVENTS] if "n_events" in ok else ok.iloc[:0]
    which = few["task"].tolist() if "task" in few else few.index.tolist()
    if len(ok) and "n_events" in ok:
        lo, mid, hi = np.percentile(ok["n_events"], [0, 50, 100])
        notes.append(f"Events per simulated cohort: {lo:.0f} to {hi:.0f} (median {mid:.0f}); "
                     f"{len(few)} cohort(s) with fewer than {FEW_EVENTS} events"
                     + (f" (tasks {which}), kept in every test." if len(few) else "."))
    if len(ok) and "max_rhat" in ok:
        rhat = ok["max_rhat"].astype(float)
        above = ok.loc[rhat > MAX_RHAT, "task"].tolist() if "task" in ok else []
        notes.append(f"R-hat: at most {np.nanmax(rhat):.3f} over the {len(ok)} fits (the largest "
                     f"of each fit's parameters); {int((rhat > MAX_RHAT).sum())} fit(s) above "
                     f"{MAX_RHAT:g}" + (f" (tasks {above[:20]})." if above else "."))
    if len(ok) and "divergences" in ok:
        div = ok["divergences"].astype(int)
        notes.append(f"Divergent transitions: {int(div.sum())} in {int((div > 0).sum())} of "
                     f"the {len(ok)} fits.")
    if len(ok) and "min_ess_bulk" in ok:
        ess = ok["min_ess_bulk"].astype(float)
        low = ok[ess < n_draws]
        if len(low):
            notes.append(
                f"{len(low)} fit(s) had a bulk ESS below L = {n_draws} for some parameter "
                f"(smallest {np.nanmin(ess):.0f}): their L thinned draws are autocorrelated, "
                "which piles ranks at the extremes and can fail a calibrated model. Give the "
                f"fits more --draws, or rank among fewer draws (--ranks-of at most "
                f"{max(int(np.nanmin(ess)), 1)}).")
    return notes

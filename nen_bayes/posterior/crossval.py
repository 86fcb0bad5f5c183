"""Leave-one-centre-out cross-validation: does a model predict a centre it has not seen?

For each centre k, :func:`centre_cv` refits the model on the other centres and scores the
held-out centre's units by their log predictive density. The model is compiled once with
per-unit likelihood weights as data (``build_model(..., unit_weights=True)``); a fold sets the
held-out centre's weights to 0, which gives the exact posterior given the other centres, so K
refits cost one compilation plus K runs of the sampler (nutpie).

What is scored (per fold k, posterior draws s = 1..S of the fit without centre k)::

    elpd_k = log( 1/S sum_s  integral  prod_{i in k} p(t_i, d_i | theta_s, u)  N(u | 0, sd_s) du )

the log predictive density of the held-out centre's units *jointly*, with ``p(t, d) = h(t)^d
S(t)`` (an event contributes its density, a censored unit its survival). A model with centre
intercepts knows nothing of the held-out centre's intercept, so it is a new group: ``u`` is
integrated over N(0, sd_centre) of each draw, one ``u`` shared by all of the centre's units.
Jointly, because that is the question: the units of a new centre share its (unknown)
intercept, and the score of a centre is how well the model predicts that centre's data as a
whole, dependence within the centre included. A per-unit score would give each unit its own
new intercept and score a centre of independent strangers, which the model does not claim it
is. A model without centre intercepts predicts the units independently given its parameters.
The integral over ``u`` is one-dimensional and computed per draw by adaptive Gauss-Hermite
quadrature (centred at the integrand's mode, scaled by its curvature), not by drawing ``u``:
with the joint density of tens of units, a few random ``u`` per draw would be very noisy.

``elpd_lococv`` is the sum over centres, with SE ``sqrt(K var(elpd_k))`` over the K centres
(as PSIS-LOO's SE is over units; with 5-10 centres it is itself rough). Models are compared by
the per-centre differences to the best model with the same rule as PSIS-LOO
(:data:`~nen_bayes.posterior.compare.LOO_SE_MULTIPLE`). ``mcse`` is the Monte Carlo SE of each
centre's estimate (delta method over the S draws, treated as independent).

Models with group-varying coefficients or more than one grouping level are refused: their new
centre needs an integral over several effects, which is not implemented here.

What the refits share with the full data: the design (numeric covariates centred and scaled,
and data-placed piecewise cut points ``quantiles:K``) is built once from every centre, so the
held-out centre's covariate values and event times enter those constants (not the posterior).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from nen_bayes.bayes import families
from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.inference import resolve_endpoint
from nen_bayes.bayes.outcomes import Outcomes
from nen_bayes.bayes.refit import Refitter
from nen_bayes.errors import ComparisonError, ModelDataError
from nen_bayes.posterior.compare import LOO_SE_MULTIPLE, loo_verdict
from nen_bayes.provenance import Provenanced
from nen_bayes.settings import Sampling

__all__ = [
    "CVComparison",
    "CentreCV",
    "centre_cv",
    "compare_cv",
    "fold_log_density",
    "new_group_log_density",
]

#: Gauss-Hermite nodes of the integral over a new centre's intercept.
GH_NODES = 32


def _interval_slopes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``g(u) = log(-expm1(-x))`` with ``x = c exp(u)``: ``dg/du`` and ``-d2g/du2`` (both
    >= 0: g is concave in u), stable at small and large x."""
    x = np.asarray(x, float)
    em1 = np.expm1(np.minimum(x, 700.0))
    small = x < 1e-8
    big = x > 700.0
    safe = np.where(small | big, 1.0, em1)
    d1 = np.where(small, 1.0 - x / 2.0, np.where(big, 0.0, x / safe))
    d2 = np.where(small, x / 2.0, np.where(big, 0.0,
                                           x * (x * (safe + 1.0) - safe) / safe ** 2))
    return d1, d2


def new_group_log_density(a: np.ndarray, d: np.ndarray, b: np.ndarray, sd: np.ndarray, *,
                          c: np.ndarray | None = None, nodes: int = GH_NODES) -> np.ndarray:
    """log of  integral exp(ll(u)) N(u | 0, sd) du, per draw, with

        ll(u) = a + d u - b exp(u) + sum_i log(1 - exp(-c_i exp(u))),

    the joint log-likelihood of a centre's units sharing a log-hazard offset ``u``: ``a`` the
    sum of the log hazards of their exact events at u = 0, ``d`` their number, ``b`` the sum
    of their cumulative hazards at u = 0 (at the time of an exact or censored unit, at the
    lower bound of an interval-censored one, net of entry), and ``c`` (S, m) the cumulative
    hazard over each interval-censored unit's interval (None: none). ``ll`` is concave in u.
    Adaptive Gauss-Hermite quadrature: nodes centred at the integrand's mode (Newton), scaled
    by its curvature.
    """
    a, b, sd = (np.asarray(x, float) for x in (a, b, sd))
    d = np.broadcast_to(np.asarray(d, float), a.shape)
    c = np.zeros((*a.shape, 0)) if c is None else np.asarray(c, float)
    prec = 1.0 / sd ** 2
    m = np.zeros_like(a)
    for _ in range(200):  # Newton on a concave function, steps limited to 1 on the log scale
        d1, d2 = _interval_slopes(c * np.exp(m)[..., None])
        grad = d - b * np.exp(m) + d1.sum(axis=-1) - m * prec
        step = np.clip(grad / (b * np.exp(m) + d2.sum(axis=-1) + prec), -1.0, 1.0)
        m = m + step
        if np.all(np.abs(step) < 1e-10):
            break
    curv = b * np.exp(m) + _interval_slopes(c * np.exp(m)[..., None])[1].sum(axis=-1) + prec
    tau = 1.0 / np.sqrt(curv)
    x, w = np.polynomial.hermite.hermgauss(nodes)
    u = m[..., None] + np.sqrt(2.0) * tau[..., None] * x
    g = (d[..., None] * u - b[..., None] * np.exp(u) - 0.5 * u ** 2 * prec[..., None]
         - np.log(sd[..., None] * np.sqrt(2.0 * np.pi)) + x ** 2)
    if c.shape[-1]:
        with np.errstate(divide="ignore"):
            g = g + np.log(-np.expm1(-c[..., None, :] * np.exp(u)[..., None])).sum(axis=-1)
    top = g.max(axis=-1, keepdims=True)
    return (a + np.log(np.sqrt(2.0) * tau) + top[..., 0]
            + np.log(np.sum(w * np.exp(g - top), axis=-1)))


def fold_log_density(family, t, d, eta, params: dict, *, sd=None, cuts=None, entry=None,
                     upper=None) -> np.ndarray:
    """The joint log predictive density of a held-out centre's units in each draw: (S,).

    ``eta`` (S, n): their linear predictors without any centre effect; ``sd`` (S,): the
    between-centre SD of each draw (``None``: the model has no centre intercepts, the units
    are independent given the draw). Each unit contributes the term of its outcome kind
    (:mod:`nen_bayes.bayes.outcomes`): an exact event its density, a censored unit its
    survival, an event in ``(t, upper]`` (``upper`` > ``t``) ``S(t) - S(upper)``, each
    conditional on survival to ``entry`` with late entry."""
    fam = families.get_family(family)
    outcomes = Outcomes(np.asarray(t, float), np.asarray(d), entry, upper)
    log_h, exact, h_t, h_between = outcomes.hazard_terms(fam, params, cuts)
    w = np.exp(eta)
    a = np.sum(exact * (log_h + eta), axis=1)
    b = np.sum(h_t * w, axis=1)
    inside = outcomes.interval
    c = (h_between * w)[:, inside]
    if sd is None:
        with np.errstate(divide="ignore"):
            return a - b + np.log(-np.expm1(-c)).sum(axis=1)
    return new_group_log_density(a, np.full(a.shape, exact.sum()), b, sd,
                                 c=c if inside.any() else None)


def _log_mean_exp(x: np.ndarray) -> tuple[float, float]:
    """log mean exp(x) and its delta-method Monte Carlo SE (draws treated as independent)."""
    top = float(np.max(x))
    w = np.exp(x - top)
    mean = float(w.mean())
    return top + np.log(mean), float(w.std(ddof=1) / np.sqrt(len(w)) / mean)


@dataclass(frozen=True)
class CentreCV(Provenanced):
    """Leave-one-centre-out cross-validation of one model.

    ``table``: one row per held-out centre (``centre, n, events, elpd, mcse`` and the refit's
    ``max_rhat, min_ess_bulk, divergences``)."""

    model: str
    endpoint: str
    column: str
    table: pd.DataFrame
    timings: dict
    provenance: dict = field(default_factory=dict)

    @property
    def elpd(self) -> float:
        """elpd_lococv: the sum of the centres' joint log predictive densities."""
        return float(self.table["elpd"].sum())

    @property
    def se(self) -> float:
        """SE over centres, sqrt(K var(elpd_k))."""
        e = self.table["elpd"].to_numpy()
        return float(np.sqrt(len(e) * np.var(e, ddof=1)))

    def to_text(self) -> str:
        lines = [self.notice] if self.notice else []
        lines.append(f"Leave-one-centre-out CV of {self.model}, endpoint {self.endpoint} "
                     f"(folds: {self.column})")
        for r in self.table.itertuples():
            lines.append(f"  {r.centre!s:<16} n {r.n:4d}  events {r.events:4d}  elpd "
                         f"{r.elpd:8.1f} (MC SE {r.mcse:.2f})  R-hat {r.max_rhat:.3f}  "
                         f"divergences {r.divergences}")
        lines.append(f"  elpd_lococv {self.elpd:.1f} (SE {self.se:.1f} over "
                     f"{len(self.table)} centres); compile {self.timings['compile_s']:.1f} s, "
                     f"{len(self.table)} refits {self.timings['sampling_s']:.1f} s")
        return "\n".join(lines) + "\n"


def _check_groups(spec, design, column: str) -> str | None:
    """The name of the model's centre grouping (``None`` for a model without one); refuse
    structures whose new centre is not a single intercept."""
    if not design.groups:
        return None
    g = design.groups[0]
    if len(design.groups) > 1 or g.varying or g.column != column:
        what = ("more than one grouping level" if len(design.groups) > 1 else
                "group-varying coefficients" if g.varying else
                f"a grouping by {g.column!r}, not by the folds' column {column!r}")
        raise ModelDataError(
            f"{spec.source}: leave-one-centre-out CV scores a new centre by integrating over "
            f"one centre intercept; the model {spec.name!r} has {what}. Compare it by PSIS-LOO "
            "or cross-validate a model with centre intercepts only.")
    return g.name


def _draws(tree, name: str) -> np.ndarray:
    a = tree["posterior"][name].to_numpy()
    return a.reshape((-1, *a.shape[2:]))


def _refuse_time_varying(spec) -> None:
    """A model whose effect changes with time is not scored here (its left-out centre's
    log-likelihood is not written for it): refused, naming the model file."""
    if spec.time_varying is not None:
        raise ModelDataError(f"{spec.source}: leave-one-centre-out CV of a model whose "
                             f"{spec.time_varying.covariate} effect changes with time "
                             "([time_varying]) is not offered; compare it by PSIS-LOO")


def _fold_row(tree, spec, design, held: np.ndarray, group: str | None, centre,
              source: str) -> dict:
    """The row of one fold: the held-out centre's joint log predictive density under the
    refit without it (:func:`fold_log_density`), its Monte Carlo SE and the refit's checks.

    Raises :class:`ComparisonError` when the density is not finite in some draw."""
    import arviz_stats as azs

    names = families.get_family(spec.family).parameter_names
    params = {n: _draws(tree, n) for n in names}
    X = design.X[held]
    eta = _draws(tree, "beta") @ X.T if X.shape[1] else np.zeros((len(params[names[0]]),
                                                                  int(held.sum())))
    sd = None if group is None else _draws(tree, f"sd_{group}")
    lj = fold_log_density(spec.family, design.time[held], design.event[held], eta, params,
                          sd=sd, cuts=design.cuts,
                          entry=None if design.entry is None else design.entry[held],
                          upper=None if design.upper is None else design.upper[held])
    if not np.all(np.isfinite(lj)):
        raise ComparisonError(
            f"{source}: the held-out centre {centre!r} ({int(held.sum())} units) has a log "
            f"predictive density that is not finite in {int((~np.isfinite(lj)).sum())} of "
            f"{len(lj)} draws under {spec.name!r}; its fold cannot be scored (check its "
            "times and bounds)")
    elpd, mcse = _log_mean_exp(lj)
    return {"centre": centre, "n": int(held.sum()), "events": int(design.event[held].sum()),
            "elpd": elpd, "mcse": mcse,
            "max_rhat": float(max(float(v.max()) for v in
                                  azs.rhat(tree).dataset.data_vars.values())),
            "min_ess_bulk": float(min(float(v.min()) for v in
                                      azs.ess(tree).dataset.data_vars.values())),
            "divergences": int(tree["sample_stats"]["diverging"].sum())}


def centre_cv(spec, cohort, *, endpoint: str | None = None, column: str | None = None,
              sampling: Sampling | None = None, progress=None, **overrides) -> CentreCV:
    """Refit ``spec`` once per centre without that centre (one compiled model, nutpie) and
    score the held-out centre (module docstring).

    ``column``: the fold column (default: the cohort's centre column). ``sampling`` (default
    :class:`Sampling`) and keyword ``overrides`` (``draws=150``) set the sampler;
    ``progress`` (a callable) is told each fold before its refit.

    Raises
    ------
    ModelDataError
        No centre column, fewer than 3 centres, or a model whose new centre is more than one
        intercept.
    """

    s = replace(Sampling() if sampling is None else sampling, **overrides)
    endpoint = resolve_endpoint(spec, cohort, endpoint)
    column = column or cohort.schema.centre_column
    if column is None or column not in cohort.data.columns:
        raise ModelDataError(f"{cohort.source}: leave-one-centre-out CV needs a centre column; "
                             f"{column!r} is not one of the data's columns "
                             f"{list(cohort.data.columns)}")
    _refuse_time_varying(spec)
    if not families.get_family(spec.family).proportional:
        raise ModelDataError(
            f"{spec.source}: leave-one-centre-out CV integrates a new centre's intercept on the "
            f"log-hazard scale (proportional hazards); {spec.family!r} is an "
            "accelerated-failure-time family, whose intercepts act on time: compare it by "
            "PSIS-LOO")
    design = make_design(spec, cohort, endpoint)
    group = _check_groups(spec, design, column)
    folds, centres = pd.factorize(cohort.data[column].astype(str), sort=True)
    if len(centres) < 3:
        raise ModelDataError(f"{cohort.source}: column {column!r} has {len(centres)} "
                             f"centre(s) {list(centres)}; leave-one-centre-out CV needs at "
                             "least 3")
    t0 = time.perf_counter()
    fitter = Refitter(spec, design, sampling=s, unit_weights=True)
    t_compile = time.perf_counter() - t0
    seeds = np.random.SeedSequence(s.seed).generate_state(len(centres))
    rows = []
    t1 = time.perf_counter()
    for k, centre in enumerate(centres):
        if progress:
            progress(f"centre {k + 1}/{len(centres)}: {centre} held out")
        held = folds == k
        tree = fitter.fit(design.time, design.event, entry=design.entry, upper=design.upper,
                          seed=int(seeds[k]), weights=(~held).astype(float))
        rows.append(_fold_row(tree, spec, design, held, group, centre, cohort.source))
    t_sampling = time.perf_counter() - t1
    prov = cohort.provenance()
    return CentreCV(model=spec.name, endpoint=endpoint, column=column,
                    table=pd.DataFrame(rows),
                    timings={"compile_s": round(t_compile, 2),
                             "sampling_s": round(t_sampling, 2)},
                    provenance={"data_hash": prov["data_hash"], "source": prov["source"],
                                "synthetic": prov["synthetic"], "n_units": design.n,
                                "n_events": int(design.event.sum()), "seed": s.seed,
                                "draws": s.draws, "tune": s.tune, "chains": s.chains,
                                "sampler": "nutpie", "spec_hash": spec.hash})


@dataclass(frozen=True)
class CVComparison(Provenanced):
    """Leave-one-centre-out CV of several models of one endpoint, best first.

    ``table``: ``model, rank, elpd_lococv, se, elpd_diff, dse, mcse`` (``dse``: SE of the
    difference to the best over centres; ``mcse``: Monte Carlo SE of the model's sum).
    ``centres``: one row per centre, each model's elpd and its difference to the best model.
    """

    endpoint: str
    column: str
    table: pd.DataFrame
    centres: pd.DataFrame
    results: dict
    provenance: dict = field(default_factory=dict)

    @property
    def verdict(self) -> tuple[str | None, tuple[str, ...]]:
        """``(preferred, indistinguishable)`` by the rule of
        :func:`~nen_bayes.posterior.compare.loo_verdict`."""
        return loo_verdict(self.table)

    def refit_warnings(self, max_rhat: float = 1.01) -> list[str]:
        """One line per model whose refits had divergences or an R-hat above ``max_rhat``."""
        out = []
        for name, r in self.results.items():
            t = r.table
            bad = t[(t["divergences"] > 0) | (t["max_rhat"] > max_rhat)]
            if len(bad):
                out.append(f"{name}: the refit(s) without {', '.join(map(str, bad['centre']))} "
                           f"had divergences ({int(bad['divergences'].sum())}) or R-hat > "
                           f"{max_rhat:g} (max {float(t['max_rhat'].max()):.3f}); see refits")
        return out

    def verdict_text(self) -> str:
        preferred, close = self.verdict
        k = f"{LOO_SE_MULTIPLE:g}"
        if preferred is not None:
            if len(self.table) == 1:
                return f"only model: {preferred} (nothing to compare)"
            return (f"preferred: {preferred} (its leave-one-centre-out ELPD exceeds every other "
                    f"model's by more than {k} SE over centres)")
        return (f"no model preferred: {', '.join(close)} within {k} SE of the best "
                "leave-one-centre-out ELPD")

    def to_text(self) -> str:
        lines = [self.notice] if self.notice else []
        k = len(self.centres)
        lines.append(f"Leave-one-centre-out cross-validation, endpoint {self.endpoint}: each of "
                     f"{k} centres ({self.column}) predicted by a refit without it")
        for r in self.table.itertuples():
            lines.append(f"  {r.model:<28} elpd {r.elpd_lococv:9.1f} (SE {r.se:5.1f}, MC SE "
                         f"{r.mcse:4.2f})  diff {r.elpd_diff:7.1f} (SE {r.dse:4.1f})")
        lines.append(f"  {self.verdict_text()}")
        lines += [f"  caution: {w}" for w in self.refit_warnings()]
        lines.append(f"  SEs are over {k} centres and rough; a centre's elpd is the joint log "
                     "predictive density of its units, its intercept integrated as a new "
                     "centre's.")
        lines.append("")
        lines.append("Per centre (elpd; diff to the best model)")
        lines.append(self.centres.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        if self.notice:
            lines.append(self.notice)
        return "\n".join(lines) + "\n"


def compare_cv(results: dict) -> CVComparison:
    """Compare :class:`CentreCV` results of one cohort, endpoint and fold column."""
    if not results:
        raise ComparisonError("no cross-validation results to compare")
    for what, get in (("data (content hash)", lambda r: r.provenance.get("data_hash")),
                      ("endpoint", lambda r: r.endpoint), ("fold column", lambda r: r.column),
                      ("centres", lambda r: tuple(r.table["centre"]))):
        values = {name: get(r) for name, r in results.items()}
        if len(set(values.values())) > 1:
            raise ComparisonError(f"these cross-validations differ in {what}: {values}; "
                                  "compare only folds of one cohort and endpoint")
    best = max(results, key=lambda n: results[n].elpd)
    best_k = results[best].table["elpd"].to_numpy()
    rows = []
    first = next(iter(results.values()))
    centres = first.table[["centre", "n", "events"]].copy()
    for name, r in results.items():
        e = r.table["elpd"].to_numpy()
        diff = e - best_k
        rows.append({"model": name, "elpd_lococv": r.elpd, "se": r.se,
                     "elpd_diff": float(diff.sum()),
                     "dse": float(np.sqrt(len(diff) * np.var(diff, ddof=1))),
                     "mcse": float(np.sqrt(np.sum(r.table["mcse"].to_numpy() ** 2)))})
        centres[name] = e
        if name != best:
            centres[f"{name} - {best}"] = diff
    table = pd.DataFrame(rows).sort_values("elpd_lococv", ascending=False, ignore_index=True)
    table.insert(1, "rank", np.arange(len(table)))
    prov = {k: first.provenance.get(k) for k in ("data_hash", "source", "synthetic",
                                                 "n_units", "n_events")}
    prov["models"] = {n: {"spec_hash": r.provenance.get("spec_hash"),
                          "timings": r.timings} for n, r in results.items()}
    return CVComparison(first.endpoint, first.column, table, centres, dict(results), prov)

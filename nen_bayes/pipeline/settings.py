"""What the main job runs, written once and checked whole before the first fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.families import family_names, get_family
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.errors import ModelDataError
from nen_bayes.posterior.diagnostics import DEFAULT_THRESHOLDS
from nen_bayes.re_nen.published import PublishedComparison
from nen_bayes.sensitivity.grid import GridPrior
from nen_bayes.sensitivity.refits import check_grid_contrast
from nen_bayes.settings import FIGURE_FORMATS, Contrast, Decision, Sampling

__all__ = ["DEFAULT_MODELS", "FIGURE_FORMATS", "MAIN_JOB_SAMPLING", "ReanalysisSettings",
           "check_settings", "resolved_contrast"]

#: The model set of the main job; the first is the headline model.
DEFAULT_MODELS = ("weibull_ph_centre", "weibull_ph_pooled", "exponential_ph_centre",
                  "piecewise_ph_centre", "weibull_ph_centre_line",
                  "weibull_line_hr_by_time_centre", "weibull_line_shape_centre")

#: The main job samples with a higher target acceptance than a single fit (fewer divergences
#: across fifteen hierarchical fits at the cost of smaller steps).
MAIN_JOB_SAMPLING = Sampling(target_accept=0.95)


@dataclass(frozen=True)
class ReanalysisSettings:
    """What :func:`nen_bayes.pipeline.reanalysis.reanalyse` runs.

    ``specs`` are loaded :class:`~nen_bayes.bayes.spec.ModelSpec` objects, the first being the
    headline model; ``contrast`` is the effect of interest (a categorical covariate of the
    headline model); ``priors`` the prior grid on its log HR (empty: no grid refits);
    ``published`` a published comparison to reanalyse from its numbers alone (``None``: none).
    ``endpoints``/``factors`` ``None`` mean all of the cohort's; ``horizons`` ``None``: each
    endpoint's :func:`~nen_bayes.settings.default_horizons` from its own follow-up.
    ``centre_cv``: also run leave-one-centre-out cross-validation of the model set (one refit
    per centre and model). ``grid_method``: how the prior grid's posteriors are obtained
    (:data:`~nen_bayes.sensitivity.refits.GRID_METHODS`: "reweight", the default, samples the
    model's own prior and reweights its draws, refitting a prior whose weights fail their
    checks; "refit" samples every prior).
    """

    specs: tuple
    contrast: Contrast
    endpoints: tuple[str, ...] | None = None
    factors: tuple[str, ...] | None = None
    sampling: Sampling = MAIN_JOB_SAMPLING
    decision: Decision = field(default_factory=Decision)
    horizons: tuple[float, ...] | None = None
    max_draws: int = 1000
    conf_level: float = 0.95
    thresholds: dict | None = None
    formats: tuple[str, ...] = ("png",)
    priors: tuple[GridPrior, ...] = ()
    published: PublishedComparison | None = None
    centre_cv: bool = False
    grid_method: str = "reweight"
    #: report the headline model's answer even when its fit missed the convergence checks
    #: (flagged NOT CONVERGED); by default such an answer is withheld
    accept_unconverged: bool = False

    @property
    def headline(self):
        return self.specs[0]

    def endpoints_of(self, cohort: Cohort) -> list[str]:
        return list(self.endpoints or [e.name for e in cohort.schema.endpoints])

    def factors_of(self, cohort: Cohort) -> list[str]:
        return list(self.factors) if self.factors is not None else \
            [f.name for f in cohort.schema.factors]

    def to_dict(self) -> dict:
        """The settings as run.json records them."""
        s = self.sampling
        c = self.contrast
        return {"models": [sp.name for sp in self.specs],
                "spec_hashes": {sp.name: sp.hash for sp in self.specs},
                "draws": s.draws, "tune": s.tune, "chains": s.chains, "seed": s.seed,
                "sampler": s.sampler, "target_accept": s.target_accept,
                "conf_level": self.conf_level,
                "contrast": {"term": c.term, "level": c.level, "versus": c.versus},
                "decision": {"benefit": self.decision.benefit, "harm": self.decision.harm,
                             "rope": list(self.decision.rope)},
                "horizons": (list(self.horizons) if self.horizons is not None else
                             "from follow-up"), "max_draws": self.max_draws,
                "thresholds": {**DEFAULT_THRESHOLDS, **(self.thresholds or {})},
                "formats": list(self.formats),
                "priors": {q.name: {"mu": q.mu, "sigma": q.sigma, "source": q.source}
                           for q in self.priors},
                "published": self.published.to_dict() if self.published else None,
                "centre_cv": self.centre_cv, "grid_method": self.grid_method,
                "accept_unconverged": self.accept_unconverged}


def check_settings(cohort: Cohort, s: ReanalysisSettings) -> None:
    """Refuse, before any sampling, every setting the job could not honour.

    Raises :class:`~nen_bayes.errors.ModelDataError` naming the setting and what is allowed.
    """
    if not s.specs:
        raise ModelDataError("no model to fit: give at least one model specification")
    names = [sp.name for sp in s.specs]
    if len(set(names)) != len(names):
        raise ModelDataError(f"the model set names the same model twice: {names}")
    if s.centre_cv and cohort.schema.centre_column not in cohort.data.columns:
        raise ModelDataError(f"{cohort.source}: leave-one-centre-out cross-validation needs a "
                             "centre column; the cohort has none (--centre COL names it)")
    known = [e.name for e in cohort.schema.endpoints]
    bad = [e for e in (s.endpoints or ()) if e not in known]
    if bad:
        raise ModelDataError(f"{cohort.source}: no endpoint {bad}; endpoints: {known}")
    known_f = [f.name for f in cohort.schema.factors]
    bad = [f for f in (s.factors or ()) if f not in known_f]
    if bad:
        raise ModelDataError(f"{cohort.source}: no categorical covariate {bad}; "
                             f"covariates: {known_f}")
    bad = [f for f in s.formats if f not in FIGURE_FORMATS]
    if bad or not s.formats:
        raise ModelDataError(f"figure formats {list(s.formats)}: allowed {list(FIGURE_FORMATS)}")
    bad = sorted(set(s.thresholds or {}) - set(DEFAULT_THRESHOLDS))
    if bad:
        raise ModelDataError(f"unknown diagnostic thresholds {bad}; known: "
                             f"{sorted(DEFAULT_THRESHOLDS)}")
    if not 0 < s.conf_level < 1:
        raise ModelDataError(f"conf_level {s.conf_level}: must lie in (0, 1)")
    if s.horizons is not None and (not s.horizons or min(s.horizons) <= 0):
        raise ModelDataError(f"RMST horizons {list(s.horizons)}: give positive times")
    if s.max_draws < 1:
        raise ModelDataError(f"max_draws {s.max_draws}: must be at least 1")
    _check_sampling(s.sampling)
    for ep in s.endpoints_of(cohort):
        if not cohort.event(ep).any():
            raise ModelDataError(
                f"{cohort.source}: endpoint {ep!r} has no events (column "
                f"{cohort.schema.endpoint(ep).event!r}: all {len(cohort)} units are censored); "
                "no model can be estimated from it. Check the event column and "
                "--event-coding, or leave the endpoint out (--endpoint).")
    aft = [sp.name for sp in s.specs if not get_family(sp.family).proportional]
    ph = ", ".join(f for f in family_names() if get_family(f).proportional)
    if aft:
        raise ModelDataError(
            f"the model set has accelerated-failure-time families ({', '.join(aft)}); the main "
            "job's contrast, decision probabilities, prior grid and report are on the hazard-"
            "ratio scale. Fit those with 'nen-bayes fit --formula ... --family NAME', which "
            "reports their time ratios (effects.csv), and keep the main job's models "
            f"proportional-hazards ({ph})")
    _check_contrast(cohort, s)
    tv = s.headline.time_varying
    if tv is not None and tv.covariate == s.contrast.term:
        raise ModelDataError(
            f"{s.headline.source}: the headline model (the first --model) has a {tv.covariate} "
            "effect that changes with time ([time_varying]), so no single HR to answer with; "
            "put a proportional-hazards model first and this one after it in the set")
    if s.priors:  # the grid step's refits: their coefficient, before the first fit
        check_grid_contrast(s.headline, cohort, s.contrast, s.endpoints_of(cohort)[0])


def resolved_contrast(cohort: Cohort, s: ReanalysisSettings) -> Contrast:
    """The contrast with both levels named: a level left out (``--term`` alone) is the headline
    model's first non-reference level, a comparator left out its reference level, as the
    Bayesian side reads them; the baselines, the prior grid and every label then use the same
    pair. With a prior grid, the pair must involve the model's reference (the grid is a prior
    on one coefficient): refused here, before any fit. Call after :func:`check_settings`."""
    c = s.contrast
    design = make_design(s.headline, cohort, s.endpoints_of(cohort)[0])
    pairs = [label.split(" vs ", 1) for term, label in zip(design.terms, design.contrasts,
                                                            strict=True)
             if term == c.term and " vs " in label]
    level = c.level if c.level is not None else pairs[0][0]
    versus = c.versus if c.versus is not None else pairs[0][1]
    if level == versus:
        raise ModelDataError(f"--versus {versus!r} is the default level of {c.term!r} in the "
                             f"headline model {s.headline.name!r}; name the level with --level")
    ref = pairs[0][1]
    if s.priors and ref not in (level, versus):
        raise ModelDataError(
            f"the prior grid is on one coefficient of the headline model {s.headline.name!r}: "
            f"{level!r} vs {versus!r} must involve its reference level {ref!r} of {c.term!r} "
            f"(levels: {[ref, *(p[0] for p in pairs)]}). Compare with {ref!r} (--versus), or "
            "leave the grid out (--no-prior-grid).")
    return Contrast(c.term, level, versus)


def _check_contrast(cohort: Cohort, s: ReanalysisSettings) -> None:
    """The headline model must have the contrast's term as a categorical covariate, and the
    cohort both levels."""
    c = s.contrast
    head = s.headline
    cov = {cv.column: cv for cv in head.covariates}
    if c.term not in cov or cov[c.term].type != "categorical":
        raise ModelDataError(
            f"the headline model {head.name!r} ({head.source}) has no categorical covariate "
            f"{c.term!r} to contrast; its covariates: {sorted(cov)}. Name one with --term, or "
            "put a model with it first (--model).")
    present = set(cohort.data[c.term].dropna().astype(str))
    for lv in (c.level, c.versus):
        if lv is not None and lv not in present:
            raise ModelDataError(
                f"{cohort.source}: column {c.term!r} has no level {lv!r}; levels present: "
                f"{sorted(present)} (--level/--versus)")


def _check_sampling(sp: Sampling) -> None:
    """What :class:`Sampling` itself leaves open: parallel chains and the seed."""
    if sp.cores is not None and sp.cores < 1:
        raise ModelDataError(f"sampling cores {sp.cores}: must be at least 1")
    if sp.seed < 0:
        raise ModelDataError(f"seed {sp.seed}: must be at least 0")

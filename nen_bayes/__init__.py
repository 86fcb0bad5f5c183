"""nen-bayes: Bayesian reanalysis of multicentre right-censored survival cohorts.

The public API, by layer (ARCHITECTURE.md draws the layers)::

    from nen_bayes import CohortSchema, Endpoint, Factor, Cohort, load_cohort
    from nen_bayes import describe_cohort, kaplan_meier, logrank_test, cox_fit, rmst_difference
    from nen_bayes import run_baselines, BaselineReport
    from nen_bayes import Prior, ModelSpec, load_spec, fit, Fit, read_fit
    from nen_bayes import posterior_effects, diagnose_fit, RunCard, compare_report
    from nen_bayes import contrast_effects, ContrastResult, power_scaling
    from nen_bayes import zampieri_grid, load_prior_grid, prior_grid_fit
    from nen_bayes import from_interval, from_logrank, summary_reanalysis, reconstruct
    from nen_bayes import Sampling, Contrast, Decision, decision_probabilities
    from nen_bayes import RE_NEN, simulate_cohort, reanalyse, ReanalysisSettings

Everything else is importable from its module (``nen_bayes.<layer>.<module>``); the exception
types from :mod:`nen_bayes.errors`.

Names are loaded on first use, so ``import nen_bayes`` is cheap and the frequentist layer never
loads PyMC, PyTensor, xarray or matplotlib.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nen-bayes")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

#: public name -> module that defines it
_EXPORTS = {
    # base
    "EFFECT_COLUMNS": "nen_bayes.effects",
    "SYNTHETIC_NOTICE": "nen_bayes.provenance",
    "Sampling": "nen_bayes.settings",
    "Contrast": "nen_bayes.settings",
    "Decision": "nen_bayes.settings",
    "decision_probabilities": "nen_bayes.settings",
    # cohorts
    "CohortSchema": "nen_bayes.cohorts.schema",
    "Endpoint": "nen_bayes.cohorts.schema",
    "Factor": "nen_bayes.cohorts.schema",
    "Cohort": "nen_bayes.cohorts.cohort",
    "load_cohort": "nen_bayes.cohorts.cohort",
    # frequentist
    "describe_cohort": "nen_bayes.frequentist.describe",
    "kaplan_meier": "nen_bayes.frequentist.km",
    "logrank_test": "nen_bayes.frequentist.logrank",
    "cox_fit": "nen_bayes.frequentist.cox",
    "rmst_difference": "nen_bayes.frequentist.rmst",
    "run_baselines": "nen_bayes.frequentist.baselines",
    "BaselineReport": "nen_bayes.frequentist.baselines",
    # bayes
    "Prior": "nen_bayes.bayes.priors",
    "ModelSpec": "nen_bayes.bayes.spec",
    "load_spec": "nen_bayes.bayes.spec",
    "fit": "nen_bayes.bayes.inference",
    "Fit": "nen_bayes.bayes.inference",
    "read_fit": "nen_bayes.bayes.inference",
    # posterior
    "posterior_effects": "nen_bayes.posterior.summary",
    "diagnose_fit": "nen_bayes.posterior.diagnostics",
    "RunCard": "nen_bayes.posterior.diagnostics",
    "compare_report": "nen_bayes.posterior.compare",
    "contrast_effects": "nen_bayes.posterior.contrast",
    "ContrastResult": "nen_bayes.posterior.contrast",
    "power_scaling": "nen_bayes.posterior.power_scaling",
    # sensitivity
    "zampieri_grid": "nen_bayes.sensitivity.grid",
    "load_prior_grid": "nen_bayes.sensitivity.grid",
    "prior_grid_fit": "nen_bayes.sensitivity.refits",
    "from_interval": "nen_bayes.sensitivity.summary_level",
    "from_logrank": "nen_bayes.sensitivity.summary_level",
    "summary_reanalysis": "nen_bayes.sensitivity.summary_level",
    # reconstruction
    "reconstruct": "nen_bayes.reconstruction.guyot",
    # the case study
    "RE_NEN": "nen_bayes.re_nen.contract",
    "simulate_cohort": "nen_bayes.re_nen.simulate",
    # the main job
    "reanalyse": "nen_bayes.pipeline.reanalysis",
    "ReanalysisSettings": "nen_bayes.pipeline.settings",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'nen_bayes' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

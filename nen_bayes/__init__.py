"""nen-bayes: Bayesian reanalysis of multicentre right-censored survival cohorts.

Public API::

    from nen_bayes import load_cohort, RE_NEN, CohortSchema, describe_cohort, simulate_cohort
    from nen_bayes import run_baselines, kaplan_meier, logrank_test, cox_fit, rmst_difference
    from nen_bayes import load_spec, make_design, build_model, fit, read_fit, posterior_effects
    from nen_bayes import diagnose_fit, compare_report, contrast_effects, reanalyse
    from nen_bayes import zampieri_grid, prior_grid_fit, power_scaling, summary_reanalysis

PyMC, PyTensor and xarray are imported only when a model is built or fitted, so the
frequentist layer starts fast.
"""

from importlib.metadata import PackageNotFoundError, version

from .baselines import BaselineReport, run_baselines
from .cohort import SYNTHETIC_NOTICE, Cohort, load_cohort
from .compare import CompareReport, compare_report
from .contrast import ContrastResult, contrast_effects
from .cox import Term, cox_fit, cox_zph
from .describe import describe_cohort
from .design import Design, make_design
from .diagnostics import RunCard, diagnose_fit
from .effects import EFFECT_COLUMNS, effects_frame, read_effects, write_effects
from .errors import (
    BaselineError,
    BaselineWarning,
    CohortError,
    CohortFileError,
    ComparisonError,
    DelimiterError,
    DuplicateIdError,
    EmptyCohortError,
    IncompleteEndpointError,
    InvalidEventError,
    InvalidTimeError,
    InvalidValueError,
    MissingColumnError,
    MissingValueError,
    ModelDataError,
    ResultError,
    SingletonCentreWarning,
    SpecError,
    UnknownLevelError,
    ZeroTimeError,
)
from .inference import Fit, fit, read_fit, read_run, write_fit
from .km import KaplanMeier, kaplan_meier
from .logrank import LogrankResult, logrank_test
from .model import build_model
from .posterior import posterior_effects, prior_predictive_check
from .priorgrid import GridPrior, load_prior_grid, zampieri_grid
from .priors import Prior
from .reanalysis import ReanalysisSettings, reanalyse
from .reconstruct import Reconstruction, ReconstructionError, reconstruct
from .response import disease_control, wilson_interval
from .rmst import rmst, rmst_difference
from .schema import RE_NEN, CohortSchema, Endpoint, Factor
from .sensitivity import GridResult, power_scaling, prior_grid_fit
from .simulate import SimulatedCohort, load_calibration, simulate_cohort
from .spec import ModelSpec, load_spec
from .summary_level import SummaryEstimate, from_interval, from_logrank, summary_reanalysis

try:
    __version__ = version("nen-bayes")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "EFFECT_COLUMNS",
    "RE_NEN",
    "SYNTHETIC_NOTICE",
    "BaselineError",
    "BaselineReport",
    "BaselineWarning",
    "Cohort",
    "CohortError",
    "CohortFileError",
    "CohortSchema",
    "CompareReport",
    "ComparisonError",
    "ContrastResult",
    "DelimiterError",
    "Design",
    "DuplicateIdError",
    "EmptyCohortError",
    "Endpoint",
    "Factor",
    "Fit",
    "GridPrior",
    "GridResult",
    "IncompleteEndpointError",
    "InvalidEventError",
    "InvalidTimeError",
    "InvalidValueError",
    "KaplanMeier",
    "LogrankResult",
    "MissingColumnError",
    "MissingValueError",
    "ModelDataError",
    "ModelSpec",
    "Prior",
    "ReanalysisSettings",
    "Reconstruction",
    "ReconstructionError",
    "ResultError",
    "RunCard",
    "SimulatedCohort",
    "SingletonCentreWarning",
    "SpecError",
    "SummaryEstimate",
    "Term",
    "UnknownLevelError",
    "ZeroTimeError",
    "__version__",
    "build_model",
    "compare_report",
    "contrast_effects",
    "cox_fit",
    "cox_zph",
    "describe_cohort",
    "diagnose_fit",
    "disease_control",
    "effects_frame",
    "fit",
    "from_interval",
    "from_logrank",
    "kaplan_meier",
    "load_calibration",
    "load_cohort",
    "load_prior_grid",
    "load_spec",
    "logrank_test",
    "make_design",
    "posterior_effects",
    "power_scaling",
    "prior_grid_fit",
    "prior_predictive_check",
    "read_effects",
    "read_fit",
    "read_run",
    "reanalyse",
    "reconstruct",
    "rmst",
    "rmst_difference",
    "run_baselines",
    "simulate_cohort",
    "summary_reanalysis",
    "wilson_interval",
    "write_effects",
    "write_fit",
    "zampieri_grid",
]

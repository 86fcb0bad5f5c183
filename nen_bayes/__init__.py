"""nen-bayes: Bayesian reanalysis of multicentre right-censored survival cohorts.

Public API::

    from nen_bayes import load_cohort, RE_NEN, CohortSchema, describe_cohort, simulate_cohort
    from nen_bayes import run_baselines, kaplan_meier, logrank_test, cox_fit, rmst_difference
"""

from importlib.metadata import PackageNotFoundError, version

from .baselines import BaselineReport, run_baselines
from .cohort import SYNTHETIC_NOTICE, Cohort, load_cohort
from .cox import Term, cox_fit, cox_zph
from .describe import describe_cohort
from .effects import EFFECT_COLUMNS, effects_frame, read_effects, write_effects
from .errors import (
    BaselineError,
    BaselineWarning,
    CohortError,
    CohortFileError,
    DelimiterError,
    DuplicateIdError,
    EmptyCohortError,
    IncompleteEndpointError,
    InvalidEventError,
    InvalidTimeError,
    InvalidValueError,
    MissingColumnError,
    MissingValueError,
    SingletonCentreWarning,
    UnknownLevelError,
    ZeroTimeError,
)
from .km import KaplanMeier, kaplan_meier
from .logrank import LogrankResult, logrank_test
from .response import disease_control, wilson_interval
from .rmst import rmst, rmst_difference
from .schema import RE_NEN, CohortSchema, Endpoint, Factor
from .simulate import SimulatedCohort, load_calibration, simulate_cohort

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
    "DelimiterError",
    "DuplicateIdError",
    "EmptyCohortError",
    "Endpoint",
    "Factor",
    "IncompleteEndpointError",
    "InvalidEventError",
    "InvalidTimeError",
    "InvalidValueError",
    "KaplanMeier",
    "LogrankResult",
    "MissingColumnError",
    "MissingValueError",
    "SimulatedCohort",
    "SingletonCentreWarning",
    "Term",
    "UnknownLevelError",
    "ZeroTimeError",
    "__version__",
    "cox_fit",
    "cox_zph",
    "describe_cohort",
    "disease_control",
    "effects_frame",
    "kaplan_meier",
    "load_calibration",
    "load_cohort",
    "logrank_test",
    "read_effects",
    "rmst",
    "rmst_difference",
    "run_baselines",
    "simulate_cohort",
    "wilson_interval",
    "write_effects",
]

"""nen-bayes: Bayesian reanalysis of multicentre right-censored survival cohorts.

Public API (data layer)::

    from nen_bayes import load_cohort, RE_NEN, CohortSchema, describe_cohort, simulate_cohort
"""

from importlib.metadata import PackageNotFoundError, version

from .cohort import SYNTHETIC_NOTICE, Cohort, load_cohort
from .describe import describe_cohort
from .errors import (
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
from .schema import RE_NEN, CohortSchema, Endpoint, Factor
from .simulate import SimulatedCohort, load_calibration, simulate_cohort

try:
    __version__ = version("nen-bayes")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "RE_NEN",
    "SYNTHETIC_NOTICE",
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
    "MissingColumnError",
    "MissingValueError",
    "SimulatedCohort",
    "SingletonCentreWarning",
    "UnknownLevelError",
    "ZeroTimeError",
    "__version__",
    "describe_cohort",
    "load_calibration",
    "load_cohort",
    "simulate_cohort",
]

"""Exception and warning types raised at the data boundary.

Every problem with a user's cohort file raises a subclass of :class:`CohortError` (itself a
``ValueError``), one type per kind of problem, so callers can catch precisely what they handle.
Messages name the file, the column, the first offending rows (row number, id and value) and what
is allowed. Scripts turn any ``CohortError`` into exit code 2 without writing anything.
"""

from __future__ import annotations

__all__ = [
    "BaselineError",
    "BaselineWarning",
    "CalibrationError",
    "CohortError",
    "CohortFileError",
    "ComparisonError",
    "ConsistencyWarning",
    "DelimiterError",
    "DuplicateIdError",
    "EmptyCohortError",
    "IncompleteEndpointError",
    "InvalidEventError",
    "InvalidTimeError",
    "InvalidValueError",
    "MissingColumnError",
    "MissingValueError",
    "ModelDataError",
    "OutputExistsError",
    "ResultError",
    "SamplingStartError",
    "SingletonCentreWarning",
    "SpecError",
    "UnknownLevelError",
    "ZeroTimeError",
]


class CohortError(ValueError):
    """Base class: the cohort data break the contract."""


class CohortFileError(CohortError):
    """The file cannot be read as a table (missing, unsupported format, unreadable)."""


class EmptyCohortError(CohortFileError):
    """The file holds no data rows (empty, or a header only)."""


class DelimiterError(CohortFileError):
    """The delimiter leaves a single column: the file was split on the wrong character."""


class MissingColumnError(CohortError):
    """A column the analysis needs is absent."""


class InvalidTimeError(CohortError):
    """A time is non-numeric, negative or infinite."""


class ZeroTimeError(InvalidTimeError):
    """A time equals zero (rejected by default; see ``zero_time='shift'``)."""


class InvalidEventError(CohortError):
    """An event indicator is not one of the allowed codes."""


class IncompleteEndpointError(CohortError):
    """A time is given without its event indicator, or the other way round."""


class DuplicateIdError(CohortError):
    """The unit identifier is not unique."""


class UnknownLevelError(CohortError):
    """A categorical value is not one of the declared levels."""


class MissingValueError(CohortError):
    """Covariate or endpoint values are missing and the policy is ``missing='error'``."""


class CalibrationError(ValueError):
    """The calibration file of the synthetic cohort is malformed."""


class OutputExistsError(FileExistsError):
    """An output exists already and ``force`` was not given."""


class SingletonCentreWarning(UserWarning):
    """A centre contributes a single unit: its random effect is informed by one observation."""


class ConsistencyWarning(UserWarning):
    """Endpoints disagree (e.g. progression-free time longer than overall survival)."""


class InvalidValueError(CohortError):
    """A numeric covariate holds a value that is not a finite number."""


class BaselineError(CohortError):
    """A frequentist baseline cannot be computed on these data (e.g. a factor with one level)."""


class BaselineWarning(UserWarning):
    """A baseline quantity is not estimable and is reported as NaN (the message says why)."""


class SpecError(ValueError):
    """A model specification file is malformed: unknown key, bad value, impossible prior."""


class ModelDataError(CohortError):
    """The cohort cannot be modelled as the specification asks (e.g. a covariate level that
    never occurs, a grouping column that is not nested)."""


class SamplingStartError(RuntimeError):
    """The sampler could not start: the log density was not finite at any of the initial
    values tried. Scripts end with exit code 1 and write nothing."""


class ResultError(ValueError):
    """A results directory cannot be used: no fit in it, an unreadable file, or a request the
    stored fit cannot answer (a term or level the model does not have)."""


class ComparisonError(ResultError):
    """Fits that cannot be compared: different data (content hash), endpoints or units."""

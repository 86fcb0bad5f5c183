"""Exception and warning types raised at the data boundary.

Every problem with a user's cohort file raises a subclass of :class:`CohortError` (itself a
``ValueError``), one type per kind of problem, so callers can catch precisely what they handle.
Messages name the file, the column, the first offending rows (row number, id and value) and what
is allowed. Scripts turn any ``CohortError`` into exit code 2 without writing anything.

The exit codes of every command are here too (:data:`EXIT_CODES`, what each means).
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECKS_FAILED",
    "EXIT_CODES",
    "EXIT_NOT_STARTED",
    "EXIT_OK",
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


# --- Exit codes of the commands -----------------------------------------------------------------
# Every command (``nen-bayes NAME``, ``scripts/NAME.py``) ends with one of these; each command's
# ``--help`` lists the ones it uses, with these words.

#: The command did what it was asked.
EXIT_OK = 0
#: The sampler could not start (:class:`SamplingStartError`): nothing is written.
EXIT_NOT_STARTED = 1
#: Bad usage (an unknown option, a value out of range) or bad input (any exception type of this
#: module raised by the cohort, a model file, a results directory, an existing output without
#: ``--force``): a message on stderr, nothing written.
EXIT_BAD_INPUT = 2
#: The results are written, but checks failed: a fit missed its convergence checks.
EXIT_CHECKS_FAILED = 3

#: What each exit code means, as every command's ``--help`` says it.
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_NOT_STARTED: "the sampler could not start (nothing is written)",
    EXIT_BAD_INPUT: "bad usage or bad input: an unknown option or a value out of range, a "
                    "cohort, model or results file that cannot be used (the message names the "
                    "file, column and rows), or an existing output without --force (nothing "
                    "is written)",
    EXIT_CHECKS_FAILED: "checks failed: a fit missed its convergence checks (R-hat, ESS, "
                        "divergences, E-BFMI; for diagnose, any check of its run card); the "
                        "results are written and name the checks that failed",
}

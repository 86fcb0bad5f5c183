"""Package data: the bundled synthetic cohort, its truth file and the calibration file."""

from pathlib import Path

__all__ = ["BUNDLED_COHORT", "BUNDLED_TRUTH", "CALIBRATION"]

_HERE = Path(__file__).resolve().parent
#: The bundled synthetic cohort (regenerated bit-identically by ``scripts/simulate.py``).
BUNDLED_COHORT = _HERE / "synthetic_cohort.csv"
#: Its ground truth, with the content hash of the CSV (marks the cohort as synthetic).
BUNDLED_TRUTH = _HERE / "synthetic_cohort.truth.json"
#: Every assumption of the synthetic cohort, with its reason.
CALIBRATION = _HERE / "calibration.toml"

"""Package data: the bundled synthetic cohort, its truth file and the calibration file; the
shipped model files and prior grid (``nen_bayes/models/``, which the clone's top-level
``models/`` links to), found here whether the package is installed or run from a clone."""

from pathlib import Path

__all__ = ["BUNDLED_COHORT", "BUNDLED_TRUTH", "CALIBRATION", "MODELS_DIR", "PRIOR_GRID_DIR",
           "shipped_model"]

_HERE = Path(__file__).resolve().parent
#: The bundled synthetic cohort (regenerated bit-identically by ``scripts/simulate.py``).
BUNDLED_COHORT = _HERE / "synthetic_cohort.csv"
#: Its ground truth, with the content hash of the CSV (marks the cohort as synthetic).
BUNDLED_TRUTH = _HERE / "synthetic_cohort.truth.json"
#: Every assumption of the synthetic cohort, with its reason.
CALIBRATION = _HERE / "calibration.toml"
#: The shipped model files (one TOML file per model) and ``priors/`` (prior grids).
MODELS_DIR = _HERE.parent / "models"
#: The shipped prior grid on the treatment line's log HR (one file per prior).
PRIOR_GRID_DIR = MODELS_DIR / "priors" / "line"


def shipped_model(name: str) -> Path | None:
    """The shipped model file called ``name`` (``"weibull_ph_centre"`` or with ``.toml``), or
    ``None`` when no shipped model has that name."""
    if not name or "/" in name or "\\" in name:
        return None
    path = MODELS_DIR / (name if name.endswith(".toml") else f"{name}.toml")
    return path if path.is_file() else None

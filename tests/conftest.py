"""Shared fixtures. All randomness is seeded; no test reseeds a global RNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nen_bayes.data import BUNDLED_COHORT

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bundled_frame() -> pd.DataFrame:
    """The bundled cohort as text cells, exactly as a CSV reader sees it."""
    return pd.read_csv(BUNDLED_COHORT, dtype=str, keep_default_na=False)


@pytest.fixture
def small(bundled_frame) -> pd.DataFrame:
    """First 12 units of the bundled cohort (3 centres would be too few: keep C1 only + C2)."""
    return bundled_frame.iloc[list(range(6)) + list(range(88, 94))].reset_index(drop=True)


def write_csv(path: Path, frame: pd.DataFrame, sep: str = ",", decimal_comma: bool = False,
              bom: bool = False) -> Path:
    """Write cells as text, the way spreadsheet software exports them."""
    out = frame.copy()
    if decimal_comma:
        for c in out.columns:
            if c.endswith("_months"):
                out[c] = out[c].astype(str).str.replace(".", ",", regex=False)
    text = out.to_csv(index=False, sep=sep, lineterminator="\n")
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path

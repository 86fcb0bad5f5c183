"""Disease control rate (DCR) from RECIST 1.1 categories, with Wilson score intervals.

DCR = (CR + PR + SD) / assessed units, where *assessed* are the units with a RECIST category at
that time point (a missing assessment is not counted in the denominator; the count of missing
assessments is reported beside it). The Wilson score interval for :math:`k` successes in
:math:`n` trials at normal quantile :math:`z` is

.. math::
    \\frac{\\hat p + z^2/(2n) \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/(4n^2)}}{1 + z^2/n}

(Wilson 1927; Newcombe 1998, method 3), which stays inside [0, 1] and keeps close to nominal
coverage for small *n* and rates near 0 or 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = ["CONTROL_LEVELS", "disease_control", "wilson_interval"]

CONTROL_LEVELS = ("CR", "PR", "SD")


def wilson_interval(k: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n`` (NaN when ``n == 0``)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    return (float(max(0.0, (centre - half) / denom)), float(min(1.0, (centre + half) / denom)))


def disease_control(recist: pd.Series, group: pd.Series | None = None, *,
                    conf_level: float = 0.95) -> pd.DataFrame:
    """DCR overall and (optionally) by group.

    Returns one row per group (``group`` = ``"all"`` for the whole cohort) with ``assessed``,
    ``controlled``, ``missing``, ``dcr``, ``lower``, ``upper``.
    """
    values = recist.astype("object")
    assessed = values.notna()
    controlled = values.isin(CONTROL_LEVELS)
    parts = [("all", np.ones(len(values), bool))]
    if group is not None:
        g = group.astype(str).to_numpy()
        levels = (list(group.cat.categories) if isinstance(group.dtype, pd.CategoricalDtype)
                  else sorted(set(g)))
        parts += [(str(lv), g == str(lv)) for lv in levels]
    rows = []
    for name, m in parts:
        n = int((assessed.to_numpy() & m).sum())
        k = int((controlled.to_numpy() & m).sum())
        lo, hi = wilson_interval(k, n, conf_level)
        rows.append({"group": name, "assessed": n, "controlled": k,
                     "missing": int((~assessed.to_numpy() & m).sum()),
                     "dcr": k / n if n else float("nan"), "lower": lo, "upper": hi})
    return pd.DataFrame(rows)

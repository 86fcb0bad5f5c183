"""Interval-censored endpoints, the frequentist side: the Turnbull estimate and Weibull fits.

An event known only to lie between two assessments (the last without it and the first with
it) is interval-censored. lifelines does the estimation:

* the Turnbull (nonparametric maximum likelihood) estimate of the survival curve,
  ``KaplanMeierFitter.fit_interval_censoring``; lifelines takes each interval as closed,
  ``[lower, upper]``, so an interval ending exactly where another unit's starts overlaps it
  (with continuous times, rare); its curve is the pair of NPMLE bounds that lifelines reports
  (the estimate is not unique inside a Turnbull interval);
* Weibull fits, ``WeibullFitter.fit_interval_censoring`` per group and
  ``WeibullAFTFitter.fit_interval_censoring`` with the factor as covariate, whose hazard ratio
  for a level against the reference is ``exp(-b * rho)`` (AFT coefficient ``b``, shape
  ``rho``; the Weibull is both AFT and PH), with a delta-method Wald interval on the log scale.

A log-rank-type test for interval-censored data (Sun's or Finkelstein's score test, R's
``interval::ictest`` or ``glrt``) has no well-kept Python implementation: none is offered, and
:meth:`IntervalResult.to_text` says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from nen_bayes.effects import effects_frame
from nen_bayes.errors import BaselineError

__all__ = ["NO_INTERVAL_LOGRANK", "IntervalResult", "interval_baselines", "turnbull",
           "turnbull_at", "turnbull_on_grid"]

#: What the baselines say about a log-rank test for interval-censored data.
NO_INTERVAL_LOGRANK = ("No log-rank-type test for interval-censored data is offered: there is no "
                       "well-kept Python implementation (R: interval::ictest, glrt).")


def turnbull(lower, upper, label: str = "turnbull") -> pd.DataFrame:
    """The Turnbull estimate of S(t) (lifelines): columns ``time``, ``upper`` and ``lower`` (the
    NPMLE's bounds: the estimate is not unique inside a Turnbull interval), each row holding
    S on the stretch from the previous row's time (excluded) to its own ``time`` (included),
    lifelines' layout; :func:`turnbull_at` reads it at given times."""
    from lifelines import KaplanMeierFitter

    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = KaplanMeierFitter().fit_interval_censoring(lower, upper, label=label)
    sf = km.survival_function_
    return pd.DataFrame({"time": sf.index.to_numpy(float),
                         "upper": sf.iloc[:, 0].to_numpy(float),
                         "lower": sf.iloc[:, 1].to_numpy(float)})


def turnbull_at(curve: pd.DataFrame, times) -> tuple[np.ndarray, np.ndarray]:
    """The Turnbull curve's ``(lower, upper)`` bounds of S at ``times``."""
    k = np.searchsorted(curve["time"].to_numpy(), np.asarray(times, float), side="left")
    k = np.minimum(k, len(curve) - 1)
    return curve["lower"].to_numpy()[k], curve["upper"].to_numpy()[k]


def turnbull_on_grid(curve: pd.DataFrame, grid) -> np.ndarray:
    """The Turnbull curve (the mid-point of its two bounds) as a step function on ``grid``."""
    lo, up = turnbull_at(curve, grid)
    return (lo + up) / 2


@dataclass(frozen=True)
class IntervalResult:
    """Turnbull curves and interval-censored Weibull fits of one endpoint, overall and by the
    levels of one factor, with the hazard ratios of its levels against the reference."""

    endpoint: str
    term: str
    curves: dict[str, pd.DataFrame]
    weibull: dict[str, tuple[float, float]]  # label -> (shape, scale)
    hazard_ratios: pd.DataFrame  # group, estimate, lower, upper, p_value
    n: int
    events: int
    interval_censored: int
    conf_level: float
    data_hash: str = ""
    synthetic: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def effects(self) -> pd.DataFrame:
        """The hazard ratios and Weibull medians as rows of the effects table."""
        base = {"endpoint": self.endpoint, "interval": "CI", "conf_level": self.conf_level,
                "n": self.n, "events": self.events, "data_hash": self.data_hash,
                "synthetic": self.synthetic}
        rows = [{**base, "quantity": "interval_hazard_ratio", "term": self.term, "group": r.group,
                 "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                 "p_value": r.p_value,
                 "method": "interval-censored Weibull AFT (lifelines), HR = exp(-b*rho)"}
                for r in self.hazard_ratios.itertuples()]
        for label, (shape, scale) in self.weibull.items():
            term, group = ("all", "all") if label == "all" else (self.term, label)
            rows.append({**base, "quantity": "interval_median_survival", "term": term,
                         "group": group, "estimate": scale * np.log(2.0) ** (1.0 / shape),
                         "method": "interval-censored Weibull (lifelines)"})
        return effects_frame(rows)

    def to_text(self) -> str:
        pct = f"{100 * self.conf_level:g}%"
        lines = [f"Interval-censored {self.endpoint}: {self.n} units, {self.events} events, "
                 f"{self.interval_censored} of them known only within an interval "
                 "(lifelines: Turnbull estimate, Weibull fits by interval likelihood)"]
        for label, (shape, scale) in self.weibull.items():
            name = "all units" if label == "all" else f"{self.term} = {label}"
            med = scale * np.log(2.0) ** (1.0 / shape)
            lines.append(f"  Weibull {name}: shape {shape:.3g}, scale {scale:.3g}, "
                         f"median {med:.3g}")
        for r in self.hazard_ratios.itertuples():
            lines.append(f"  HR {self.term} {r.group}: {r.estimate:.3g} ({pct} CI "
                         f"{r.lower:.3g}-{r.upper:.3g}), Wald p = {r.p_value:.3g}")
        lines += [f"  {n}" for n in self.notes]
        lines.append(f"  {NO_INTERVAL_LOGRANK}")
        return "\n".join(lines)


def _weibull(lower, upper) -> tuple[float, float]:
    from lifelines import WeibullFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wf = WeibullFitter().fit_interval_censoring(lower, upper)
    return float(wf.rho_), float(wf.lambda_)


def _aft_hazard_ratios(lower, upper, groups, levels, reference, conf_level) -> pd.DataFrame:
    """Hazard ratios of ``levels`` against ``reference`` from one Weibull AFT fit."""
    from lifelines import WeibullAFTFitter

    others = [lv for lv in levels if lv != reference]
    df = pd.DataFrame({"lo": lower, "up": upper})
    for j, lv in enumerate(others):
        df[f"x{j}"] = (groups == lv).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aft = WeibullAFTFitter().fit_interval_censoring(df, "lo", "up")
    params, cov = aft.params_, aft.variance_matrix_
    rho_key = ("rho_", "Intercept")
    log_rho = float(params[rho_key])  # lifelines: rho_ = exp(this)
    z = norm.ppf(0.5 + conf_level / 2)
    rows = []
    for j, lv in enumerate(others):
        key = ("lambda_", f"x{j}")
        b = float(params[key])
        log_hr = -b * np.exp(log_rho)
        grad = np.array([-np.exp(log_rho), log_hr])  # d/d(b), d/d(log rho)
        sub = cov.loc[[key, rho_key], [key, rho_key]].to_numpy()
        se = float(np.sqrt(grad @ sub @ grad))
        rows.append({"group": f"{lv} vs {reference}", "estimate": float(np.exp(log_hr)),
                     "lower": float(np.exp(log_hr - z * se)),
                     "upper": float(np.exp(log_hr + z * se)), "log_hr": log_hr, "se": se,
                     "p_value": float(2 * norm.sf(abs(log_hr) / se))})
    return pd.DataFrame(rows, columns=["group", "estimate", "lower", "upper", "log_hr", "se",
                                       "p_value"])


def interval_baselines(lower, upper, *, endpoint: str, groups=None, term: str = "",
                       levels: tuple[str, ...] = (), reference: str | None = None,
                       conf_level: float = 0.95, data_hash: str = "",
                       synthetic: bool = False) -> IntervalResult:
    """Turnbull curves and interval-censored Weibull fits of an endpoint (``lower``,
    ``upper``: the event in ``(lower, upper]``, ``upper`` inf when right-censored, ``lower ==
    upper`` an exact time), overall and, with ``groups`` (one level per unit), per level of
    ``term`` with its hazard ratios against ``reference`` (default: the first level)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    events = np.isfinite(upper)
    if not events.any():
        raise BaselineError(f"{endpoint}: no events; nothing to estimate")
    curves = {"all": turnbull(lower, upper, "all")}
    weibull = {"all": _weibull(lower, upper)}
    hrs = pd.DataFrame(columns=["group", "estimate", "lower", "upper", "log_hr", "se",
                                "p_value"])
    notes: list[str] = []
    if groups is not None:
        groups = np.asarray(groups).astype(str)
        levels = tuple(levels) or tuple(sorted(set(groups)))
        reference = reference or levels[0]
        for lv in levels:
            m = groups == lv
            if not (events & m).any():
                notes.append(f"{term} = {lv}: no events; no Weibull fit or curve")
                continue
            curves[lv] = turnbull(lower[m], upper[m], lv)
            weibull[lv] = _weibull(lower[m], upper[m])
        if len(levels) > 1:
            hrs = _aft_hazard_ratios(lower, upper, groups, levels, reference, conf_level)
    return IntervalResult(endpoint, term, curves, weibull, hrs, len(lower),
                          int(events.sum()), int((events & (upper > lower)).sum()),
                          conf_level, data_hash, synthetic, tuple(notes))

"""Reconstruct individual patient data from a published Kaplan-Meier curve (Guyot et al., BMC
Med Res Methodol 2012;12:9).

Inputs per arm: digitised curve points (time, survival), the numbers-at-risk table and,
optionally, the total number of events. Within each interval of the at-risk table the number
censored is chosen so that the reconstructed number at risk at the next table time matches the
published one; events at each digitised step are those that reproduce the digitised survival,
given the units at risk (the paper's iterative algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import CohortError

__all__ = ["ReconstructionError", "reconstruct_arm"]


class ReconstructionError(CohortError):
    """Digitised points or an at-risk table that cannot be used, with what is wrong."""


@dataclass(frozen=True)
class Reconstruction:
    """Reconstructed units of one arm and the corrections applied to the inputs."""

    arm: str
    data: pd.DataFrame          # time, event, arm
    corrections: tuple[str, ...] = field(default_factory=tuple)


def _distribute(n_c: int, t_lo: float, t_hi: float, t: np.ndarray, lo: int, hi: int,
                cen: np.ndarray) -> None:
    cen[lo:hi + 1] = 0
    if n_c <= 0:
        return
    ct = t_lo + np.arange(1, n_c + 1) * (t_hi - t_lo) / (n_c + 1)
    edges = np.r_[t[lo:hi + 1], np.inf]
    edges[0] = -np.inf
    idx = np.searchsorted(edges, ct, side="right") - 1
    np.add.at(cen, lo + idx, 1)


def _events(lo: int, hi: int, first: bool, s: np.ndarray, nhat: np.ndarray, cen: np.ndarray,
            d: np.ndarray, km: np.ndarray, last: int) -> int:
    for k in range(lo, hi + 1):
        if first and k == lo:
            d[k], km[k] = 0, 1.0
        else:
            if nhat[k] <= 0 or km[last] <= 0:
                d[k] = 0
            else:
                d[k] = max(0, int(round(nhat[k] * (1 - s[k] / km[last]))))
                d[k] = min(d[k], int(nhat[k]))
            km[k] = km[last] * (1 - d[k] / nhat[k]) if nhat[k] > 0 else km[last]
        nhat[k + 1] = nhat[k] - d[k] - cen[k]
        if d[k] != 0:
            last = k
    return last


def reconstruct_arm(t, s, risk_t, risk_n, *, total_events: int | None = None,
                    arm: str = "arm", snap: float = 0.0) -> Reconstruction:
    """Guyot's algorithm for one arm. ``t``, ``s``: cleaned digitised points (increasing times,
    non-increasing survival in [0, 1], starting at (0, 1)); ``risk_t``, ``risk_n``: the at-risk
    table (first time 0)."""
    t = np.asarray(t, float).copy()
    s = np.asarray(s, float)
    risk_t = np.asarray(risk_t, float)
    n_risk = np.asarray(risk_n, float).copy()
    if snap > 0:
        # points read within `snap` of an at-risk time are taken to lie at that time: the
        # published count at tau includes the units that fail at tau, so a drop read just
        # before tau belongs to the interval that starts at tau
        for tau in risk_t[1:]:
            near = np.abs(t - tau) <= snap
            t[near] = tau
        order = np.argsort(t, kind="stable")
        t, s = t[order], np.minimum.accumulate(s[order])
    nint = len(risk_t)
    lower = np.searchsorted(t, risk_t, side="left")
    upper = np.r_[lower[1:] - 1, len(t) - 1]
    n = len(t)
    cen = np.zeros(n + 1, int)
    d = np.zeros(n, int)
    nhat = np.zeros(n + 1)
    km = np.ones(n)
    n_censor = np.zeros(nint)
    last = 0
    for i in range(nint - 1):
        lo, hi, nxt = lower[i], upper[i], lower[i + 1]
        n_c = int(round(n_risk[i] * s[nxt] / s[lo] - n_risk[i + 1])) if s[lo] > 0 else 0
        nhat[nxt] = n_risk[i + 1] + 1
        start_last = last
        for _ in range(10_000):
            if not ((nhat[nxt] > n_risk[i + 1]) or (nhat[nxt] < n_risk[i + 1] and n_c > 0)):
                break
            n_c = max(n_c, 0)
            _distribute(n_c, t[lo], t[nxt], t, lo, hi, cen)
            nhat[lo] = n_risk[i]
            last = _events(lo, hi, i == 0, s, nhat, cen, d, km, start_last)
            n_c = n_c + int(nhat[nxt] - n_risk[i + 1])
        n_censor[i] = cen[lo:hi + 1].sum()
        if nhat[nxt] < n_risk[i + 1]:
            n_risk[i + 1] = nhat[nxt]
    # last interval: censoring at the average rate of the earlier intervals
    i = nint - 1
    lo, hi = lower[i], upper[i]
    if nint > 1 and t[upper[nint - 2]] > t[lower[0]]:
        n_c = int(min(round(n_censor[:-1].sum() * (t[hi] - t[lo]) /
                            (t[upper[nint - 2]] - t[lower[0]])), n_risk[i]))
    else:
        n_c = 0
    start_last = last

    def run_last(n_c):
        _distribute(max(n_c, 0), t[lo], t[hi], t, lo, hi, cen)
        nhat[lo] = n_risk[i]
        return _events(lo, hi, nint == 1, s, nhat, cen, d, km, start_last)

    last = run_last(n_c)
    if total_events is not None:
        for _ in range(10_000):
            total = int(d[:hi + 1].sum())
            if total == total_events or (total < total_events and n_c <= 0):
                break
            n_c = n_c + (total - total_events)
            n_c = int(min(max(n_c, 0), n_risk[i]))
            last = run_last(n_c)
            if int(d[:hi + 1].sum()) == total and n_c in (0, n_risk[i]):
                break
    times, events = [], []
    for k in range(hi + 1):
        if d[k] > 0:
            times += [t[k]] * d[k]
            events += [1] * d[k]
        if cen[k] > 0:
            right = t[k + 1] if k + 1 < n else t[k]
            times += [(t[k] + right) / 2] * cen[k]
            events += [0] * cen[k]
    left = int(max(nhat[hi + 1], 0))
    times += [t[hi]] * left
    events += [0] * left
    data = pd.DataFrame({"time": times, "event": events, "arm": arm})
    return Reconstruction(arm, data.sort_values("time", kind="stable").reset_index(drop=True))

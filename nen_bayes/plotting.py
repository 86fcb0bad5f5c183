"""Figures. The only module that imports matplotlib; every function takes computed results and
returns a :class:`matplotlib.figure.Figure` (or draws into a given ``ax``)."""

from __future__ import annotations

import numpy as np

from .km import KaplanMeier

__all__ = ["plot_km", "plot_prior_predictive", "save_figure"]

_COLOURS = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8d6a9f")


def _step(km: KaplanMeier):
    tab = km.table
    t = np.r_[0.0, tab["time"].to_numpy()]
    s = np.r_[1.0, tab["surv"].to_numpy()]
    lo = np.r_[1.0, tab["lower"].to_numpy()]
    hi = np.r_[1.0, tab["upper"].to_numpy()]
    return t, s, lo, hi


def plot_km(curves: dict[str, KaplanMeier], *, title: str = "", p_text: str = "",
            time_unit: str = "months", risk_times=None, synthetic: bool = False,
            show_ci: bool = True, show_median: bool = True, figsize=(8.0, 6.0)):
    """Kaplan-Meier curves with censoring marks, medians and a numbers-at-risk table.

    Parameters
    ----------
    curves
        Label -> Kaplan-Meier fit, drawn in this order.
    p_text
        Test result shown as the legend title (e.g. ``"log-rank p = 0.084"``).
    risk_times
        Times of the numbers-at-risk columns (default: 6 evenly spaced ticks).
    synthetic
        Label the figure 'SYNTHETIC DATA'.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    n = len(curves)
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.5 + 0.32 * n])
    ax = fig.add_subplot(gs[0])
    tab_ax = fig.add_subplot(gs[1], sharex=ax)
    tmax = max(km.max_time for km in curves.values())
    for i, (label, km) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        t, s, lo, hi = _step(km)
        m = km.median()[0]
        med = f"median {m:.1f}" if np.isfinite(m) else "median NR"
        ax.step(t, s, where="post", color=colour, lw=1.8,
                label=f"{label} (n={km.n}, {km.events} events; {med})")
        if show_ci:
            ax.fill_between(t, np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=0.0),
                            step="post", color=colour, alpha=0.12, lw=0)
        tab = km.table
        cens = tab[tab["n_censor"] > 0]
        ax.plot(cens["time"], cens["surv"], ls="none", marker="|", ms=7, mew=1.2,
                color=colour)
        if show_median and np.isfinite(m):
            ax.plot([0, m], [0.5, 0.5], color=colour, lw=0.8, ls=":")
            ax.plot([m, m], [0, 0.5], color=colour, lw=0.8, ls=":")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(-0.04 * tmax, tmax * 1.03)
    ax.set_ylabel("Survival probability")
    ax.grid(alpha=0.3)
    ax.legend(title=p_text or None, loc="upper right", fontsize=8, title_fontsize=9,
              frameon=True)
    if title:
        ax.set_title(title, fontsize=11)
    plt.setp(ax.get_xticklabels(), visible=False)
    if risk_times is None:
        step = 12.0 if time_unit == "months" and tmax > 36 else _nice_step(tmax / 6)
        risk_times = np.arange(0, tmax + 1e-9, step)
    risk_times = np.asarray([rt for rt in risk_times if rt <= tmax], float)
    labels = list(curves)
    for i, km in enumerate(curves.values()):
        colour = _COLOURS[i % len(_COLOURS)]
        y = n - 1 - i
        for rt in risk_times:
            tab_ax.text(rt, y, str(km.n_at(rt)), ha="center", va="center", fontsize=8,
                        color=colour)
    tab_ax.set_yticks(range(n))
    tab_ax.set_yticklabels(labels[::-1], fontsize=8)
    tab_ax.set_ylim(-0.6, n - 0.4)
    tab_ax.set_xticks(risk_times)
    tab_ax.set_xlabel(f"Time ({time_unit})")
    tab_ax.set_title("Number at risk", fontsize=9, loc="left")
    for side in ("top", "right", "left"):
        tab_ax.spines[side].set_visible(False)
    tab_ax.tick_params(axis="y", length=0, pad=10)
    if synthetic:
        _synthetic_mark(fig)
    return fig


def _synthetic_mark(fig) -> None:
    fig.text(0.5, 0.5, "SYNTHETIC DATA", ha="center", va="center", fontsize=38,
             color="grey", alpha=0.15, rotation=25)
    fig.suptitle("Synthetic data: not patient data, not the published results",
                 fontsize=8, color="dimgrey")


def plot_prior_predictive(draws: dict, *, time_unit: str = "months", title: str = "",
                          synthetic: bool = False, figsize=(10.0, 4.2)):
    """What the prior implies: median survival (left) and hazard ratios (right), log scales.

    ``draws`` is :func:`nen_bayes.posterior.prior_predictive_draws`' output.
    """
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_h) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    time_keys = [k for k in draws if k.startswith("median")]
    hr_keys = [k for k in draws if k.startswith("hr_")]
    labels = {"median_reference": "reference unit, typical group",
              "median_cohort": "median of predicted cohort times",
              "hr_coefficient": "covariate HRs"}
    bins_t = np.logspace(-1, 4, 60)
    for i, k in enumerate(time_keys):
        x = draws[k][np.isfinite(draws[k]) & (draws[k] > 0)]
        ax_t.hist(np.clip(x, bins_t[0], bins_t[-1]), bins=bins_t, alpha=0.55,
                  color=_COLOURS[i], label=labels.get(k, k))
    ax_t.axvspan(1, 240, color="grey", alpha=0.08, label=f"1-240 {time_unit}")
    ax_t.set_xscale("log")
    ax_t.set_xlabel(f"Implied median survival ({time_unit})")
    ax_t.set_ylabel("Prior draws")
    ax_t.legend(fontsize=8)
    bins_h = np.logspace(-2, 2, 60)
    for i, k in enumerate(hr_keys):
        x = draws[k][np.isfinite(draws[k])]
        ax_h.hist(np.clip(x, bins_h[0], bins_h[-1]), bins=bins_h, alpha=0.55, density=True,
                  color=_COLOURS[(i + 2) % len(_COLOURS)],
                  label=labels.get(k, f"{k[3:]} HRs exp(u)"))
    ax_h.axvline(1.0, color="black", lw=0.8)
    ax_h.set_xscale("log")
    ax_h.set_xlabel("Implied hazard ratio")
    ax_h.set_ylabel("Density")
    ax_h.legend(fontsize=8)
    for ax in (ax_t, ax_h):
        ax.grid(alpha=0.3)
    if title:
        fig.get_layout_engine().set(rect=(0, 0, 1, 0.93))
        fig.text(0.5, 0.965, title, ha="center", fontsize=11)
    if synthetic:
        _synthetic_mark(fig)
    return fig


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def save_figure(fig, stem, formats=("png", "svg"), *, force: bool = False, dpi: int = 150):
    """Save ``fig`` as ``<stem>.<fmt>`` for each format, atomically; never overwrite silently."""
    import io
    from pathlib import Path

    from .io import atomic_write_bytes

    stem = Path(stem)
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(atomic_write_bytes(stem.with_suffix(f".{fmt}"), buf.getvalue(), force=force))
    return paths

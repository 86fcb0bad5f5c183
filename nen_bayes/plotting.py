"""Figures. The only module that imports matplotlib; every function takes computed results and
returns a :class:`matplotlib.figure.Figure` (or draws into a given ``ax``)."""

from __future__ import annotations

import numpy as np

from .km import KaplanMeier

__all__ = [
    "plot_assumption_sweep",
    "plot_caterpillar",
    "plot_elpd",
    "plot_energy",
    "plot_hr_posterior",
    "plot_km",
    "plot_pair_sd",
    "plot_ppc_km",
    "plot_prior_grid",
    "plot_prior_posterior",
    "plot_prior_predictive",
    "plot_rank",
    "plot_reconstruction",
    "plot_standardised_survival",
    "plot_summary_reanalysis",
    "save_figure",
]

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


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize, layout="constrained",
              squeeze: bool = True):
    """Like ``pyplot.subplots`` but without pyplot's global figure registry, so figures are
    freed when no longer referenced (a long job draws dozens)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


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

    fig, (ax_t, ax_h) = _subplots(1, 2, figsize=figsize, layout="constrained")
    time_keys = [k for k in draws if k.startswith("median")]
    hr_keys = [k for k in draws if k.startswith("hr_")]
    labels = {"median_reference": "reference unit, typical group",
              "median_cohort": "median of predicted cohort times",
              "hr_coefficient": "covariate HRs"}
    from .posterior import plausible_time_range

    lo, hi = plausible_time_range(time_unit)
    bins_t = np.logspace(np.log10(lo) - 1, np.log10(hi) + 1.3, 60)
    for i, k in enumerate(time_keys):
        x = draws[k][np.isfinite(draws[k]) & (draws[k] > 0)]
        ax_t.hist(np.clip(x, bins_t[0], bins_t[-1]), bins=bins_t, alpha=0.55,
                  color=_COLOURS[i], label=labels.get(k, k))
    ax_t.axvspan(lo, hi, color="grey", alpha=0.08, label=f"{lo:.4g}-{hi:.4g} {time_unit}")
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


# --------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------
def _scalar_series(ds, names, max_panels: int = 16):
    """(label, chain x draw array) for every element of the named variables."""
    out = []
    for name in names:
        da = ds[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        a = da.transpose("chain", "draw", *extra).values
        if not extra:
            out.append((name, a))
            continue
        flat = a.reshape(a.shape[0], a.shape[1], -1)
        labels = [", ".join(map(str, c)) for c in np.ndindex(*a.shape[2:])]
        if len(extra) == 1:
            labels = [str(v) for v in da.coords[extra[0]].values] if extra[0] in da.coords \
                else labels
        for j, lab in enumerate(labels):
            out.append((f"{name}[{lab}]", flat[:, :, j]))
    return out[:max_panels]


def _grid(n: int, ncols: int = 4, size=(3.0, 2.2)):

    ncols = min(ncols, max(n, 1))
    nrows = int(np.ceil(n / ncols))
    fig, axes = _subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows + 0.6),
                             layout="constrained", squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def _titled(fig, title: str, synthetic: bool):
    if title:
        fig.suptitle(title, fontsize=11)
    if synthetic:
        fig.get_layout_engine().set(rect=(0, 0.035, 1, 0.965))
        fig.text(0.5, 0.5, "SYNTHETIC DATA", ha="center", va="center", fontsize=38,
                 color="grey", alpha=0.15, rotation=25)
        fig.text(0.5, 0.001, "Synthetic data: not patient data, not the published results",
                 ha="center", va="bottom", fontsize=8, color="dimgrey")
    return fig


def plot_rank(ds, names, *, title: str = "", synthetic: bool = False, bins: int = 20):
    """Rank plots: per chain, the histogram of the ranks of its draws among all draws. Uniform
    (flat, inside the grey band) when the chains sample the same distribution."""
    from scipy.stats import binom, rankdata

    series = _scalar_series(ds, names)
    fig, axes = _grid(len(series))
    for ax, (label, a) in zip(axes, series, strict=True):
        n_chain, n_draw = a.shape
        r = rankdata(a.ravel()).reshape(a.shape)
        edges = np.linspace(0, a.size, bins + 1)
        expect = n_draw / bins
        lo, hi = binom.ppf([0.005, 0.995], n_draw, 1 / bins)
        ax.axhspan(lo, hi, color="grey", alpha=0.2, lw=0)
        ax.axhline(expect, color="black", lw=0.6, ls="--")
        for c in range(n_chain):
            h, _ = np.histogram(r[c], bins=edges)
            ax.step(np.arange(bins + 1), np.r_[h, h[-1]], where="post", lw=1.1,
                    color=_COLOURS[c % len(_COLOURS)], label=f"chain {c}")
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    return _titled(fig, title or "Rank plots (flat = chains agree; band: 99% under uniformity)",
                   synthetic)


def plot_energy(energy, bfmi, *, title: str = "", synthetic: bool = False):
    """Marginal energy distribution against the energy transition distribution (both centred).
    Similar widths mean the momentum resampling explores the energy levels well."""

    e = np.asarray(energy, float)
    fig, ax = _subplots(figsize=(6.4, 4.0), layout="constrained")
    marg = (e - e.mean(axis=1, keepdims=True)).ravel()
    trans = np.diff(e, axis=1).ravel()
    bins = np.linspace(min(marg.min(), trans.min()), max(marg.max(), trans.max()), 60)
    ax.hist(marg, bins=bins, density=True, alpha=0.5, color=_COLOURS[0],
            label="marginal energy (centred)")
    ax.hist(trans, bins=bins, density=True, alpha=0.5, color=_COLOURS[1],
            label="energy transition")
    ax.set_xlabel("Energy")
    ax.set_yticks([])
    ax.legend(title="E-BFMI per chain: " + ", ".join(f"{b:.2f}" for b in np.ravel(bfmi)),
              fontsize=8, title_fontsize=8)
    return _titled(fig, title or "Energy", synthetic)


def plot_pair_sd(ds, group: str, *, diverging=None, title: str = "", synthetic: bool = False):
    """log between-group SD against each group's standardised (z) or raw effect: a funnel (the
    effects collapsing as the SD shrinks, divergences at its neck) signals a geometry NUTS
    cannot sample; the non-centred parameterisation removes it."""
    sd = np.log(ds[f"sd_{group}"].values.ravel())
    name = f"z_{group}" if f"z_{group}" in ds else f"u_{group}"
    eff = ds[name].transpose("chain", "draw", group).values.reshape(len(sd), -1)
    levels = [str(v) for v in ds[group].values]
    fig, axes = _grid(len(levels), ncols=4, size=(2.6, 2.3))
    div = None if diverging is None else np.asarray(diverging, bool).ravel()
    for j, ax in enumerate(axes):
        ax.scatter(eff[:, j], sd, s=2, alpha=0.25, color=_COLOURS[0], lw=0)
        if div is not None and div.any():
            ax.scatter(eff[div, j], sd[div], s=8, color="#d1495b", label="divergent")
        ax.set_title(f"{name}[{levels[j]}]", fontsize=8)
        ax.set_ylabel(f"log sd_{group}", fontsize=7)
        ax.tick_params(labelsize=7)
    return _titled(fig, title or f"Between-{group} SD against {group} effects", synthetic)


def plot_prior_posterior(prior, posterior, names, *, title: str = "",
                         synthetic: bool = False):
    """Prior (grey) and posterior (colour) densities of every parameter element: how much the
    data moved each one, and whether a prior constrains where it should not."""
    pr = dict(_scalar_series(prior, names))
    po = _scalar_series(posterior, names)
    fig, axes = _grid(len(po))
    for ax, (label, a) in zip(axes, po, strict=True):
        x = a.ravel()
        lo, hi = np.quantile(x, [0.001, 0.999])
        if label in pr:
            p = pr[label].ravel()
            plo, phi = np.quantile(p, [0.01, 0.99])
            lo, hi = min(lo, plo), max(hi, phi)
            ax.hist(np.clip(p, lo, hi), bins=50, range=(lo, hi), density=True, color="grey",
                    alpha=0.45, label="prior")
        ax.hist(x, bins=50, range=(lo, hi), density=True, color=_COLOURS[0], alpha=0.7,
                label="posterior")
        ax.set_title(label, fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    return _titled(fig, title or "Prior and posterior", synthetic)


def plot_ppc_km(curves, *, title: str = "", time_unit: str = "months",
                synthetic: bool = False):
    """Observed Kaplan-Meier curves over the 95% band of the posterior predictive survival
    curves (one panel per set of units)."""

    n = len(curves)
    fig, axes = _subplots(1, n, figsize=(5.2 * n, 4.2), layout="constrained",
                             squeeze=False)
    for i, (ax, c) in enumerate(zip(axes.ravel(), curves, strict=True)):
        colour = _COLOURS[i % len(_COLOURS)]
        ax.fill_between(c.grid, c.lower, c.upper, color=colour, alpha=0.2, lw=0,
                        label="posterior predictive 95% band")
        ax.plot(c.grid, c.median, color=colour, lw=1, ls="--", label="predictive median")
        t, s, _, _ = _step(c.km)
        ax.step(t, s, where="post", color="black", lw=1.5,
                label=f"observed KM (n={c.km.n}, {c.km.events} events)")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"Time ({time_unit})")
        ax.set_ylabel("Survival probability")
        ax.set_title(c.label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _titled(fig, title or "Posterior predictive check: Kaplan-Meier", synthetic)


# --------------------------------------------------------------------------------------------
# Contrasts and comparison
# --------------------------------------------------------------------------------------------
def _hr_axis(ax, axis: str = "x") -> None:
    """Log scale with plain hazard-ratio tick labels (0.5, 1, 2 rather than 10^x)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    getattr(ax, f"set_{axis}scale")("log")
    lo, hi = getattr(ax, f"get_{axis}lim")()
    grid = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 1, 1.25, 1.5, 2, 3, 5, 10) if hi / lo < 5 else \
        (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10)
    ticks = [t for t in grid if lo <= t <= hi]
    a = getattr(ax, f"{axis}axis")
    a.set_major_locator(FixedLocator(ticks))
    a.set_minor_locator(NullLocator())
    a.set_minor_formatter(NullFormatter())
    getattr(ax, f"set_{axis}ticklabels")([f"{t:g}" for t in ticks])


def plot_standardised_survival(result, *, observed=None, title: str = "",
                               synthetic: bool = False):
    """Covariate-adjusted (g-computation) survival curves by level with their 95% bands;
    ``observed`` (level -> KaplanMeier) overlays the unadjusted Kaplan-Meier curves."""

    fig, ax = _subplots(figsize=(7.6, 5.0), layout="constrained")
    for i, lv in enumerate((result.reference, result.level)):
        c = result.curves[result.curves["level"] == lv]
        colour = _COLOURS[i]
        ax.fill_between(c["time"], c["lower"], c["upper"], color=colour, alpha=0.18, lw=0)
        ax.plot(c["time"], c["estimate"], color=colour, lw=2,
                label=f"{lv}: standardised (posterior median, {result.conf_level:.0%} band)")
        if observed and lv in observed:
            t, s, _, _ = _step(observed[lv])
            ax.step(t, s, where="post", color=colour, lw=0.9, ls="--",
                    label=f"{lv}: Kaplan-Meier (unadjusted)")
    for h in result.rmst["horizon"].unique():
        ax.axvline(h, color="grey", lw=0.6, ls=":")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"Time ({result.time_unit})")
    ax.set_ylabel("Survival probability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, title=f"HR {result.contrast} {result.hr[0]:.2f} "
                                f"({result.hr[1]:.2f}-{result.hr[2]:.2f})", title_fontsize=8)
    return _titled(fig, title or f"Standardised survival by {result.term}", synthetic)


def plot_hr_posterior(result, *, benefit: float = 0.8, harm: float = 1.25, rope=(0.91, 1.10),
                      title: str = "", synthetic: bool = False):
    """Posterior density of the hazard ratio (log axis) with the decision thresholds and the
    region of practical equivalence shaded."""

    x = result.hr_draws
    fig, ax = _subplots(figsize=(7.0, 3.8), layout="constrained")
    lo, hi = np.quantile(x, [0.0005, 0.9995])
    lo, hi = min(lo, benefit * 0.9), max(hi, harm * 1.1)
    bins = np.logspace(np.log10(lo), np.log10(hi), 70)
    ax.hist(x, bins=bins, density=True, color=_COLOURS[0], alpha=0.6)
    ax.axvspan(*rope, color="grey", alpha=0.15, label=f"ROPE {rope[0]:g}-{rope[1]:g}")
    ax.axvline(1, color="black", lw=1)
    ax.axvline(benefit, color=_COLOURS[2], lw=1, ls="--", label=f"HR = {benefit:g}")
    ax.axvline(harm, color=_COLOURS[1], lw=1, ls="--", label=f"HR = {harm:g}")
    _hr_axis(ax)
    ax.set_xlabel(f"Hazard ratio, {result.contrast}")
    ax.set_yticks([])
    p = result.probabilities.set_index("event")["probability"]
    ax.set_title("; ".join(f"{k} = {v:.3f}" for k, v in p.items()), fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    return _titled(fig, title or f"Posterior of the {result.term} hazard ratio", synthetic)


def plot_caterpillar(result, *, title: str = "", synthetic: bool = False):
    """Each centre's hazard ratio against the typical centre (posterior median and CrI), with
    the prediction interval of a new centre; a second panel shows the centre-specific line
    hazard ratios when the model lets the line effect vary by centre."""

    c = result.centres
    varies = c["line_hr"].notna().any()
    ncols = 2 if varies else 1
    fig, axes = _subplots(1, ncols, figsize=(5.6 * ncols, 0.45 * len(c) + 1.8),
                             layout="constrained", squeeze=False)
    order = c.sort_values("hr")
    y = np.arange(len(order))
    ax = axes[0, 0]
    ax.errorbar(order["hr"], y, xerr=[order["hr"] - order["lower"],
                                      order["upper"] - order["hr"]],
                fmt="o", color=_COLOURS[0], capsize=2)
    new = result.new_centre[result.new_centre["quantity"] == "new_group_hr"]
    labels = [f"{r.level} (n={r.n})" for r in order.itertuples()]
    if len(new):
        n = new.iloc[0]
        ax.errorbar([n["estimate"]], [len(order)], xerr=[[n["estimate"] - n["lower"]],
                                                         [n["upper"] - n["estimate"]]],
                    fmt="D", color=_COLOURS[1], capsize=2)
        labels.append("new centre (prediction)")
    ax.set_yticks(np.arange(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(1, color="black", lw=0.8)
    _hr_axis(ax)
    ax.set_xlabel("HR against the typical centre")
    sd = next(iter(result.group_sd.values()), None)
    if sd:
        ax.set_title(f"between-centre SD {sd[0]:.2f} ({sd[1]:.2f}-{sd[2]:.2f})", fontsize=9)
    ax.grid(alpha=0.3)
    if varies:
        ax2 = axes[0, 1]
        ax2.errorbar(order["line_hr"], y, xerr=[order["line_hr"] - order["line_lower"],
                                                order["line_upper"] - order["line_hr"]],
                     fmt="o", color=_COLOURS[2], capsize=2)
        ax2.axvline(result.hr[0], color=_COLOURS[0], lw=1, ls="--", label="population HR")
        ax2.axvline(1, color="black", lw=0.8)
        ax2.set_yticks(y)
        ax2.set_yticklabels(labels[:len(order)], fontsize=8)
        _hr_axis(ax2)
        ax2.set_xlabel(f"{result.term} HR {result.contrast} in each centre")
        ax2.legend(fontsize=7)
        ax2.grid(alpha=0.3)
    return _titled(fig, title or "Centre effects", synthetic)


def plot_elpd(table, *, title: str = "", synthetic: bool = False):
    """PSIS-LOO ELPD of each model (point, +/- SE) and its difference to the best (+/- dSE)."""

    fig, ax = _subplots(figsize=(7.0, 0.5 * len(table) + 1.6), layout="constrained")
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["elpd_loo"], y, xerr=table["se"], fmt="o", color="black", capsize=2,
                label="ELPD (LOO) +/- SE")
    best = table["elpd_loo"].max()
    ax.errorbar(best + table["elpd_diff"], y - 0.2, xerr=table["dse"], fmt="^",
                color=_COLOURS[1], capsize=2, label="difference to the best +/- SE")
    ax.axvline(best, color="grey", lw=0.7, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{m} (w={w:.2f})" for m, w in zip(table["model"], table["weight"],
                                                           strict=True)], fontsize=8)
    ax.set_xlabel("ELPD (higher is better); w = stacking weight")
    ax.set_ylim(-0.7, len(table) + 0.3)  # blank band at the top for the legend
    ax.legend(fontsize=7, loc="upper center", ncols=2)
    ax.grid(alpha=0.3)
    return _titled(fig, title or "Model comparison (PSIS-LOO)", synthetic)


# --------------------------------------------------------------------------------------------
# Prior sensitivity
# --------------------------------------------------------------------------------------------
def _normal_hr_density(mu: float, sd: float, x: np.ndarray) -> np.ndarray:
    """Density of log HR ~ N(mu, sd^2) per unit of log HR, evaluated at HR values x."""
    z = (np.log(x) - mu) / sd
    return np.exp(-0.5 * z * z) / (sd * np.sqrt(2 * np.pi))


def plot_prior_grid(result, *, title: str = "", synthetic: bool = False):
    """One panel per prior of the grid: the prior (grey) and posterior (colour) of the HR on a
    log axis (densities per unit of log HR), with P(HR < 1) in the panel title."""
    priors = [p for p in result.priors if p.direction != "model"]
    n = len(priors)
    ncols = 3
    nrows = int(np.ceil(n / ncols))
    fig, axes = _subplots(nrows, ncols, figsize=(4.0 * ncols, 2.7 * nrows + 0.8),
                          squeeze=False)
    x = np.exp(np.linspace(np.log(0.3), np.log(3.0), 400))
    t = result.table.set_index("prior")
    for ax, pr in zip(axes.ravel(), priors, strict=False):
        hr = result.draws[pr.name]
        ax.fill_between(x, _normal_hr_density(pr.mu, pr.sigma, x), color="grey", alpha=0.35,
                        lw=0, label="prior")
        edges = np.linspace(np.log(0.3), np.log(3.0), 70)
        # density per unit of log HR, comparable with the prior curve
        ax.hist(hr, bins=np.exp(edges), weights=np.full(len(hr), 1 / (len(hr) *
                                                                     (edges[1] - edges[0]))),
                color=_COLOURS[0], alpha=0.7, label="posterior")
        ax.axvline(1, color="black", lw=0.8)
        _hr_axis(ax)
        ax.set_yticks([])
        r = t.loc[pr.name]
        ax.set_title(f"{pr.label}: HR {r['median']:.2f} ({r['lower']:.2f}-{r['upper']:.2f})\n"
                     f"P(HR<1) = {r['P(HR < 1)']:.3f}", fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    return _titled(fig, title or f"Prior and posterior of the HR {result.contrast}",
                   synthetic)


def plot_summary_reanalysis(estimate, table, priors, *, title: str = ""):
    """Prior, likelihood (the published estimate) and posterior of the effect for each prior
    of the grid (one panel per prior; the flat-prior posterior is the likelihood)."""
    x = np.exp(np.linspace(np.log(0.25), np.log(4.0), 500))
    n = len(priors)
    ncols = 3
    nrows = int(np.ceil(n / ncols))
    fig, axes = _subplots(nrows, ncols, figsize=(4.0 * ncols, 2.6 * nrows + 0.8),
                          squeeze=False)
    t = table.set_index("prior")
    like = _normal_hr_density(estimate.log_effect, estimate.se, x)
    for ax, pr in zip(axes.ravel(), priors, strict=False):
        r = t.loc[pr.name]
        ax.plot(x, _normal_hr_density(pr.mu, pr.sigma, x), color="grey", lw=1.2, ls="--",
                label="prior")
        ax.plot(x, like, color=_COLOURS[1], lw=1.2, label="likelihood")
        ax.plot(x, _normal_hr_density(r["posterior_mu"], r["posterior_sd"], x),
                color=_COLOURS[0], lw=2, label="posterior")
        ax.axvline(1, color="black", lw=0.8)
        _hr_axis(ax)
        ax.set_yticks([])
        ax.set_title(f"{pr.label}: {estimate.measure} {r['median']:.2f} "
                     f"({r['lower']:.2f}-{r['upper']:.2f}), P(<1) = {r['P(HR < 1)']:.3f}",
                     fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    return _titled(fig, title or "Summary-level reanalysis", False)


def plot_assumption_sweep(sweep, *, prior_columns, title: str = ""):
    """P(HR < 1) against the assumed number of events, one line per assumed share of units in
    the group of interest, one panel per prior."""
    n = len(prior_columns)
    fig, axes = _subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    # V = D n1 n2 / n^2 is symmetric in the split: shares s and 1 - s give the same curve
    shares = sorted({round(min(sh, 1 - sh), 10) for sh in sweep["share_group_1"]})
    for ax, col in zip(axes.ravel(), prior_columns, strict=True):
        for i, sh in enumerate(shares):
            d = sweep[np.isclose(np.minimum(sweep["share_group_1"],
                                            1 - sweep["share_group_1"]), sh)]
            d = d.drop_duplicates("events")
            label = f"{sh:.0%} or {1 - sh:.0%}" if not np.isclose(sh, 0.5) else "50%"
            ax.plot(d["events"], d[col], marker="o", ms=3, color=_COLOURS[i % len(_COLOURS)],
                    label=label)
        ax.set_title(col.replace("P(HR < 1) ", "prior: "), fontsize=9)
        ax.set_xlabel("assumed events")
        ax.set_ylabel("P(HR < 1)")
        ax.grid(alpha=0.3)
    axes.ravel()[0].legend(fontsize=7, title="group of interest", title_fontsize=7)
    return _titled(fig, title or "P(benefit) across assumptions", False)


# --------------------------------------------------------------------------------------------
# Reconstruction from a published figure
# --------------------------------------------------------------------------------------------
def plot_reconstruction(rec, *, time_unit: str = "", title: str = "", figsize=(8.0, 6.4)):
    """Digitised points over the Kaplan-Meier curves of the reconstructed units, with the
    published and reconstructed numbers at risk under them."""
    from matplotlib.figure import Figure

    arms = rec.arms
    n = len(arms)
    fig = Figure(figsize=figsize, layout="constrained")
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.5 + 0.55 * n])
    ax = fig.add_subplot(gs[0])
    tab_ax = fig.add_subplot(gs[1], sharex=ax)
    tmax = max(a.curve.time[-1] for a in arms)
    for i, a in enumerate(arms):
        colour = _COLOURS[i % len(_COLOURS)]
        km = a.km
        t, s, _, _ = _step(km)
        ax.step(t, s, where="post", color=colour, lw=1.6,
                label=f"{a.arm}: reconstructed (n={km.n}, {km.events} events)")
        ax.plot(a.curve.time, a.curve.surv, ls="none", marker="o", ms=2.6, mfc="none",
                mew=0.7, color=colour, alpha=0.8, label=f"{a.arm}: digitised points")
        cens = km.table[km.table["n_censor"] > 0]
        ax.plot(cens["time"], cens["surv"], ls="none", marker="|", ms=6, mew=1.0,
                color=colour)
        y = 2 * (n - 1 - i)
        for rt, pub in zip(a.risk.time, a.risk.n_risk, strict=True):
            got = km.n_at(rt)
            tab_ax.text(rt, y + 0.5, str(int(pub)), ha="center", va="center", fontsize=7.5,
                        color=colour)
            tab_ax.text(rt, y - 0.5, str(got), ha="center", va="center", fontsize=7.5,
                        color=colour if got == pub else "black",
                        fontweight="normal" if got == pub else "bold")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(-0.04 * tmax, tmax * 1.03)
    ax.set_ylabel("Survival probability")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7.5)
    ax.set_title(title or "Reconstructed patient-level data against the digitised curve",
                 fontsize=10)
    for lab in ax.get_xticklabels():
        lab.set_visible(False)
    ticks, labels = [], []
    for i, a in enumerate(arms):
        y = 2 * (n - 1 - i)
        ticks += [y + 0.5, y - 0.5]
        labels += [f"{a.arm} published", f"{a.arm} reconstructed"]
    tab_ax.set_yticks(ticks)
    tab_ax.set_yticklabels(labels, fontsize=7.5)
    tab_ax.set_ylim(-1.2, 2 * n - 0.8)
    tab_ax.set_xlabel(f"Time ({time_unit})" if time_unit else "Time")
    tab_ax.set_title("Number at risk (bold: differs from the published count)", fontsize=8.5,
                     loc="left")
    for side in ("top", "right", "left"):
        tab_ax.spines[side].set_visible(False)
    tab_ax.tick_params(axis="y", length=0, pad=8)
    return fig

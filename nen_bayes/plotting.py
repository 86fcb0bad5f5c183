"""Figures. The only module (with the main job and the scripts) that imports matplotlib; every
function takes computed results and returns a :class:`matplotlib.figure.Figure`.

Every ``plot_*`` function draws into a new figure, or into the axes given as ``ax=``: one
:class:`~matplotlib.axes.Axes` for a single-panel figure, a sequence of exactly as many axes as
the figure has panels otherwise (a ``ValueError`` says how many). It then returns the figure that
holds those axes; the title and the synthetic-data mark go on that figure, and its layout is left
to the caller.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nen_bayes.bayes.predict import term_levels
from nen_bayes.files import atomic_write_bytes
from nen_bayes.formatting import format_equals
from nen_bayes.frequentist.km import KaplanMeier
from nen_bayes.posterior.averaging import AVERAGED
from nen_bayes.posterior.diagnostics import key_parameters, ppc_km
from nen_bayes.posterior.summary import plausible_time_range
from nen_bayes.provenance import is_synthetic
from nen_bayes.settings import Decision

__all__ = [
    "diagnostic_figures",
    "group_word",
    "level_colours",
    "plot_assumption_sweep",
    "plot_assurance",
    "plot_caterpillar",
    "plot_elpd",
    "plot_energy",
    "plot_extrapolation",
    "plot_forest",
    "plot_hr_posterior",
    "plot_km",
    "plot_operating",
    "plot_pair_sd",
    "plot_ppc_km",
    "plot_prior_grid",
    "plot_prior_posterior",
    "plot_prior_predictive",
    "plot_rank",
    "plot_reconstruction",
    "plot_sbc_ecdf",
    "plot_sbc_ranks",
    "plot_standardised_survival",
    "plot_summary_reanalysis",
    "plot_turnbull",
    "save_figure",
]

_COLOURS = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8d6a9f")


def level_colours(levels: Sequence[str]) -> dict[str, str]:
    """The colour of each level of a factor, by its position in the factor's declared level
    order (the order of the Kaplan-Meier curves of the baselines; the model's order, reference
    first, for a fit). Every by-level figure colours its levels with this rule, so a level keeps
    one colour in every figure whatever role it plays in a contrast."""
    return {str(lv): _COLOURS[i % len(_COLOURS)] for i, lv in enumerate(levels)}


def _step(km: KaplanMeier):
    tab = km.table
    t = np.r_[0.0, tab["time"].to_numpy()]
    s = np.r_[1.0, tab["surv"].to_numpy()]
    lo = np.r_[1.0, tab["lower"].to_numpy()]
    hi = np.r_[1.0, tab["upper"].to_numpy()]
    return t, s, lo, hi


def plot_km(curves: dict[str, KaplanMeier], *, title: str = "", p_text: str = "",
            time_unit: str = "months", risk_times=None, synthetic: bool = False,
            show_ci: bool = True, show_median: bool = True, figsize=(8.0, 6.0), ax=None):
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
    ax
        Two axes: the curves and the numbers-at-risk table.
    """
    n = len(curves)
    fig, ax, tab_ax = _curve_and_table(ax, figsize, 0.5 + 0.32 * n, "plot_km")
    tmax = max(km.max_time for km in curves.values())
    colours = level_colours(curves)
    for label, km in curves.items():
        colour = colours[str(label)]
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
    for lab in ax.get_xticklabels():
        lab.set_visible(False)
    if risk_times is None:
        step = 12.0 if time_unit == "months" and tmax > 36 else _nice_step(tmax / 6)
        risk_times = np.arange(0, tmax + 1e-9, step)
    risk_times = np.asarray([rt for rt in risk_times if rt <= tmax], float)
    labels = list(curves)
    for i, (label, km) in enumerate(curves.items()):
        colour = colours[str(label)]
        y = n - 1 - i
        for rt in risk_times:
            tab_ax.text(rt, y, str(km.n_at(rt)), ha="center", va="center", fontsize=8,
                        color=colour)
    tab_ax.set_yticks(range(n))
    tab_ax.set_yticklabels(labels[::-1], fontsize=8)
    tab_ax.set_ylim(-0.6, n - 0.4)
    tab_ax.set_xticks(risk_times)
    tab_ax.set_xlim(ax.get_xlim())
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


def _given_axes(ax, n: int, what: str):
    """The figure holding the caller's axes and the axes as an array; ``ValueError`` unless
    there are exactly ``n`` of them."""
    axes = [ax] if not isinstance(ax, Sequence | np.ndarray) else list(np.ravel(ax))
    if len(axes) != n:
        want = "one Axes" if n == 1 else f"a sequence of {n} axes"
        raise ValueError(f"{what} draws {n} panel(s): ax= must be {want}, got {len(axes)}")
    return axes[0].figure, np.asarray(axes, dtype=object)


def _one_axes(ax, figsize, what: str):
    """A new single-panel figure, or the caller's axes and its figure."""
    if ax is None:
        return _subplots(figsize=figsize, layout="constrained")
    fig, axes = _given_axes(ax, 1, what)
    return fig, axes[0]


def _panels(ax, nrows: int, ncols: int, n: int, figsize, what: str):
    """A new figure of ``nrows x ncols`` panels (as a 2-D array), or the caller's ``n`` axes
    (as a 1 x n array)."""
    if ax is None:
        return _subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=False)
    fig, axes = _given_axes(ax, n, what)
    return fig, axes.reshape(1, n)


def _curve_and_table(ax, figsize, table_height: float, what: str):
    """A new figure with a curve panel above a table panel sharing its time axis, or the
    caller's two axes."""
    if ax is not None:
        fig, axes = _given_axes(ax, 2, what)
        return fig, axes[0], axes[1]
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, table_height])
    top = fig.add_subplot(gs[0])
    return fig, top, fig.add_subplot(gs[1], sharex=top)


def _synthetic_mark(fig) -> None:
    fig.text(0.5, 0.5, "SYNTHETIC DATA", ha="center", va="center", fontsize=38,
             color="grey", alpha=0.15, rotation=25)
    fig.suptitle("Synthetic data: not patient data, not the published results",
                 fontsize=8, color="dimgrey")


def plot_prior_predictive(draws: dict, *, time_unit: str = "months", title: str = "",
                          synthetic: bool = False, figsize=(10.0, 4.2), ax=None):
    """What the prior implies: median survival (left) and hazard ratios (right), log scales
    (``ax``: two axes).

    ``draws`` is :func:`nen_bayes.posterior.summary.prior_predictive_draws`' output.
    """
    fig, axes = _panels(ax, 1, 2, 2, figsize, "plot_prior_predictive")
    ax_t, ax_h = axes[0]
    time_keys = [k for k in draws if k.startswith("median")]
    hr_keys = [k for k in draws if k.startswith("hr_")]
    labels = {"median_reference": "reference unit, typical group",
              "median_cohort": "median of predicted cohort times",
              "hr_coefficient": "covariate HRs"}
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
    for a in (ax_t, ax_h):
        a.grid(alpha=0.3)
    if title:
        if ax is None:
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


def _grid(n: int, ncols: int = 4, size=(3.0, 2.2), *, ax=None, what: str = "this figure"):
    """``n`` panels in rows of ``ncols`` (the spare ones hidden), or the caller's ``n`` axes."""
    if ax is not None:
        return _given_axes(ax, n, what)
    ncols = min(ncols, max(n, 1))
    nrows = int(np.ceil(n / ncols))
    fig, axes = _subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows + 0.6),
                             layout="constrained", squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def _titled(fig, title: str, synthetic: bool, *, own: bool = True):
    """The figure's title and, for synthetic data, its mark; ``own=False`` (the caller's
    figure) leaves the layout alone."""
    if title:
        fig.suptitle(title, fontsize=11)
    if synthetic:
        if own:
            fig.get_layout_engine().set(rect=(0, 0.035, 1, 0.965))
        fig.text(0.5, 0.5, "SYNTHETIC DATA", ha="center", va="center", fontsize=38,
                 color="grey", alpha=0.15, rotation=25)
        fig.text(0.5, 0.001, "Synthetic data: not patient data, not the published results",
                 ha="center", va="bottom", fontsize=8, color="dimgrey")
    return fig


def plot_rank(ds, names, *, title: str = "", synthetic: bool = False, bins: int = 20,
              ax=None):
    """Rank plots: per chain, the histogram of the ranks of its draws among all draws. Uniform
    (flat, inside the grey band) when the chains sample the same distribution. ``ax``: one
    axes per parameter element (at most 16)."""
    from scipy.stats import binom, rankdata

    series = _scalar_series(ds, names)
    fig, axes = _grid(len(series), ax=ax, what="plot_rank")
    for panel, (label, a) in zip(axes, series, strict=True):
        n_chain, n_draw = a.shape
        r = rankdata(a.ravel()).reshape(a.shape)
        edges = np.linspace(0, a.size, bins + 1)
        expect = n_draw / bins
        lo, hi = binom.ppf([0.005, 0.995], n_draw, 1 / bins)
        panel.axhspan(lo, hi, color="grey", alpha=0.2, lw=0)
        panel.axhline(expect, color="black", lw=0.6, ls="--")
        for c in range(n_chain):
            h, _ = np.histogram(r[c], bins=edges)
            panel.step(np.arange(bins + 1), np.r_[h, h[-1]], where="post", lw=1.1,
                       color=_COLOURS[c % len(_COLOURS)], label=f"chain {c}")
        panel.set_title(label, fontsize=8)
        panel.set_xticks([])
        panel.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    return _titled(fig, title or "Rank plots (flat = chains agree; band: 99% under uniformity)",
                   synthetic, own=ax is None)


def plot_energy(energy, bfmi, *, title: str = "", synthetic: bool = False, ax=None):
    """Marginal energy distribution against the energy transition distribution (both centred).
    Similar widths mean the momentum resampling explores the energy levels well."""
    e = np.asarray(energy, float)
    fig, panel = _one_axes(ax, (6.4, 4.0), "plot_energy")
    marg = (e - e.mean(axis=1, keepdims=True)).ravel()
    trans = np.diff(e, axis=1).ravel()
    bins = np.linspace(min(marg.min(), trans.min()), max(marg.max(), trans.max()), 60)
    panel.hist(marg, bins=bins, density=True, alpha=0.5, color=_COLOURS[0],
               label="marginal energy (centred)")
    panel.hist(trans, bins=bins, density=True, alpha=0.5, color=_COLOURS[1],
               label="energy transition")
    panel.set_xlabel("Energy")
    panel.set_yticks([])
    panel.legend(title="E-BFMI per chain: " + ", ".join(f"{b:.2f}" for b in np.ravel(bfmi)),
                 fontsize=8, title_fontsize=8)
    return _titled(fig, title or "Energy", synthetic, own=ax is None)


def plot_pair_sd(ds, group: str, *, diverging=None, title: str = "", synthetic: bool = False,
                 ax=None):
    """log between-group SD against each group's standardised (z) or raw effect: a funnel (the
    effects collapsing as the SD shrinks, divergences at its neck) signals a geometry NUTS
    cannot sample; the non-centred parameterisation removes it. ``ax``: one axes per group."""
    sd = np.log(ds[f"sd_{group}"].values.ravel())
    name = f"z_{group}" if f"z_{group}" in ds else f"u_{group}"
    eff = ds[name].transpose("chain", "draw", group).values.reshape(len(sd), -1)
    levels = [str(v) for v in ds[group].values]
    fig, axes = _grid(len(levels), ncols=4, size=(2.6, 2.3), ax=ax, what="plot_pair_sd")
    div = None if diverging is None else np.asarray(diverging, bool).ravel()
    for j, panel in enumerate(axes):
        panel.scatter(eff[:, j], sd, s=2, alpha=0.25, color=_COLOURS[0], lw=0)
        if div is not None and div.any():
            panel.scatter(eff[div, j], sd[div], s=8, color="#d1495b", label="divergent")
        panel.set_title(f"{name}[{levels[j]}]", fontsize=8)
        panel.set_ylabel(f"log sd_{group}", fontsize=7)
        panel.tick_params(labelsize=7)
    return _titled(fig, title or f"Between-{group} SD against {group} effects", synthetic,
                   own=ax is None)


def plot_prior_posterior(prior, posterior, names, *, title: str = "",
                         synthetic: bool = False, ax=None):
    """Prior (grey) and posterior (colour) densities of every parameter element: how much the
    data moved each one, and whether a prior constrains where it should not. ``ax``: one axes
    per parameter element (at most 16)."""
    pr = dict(_scalar_series(prior, names))
    po = _scalar_series(posterior, names)
    fig, axes = _grid(len(po), ax=ax, what="plot_prior_posterior")
    for panel, (label, a) in zip(axes, po, strict=True):
        x = a.ravel()
        lo, hi = np.quantile(x, [0.001, 0.999])
        if label in pr:
            p = pr[label].ravel()
            plo, phi = np.quantile(p, [0.01, 0.99])
            lo, hi = min(lo, plo), max(hi, phi)
            panel.hist(np.clip(p, lo, hi), bins=50, range=(lo, hi), density=True,
                       color="grey", alpha=0.45, label="prior")
        panel.hist(x, bins=50, range=(lo, hi), density=True, color=_COLOURS[0], alpha=0.7,
                   label="posterior")
        panel.set_title(label, fontsize=8)
        panel.set_yticks([])
        panel.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    return _titled(fig, title or "Prior and posterior", synthetic, own=ax is None)


def plot_ppc_km(curves, *, title: str = "", time_unit: str = "months",
                levels: Sequence[str] | None = None, synthetic: bool = False, ax=None):
    """Observed Kaplan-Meier curves over the 95% band of the Kaplan-Meier curves of the
    posterior predictive replicates, censored as the units were (one panel per set of units;
    ``ax``: one axes per curve).

    ``levels``: for curves by a factor's levels (labelled ``"<term> = <level>"``), the factor's
    declared level order, which gives each level its colour (:func:`level_colours`)."""
    n = len(curves)
    fig, axes = _panels(ax, 1, n, n, (5.2 * n, 4.2), "plot_ppc_km")
    colours = level_colours(levels or ())
    for i, (panel, c) in enumerate(zip(axes.ravel(), curves, strict=True)):
        colour = colours.get(c.label.split(" = ", 1)[-1], _COLOURS[i % len(_COLOURS)])
        panel.fill_between(c.grid, c.lower, c.upper, color=colour, alpha=0.2, lw=0,
                           label="posterior predictive 95% band")
        panel.plot(c.grid, c.median, color=colour, lw=1, ls="--", label="predictive median")
        if c.method == "Turnbull":  # interval-censored: the Turnbull estimate
            _draw_turnbull(panel, c, "black",
                           f"observed Turnbull (n={c.km.n}, {c.km.events} events)")
        else:
            t, s, _, _ = _step(c.km)
            panel.step(t, s, where="post", color="black", lw=1.5,
                       label=f"observed KM (n={c.km.n}, {c.km.events} events)")
        panel.set_ylim(0, 1.02)
        panel.set_xlabel(f"Time ({time_unit})")
        panel.set_ylabel("Survival probability")
        panel.set_title(c.label, fontsize=10)
        panel.grid(alpha=0.3)
        panel.legend(fontsize=7)
    return _titled(fig, title or "Posterior predictive check: Kaplan-Meier", synthetic,
                   own=ax is None)


def _draw_turnbull(ax, c, colour: str, label: str) -> None:
    """A Turnbull estimate: where the NPMLE determines S a step line, where it does not (inside
    a Turnbull interval, S anywhere between its values at the two ends) a shaded box and no
    line. ``c`` is a Turnbull curve (:func:`~nen_bayes.frequentist.interval.turnbull_npmle`)
    or carries one as ``c.turnbull``; a predictive check's curve without it (only the values
    on its grid, the mid-point inside a Turnbull interval) is drawn as a dotted step, said
    in its label."""
    curve = c if hasattr(c, "columns") else getattr(c, "turnbull", None)
    if curve is None:
        ax.step(c.grid, c.observed, where="post", color=colour, lw=1.5, ls=":",
                label=f"{label}; mid-point where not unique")
        return
    t = curve["time"].to_numpy(float)
    up, low = curve["upper"].to_numpy(float), curve["lower"].to_numpy(float)
    known = curve["determined"].to_numpy(bool) | (up - low <= 1e-6)  # no mass: S is known
    finite = t[np.isfinite(t)]
    end = float(finite.max()) * 1.05 if len(finite) and finite.max() > 0 else 1.0
    t = np.minimum(t, end)
    xs, ys = [], []
    boxed = False
    for k in range(1, len(t)):
        if known[k]:  # S = up[k] on the stretch, lower[k] from t[k]
            xs += [t[k - 1], t[k], t[k]]
            ys += [up[k], up[k], low[k]]
        else:
            xs.append(np.nan)
            ys.append(np.nan)
            ax.fill_between([t[k - 1], t[k]], [low[k]] * 2, [up[k]] * 2, color=colour,
                            alpha=0.25, lw=0, label=None if boxed else
                            "Turnbull: not unique (any curve within the box)")
            boxed = True
    xs += [t[-1], end]
    ys += [low[-1], low[-1]]
    ax.plot(xs, ys, color=colour, lw=1.5, label=label)


def plot_turnbull(curves: dict, *, title: str = "", time_unit: str = "months",
                  levels: Sequence[str] | None = None, synthetic: bool = False, ax=None):
    """Turnbull estimates (label -> :func:`~nen_bayes.frequentist.interval.turnbull_npmle`
    curve, e.g. :attr:`~nen_bayes.frequentist.interval.IntervalResult.curves`), each drawn
    by :func:`_draw_turnbull`: the stretches where the NPMLE is not unique as boxes, never a
    line through them. ``levels``: the factor's declared level order (the colours)."""
    fig, ax = _one_axes(ax, (7.0, 5.0), "plot_turnbull")
    colours = level_colours(levels or [k for k in curves if k != "all"])
    for i, (label, curve) in enumerate(curves.items()):
        colour = "black" if label == "all" else colours.get(str(label),
                                                            _COLOURS[i % len(_COLOURS)])
        _draw_turnbull(ax, curve, colour, "all units" if label == "all" else str(label))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"Time ({time_unit})")
    ax.set_ylabel("Survival probability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _titled(fig, title or "Turnbull estimate (events in (lower, upper])", synthetic,
                   own=ax is None)


def diagnostic_figures(tree, *, by: str | None = None, card=None) -> dict:
    """All diagnostic figures of a fit: ``{file stem: Figure}``.

    ``rank`` (rank plots), ``energy`` (when the sampler stored it), ``pair_sd_<group>`` (the
    between-group SD against the group effects, one figure per group), ``prior_posterior``
    (when the fit has a prior group), ``ppc_km`` and, with ``by``, ``ppc_km_<by>`` (the
    posterior predictive Kaplan-Meier check, when the fit has a posterior predictive group).
    ``card`` (the fit's :class:`~nen_bayes.posterior.diagnostics.RunCard`) is accepted so that
    callers can pass it; the figures do not depend on it."""
    import arviz_stats as azs

    synthetic = is_synthetic(tree.attrs)
    head = f"{tree.attrs['model']}, {tree.attrs['endpoint']}"
    post = tree["posterior"].dataset
    names = key_parameters(tree)
    figs = {"rank": plot_rank(post, names, title=f"Rank plots: {head}", synthetic=synthetic)}
    stats = tree["sample_stats"].dataset
    if "energy" in stats:
        bf = azs.bfmi(tree).dataset["energy"].values
        figs["energy"] = plot_energy(stats["energy"].transpose("chain", "draw").values, bf,
                                     title=f"Energy: {head}", synthetic=synthetic)
    for v in post.data_vars:
        if v.startswith("sd_") and not v.endswith("_varying"):
            g = v[3:]
            figs[f"pair_sd_{g}"] = plot_pair_sd(
                post, g, diverging=stats["diverging"].values if "diverging" in stats else None,
                title=f"Between-{g} SD against {g} effects: {head}", synthetic=synthetic)
    if "prior" in tree.children:
        figs["prior_posterior"] = plot_prior_posterior(
            tree["prior"].dataset, post, names, title=f"Prior and posterior: {head}",
            synthetic=synthetic)
    if "posterior_predictive" in tree.children:
        unit = tree.attrs.get("time_unit", "months")
        figs["ppc_km"] = plot_ppc_km(ppc_km(tree), time_unit=unit,
                                     title=f"Posterior predictive KM: {head}",
                                     synthetic=synthetic)
        if by is not None:
            figs[f"ppc_km_{by}"] = plot_ppc_km(
                ppc_km(tree, by=by), time_unit=unit, levels=term_levels(tree, by)[1],
                title=f"Posterior predictive KM by {by}: {head}", synthetic=synthetic)
    return figs


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


def plot_standardised_survival(result, *, observed=None, levels: Sequence[str] | None = None,
                               title: str = "", synthetic: bool = False, ax=None):
    """Covariate-adjusted (g-computation) survival curves by level with their 95% bands;
    ``observed`` (level -> KaplanMeier) overlays the unadjusted Kaplan-Meier curves.

    Each level takes its colour from ``levels``, the factor's declared level order (see
    :func:`level_colours`); by default the order of ``observed``, which is that of the
    Kaplan-Meier figure, else the model's level order carried by the contrast."""
    fig, panel = _one_axes(ax, (7.6, 5.0), "plot_standardised_survival")
    pair = (result.reference, result.level)
    if levels is None:
        levels = list(observed) if observed else (list(getattr(result, "levels", ())) or pair)
    order = [str(lv) for lv in levels]
    order += [lv for lv in pair if lv not in order]
    colours = level_colours(order)
    for lv in (x for x in order if x in pair):
        c = result.curves[result.curves["level"] == lv]
        colour = colours[lv]
        panel.fill_between(c["time"], c["lower"], c["upper"], color=colour, alpha=0.18, lw=0)
        panel.plot(c["time"], c["estimate"], color=colour, lw=2,
                   label=f"{lv}: standardised (posterior median, {result.conf_level:.0%} band)")
        if observed and lv in observed:
            t, s, _, _ = _step(observed[lv])
            panel.step(t, s, where="post", color=colour, lw=0.9, ls="--",
                       label=f"{lv}: Kaplan-Meier (unadjusted)")
    for h in result.rmst["horizon"].unique():
        panel.axvline(h, color="grey", lw=0.6, ls=":")
    panel.set_ylim(0, 1.02)
    panel.set_xlabel(f"Time ({result.time_unit})")
    panel.set_ylabel("Survival probability")
    panel.grid(alpha=0.3)
    panel.legend(fontsize=7, title=f"HR {result.contrast} {result.hr[0]:.2f} "
                                   f"({result.hr[1]:.2f}-{result.hr[2]:.2f})", title_fontsize=8)
    return _titled(fig, title or f"Standardised survival by {result.term}", synthetic,
                   own=ax is None)


def plot_hr_posterior(result, *, decision: Decision | None = None, title: str = "",
                      synthetic: bool = False, ax=None):
    """Posterior density of the hazard ratio (log axis) with the decision thresholds and the
    region of practical equivalence shaded (``decision``: default the result's own)."""
    d = decision or getattr(result, "decision", None) or Decision()
    benefit, harm, rope = d.benefit, d.harm, d.rope
    x = result.hr_draws
    fig, panel = _one_axes(ax, (7.0, 3.8), "plot_hr_posterior")
    lo, hi = np.quantile(x, [0.0005, 0.9995])
    lo, hi = min(lo, benefit * 0.9), max(hi, harm * 1.1)
    bins = np.logspace(np.log10(lo), np.log10(hi), 70)
    panel.hist(x, bins=bins, density=True, color=_COLOURS[0], alpha=0.6)
    panel.axvspan(*rope, color="grey", alpha=0.15, label=f"ROPE {rope[0]:g}-{rope[1]:g}")
    panel.axvline(1, color="black", lw=1)
    panel.axvline(benefit, color=_COLOURS[2], lw=1, ls="--", label=f"HR = {benefit:g}")
    panel.axvline(harm, color=_COLOURS[1], lw=1, ls="--", label=f"HR = {harm:g}")
    _hr_axis(panel)
    panel.set_xlabel(f"Hazard ratio, {result.contrast}")
    panel.set_yticks([])
    p = result.probabilities.set_index("event")["probability"]
    panel.set_title("; ".join(f"{k} {format_equals(v)}" for k, v in p.items()), fontsize=8)
    panel.legend(fontsize=7, loc="upper right")
    return _titled(fig, title or f"Posterior of the {result.term} hazard ratio", synthetic,
                   own=ax is None)


def group_word(result) -> str:
    """The grouping level's own name (``centre``, ``pair``, ``patient``, ``eye``: the first
    key of the contrast's ``group_sd``), which the figures and the report use for "a new
    <group>" and "between-<group> SD"; ``centre`` when the fit has no grouping level."""
    return str(next(iter(getattr(result, "group_sd", None) or {}), "centre"))


def plot_caterpillar(result, *, title: str = "", synthetic: bool = False, ax=None):
    """Each centre's hazard ratio against the typical centre (posterior median and CrI), with
    the prediction interval of a new centre; a second panel shows the centre-specific line
    hazard ratios when the model lets the line effect vary by centre (``ax``: one axes, or two
    when it does)."""
    c = result.centres
    group = group_word(result)
    varies = c["line_hr"].notna().any()
    ncols = 2 if varies else 1
    fig, axes = _panels(ax, 1, ncols, ncols, (5.6 * ncols, 0.45 * len(c) + 1.8),
                        "plot_caterpillar")
    order = c.sort_values("hr")
    y = np.arange(len(order))
    left = axes[0, 0]
    left.errorbar(order["hr"], y, xerr=[order["hr"] - order["lower"],
                                        order["upper"] - order["hr"]],
                  fmt="o", color=_COLOURS[0], capsize=2)
    new = result.new_centre[result.new_centre["quantity"] == "new_group_hr"]
    labels = [f"{r.level} (n={r.n})" for r in order.itertuples()]
    if len(new):
        n = new.iloc[0]
        left.errorbar([n["estimate"]], [len(order)], xerr=[[n["estimate"] - n["lower"]],
                                                           [n["upper"] - n["estimate"]]],
                      fmt="D", color=_COLOURS[1], capsize=2)
        labels.append(f"new {group} (prediction)")
    left.set_yticks(np.arange(len(labels)))
    left.set_yticklabels(labels, fontsize=8)
    left.axvline(1, color="black", lw=0.8)
    _hr_axis(left)
    left.set_xlabel(f"HR against the typical {group}")
    sd = next(iter(result.group_sd.values()), None)
    if sd:
        left.set_title(f"between-{group} SD {sd[0]:.2f} ({sd[1]:.2f}-{sd[2]:.2f})", fontsize=9)
    left.grid(alpha=0.3)
    if varies:
        right = axes[0, 1]
        right.errorbar(order["line_hr"], y, xerr=[order["line_hr"] - order["line_lower"],
                                                  order["line_upper"] - order["line_hr"]],
                       fmt="o", color=_COLOURS[2], capsize=2)
        right.axvline(result.hr[0], color=_COLOURS[0], lw=1, ls="--", label="population HR")
        right.axvline(1, color="black", lw=0.8)
        right.set_yticks(y)
        right.set_yticklabels(labels[:len(order)], fontsize=8)
        _hr_axis(right)
        right.set_xlabel(f"{result.term} HR {result.contrast} in each centre")
        right.legend(fontsize=7)
        right.grid(alpha=0.3)
    return _titled(fig, title or "Centre effects", synthetic, own=ax is None)


def plot_elpd(table, *, title: str = "", synthetic: bool = False, ax=None):
    """PSIS-LOO ELPD of each model (point, +/- SE) and its difference to the best (+/- dSE)."""
    fig, panel = _one_axes(ax, (7.0, 0.5 * len(table) + 1.6), "plot_elpd")
    y = np.arange(len(table))[::-1]
    panel.errorbar(table["elpd_loo"], y, xerr=table["se"], fmt="o", color="black", capsize=2,
                   label="ELPD (LOO) +/- SE")
    best = table["elpd_loo"].max()
    panel.errorbar(best + table["elpd_diff"], y - 0.2, xerr=table["dse"], fmt="^",
                   color=_COLOURS[1], capsize=2, label="difference to the best +/- SE")
    panel.axvline(best, color="grey", lw=0.7, ls="--")
    panel.set_yticks(y)
    panel.set_yticklabels([f"{m} (w={w:.2f})" for m, w in zip(table["model"], table["weight"],
                                                              strict=True)], fontsize=8)
    panel.set_xlabel("ELPD (higher is better); w = stacking weight")
    panel.set_ylim(-0.7, len(table) + 0.3)  # blank band at the top for the legend
    panel.legend(fontsize=7, loc="upper center", ncols=2)
    panel.grid(alpha=0.3)
    return _titled(fig, title or "Model comparison (PSIS-LOO)", synthetic, own=ax is None)


def plot_extrapolation(avg, *, observed=None, title: str = "", synthetic: bool = False,
                       ax=None):
    """Every model's cohort survival (posterior median) over the grid of a
    :class:`~nen_bayes.posterior.averaging.ModelAverage`, beyond the longest follow-up (the
    dashed line), with the stacking average and its band; ``observed`` (a KaplanMeier) draws
    the cohort's Kaplan-Meier curve under them. Each model's weight is in its label."""
    fig, panel = _one_axes(ax, (7.6, 5.0), "plot_extrapolation")
    models = [m for m in dict.fromkeys(avg.curves["model"]) if m != AVERAGED]
    for k, m in enumerate(models):
        c = avg.curves[avg.curves["model"] == m]
        panel.plot(c["time"], c["estimate"], color=_COLOURS[(k + 1) % len(_COLOURS)], lw=1.1,
                   label=f"{m} (w={avg.weights[m]:.2f})")
    c = avg.curves[avg.curves["model"] == AVERAGED]
    panel.fill_between(c["time"], c["lower"], c["upper"], color="black", alpha=0.12, lw=0)
    panel.plot(c["time"], c["estimate"], color="black", lw=2.2,
               label=f"model-averaged (stacking), {avg.conf_level:.0%} band")
    if observed is not None:
        t, surv, _, _ = _step(observed)
        panel.step(t, surv, where="post", color="grey", lw=1.0, ls="-",
                   label="Kaplan-Meier (observed)")
    panel.axvline(avg.follow_up, color="grey", lw=0.8, ls="--")
    panel.text(avg.follow_up, 0.02, "  longest follow-up: extrapolated beyond", fontsize=7,
               va="bottom", color="grey")
    panel.set_ylim(0, 1.02)
    panel.set_xlabel(f"Time ({avg.time_unit})")
    panel.set_ylabel("Survival probability (cohort, standardised)")
    panel.grid(alpha=0.3)
    panel.legend(fontsize=7, loc="upper right")
    return _titled(fig, title or f"Survival by family and model-averaged, {avg.endpoint}",
                   synthetic, own=ax is None)


def plot_forest(table, *, title: str = "", xlabel: str = "Hazard ratio (log scale)",
                synthetic: bool = False, ax=None):
    """A forest plot of the rows of ``table`` (columns ``label``, ``kind`` = ``trial`` |
    ``pooled`` | ``prediction``, ``hr``, ``lower``, ``upper``; a meta-analysis'
    ``forest_table()``): each trial's HR and interval, each pooled HR as a diamond, each
    prediction interval for a new trial as a thin bar, on a log axis with the line HR = 1."""
    fig, panel = _one_axes(ax, (7.0, 0.42 * len(table) + 1.4), "plot_forest")
    y = np.arange(len(table))[::-1]
    for yi, r in zip(y, table.itertuples(), strict=True):
        if r.kind == "trial":
            panel.plot([r.lower, r.upper], [yi, yi], color="black", lw=1.2)
            panel.plot(r.hr, yi, "s", color="black", ms=5)
        elif r.kind == "pooled":
            panel.fill([r.lower, r.hr, r.upper, r.hr], [yi, yi + 0.3, yi, yi - 0.3],
                       color=_COLOURS[0], lw=0)
        else:
            panel.plot([r.lower, r.upper], [yi, yi], color=_COLOURS[0], lw=0.8, ls="--")
            panel.plot(r.hr, yi, "|", color=_COLOURS[0], ms=8)
    panel.axvline(1.0, color="grey", lw=0.7, ls=":")
    panel.set_xscale("log")
    _hr_axis(panel)
    panel.set_yticks(y)
    panel.set_yticklabels(table["label"], fontsize=8)
    panel.set_xlabel(xlabel)
    panel.grid(alpha=0.3, axis="x")
    return _titled(fig, title or "Forest plot", synthetic, own=ax is None)


# --------------------------------------------------------------------------------------------
# Prior sensitivity
# --------------------------------------------------------------------------------------------
def _normal_hr_density(mu: float, sd: float, x: np.ndarray) -> np.ndarray:
    """Density of log HR ~ N(mu, sd^2) per unit of log HR, evaluated at HR values x."""
    z = (np.log(x) - mu) / sd
    return np.exp(-0.5 * z * z) / (sd * np.sqrt(2 * np.pi))


def _prior_panels(ax, n: int, height: float, what: str):
    """One panel per prior, three to a row (the spare ones hidden), or the caller's ``n``
    axes; returns the figure and the axes as a flat array."""
    ncols = 3
    nrows = int(np.ceil(n / ncols))
    fig, axes = _panels(ax, nrows, ncols, n, (4.0 * ncols, height * nrows + 0.8), what)
    for panel in axes.ravel()[n:]:
        panel.set_visible(False)
    return fig, axes.ravel()


def plot_prior_grid(result, *, title: str = "", synthetic: bool = False, ax=None):
    """One panel per prior of the grid: the prior (grey) and posterior (colour) of the HR on a
    log axis (densities per unit of log HR), with P(HR < 1) in the panel title (``ax``: one
    axes per prior, the model's own prior excluded)."""
    priors = [p for p in result.priors if p.direction != "model"]
    fig, axes = _prior_panels(ax, len(priors), 2.7, "plot_prior_grid")
    x = np.exp(np.linspace(np.log(0.3), np.log(3.0), 400))
    t = result.table.set_index("prior")
    for panel, pr in zip(axes, priors, strict=False):
        hr = result.draws[pr.name]
        w = result.weights.get(pr.name, np.full(len(hr), 1 / len(hr)))  # reweighted or sampled
        panel.fill_between(x, _normal_hr_density(pr.mu, pr.sigma, x), color="grey",
                           alpha=0.35, lw=0, label="prior")
        edges = np.linspace(np.log(0.3), np.log(3.0), 70)
        # density per unit of log HR, comparable with the prior curve
        panel.hist(hr, bins=np.exp(edges), weights=w / (edges[1] - edges[0]),
                   color=_COLOURS[0], alpha=0.7, label="posterior")
        panel.axvline(1, color="black", lw=0.8)
        _hr_axis(panel)
        panel.set_yticks([])
        r = t.loc[pr.name]
        panel.set_title(f"{pr.label}: HR {r['median']:.2f} ({r['lower']:.2f}-"
                        f"{r['upper']:.2f})\nP(HR<1) {format_equals(r['P(HR < 1)'])}",
                        fontsize=8)
    axes[0].legend(fontsize=7)
    return _titled(fig, title or f"Prior and posterior of the HR {result.contrast}",
                   synthetic, own=ax is None)


def plot_summary_reanalysis(estimate, table, priors, *, title: str = "", ax=None):
    """Prior, likelihood (the published estimate) and posterior of the effect for each prior
    of the grid (one panel per prior, ``ax``: one axes per prior; the flat-prior posterior is
    the likelihood)."""
    x = np.exp(np.linspace(np.log(0.25), np.log(4.0), 500))
    fig, axes = _prior_panels(ax, len(priors), 2.6, "plot_summary_reanalysis")
    t = table.set_index("prior")
    like = _normal_hr_density(estimate.log_effect, estimate.se, x)
    for panel, pr in zip(axes, priors, strict=False):
        r = t.loc[pr.name]
        panel.plot(x, _normal_hr_density(pr.mu, pr.sigma, x), color="grey", lw=1.2, ls="--",
                   label="prior")
        panel.plot(x, like, color=_COLOURS[1], lw=1.2, label="likelihood")
        panel.plot(x, _normal_hr_density(r["posterior_mu"], r["posterior_sd"], x),
                   color=_COLOURS[0], lw=2, label="posterior")
        panel.axvline(1, color="black", lw=0.8)
        _hr_axis(panel)
        panel.set_yticks([])
        panel.set_title(f"{pr.label}: {estimate.measure} {r['median']:.2f} "
                        f"({r['lower']:.2f}-{r['upper']:.2f}), "
                        f"P(<1) {format_equals(r['P(HR < 1)'])}", fontsize=8)
    axes[0].legend(fontsize=7)
    return _titled(fig, title or "Summary-level reanalysis", False, own=ax is None)


def plot_assumption_sweep(sweep, *, prior_columns, title: str = "", ax=None):
    """P(HR < 1) against the assumed number of events, one line per assumed share of units in
    the group of interest, one panel per prior (``ax``: one axes per prior column)."""
    n = len(prior_columns)
    fig, axes = _panels(ax, 1, n, n, (4.2 * n, 3.6), "plot_assumption_sweep")
    # V = D n1 n2 / n^2 is symmetric in the split: shares s and 1 - s give the same curve
    shares = sorted({round(min(sh, 1 - sh), 10) for sh in sweep["share_group_1"]})
    for panel, col in zip(axes.ravel(), prior_columns, strict=True):
        for i, sh in enumerate(shares):
            d = sweep[np.isclose(np.minimum(sweep["share_group_1"],
                                            1 - sweep["share_group_1"]), sh)]
            d = d.drop_duplicates("events")
            label = f"{sh:.0%} or {1 - sh:.0%}" if not np.isclose(sh, 0.5) else "50%"
            panel.plot(d["events"], d[col], marker="o", ms=3,
                       color=_COLOURS[i % len(_COLOURS)], label=label)
        panel.set_title(col.replace("P(HR < 1) ", "prior: "), fontsize=9)
        panel.set_xlabel("assumed events")
        panel.set_ylabel("P(HR < 1)")
        panel.grid(alpha=0.3)
    axes.ravel()[0].legend(fontsize=7, title="group of interest", title_fontsize=7)
    return _titled(fig, title or "P(benefit) across assumptions", False, own=ax is None)


# --------------------------------------------------------------------------------------------
# Reconstruction from a published figure
# --------------------------------------------------------------------------------------------
def plot_reconstruction(rec, *, time_unit: str = "", title: str = "", figsize=(8.0, 6.4),
                        ax=None):
    """Digitised points over the Kaplan-Meier curves of the reconstructed units, with the
    published and reconstructed numbers at risk under them (``ax``: two axes, the curves and
    the numbers-at-risk table)."""
    arms = rec.arms
    n = len(arms)
    fig, ax, tab_ax = _curve_and_table(ax, figsize, 0.5 + 0.55 * n, "plot_reconstruction")
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
    tab_ax.set_xlim(ax.get_xlim())
    tab_ax.set_xlabel(f"Time ({time_unit})" if time_unit else "Time")
    tab_ax.set_title("Number at risk (bold: differs from the published count)", fontsize=8.5,
                     loc="left")
    for side in ("top", "right", "left"):
        tab_ax.spines[side].set_visible(False)
    tab_ax.tick_params(axis="y", length=0, pad=8)
    return fig


def plot_sbc_ranks(result, *, title: str = "", ax=None):
    """Simulation-based calibration: the histogram of the ranks of each parameter's true value
    among the thinned posterior draws, in the result's bins, with the band holding 99% of a bin's
    count under uniformity (grey); a parameter the verdict fails is titled in red. ``ax``: one
    axes per parameter."""
    from scipy.stats import binom

    names = list(result.ranks.columns)
    fig, axes = _grid(len(names), ncols=4, ax=ax, what="plot_sbc_ranks")
    passed = dict(zip(result.table["parameter"], result.table["passed"], strict=True))
    edges = np.floor(np.linspace(0, result.n_draws + 1, result.bins + 1))
    for panel, name in zip(axes, names, strict=True):
        r = result.ranks[name].dropna().to_numpy()
        n = len(r)
        lo, hi = binom.ppf([0.005, 0.995], n, 1 / result.bins)
        panel.axhspan(lo, hi, color="grey", alpha=0.25, lw=0)
        panel.axhline(n / result.bins, color="black", lw=0.6, ls="--")
        panel.hist(r, bins=edges, color=_COLOURS[0], alpha=0.8)
        panel.set_title(name, fontsize=8, color="black" if passed.get(name, True) else "red")
        panel.tick_params(labelsize=7)
    return _titled(fig, title or f"SBC rank histograms ({len(result.ranks)} replications, "
                   f"L = {result.n_draws}; band: 99% under uniformity)", result.synthetic,
                   own=ax is None)


def plot_sbc_ecdf(result, *, title: str = "", ax=None):
    """Simulation-based calibration: the ECDF of each parameter's fractional ranks minus the
    uniform CDF, inside ArviZ's simultaneous 95% band (Säilynoja et al. 2022); a curve leaving
    the band shows ranks that are not uniform. ``ax``: one axes per parameter."""
    names = list(result.ranks.columns)
    fig, axes = _grid(len(names), ncols=4, ax=ax, what="plot_sbc_ecdf")
    passed = dict(zip(result.table["parameter"], result.table["passed"], strict=True))
    for panel, name in zip(axes, names, strict=True):
        b = result.bands.get(name)
        if b is None:  # fewer than 2 replications: no ECDF to draw
            panel.set_title(f"{name}: too few replications", fontsize=8)
            continue
        panel.fill_between(b["x"], b["lower"] - b["x"], b["upper"] - b["x"], step="post",
                           color="grey", alpha=0.3, lw=0)
        panel.step(b["x"], b["ecdf"] - b["x"], where="post", color=_COLOURS[0], lw=1.1)
        panel.axhline(0, color="black", lw=0.6)
        panel.set_title(name, fontsize=8, color="black" if passed.get(name, True) else "red")
        panel.tick_params(labelsize=7)
    return _titled(fig, title or "SBC: ECDF of fractional ranks minus uniform, simultaneous "
                   "95% band", result.synthetic, own=ax is None)


def plot_operating(result, *, title: str = "", ax=None):
    """Operating characteristics: against the true HR, the rate at which the posterior
    P(HR < 1) exceeds the threshold (solid) and the log-rank test's one-sided rejection rate at
    0.05 (dashed), one colour per between-centre SD, with ± 2 Monte Carlo SE bars; the
    threshold's nominal false-positive rate 1 - threshold is the dotted line. ``ax``: one
    axes."""
    fig, panel = _one_axes(ax, (6.0, 4.0), "plot_operating")
    t = result.table
    for i, (sd, g) in enumerate(t.groupby("true_sd", sort=True)):
        colour = _COLOURS[i % len(_COLOURS)]
        panel.errorbar(g["true_hr"], g["decision_rate"], yerr=2 * g["decision_rate_se"],
                       color=colour, marker="o", lw=1.4, capsize=2,
                       label=f"P(HR<1) > {result.threshold:g}, SD {sd:g}")
        panel.errorbar(g["true_hr"], g["logrank_one_sided_rate"],
                       yerr=2 * g["logrank_one_sided_rate_se"], color=colour, marker="s",
                       ls="--", lw=1.0, capsize=2, label=f"log-rank one-sided, SD {sd:g}")
    panel.axhline(1 - result.threshold, color="black", lw=0.6, ls=":")
    panel.axvline(1.0, color="grey", lw=0.6)
    panel.set_xlabel(f"true HR ({result.contrast})")
    panel.set_ylabel("rate")
    panel.set_ylim(-0.02, 1.02)
    panel.legend(fontsize=7)
    return _titled(fig, title or f"Operating characteristics of {result.model}",
                   result.synthetic, own=ax is None)


def plot_assurance(result, *, title: str = "", ax=None):
    """Assurance curve: against N, the probability (averaged over the fitted posterior) that a
    new study reaches P(HR < 1) > threshold, and the log-rank test's one-sided power averaged the
    same way (dashed), with ± 2 Monte Carlo SE bars. ``ax``: one axes."""
    fig, panel = _one_axes(ax, (6.0, 4.0), "plot_assurance")
    t = result.table
    for i, (k, g) in enumerate(t.groupby("n_centres", sort=True)):
        colour = _COLOURS[i % len(_COLOURS)]
        panel.errorbar(g["n_units"], g["assurance"], yerr=2 * g["assurance_se"], color=colour,
                       marker="o", capsize=2, label=f"assurance, {k} centres")
        panel.errorbar(g["n_units"], g["logrank_one_sided_power"],
                       yerr=2 * g["logrank_one_sided_power_se"], color=colour, marker="s",
                       ls="--", capsize=2, label=f"log-rank one-sided power, {k} centres")
    panel.set_xlabel("units in the new study (N)")
    panel.set_ylabel("probability")
    panel.set_ylim(-0.02, 1.02)
    panel.legend(fontsize=7)
    return _titled(fig, title or f"Assurance of P(HR < 1) > {result.threshold:g} "
                   f"({result.contrast})", result.synthetic, own=ax is None)

"""What the three study kinds share: seeds per task, the design's censoring, outcomes simulated
with a model's own likelihood, and the parameters of a fit named one by one. Every kind fits
with :class:`nen_bayes.bayes.refit.Refitter`: one compiled model per design, refitted to each
replication's outcomes.

Seeds. Task ``i`` of a study with seed ``s`` draws every random number from
``numpy.random.default_rng(task_seed(s, i))``, ``task_seed`` being the first word of
``SeedSequence([s, i])``: a task gives the same data and the same fit on any worker, in any
order.

Censoring of a design (:func:`censoring_times`). A unit censored in the design keeps its
follow-up time as its censoring time. A unit whose event was observed has an unobserved
censoring time known only to exceed its event time: it is drawn from the reverse Kaplan-Meier
estimate of the censoring distribution (censorings as events, events as censorings),
conditional on exceeding that unit's time; the mass the estimate leaves beyond the last
censoring time is put at the design's longest follow-up (administrative censoring there). Each
replication draws these anew, so a study replays the cohort's entry and loss to follow-up, not
one fixed set of censoring times.
"""

from __future__ import annotations

import itertools

import numpy as np

from nen_bayes.bayes import families
from nen_bayes.bayes.design import Design, make_design
from nen_bayes.bayes.inference import resolve_endpoint
from nen_bayes.bayes.model import group_var_names
from nen_bayes.bayes.outcomes import Outcomes, observe
from nen_bayes.bayes.spec import ModelSpec, in_time_unit
from nen_bayes.cohorts.cohort import Cohort
from nen_bayes.errors import BaselineError, ModelDataError
from nen_bayes.frequentist.logrank import logrank_test
from nen_bayes.settings import Contrast

__all__ = ["MIN_TIME", "censoring_times", "contrast_column", "design_for",
           "eta_of", "hr_row", "logrank_row", "parameter_draws", "parameter_names",
           "parameter_values", "posterior_of", "simulate_observed", "simulate_outcomes",
           "task_seed"]

#: Simulated event times are kept above this many time units (an event time that underflows to
#: 0 would have no log density); each row counts the times raised to it.
MIN_TIME = 1e-6


def task_seed(study_seed: int, task: int) -> int:
    """The seed of task ``task`` of a study seeded ``study_seed`` (a plain int)."""
    return int(np.random.SeedSequence([int(study_seed), int(task)]).generate_state(1)[0])


def design_for(spec: ModelSpec, cohort: Cohort, endpoint: str | None = None
               ) -> tuple[ModelSpec, Design, str]:
    """The spec in the cohort's time unit (as a fit converts it), its design and the endpoint."""
    endpoint = resolve_endpoint(spec, cohort, endpoint)
    spec, _ = in_time_unit(spec, cohort.schema.time_unit)
    return spec, make_design(spec, cohort, endpoint), endpoint


def _reverse_km(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct censoring times and the reverse Kaplan-Meier mass at each (at tied times
    events are taken as still at risk of censoring, the usual convention)."""
    cens = np.unique(time[event == 0])
    surv, mass = 1.0, np.empty(len(cens))
    for k, c in enumerate(cens):
        at_risk = np.sum(time >= c)
        h = np.sum((time == c) & (event == 0)) / at_risk
        mass[k] = surv * h
        surv *= 1.0 - h
    return cens, mass


def censoring_times(time: np.ndarray, event: np.ndarray, rng: np.random.Generator
                    ) -> np.ndarray:
    """A censoring time per unit of a design (module docstring): the follow-up time of a
    censored unit, a draw from the reverse Kaplan-Meier estimate beyond its time for a unit
    with an event (the longest follow-up where the estimate has no mass left)."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    out = time.copy()
    cens, mass = _reverse_km(time, event)
    longest = float(time.max())
    for i in np.flatnonzero(event == 1):
        beyond = cens > time[i]
        w = mass[beyond]
        rest = max(1.0 - float(mass[cens <= time[i]].sum()) - float(w.sum()), 0.0)
        p = np.append(w, rest)
        if p.sum() <= 0:
            out[i] = longest
            continue
        k = rng.choice(len(p), p=p / p.sum())
        out[i] = cens[beyond][k] if k < len(w) else longest
    return out


def eta_of(values: dict[str, np.ndarray], design: Design) -> np.ndarray:
    """The linear predictor (n,) of one parameter set: ``beta``, each group's ``u_<g>`` and,
    for a group with varying coefficients, ``u_<g>_varying`` (levels x columns).

    Raises :class:`~nen_bayes.errors.ModelDataError` when ``values`` lacks a group effect the
    design has (a simulation would otherwise leave it out silently)."""
    eta = np.zeros(design.n)
    if design.X.shape[1]:
        eta += design.X @ np.asarray(values["beta"], float)
    for g in design.groups:
        v = group_var_names(g.name)
        need = [v["u"]] + ([v["u_varying"]] if g.varying else [])
        missing = [k for k in need if k not in values]
        if missing:
            raise ModelDataError(f"the simulation's parameters have no {', '.join(missing)}, "
                                 f"which the model's group {g.name!r} needs")
        eta += np.asarray(values[v["u"]], float)[g.index]
        if g.varying:
            uv = np.asarray(values[v["u_varying"]], float)  # (levels, varying columns)
            eta += np.sum(design.X[:, list(g.varying)] * uv[g.index], axis=1)
    return eta


def _log_times(family: str, values: dict, design: Design, rng: np.random.Generator):
    """Log event times (n,) of one parameter set: the family's baseline, the full linear
    predictor (:func:`eta_of`), a time-varying effect and late entry, as the model has them.

    Raises :class:`~nen_bayes.errors.ModelDataError` when ``values`` lacks a parameter the
    model has (a time-varying effect's changes)."""
    fam = families.get_family(family)
    base = {k: np.asarray(values[k], float)[None] for k in fam.parameter_names}
    eta = eta_of(values, design)[None, :]
    if design.tv is None:
        return fam.log_random_times(fam.expand(base), eta, rng, design.cuts, design.entry)[0]
    name, _ = families.STRUCTURE_PARAMETERS[design.tv["effect"]]
    if name not in values:
        raise ModelDataError(f"the model's {design.tv['covariate']} effect changes with time "
                             f"({name}); the simulation's parameters do not say how, so it "
                             "cannot simulate the model it fits")
    base[name] = np.asarray(values[name], float)[None]
    return families.timevarying.tv_log_random_times(fam, base, eta, rng, design.tv,
                                                    design.entry)[0]


def simulate_observed(family: str, values: dict[str, np.ndarray], design: Design,
                      censor: np.ndarray, rng: np.random.Generator) -> tuple[Outcomes, int]:
    """Outcomes of the kinds the design has (:func:`nen_bayes.bayes.outcomes.observe`: right
    censoring at ``censor``, late entry, interval censoring by a schedule of assessments),
    from event times drawn with the model's own likelihood given ``values`` (one parameter
    set): (outcomes, number of event times raised to :data:`MIN_TIME`)."""
    return observe(_log_times(family, values, design, rng), censor, design, min_time=MIN_TIME)


def simulate_outcomes(family: str, values: dict[str, np.ndarray], design: Design,
                      censor: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """Event times drawn by inversion of the model's survival function given ``values`` (one
    parameter set) on ``design`` (late entry included: times given survival to entry),
    censored at ``censor``: (time, event, number of event times raised to :data:`MIN_TIME`).

    Raises :class:`~nen_bayes.errors.ModelDataError` for a design with interval-censored
    events (use :func:`simulate_observed`, which returns their bounds too)."""
    if design.upper is not None:
        raise ModelDataError("this design has interval-censored events: simulate_observed "
                             "returns their bounds; simulate_outcomes returns times only")
    out, raised = simulate_observed(family, values, design, censor, rng)
    return out.time, out.event, raised


def parameter_names(spec: ModelSpec, design: Design) -> list[str]:
    """Every parameter of the model one by one: ``beta[<coefficient>]``, the baseline
    (:meth:`~nen_bayes.bayes.families.Family.parameter_labels`: ``shape``, ``scale``,
    ``log_hazard[<k>]``), a time-varying effect's changes (``hr_change[<column>|<interval>]``,
    ``shape_change[<column>]``), and per group ``sd_<g>`` and ``u_<g>[<level>]`` (each group's
    effect, the quantity the model's ``z`` or ``u`` parameterises) and, with varying
    coefficients, ``sd_<g>_varying[<column>]`` and ``u_<g>_varying[<level>|<column>]``."""
    names = [f"beta[{c}]" for c in design.coefficients]
    names += families.get_family(spec.family).parameter_labels(design.cuts)
    if design.tv is not None:
        name, dims = families.STRUCTURE_PARAMETERS[design.tv["effect"]]
        coords = design.coords()
        labels = [coords[d] for d in dims]
        names += [f"{name}[{'|'.join(map(str, combo))}]"
                  for combo in itertools.product(*labels)]
    for g in design.groups:
        v = group_var_names(g.name)
        names.append(v["sd"])
        names += [f"{v['u']}[{lv}]" for lv in g.levels]
        if g.varying:
            cols = [design.coefficients[j] for j in g.varying]
            names += [f"{v['sd_varying']}[{c}]" for c in cols]
            names += [f"{v['u_varying']}[{lv}|{c}]" for lv in g.levels for c in cols]
    return names


def _split(name: str) -> tuple[str, str | None]:
    if name.endswith("]"):
        var, rest = name.split("[", 1)
        return var, rest[:-1]
    return name, None


def parameter_draws(ds, names: list[str]) -> dict[str, np.ndarray]:
    """The draws (chain, draw) of each named parameter (:func:`parameter_names`) of a posterior
    or prior dataset: a label is a coordinate of the variable's dim (``|`` between the labels
    of several dims), or the position along a baseline's ``interval`` dim."""
    out = {}
    for name in names:
        var, label = _split(name)
        da = ds[var]
        if label is not None:
            dims = [d for d in da.dims if d not in ("chain", "draw")]
            parts = label.split("|") if len(dims) > 1 else [label]
            for dim, part in zip(dims, parts, strict=True):
                coords = [str(c) for c in da[dim].values]
                da = (da.isel({dim: coords.index(part)}) if part in coords
                      else da.isel({dim: int(part)}))
        out[name] = da.transpose("chain", "draw").to_numpy()
    return out


def parameter_values(ds, names: list[str]) -> dict[str, float]:
    """The value of each named parameter in a dataset of one draw (a prior draw: the truth)."""
    return {k: float(v.ravel()[0]) for k, v in parameter_draws(ds, names).items()}


def contrast_column(design: Design, contrast: Contrast) -> tuple[int, int]:
    """The design column of ``contrast`` (``level`` vs ``versus`` of a factor, one of them the
    reference) and the sign that turns its coefficient into the contrast's log HR.

    Raises :class:`~nen_bayes.errors.ModelDataError` when the model has no such coefficient."""
    names = list(design.coefficients)
    for level, sign in ((contrast.level, 1), (contrast.versus, -1)):
        name = f"{contrast.term}[{level}]"
        if name in names:
            return names.index(name), sign
    raise ModelDataError(f"the contrast {contrast.describe()} is not a coefficient of the "
                         f"model; its coefficients are {names} (one of the two levels must be "
                         "the model's reference)")


def posterior_of(tree):
    """The posterior group of a fit's DataTree as a Dataset."""
    post = tree["posterior"]
    return post.dataset if hasattr(post, "dataset") else post


def hr_row(hr: np.ndarray, true_hr: float, threshold: float) -> dict:
    """What a study records of one fit's HR draws against the true HR: P(HR < 1), whether it
    exceeds ``threshold``, the posterior median, whether the central 90% and 95% intervals
    cover the truth, and the error of the posterior median on the log scale."""
    hr = np.asarray(hr, float).ravel()
    p = float(np.mean(hr < 1.0))
    q = np.quantile(hr, [0.025, 0.05, 0.5, 0.95, 0.975])
    return {"p_hr_below_1": p, "decision": int(p > threshold), "hr_median": float(q[2]),
            "covered_90": int(q[1] <= true_hr <= q[3]),
            "covered_95": int(q[0] <= true_hr <= q[4]),
            "log_hr_error": float(np.log(q[2]) - np.log(true_hr))}


def logrank_row(time, event, labels, contrast: Contrast) -> dict:
    """The log-rank test of ``contrast.level`` against ``contrast.versus`` on the units holding
    either: the two-sided p-value, rejection at 0.05, and the one-sided rejection at 0.05 in
    favour of the level (fewer deaths than expected in it), the counterpart of the posterior's
    one-sided P(HR < 1)."""
    labels = np.asarray(labels, dtype=object).astype(str)
    keep = np.isin(labels, [contrast.level, contrast.versus])
    try:
        r = logrank_test(np.asarray(time)[keep], np.asarray(event)[keep], labels[keep],
                         levels=[contrast.level, contrast.versus], name=contrast.term)
    except BaselineError:  # no events, or one group empty: no test, recorded as such
        return {"logrank_p": np.nan, "logrank_reject": 0, "logrank_reject_one_sided": 0}
    row = r.table[r.table["level"].astype(str) == contrast.level].iloc[0]
    fewer = bool(row["observed"] < row["expected"])
    return {"logrank_p": float(r.p_value), "logrank_reject": int(r.p_value < 0.05),
            "logrank_reject_one_sided": int(fewer and r.p_value < 0.10)}

"""Power-scaling prior and likelihood sensitivity (Kallioinen et al. 2023) of a stored fit.

How much each posterior changes when the prior, or the likelihood, is raised to a power near 1,
computed by ArviZ. It needs the ``log_prior`` and ``log_likelihood`` groups that
:func:`nen_bayes.bayes.inference.fit` stores. Only the top-level priors are scaled (coefficients,
baseline, group SDs), not the standardised group effects, as recommended for hierarchical models.
When the coefficients' priors differ in distribution, ``beta`` is a stack of one variable per
covariate (``beta_<column>``); every one of their priors is scaled.
"""

from __future__ import annotations

import contextlib
import io
import logging

import pandas as pd

__all__ = ["power_scaling", "prior_var_names"]


def prior_var_names(tree, names) -> list[str]:
    """The variables of the ``log_prior`` group whose priors are scaled for ``names``: a name
    stored there itself, or, for a deterministic stack of per-column variables (``beta`` built
    from ``beta_<column>`` when the coefficients' prior distributions differ), every
    ``<name>_<column>`` of the group. Each coefficient's prior is thus scaled, whatever its
    distribution. A group SD whose prior is on the precision (``precision_<group>``) scales
    that prior, as written."""
    stored = [str(v) for v in tree["log_prior"].dataset.data_vars]
    out = []
    for n in names:
        if n not in stored and n.startswith("sd_") and f"precision_{n[3:]}" in stored:
            out.append(f"precision_{n[3:]}")  # the group's prior is on its precision
            continue
        out += [n] if n in stored else [v for v in stored if v.startswith(f"{n}_")]
    return list(dict.fromkeys(out))


def power_scaling(tree, names, *, threshold: float = 0.05) -> pd.DataFrame:
    """Power-scaling prior and likelihood sensitivity (cumulative Jensen-Shannon distance) of
    every top-level parameter, with ArviZ's diagnosis ("potential prior-data conflict",
    "potential strong prior / weak likelihood", or "-" when both are below ``threshold``).

    ``names`` are the parameters to scale (the top-level ones:
    :func:`nen_bayes.posterior.diagnostics.key_parameters`).

    Raises ``ValueError`` when the fit lacks the ``log_prior`` or ``log_likelihood`` group.
    """
    import arviz_stats as azs

    missing = [g for g in ("log_prior", "log_likelihood") if g not in tree.children]
    if missing:
        raise ValueError(f"power-scaling needs the group(s) {missing}; refit with this "
                         "version of nen-bayes (fit() stores them)")
    names = list(names)
    prior_names = prior_var_names(tree, names)
    log = logging.getLogger("arviz_stats.psense")
    level = log.level
    log.setLevel(logging.ERROR)  # ArviZ logs a pointer to its docs when it flags a parameter
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            out = azs.psense_summary(tree, var_names=names, threshold=threshold,
                                     prior_var_names=prior_names, round_to=6)
    finally:
        log.setLevel(level)
    out = out.reset_index().rename(columns={"index": "parameter"})
    out["diagnosis"] = out["diagnosis"].replace({"✓": "-"})
    return out

"""The study's published p-values next to the ones reproduced on a cohort.

The published values are read from the ``[targets]`` section of the calibration file (keys
``p_<factor>_<endpoint>``), the single place where the study's figures are written down. Every
factor x endpoint combination is listed; combinations the study does not report say so.
"""

from __future__ import annotations

import pandas as pd

from nen_bayes.formatting import format_p
from nen_bayes.frequentist.baselines import BaselineReport
from nen_bayes.provenance import SYNTHETIC_NOTICE
from nen_bayes.re_nen.simulate import load_calibration

__all__ = ["published_p_values", "study_markdown", "study_table", "study_text"]

#: Short names used in the calibration keys -> contract factor names.
_ALIASES = {"burden": "tumour_burden"}


def published_p_values(calibration: dict | None = None) -> dict[tuple[str, str], dict]:
    """``(factor, endpoint) -> {"value", "bound", "text"}`` for every published p-value."""
    cal = load_calibration() if calibration is None else calibration
    out = {}
    for key, spec in cal.get("targets", {}).items():
        if not (key.startswith("p_") and isinstance(spec, dict)):
            continue
        factor, endpoint = key[2:].rsplit("_", 1)
        factor = _ALIASES.get(factor, factor)
        bound = spec.get("bound")
        text = f"< {format_p(spec['value'])}" if bound == "upper" else format_p(spec["value"])
        out[(factor, endpoint)] = {"value": float(spec["value"]), "bound": bound, "text": text}
    return out


def study_table(reports: list[BaselineReport], calibration: dict | None = None
                ) -> pd.DataFrame:
    """One row per factor and endpoint: published p (or 'not published') and reproduced p's.

    ``reproduced_p`` is the unstratified log-rank p-value (the study's test); the stratified and
    trend p-values and the univariable Cox p-value stand beside it.
    """
    pub = published_p_values(calibration)
    rows = []
    for rep in reports:
        for f in rep.factors:
            p = pub.get((f, rep.endpoint))
            lr = rep.logrank[f]
            strat = rep.logrank_stratified.get(f)
            cox = rep.cox_univariable.get(f)
            consistent = None
            if p is not None:
                if p["bound"] == "upper":
                    consistent = (lr.p_value < 0.05) == (p["value"] <= 0.05)
                else:
                    consistent = (lr.p_value < 0.05) == (p["value"] < 0.05)
            rows.append({
                "endpoint": rep.endpoint,
                "factor": f,
                "published_p": p["text"] if p else "not published",
                "reproduced_p": lr.p_value,
                "test": f"{lr.method}, {lr.df} df",
                "trend_p": lr.trend_p_value,
                "stratified_p": strat.p_value if strat else None,
                "cox_min_p": float(cox.table["p"].min()) if cox is not None else None,
                "same_side_of_0.05": consistent,
                "synthetic": rep.synthetic,
            })
    return pd.DataFrame(rows)


def study_markdown(table: pd.DataFrame) -> str:
    """The study table as Markdown: endpoint, factor, published p, reproduced log-rank p,
    trend p, centre-stratified p."""
    lines = ["| endpoint | factor | published p | log-rank p | trend p | stratified by centre p |",
             "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['endpoint']} | {r['factor']} | {r['published_p']} | "
                     f"{format_p(r['reproduced_p'])} | {format_p(r['trend_p'])} | "
                     f"{format_p(r['stratified_p'])} |")
    return "\n".join(lines) + "\n"


def study_text(table: pd.DataFrame) -> str:
    """The published and reproduced log-rank p-values as plain text (the synthetic notice
    after them when the reproduced ones come from a synthetic cohort)."""
    shown = table[["endpoint", "factor", "published_p", "reproduced_p"]].copy()
    shown["reproduced_p"] = shown["reproduced_p"].map(format_p)
    text = "Published vs reproduced log-rank p-values\n" + shown.to_string(index=False) + "\n"
    if table["synthetic"].any():
        text += SYNTHETIC_NOTICE + "\n"
    return text

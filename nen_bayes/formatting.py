"""One way to write numbers in text, tables and reports.

P-values and probabilities follow R's ``format.pval(eps = 0.001)`` convention at three decimals:
values below 0.001 are written ``<0.001`` and values above 0.999 ``>0.999``, never ``0.000`` or
``1.000`` (a posterior probability is never exactly 0 or 1 from finite draws, and a p-value never
is). Missing values are written as an empty string (tables) or ``n/a`` (sentences).
"""

from __future__ import annotations

import math

__all__ = ["format_equals", "format_interval", "format_p", "format_prob"]


def _is_missing(value) -> bool:
    try:
        return value is None or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def format_prob(value, *, missing: str = "") -> str:
    """A probability or p-value: ``<0.001``, ``>0.999`` or three decimals.

    Examples
    --------
    >>> format_prob(0.0835)
    '0.084'
    >>> format_prob(0.0004), format_prob(0.9996)
    ('<0.001', '>0.999')
    >>> format_prob(float("nan")), format_prob(None, missing="n/a")
    ('', 'n/a')
    """
    if _is_missing(value):
        return missing
    v = float(value)
    if v < 1e-3:
        return "<0.001"
    if v > 0.999:
        return ">0.999"
    return f"{v:.3f}"


def format_p(value, *, missing: str = "") -> str:
    """A p-value, with the same convention as :func:`format_prob`.

    Examples
    --------
    >>> format_p(0.078)
    '0.078'
    >>> format_p(1e-9)
    '<0.001'
    """
    return format_prob(value, missing=missing)


def format_interval(estimate, lower, upper, *, digits: int = 2, kind: str = "95% CrI") -> str:
    """``0.74 (95% CrI 0.53-1.02)``.

    Examples
    --------
    >>> format_interval(0.7912, 0.6053, 1.0421)
    '0.79 (95% CrI 0.61-1.04)'
    >>> format_interval(0.80, 0.61, 1.03, kind="95% CI")
    '0.80 (95% CI 0.61-1.03)'
    """
    f = f"{{:.{digits}f}}"
    return f"{f.format(estimate)} ({kind} {f.format(lower)}-{f.format(upper)})"


def format_equals(value, *, missing: str = "n/a") -> str:
    """The relation and the value, for sentences: ``= 0.084``, ``< 0.001`` or ``> 0.999``
    (``P(HR < 1) > 0.999`` reads as it means; ``= >0.999`` would not).

    Examples
    --------
    >>> format_equals(0.084)
    '= 0.084'
    >>> format_equals(0.0002), format_equals(0.9999)
    ('< 0.001', '> 0.999')
    >>> format_equals(None)
    '= n/a'
    """
    text = format_prob(value, missing="")
    if not text:
        return f"= {missing}"
    return f"{text[0]} {text[1:]}" if text[0] in "<>" else f"= {text}"

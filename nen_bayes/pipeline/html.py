"""A self-contained HTML report: one file, no external resources (CSS inline, figures embedded
as base64 PNG), so it opens in any browser from disk and can be mailed or archived as is.

A report is a list of :class:`Section` objects, each holding blocks in order: paragraphs,
tables (pandas DataFrames), figures (from :mod:`nen_bayes.plotting`, or PNG bytes) and
preformatted text. Sections marked ``lead`` (the answer) come first, in a box, above the table
of contents. Every table scrolls inside its own box when it is wider than the page.
All text is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["REPORT_DPI", "Section", "png_bytes", "render_html"]

#: Resolution of the figures embedded in the report.
REPORT_DPI = 110

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;
     max-width:1180px;margin:2em auto;padding:0 1.2em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #1b6ca8;padding-bottom:.2em;
     margin-top:2em} h3{margin-top:1.4em;color:#333}
.notice{background:#fff3cd;border:1px solid #e0c36a;padding:.7em 1em;border-radius:6px;
     font-weight:600}
.pass{color:#2e7d32;font-weight:600} .fail{color:#c62828;font-weight:600}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #d0d7de;padding:.25em .55em;text-align:right;vertical-align:top}
th{background:#f0f4f8} td:first-child,th:first-child{text-align:left}
tr:nth-child(even) td{background:#fafbfc}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #e5e5e5}
figcaption{font-size:.85em;color:#555}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.82em;border-radius:4px}
nav ul{columns:2;font-size:.92em} .small{font-size:.85em;color:#555}
.scroll{overflow-x:auto;max-width:100%} .scroll table{margin:.6em 0 1.2em}
.answer{border:2px solid #1b6ca8;border-radius:8px;background:#f3f8fc;padding:.2em 1.2em .8em;
     margin:1.2em 0 1.6em}
.answer h2{border-bottom:none;margin-top:.5em} .answer table{font-size:.95em;background:#fff}
.answer td,.answer th{padding:.35em .7em} .answer td:first-child{font-weight:600}
.answer th[colspan]{text-align:center;background:#e1ecf5}
.answer th.blank{background:#f3f8fc;border:none}
.answer p{margin:.5em 0} .answer p.sentence{font-size:1.08em}
"""


@dataclass
class Section:
    """A titled part of the report; ``blocks`` are ``(kind, content, caption)`` triples."""

    title: str
    level: int = 2
    blocks: list = field(default_factory=list)
    lead: bool = False          # the answer: boxed, above the table of contents

    def text(self, s: str, *, css: str = "") -> Section:
        """A paragraph; ``css`` is its class (``"sentence"``, ``"small"``)."""
        self.blocks.append(("p", s, css))
        return self

    def html(self, s: str) -> Section:
        """Trusted HTML built by this package (status marks); never user text."""
        self.blocks.append(("html", s, ""))
        return self

    def table(self, df: pd.DataFrame, caption: str = "", *, floatfmt: str = "{:.3g}",
              groups: list[tuple[str, int]] | None = None) -> Section:
        """A table; ``groups`` adds a header row above the column names: ``(label, number of
        columns it spans)`` from the left."""
        self.blocks.append(("table", (df, floatfmt, groups), caption))
        return self

    def figure(self, fig, caption: str = "") -> Section:
        self.blocks.append(("figure", fig, caption))
        return self

    def pre(self, s: str) -> Section:
        self.blocks.append(("pre", s, ""))
        return self


def png_bytes(fig) -> bytes:
    """A figure as the PNG the report embeds (PNG bytes are passed through)."""
    if isinstance(fig, bytes | bytearray):
        return bytes(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=REPORT_DPI)
    return buf.getvalue()


def _table(df: pd.DataFrame, floatfmt: str, groups: list[tuple[str, int]] | None = None
           ) -> str:
    def cell(v):
        if isinstance(v, float):
            return "" if pd.isna(v) else floatfmt.format(v)
        return "" if v is None else html.escape(str(v))

    top = ""
    if groups:
        top = "<tr>" + "".join(f'<th colspan="{int(n)}" class="blank"></th>' if not label
                               else f'<th colspan="{int(n)}">{html.escape(label)}</th>'
                               for label, n in groups) + "</tr>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return (f'<div class="scroll"><table><thead>{top}<tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def _anchor(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


def _section(s: Section) -> list[str]:
    out = [f'<h{s.level} id="{_anchor(s.title)}">{html.escape(s.title)}</h{s.level}>']
    for kind, content, caption in s.blocks:
        if kind == "p":
            css = f' class="{html.escape(caption)}"' if caption else ""
            out.append(f"<p{css}>{html.escape(content)}</p>")
        elif kind == "html":
            out.append(content)
        elif kind == "pre":
            out.append(f"<pre>{html.escape(content)}</pre>")
        elif kind == "table":
            if caption:
                out.append(f'<p class="small">{html.escape(caption)}</p>')
            out.append(_table(*content))
        elif kind == "figure":
            data = base64.b64encode(png_bytes(content)).decode("ascii")
            cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
            out.append(f'<figure><img alt="{html.escape(caption or s.title)}" '
                       f'src="data:image/png;base64,{data}">{cap}</figure>')
    return out


def render_html(title: str, sections: list[Section], *, notice: str = "",
                subtitle: str = "") -> str:
    """The whole report as one HTML string."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        out.append(f'<p class="small">{html.escape(subtitle)}</p>')
    if notice:
        out.append(f'<p class="notice">{html.escape(notice)}</p>')
    for s in sections:
        if s.lead:
            out += ['<div class="answer">', *_section(s), "</div>"]
    toc = "".join(f'<li><a href="#{_anchor(s.title)}">{html.escape(s.title)}</a></li>'
                  for s in sections if s.level == 2 and not s.lead)
    out.append(f"<nav><ul>{toc}</ul></nav>")
    for s in sections:
        if not s.lead:
            out += _section(s)
    if notice:
        out.append(f'<p class="notice">{html.escape(notice)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"

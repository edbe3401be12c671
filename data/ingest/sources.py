"""Finding the input directory's table files and reading them in chunks of text.

Every value is read as a string ("" for an empty field) so that validation, not the
reader, decides what a value means, and so that a rejected row can be written back
exactly as it was given.

Line numbers
------------
For CSV, a row's line is the physical line it starts on, the header being line 1; a
quoted value spanning lines pushes later rows down accordingly, and blank lines are
counted (and otherwise skipped). For Parquet, which has no lines, the "line" is the
1-based row number plus one, so that the first row is line 2 as in a CSV file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from data.contract import TABLES, TABLES_BY_NAME, Table
from data.ingest.problems import file_problem
from data.problems import WHOLE_FILE, Problem

SUFFIXES: dict[str, Literal["csv", "parquet"]] = {".csv": "csv", ".parquet": "parquet"}
_CSV_ENCODING = "utf-8-sig"  # tolerate the byte-order mark spreadsheet programs write


class FileProblemError(Exception):
    """A file cannot be read any further; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class TableFile:
    """One contract table's file in the input directory."""

    table: Table
    path: Path
    format: Literal["csv", "parquet"]

    @property
    def name(self) -> str:
        """The file's name, as problems cite it."""
        return self.path.name


@dataclass
class Discovery:
    """What the input directory holds: table files in load order, problems, ignored files."""

    files: list[TableFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def discover(directory: Path) -> Discovery:
    """Match the files of ``directory`` to the contract's tables.

    A required table without a file, a table given twice (CSV and Parquet) and a
    ``.csv``/``.parquet`` file naming no table are problems: the last is most likely a
    misspelt table that would otherwise be skipped without a word. Other files (a
    README, say) are ignored and listed.
    """
    found = Discovery()
    if not directory.is_dir():
        found.problems.append(file_problem(str(directory), None, WHOLE_FILE, "not a directory"))
        return found
    by_table: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in SUFFIXES:
            found.ignored.append(path.name)
            continue
        if path.stem not in TABLES_BY_NAME:
            expected = ", ".join(table.name for table in TABLES)
            found.problems.append(
                file_problem(
                    path.name,
                    None,
                    WHOLE_FILE,
                    f"unknown table {path.stem!r} (expected one of {expected})",
                )
            )
            continue
        by_table.setdefault(path.stem, []).append(path)
    for table in TABLES:
        paths = by_table.get(table.name, [])
        if not paths:
            if not table.optional:
                found.problems.append(
                    file_problem(
                        f"{table.name}.csv",
                        None,
                        WHOLE_FILE,
                        f"required file is missing: neither {table.name}.csv nor "
                        f"{table.name}.parquet is in {directory}",
                    )
                )
            continue
        if len(paths) > 1:
            names = " and ".join(path.name for path in paths)
            found.problems.append(
                file_problem(
                    paths[0].name, None, WHOLE_FILE, f"{names} both hold {table.name}; keep one"
                )
            )
            continue
        path = paths[0]
        found.files.append(TableFile(table, path, SUFFIXES[path.suffix.lower()]))
    return found


def read_header(table_file: TableFile) -> list[str]:
    """The file's column names (surrounding spaces removed); raises FileProblemError."""
    if table_file.format == "csv":
        return _csv_header(table_file)
    try:
        return [name.strip() for name in pq.ParquetFile(table_file.path).schema_arrow.names]
    except (pa.ArrowException, OSError) as error:
        raise FileProblemError(
            file_problem(table_file.name, None, WHOLE_FILE, f"cannot be read: {_first_line(error)}")
        ) from None


@dataclass
class RawChunk:
    """Consecutive rows of one file, every value a string, with their line numbers."""

    frame: pd.DataFrame
    lines: np.ndarray


def iter_chunks(
    table_file: TableFile,
    chunk_rows: int,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[RawChunk]:
    """Stream ``table_file`` as text chunks of at most ``chunk_rows`` rows.

    ``on_progress`` receives bytes read (CSV) or rows read (Parquet) since its last call.
    Raises FileProblemError when the file turns out to be malformed part-way through.
    """
    if table_file.format == "parquet":
        yield from _parquet_chunks(table_file, chunk_rows, on_progress)
    else:
        yield from _csv_chunks(table_file, chunk_rows, on_progress)


def progress_total(table_file: TableFile) -> int:
    """The unit ``iter_chunks`` reports progress in: bytes for CSV, rows for Parquet."""
    if table_file.format == "parquet":
        return int(pq.ParquetFile(table_file.path).metadata.num_rows)
    return table_file.path.stat().st_size


def _csv_chunks(
    table_file: TableFile, chunk_rows: int, on_progress: Callable[[int], None] | None
) -> Iterator[RawChunk]:
    header = _csv_header(table_file)
    # Columns are named by position for the parser (a header may repeat a name or carry
    # spaces) and renamed after; every column is text and an empty field stays "".
    positional = [f"field_{index}" for index in range(len(header))]
    read_options = pa_csv.ReadOptions(column_names=positional, skip_rows=1, block_size=1 << 22)
    parse_options = pa_csv.ParseOptions(
        newlines_in_values=True,  # quoted values may span lines
        ignore_empty_lines=False,  # blank lines stay (empty) rows, so lines stay physical
    )
    convert_options = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(positional, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    next_line = 2  # the header is line 1
    position = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def emit() -> RawChunk:
        # At most chunk_rows rows; the rest stays pending (slices share memory).
        nonlocal next_line, pending, pending_rows
        table = pa.Table.from_batches(pending)
        rest = table.slice(chunk_rows)
        table = table.slice(0, chunk_rows).rename_columns(header)
        pending, pending_rows = rest.to_batches(), rest.num_rows
        lines, next_line = _physical_lines(table, next_line)
        frame = pd.DataFrame(
            {
                name: pd.Series(table.column(index).to_pandas(), dtype="str")
                for index, name in enumerate(header)
            }
        )
        return RawChunk(frame, lines)

    with table_file.path.open("rb") as handle:
        try:
            reader = pa_csv.open_csv(
                handle,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            for batch in reader:
                pending.append(batch)
                pending_rows += batch.num_rows
                while pending_rows >= chunk_rows:
                    yield emit()
                if on_progress is not None:
                    now = _tell(handle)
                    on_progress(now - position)
                    position = now
        except pa.ArrowInvalid as error:
            raise _csv_problem(table_file, error, len(header)) from None
        while pending_rows:
            yield emit()
        if on_progress is not None:
            on_progress(table_file.path.stat().st_size - position)


def _csv_header(table_file: TableFile) -> list[str]:
    with table_file.path.open(encoding=_CSV_ENCODING, newline="") as text:
        try:
            first = next(csv.reader(_bounded_lines(text)), None)
        except UnicodeDecodeError:
            # The text layer decodes a block at a time, so the bad byte may lie on a
            # later line than the header; name where it really is.
            raise _not_utf8(table_file) from None
        except (csv.Error, _LineTooLongError) as error:
            raise FileProblemError(
                file_problem(table_file.name, 1, WHOLE_FILE, f"header cannot be read: {error}")
            ) from None
    if not first:
        raise FileProblemError(
            file_problem(table_file.name, None, WHOLE_FILE, "file is empty (no header row)")
        )
    return [name.strip() for name in first]


def _tell(handle: BinaryIO) -> int:
    try:
        return handle.tell()
    except OSError:  # pragma: no cover - a pipe; progress is cosmetic
        return 0


def _physical_lines(table: pa.Table, first_line: int) -> tuple[np.ndarray, int]:
    # A quoted value holding newlines makes its row span several lines; count them so
    # that every later row is cited at the line an editor shows.
    extra = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        if pc.any(pc.match_substring(column, "\n")).as_py():
            extra += pc.count_substring(column, "\n").to_numpy().astype(np.int64)
    starts = np.arange(table.num_rows, dtype=np.int64) + first_line
    starts[1:] += np.cumsum(extra)[:-1]
    following = first_line + table.num_rows + int(extra.sum())
    return starts, following


def _csv_problem(table_file: TableFile, error: Exception, fields: int) -> FileProblemError:
    message = _first_line(error)
    if "UTF8" in message or "UTF-8" in message:
        return _not_utf8(table_file)
    malformed = _first_malformed_row(table_file, fields)
    if malformed is not None:
        line, reason = malformed
        return FileProblemError(file_problem(table_file.name, line, WHOLE_FILE, reason))
    return FileProblemError(
        file_problem(table_file.name, None, WHOLE_FILE, f"cannot be read: {message}")
    )


#: A physical line longer than this is reported rather than read whole: no contract row
#: comes near it, and reading an unbounded line would hold the whole file in memory.
MAX_LINE_CHARACTERS = 1 << 20


class _LineTooLongError(Exception):
    """A physical line longer than ``MAX_LINE_CHARACTERS``."""


def _bounded_lines(text: TextIO) -> Iterator[str]:
    """The lines of ``text``, refusing (not reading whole) a line of absurd length."""
    while line := text.readline(MAX_LINE_CHARACTERS + 1):
        if len(line) > MAX_LINE_CHARACTERS:
            raise _LineTooLongError(f"a line longer than {MAX_LINE_CHARACTERS:,} characters")
        yield line


def _first_malformed_row(table_file: TableFile, fields: int) -> tuple[int, str] | None:
    """The line where the first row that cannot be parsed starts, and why.

    The fast parser says that a row is malformed, not where; this slow scan runs only
    then, to name the line. Python's reader keeps its 131,072-character field limit (a
    quote left open would otherwise gather the rest of the file into one value); hitting
    it, like a row spanning lines that has the wrong field count, points at that quote.
    """
    limit = csv.field_size_limit()
    with table_file.path.open(encoding=_CSV_ENCODING, newline="", errors="replace") as text:
        reader = csv.reader(_bounded_lines(text))
        start = 1
        try:
            next(reader, None)
            start = reader.line_num + 1
            for row in reader:
                if row and len(row) != fields:
                    found = f"expected {fields} fields, found {len(row)}"
                    if reader.line_num > start:
                        found += (
                            f" (the row runs on to line {reader.line_num}: is a quote left "
                            "open?)"
                        )
                    return start, found
                start = reader.line_num + 1
        except csv.Error as error:
            if "field limit" in str(error):
                return start, (
                    f"a value in the row starting here runs past {limit:,} characters "
                    "(is a quote left open?)"
                )
            return start, f"not valid CSV: {error}"
        except _LineTooLongError as error:
            return reader.line_num + 1, str(error)
    return None


def _not_utf8(table_file: TableFile) -> FileProblemError:
    """The problem of a file that is not UTF-8, at its first undecodable byte."""
    found = first_undecodable_byte(table_file.path)
    if found is None:  # pragma: no cover - the reader saw a bad byte that a rescan does not
        return FileProblemError(file_problem(table_file.name, None, WHOLE_FILE, "not UTF-8 text"))
    line, offset, byte = found
    return FileProblemError(
        file_problem(
            table_file.name,
            line,
            WHOLE_FILE,
            f"not UTF-8 text: byte 0x{byte:02X} at byte offset {offset:,} cannot be decoded "
            "(the whole file is rejected; save it as UTF-8)",
        )
    )


def first_undecodable_byte(path: Path, block_bytes: int = 1 << 20) -> tuple[int, int, int] | None:
    """The line, byte offset (from 0) and value of the first byte that is not UTF-8.

    Reads ``path`` in blocks, so memory stays flat; None when the whole file decodes.
    """
    offset = 0  # of the block's start in the file
    line = 1
    carry = b""
    with path.open("rb") as handle:
        while True:
            data = handle.read(block_bytes)
            block = carry + data
            if not block:
                return None
            try:
                block.decode("utf-8")
                good = len(block)
            except UnicodeDecodeError as error:
                if error.reason != "unexpected end of data" or not data:
                    line += block.count(b"\n", 0, error.start)
                    return line, offset + error.start, block[error.start]
                good = error.start  # a character cut by the block's end: read on
            carry = block[good:]
            line += block.count(b"\n", 0, good)
            offset += good


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _parquet_chunks(
    table_file: TableFile, chunk_rows: int, on_progress: Callable[[int], None] | None
) -> Iterator[RawChunk]:
    next_line = 2
    try:
        parquet = pq.ParquetFile(table_file.path)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = pd.DataFrame(
                {
                    name.strip(): _as_text(batch.column(index))
                    for index, name in enumerate(batch.schema.names)
                }
            )
            lines = np.arange(next_line, next_line + len(frame), dtype=np.int64)
            next_line += len(frame)
            yield RawChunk(frame, lines)
            if on_progress is not None:
                on_progress(len(frame))
    except pa.ArrowException as error:
        raise FileProblemError(
            file_problem(table_file.name, None, WHOLE_FILE, f"cannot be read: {_first_line(error)}")
        ) from None


def _as_text(array: pa.Array) -> pd.Series:
    """A Parquet column as the text a CSV file would hold ("" for null)."""
    kind = array.type
    if pa.types.is_timestamp(kind):
        # Midnight timestamps are how pandas writes dates; anything else keeps its time
        # of day so that validation rejects it instead of silently dropping the time.
        text = pc.strftime(array, format="%Y-%m-%dT%H:%M:%S")
        text = pc.replace_substring_regex(text, pattern="T00:00:00$", replacement="")
    elif pa.types.is_floating(kind):
        # An integer column with nulls comes back from pandas as float; 12.0 means 12.
        text = pc.cast(array, pa.string())
        text = pc.replace_substring_regex(text, pattern=r"\.0$", replacement="")
    elif pa.types.is_dictionary(kind):
        text = pc.cast(array.dictionary_decode(), pa.string())
    else:
        text = pc.cast(array, pa.string())
    filled = pc.fill_null(text, "")
    return pd.Series(filled.to_pandas(types_mapper=pd.ArrowDtype), dtype="str")

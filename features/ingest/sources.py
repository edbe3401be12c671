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

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.contract import TABLES, TABLES_BY_NAME, Table
from features.ingest.problems import WHOLE_FILE, Problem, file_problem

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
    try:
        if table_file.format == "parquet":
            return [name.strip() for name in pq.ParquetFile(table_file.path).schema_arrow.names]
        header = pd.read_csv(
            table_file.path, nrows=0, dtype=str, encoding=_CSV_ENCODING, na_filter=False
        )
    except pd.errors.EmptyDataError:
        raise FileProblemError(
            file_problem(table_file.name, None, WHOLE_FILE, "file is empty (no header row)")
        ) from None
    except (UnicodeDecodeError, pd.errors.ParserError, pa.ArrowException, OSError) as error:
        raise FileProblemError(
            file_problem(table_file.name, None, WHOLE_FILE, f"cannot be read: {_first_line(error)}")
        ) from None
    return [str(name).strip() for name in header.columns]


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


_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _csv_chunks(
    table_file: TableFile, chunk_rows: int, on_progress: Callable[[int], None] | None
) -> Iterator[RawChunk]:
    next_line = 2  # the header is line 1
    with table_file.path.open("rb") as handle:
        reader = pd.read_csv(
            handle,
            chunksize=chunk_rows,
            dtype=str,
            na_filter=False,  # an empty field stays "", and nothing else is taken for null
            skip_blank_lines=False,  # blank lines stay rows, so line numbers stay physical
            encoding=_CSV_ENCODING,
        )
        position = 0
        with reader:
            while True:
                try:
                    frame = next(reader)
                except StopIteration:
                    break
                except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as error:
                    raise _csv_problem(table_file, error) from None
                frame.columns = [str(name).strip() for name in frame.columns]
                lines, next_line = _physical_lines(frame, next_line)
                yield RawChunk(frame.reset_index(drop=True), lines)
                if on_progress is not None:
                    now = _tell(handle)
                    on_progress(now - position)
                    position = now


def _tell(handle: BinaryIO) -> int:
    try:
        return handle.tell()
    except OSError:  # pragma: no cover - a pipe; progress is cosmetic
        return 0


def _physical_lines(frame: pd.DataFrame, first_line: int) -> tuple[np.ndarray, int]:
    # A quoted value holding newlines makes its row span several lines; count them so
    # that every later row is cited at the line an editor shows.
    extra = np.zeros(len(frame), dtype=np.int64)
    for name in frame.columns:
        column = frame[name]
        if column.str.contains("\n", regex=False).any():
            extra += column.str.count("\n").to_numpy(dtype=np.int64)
    starts = np.arange(len(frame), dtype=np.int64) + first_line
    starts[1:] += np.cumsum(extra)[:-1]
    following = first_line + len(frame) + int(extra.sum())
    return starts, following


def _csv_problem(table_file: TableFile, error: Exception) -> FileProblemError:
    message = _first_line(error)
    match = _PANDAS_LINE.search(message)
    if match:
        expected, line, saw = match.groups()
        return FileProblemError(
            file_problem(
                table_file.name, int(line), WHOLE_FILE, f"expected {expected} fields, found {saw}"
            )
        )
    if isinstance(error, UnicodeDecodeError):
        message = f"not UTF-8 ({message})"
    return FileProblemError(
        file_problem(table_file.name, None, WHOLE_FILE, f"cannot be read: {message}")
    )


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

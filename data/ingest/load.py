"""Ingesting an input directory: discover, stream, validate, load, in one transaction.

Tables are read in contract order, dealers first, so that every event can be checked
against the licensees this load accepts plus those already stored. Each chunk is
validated and (while the load can still succeed) written at once, so memory stays flat
however large the files; whether the transaction is committed is decided at the end.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, select
from tqdm import tqdm

from data.contract import DEALERS
from data.ingest.problems import ProblemLog, file_problem
from data.ingest.quarantine import QuarantineWriter
from data.ingest.sources import (
    FileProblemError,
    TableFile,
    discover,
    iter_chunks,
    progress_total,
    read_header,
)
from data.ingest.validate import Licensees, TableValidator
from data.problems import WHOLE_FILE, Problem
from data.store import schema
from data.store.write import BulkUpsert, bulk_upsert

#: Rows per chunk: large enough to amortise per-batch costs, small enough to stay light.
DEFAULT_CHUNK_ROWS = 200_000


@dataclass
class TableSummary:
    """What happened to one table's file."""

    table: str
    file: str
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    #: Rows inserted or changed in the store (0 when the load was not applied).
    rows_changed: int = 0


@dataclass
class IngestResult:
    """The outcome of :func:`ingest_directory`."""

    #: Whether the load was applied (committed).
    accepted: bool
    tables: list[TableSummary] = field(default_factory=list)
    problem_count: int = 0
    #: The first problems, for the screen; all of them are in ``report_path``.
    first_problems: list[Problem] = field(default_factory=list)
    #: The report file, written when there was at least one problem.
    report_path: Path | None = None
    quarantine_path: Path | None = None
    quarantined_rows: int = 0
    #: Files of the directory that are no table and were left alone.
    ignored_files: list[str] = field(default_factory=list)


def ingest_directory(
    engine: Engine,
    directory: Path,
    *,
    report_path: Path,
    quarantine_path: Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = False,
    keep_first: int = 50,
) -> IngestResult:
    """Validate every row of ``directory``'s table files and load them into the store.

    By default any problem rejects the whole load: nothing is applied, since everything
    happens in one transaction that is then rolled back. With ``quarantine_path`` the
    valid rows are loaded and every rejected row is written to that file with its
    reasons; problems with a whole file (a required file or column missing, a file that
    cannot be parsed) still reject the load, as they leave no row to quarantine. Rows
    are upserted by id, so loading the same directory twice changes nothing.

    Parameters
    ----------
    engine : Engine
        The store, already migrated (see ``data.store.open_store``).
    directory : Path
        The input directory in the data contract's layout.
    report_path : Path
        Where every problem is written, one ``file:line: column: reason`` per line;
        created only when there is a problem.
    quarantine_path : Path, optional
        Load valid rows and write rejected ones here instead of rejecting the load.
    chunk_rows : int
        Rows read, validated and written at a time.
    progress : bool
        Show a progress bar per file on stderr.
    keep_first : int
        How many problems ``IngestResult.first_problems`` keeps.

    Returns
    -------
    IngestResult

    Examples
    --------
    >>> result = ingest_directory(engine, Path("in"), report_path=Path("r.txt"))  # doctest: +SKIP
    >>> result.accepted, result.problem_count  # doctest: +SKIP
    (True, 0)
    """
    discovery = discover(directory)
    log = ProblemLog(report_path, keep_first)
    for problem in discovery.problems:
        log.add(problem)
    quarantine = QuarantineWriter(quarantine_path) if quarantine_path is not None else None
    readable = _readable_files(discovery.files, log)
    result = IngestResult(
        accepted=False,
        quarantine_path=quarantine_path,
        ignored_files=discovery.ignored,
    )
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            licensees = _licensees(connection, readable)
            for table_file, columns in readable:
                summary = TableSummary(table_file.table.name, table_file.name)
                result.tables.append(summary)
                file_level_before = log.file_level
                _load_file(
                    connection,
                    table_file,
                    columns,
                    licensees,
                    log,
                    quarantine,
                    summary,
                    chunk_rows=chunk_rows,
                    progress=progress,
                )
                if table_file.table is DEALERS and log.file_level > file_level_before:
                    # The dealers file broke off part-way (not UTF-8, a quote left open):
                    # the licensees after that point are unknown, not absent, and naming
                    # every event of theirs would bury the one problem worth reading.
                    licensees = None
            accepted = log.file_level == 0 and (quarantine is not None or log.total == 0)
            if accepted:
                transaction.commit()
            else:
                transaction.rollback()
                for summary in result.tables:
                    summary.rows_changed = 0
    finally:
        log.close()
        if quarantine is not None:
            quarantine.close()
    result.accepted = accepted
    result.problem_count = log.total
    result.first_problems = log.first
    result.report_path = report_path if log.written else None
    result.quarantined_rows = quarantine.rows if quarantine is not None else 0
    return result


def _readable_files(files: list[TableFile], log: ProblemLog) -> list[tuple[TableFile, list[str]]]:
    """The files whose header has every required column, with their contract columns."""
    readable: list[tuple[TableFile, list[str]]] = []
    for table_file in files:
        try:
            header = read_header(table_file)
        except FileProblemError as error:
            log.add(error.problem)
            continue
        missing = [name for name in table_file.table.required_columns if name not in header]
        for name in missing:
            log.add(file_problem(table_file.name, 1, name, "required column is missing"))
        if not missing:
            present = [name for name in table_file.table.column_names if name in header]
            readable.append((table_file, present))
    return readable


def _licensees(
    connection: Connection, readable: list[tuple[TableFile, list[str]]]
) -> Licensees | None:
    dealers_files = [table_file for table_file, _ in readable if table_file.table is DEALERS]
    if not dealers_files:
        # Without a usable dealers file every event would be reported as naming an
        # unknown licensee; the missing file is the one problem worth reading.
        return None
    stored = connection.execute(select(schema.dealers.c.license_number)).scalars().all()
    return Licensees(stored, dealers_file=dealers_files[0].name)


def _load_file(
    connection: Connection,
    table_file: TableFile,
    columns: list[str],
    licensees: Licensees | None,
    log: ProblemLog,
    quarantine: QuarantineWriter | None,
    summary: TableSummary,
    *,
    chunk_rows: int,
    progress: bool,
) -> None:
    table = table_file.table
    validator = TableValidator(table, columns, licensees if table.references_dealers else None)
    # Ids are unique within a file once validated, which lets the writer insert plainly
    # into an empty table.
    writer = bulk_upsert(connection, schema.CONTRACT_TABLES[table.name], unique_ids=True)
    write_ahead = _WriteAhead(writer)
    bar = tqdm(
        total=progress_total(table_file) if progress else None,
        desc=table_file.name,
        unit="B" if table_file.format == "csv" else " rows",
        unit_scale=True,
        disable=not progress,
        leave=False,
    )
    try:
        for chunk in iter_chunks(table_file, chunk_rows, bar.update):
            checked = validator.check(chunk)
            summary.rows_read += len(checked.rows) + len(checked.rejected)
            summary.rows_valid += len(checked.rows)
            summary.rows_rejected += len(checked.rejected)
            log.add_rows(table_file.name, checked.errors)
            if quarantine is not None:
                quarantine.write(table.name, checked.rejected)
            if checked.runaway is not None:
                line, reason = checked.runaway
                log.add(file_problem(table_file.name, line, WHOLE_FILE, reason))
                break  # the parse is out of step from here: what follows is noise
            if table is DEALERS and licensees is not None:
                licensees.add_valid(checked.valid_ids.tolist())
                licensees.add_rejected(checked.rejected_ids.tolist())
            # Once the load is bound to be rejected, writing more is wasted work; the
            # rest is still validated so that every problem is reported at once.
            doomed = log.file_level > 0 or (quarantine is None and log.total > 0)
            if not doomed:
                write_ahead.submit(checked.rows)
    except FileProblemError as error:
        log.add(error.problem)
    finally:
        # A write still running must end before the transaction can be rolled back.
        write_ahead.shutdown()
        bar.close()
    write_ahead.wait()  # raises what a background write raised
    summary.rows_changed += write_ahead.changed
    writer.close()


class _WriteAhead:
    """Writes batches on one background thread while the next chunk is read and checked.

    On PostgreSQL a load's time is mostly the server's, during which psycopg waits
    without the GIL; overlapping that with parsing and validation is most of the way
    to the bulk-load limit. At most one batch is in flight, so memory stays bounded, and
    the connection is only ever used by one thread at a time. Writers that would hold
    the GIL (sqlite3) are called in line instead.
    """

    def __init__(self, writer: BulkUpsert) -> None:
        self._writer = writer
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write")
            if writer.overlaps
            else None
        )
        self._pending: Future[int] | None = None
        self.changed = 0

    def submit(self, rows: pd.DataFrame) -> None:
        """Write ``rows`` once the previous batch is written."""
        self.wait()
        if self._executor is None:
            # A writer that holds the GIL gains nothing from a thread; write here.
            self.changed += self._writer.write(rows)
            return
        self._pending = self._executor.submit(self._writer.write, rows)

    def wait(self) -> None:
        """Wait for the batch in flight; re-raises its exception."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.changed += pending.result()

    def shutdown(self) -> None:
        """Stop the thread after the batch in flight (whose outcome ``wait`` reports)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)

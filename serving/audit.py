"""The audit log: who read which list, explanation or what-if, when, under which model.

A request that must be audited is answered only after its row is committed: the log is
never behind what was disclosed. To keep that cheap under load:

- rows are committed in groups: every row submitted in one turn of the event loop shares
  one transaction (group commit); at rest each row costs one short transaction;
- on SQLite (the embedded store, a file beside the process) the group is committed on the
  event loop itself, which costs less than handing it to a thread and back (measured:
  about 100 us of CPU less per request under load). Its connection never waits for a
  lock: if another writer holds the file, the group goes to the writer thread instead;
- on PostgreSQL, whose commit is a round trip and a flush to disk, one writer thread per
  process commits whatever has queued up while the loop goes on;
- a handler has one call, ``Caller.record`` (``serving.deps``), which awaits
  :meth:`AuditWriter.write`, right before it answers;
- the row's values are converted for the driver when it is submitted, so the writer
  thread needs the interpreter only for a moment per batch;
- on SQLite the connection that commits also checkpoints the write-ahead log (SQLite's
  automatic checkpoint, every ``CHECKPOINT_PAGES`` pages): it is the only writer of the
  process, so its checkpoint finds every frame copied and the next commit starts the log
  over, keeping it bounded under steady load (see ``docs/api.md``, "Performance").

The rows live in the store, so every worker's rows land in the same table.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from sqlalchemy import Engine, insert, select

from serving import tables

logger = logging.getLogger(__name__)

#: Which process answered: lets an operator tell workers and hosts apart in the log.
SERVED_BY = f"{socket.gethostname()}:{os.getpid()}"
_BATCH_ROWS = 500
#: Pages in the SQLite write-ahead log after which the committing connection checkpoints
#: it (so the log stays under about 40 MiB). A checkpoint holds its commit for a few
#: milliseconds (it syncs the log and the database file) however many pages it copies;
#: at SQLite's default of 1,000 pages that was every ~300 commits under the API benchmark's
#: load, often enough to reach the explanation's p99 (about +6 ms at 2 connections).
CHECKPOINT_PAGES = 10_000
#: The columns an entry fills, in the order of :meth:`AuditEntry.values`.
COLUMNS = ("at", "user_name", "role", "action", "resource", "model_version", "as_of", "detail")


@dataclass(frozen=True)
class AuditEntry:
    """One audited action."""

    user_name: str
    role: str
    action: str
    resource: str
    model_version: str | None
    as_of: dt.date | None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def values(self, at: dt.datetime) -> tuple[Any, ...]:
        """The entry's values for the columns of ``audit_log``, in ``COLUMNS`` order."""
        detail = pydantic_core.to_json({**self.detail, "served_by": SERVED_BY},
                                       fallback=str).decode()
        return (at, self.user_name, self.role, self.action, self.resource[:300],
                self.model_version, self.as_of, detail)


class AuditUnavailable(RuntimeError):
    """The audit row could not be written, so the action must not be answered."""


_STOP = object()


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Resolve the futures of one committed (or failed) batch, on their event loop."""
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(AuditUnavailable(str(error)))


def _locked(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (another writer holds the file)."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.OperationalError) and code in (
        sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class AuditWriter:
    """Commits audit rows in groups, on the event loop (SQLite) or a writer thread.

    Each keeps one connection open: checking a pooled connection out and back in (with
    its reset) for every group would cost more than the insert. Start the writer with
    :meth:`start`, stop it with :meth:`close` (which drains the thread's queue).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[Any, asyncio.Future[None]]]] = {}
        self._inline_connection: Any = None
        #: Rows committed by this writer since it was made.
        self.rows_written = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connection: Any = None  # a DBAPI connection, held by the writer thread
        # SQLAlchemy writes the statement and converts the values (its own bind
        # processors); the thread then runs it on the DBAPI cursor, which costs a fraction
        # of a Core execute per batch (measured: ~100 us less, on every audited request).
        compiled = insert(tables.audit_log).compile(dialect=engine.dialect,
                                                    column_keys=list(COLUMNS))
        self._sql = str(compiled)
        # Positional drivers (SQLite) take a tuple in the statement's order, named ones
        # (psycopg) a dict; only the columns with a converter (dates, on SQLite) get one.
        order = list(compiled.positiontup) if compiled.positiontup else None
        self._positions = [COLUMNS.index(name) for name in order] if order else None
        dialect = engine.dialect
        self._processors = [
            (index, processor) for index, name in enumerate(COLUMNS)
            if (processor := tables.audit_log.c[name].type.dialect_impl(dialect)
                .bind_processor(dialect)) is not None
        ]

    @property
    def inline(self) -> bool:
        """Whether groups are committed on the event loop (SQLite): see :meth:`_flush_inline`."""
        return self.engine.dialect.name == "sqlite"

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None
        if self._inline_connection is not None:
            with contextlib.suppress(Exception):
                self._inline_connection.close()
            self._inline_connection = None

    def _connect(self, busy_timeout_ms: int | None = None) -> Any:
        """A DBAPI connection for writing (on SQLite, checkpointing every CHECKPOINT_PAGES)."""
        connection = self.engine.raw_connection()
        if self.inline:
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(CHECKPOINT_PAGES)}")
            if busy_timeout_ms is not None:
                cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()
        return connection

    async def write(self, entry: AuditEntry) -> None:
        """Commit ``entry`` (with the rows queued beside it); raise AuditUnavailable if not.

        Call it on the event loop, right before answering.
        """
        await self._submit(entry)

    def _submit(self, entry: AuditEntry) -> asyncio.Future[None]:
        """Queue ``entry``; the future completes once it is committed (AuditUnavailable if not)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        parameters = self._parameters(entry)
        if self._thread is None:
            # No writer thread (e.g. an app used without its lifespan): write in place.
            try:
                self._commit([parameters])
            except Exception as error:
                future.set_exception(AuditUnavailable(str(error)))
            else:
                future.set_result(None)
            return future
        if self.inline:
            loop = future.get_loop()
            pending = self._pending.setdefault(loop, [])
            pending.append((parameters, future))
            if len(pending) == 1:
                # Next loop iteration: every request this iteration submits shares it.
                loop.call_soon(self._flush_inline, loop)
            return future
        self._queue.put((parameters, future))
        return future

    def _flush_inline(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit this loop's submitted rows on the loop itself; else pass them to the thread.

        The connection waits for no lock: if another writer holds the database (another
        worker's batch, a load), or anything else goes wrong, the writer thread takes the
        batch and waits or reports as it always does, so the loop is never held up.
        """
        batch = self._pending.pop(loop, [])
        if not batch:
            return
        try:
            if self._inline_connection is None:
                self._inline_connection = self._connect(busy_timeout_ms=0)
            self._insert(self._inline_connection, [parameters for parameters, _ in batch])
        except Exception as error:
            # Only locked: the insert was rolled back and the connection is fine to keep
            # (reopening it on the loop would cost more); anything else, start afresh.
            if not _locked(error):
                connection, self._inline_connection = self._inline_connection, None
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.invalidate()
            for item in batch:
                self._queue.put(item)
            return
        _settle([future for _, future in batch], None)

    def _parameters(self, entry: AuditEntry) -> dict[str, Any] | tuple[Any, ...]:
        """The driver's parameters for ``entry``, stamped now."""
        values = list(entry.values(dt.datetime.now(dt.UTC)))
        for index, process in self._processors:
            if values[index] is not None:
                values[index] = process(values[index])
        if self._positions is None:
            return dict(zip(COLUMNS, values, strict=True))
        return tuple([values[index] for index in self._positions])

    def _insert(self, connection: Any, rows: list[Any]) -> None:
        """Insert rows of driver parameters (from :meth:`_parameters`) in one transaction.

        On the driver's own connection: the pool's proxy cost about 30 us per group.
        """
        driver = connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.executemany(self._sql, rows)
        except Exception:
            driver.rollback()
            raise
        finally:
            cursor.close()
        driver.commit()
        self.rows_written += len(rows)

    def _commit(self, rows: list[Any]) -> None:
        """Insert rows on the writer thread's connection, reconnecting after a failure."""
        if self._connection is None:
            self._connection = self._connect()
        try:
            self._insert(self._connection, rows)
        except Exception:
            # Start over with a fresh connection next time (the store may have restarted).
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                connection.invalidate()
            raise

    def _take_batch(self) -> tuple[list[tuple[Any, Any]], bool]:
        """Block for one item, then take whatever else is queued; (batch, stop)."""
        batch: list[tuple[Any, Any]] = []
        stopping = False
        item = self._queue.get()
        while True:
            if item is _STOP:
                stopping = True
            else:
                batch.append(item)
            if len(batch) >= _BATCH_ROWS:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        return batch, stopping

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take_batch()
            if not batch:
                continue
            error: BaseException | None = None
            try:
                self._commit([row for row, _ in batch])
            except Exception as failure:  # the store is down: every waiter hears it
                logger.exception("could not write %d audit rows", len(batch))
                error = failure
            # One wake-up per event loop and batch, not one per row.
            futures: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, waiter in batch:
                futures.setdefault(waiter.get_loop(), []).append(waiter)
            for loop, waiting in futures.items():
                with contextlib.suppress(RuntimeError):  # a closed loop has no one waiting
                    loop.call_soon_threadsafe(_settle, waiting, error)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


def read_audit_log(
    engine: Engine,
    *,
    user_name: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_event_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered; ``before_event_id`` continues a previous page.

    ``since`` and ``until`` are compared in UTC (naive ones are taken to be UTC): SQLite
    keeps the UTC wall time of each row, without an offset.
    """
    since, until = (
        None if value is None else
        (value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC))
        for value in (since, until)
    )
    log = tables.audit_log
    statement = select(log).order_by(log.c.event_id.desc()).limit(limit)
    if user_name is not None:
        statement = statement.where(log.c.user_name == user_name)
    if action is not None:
        statement = statement.where(log.c.action == action)
    if since is not None:
        statement = statement.where(log.c.at >= since)
    if until is not None:
        statement = statement.where(log.c.at < until)
    if before_event_id is not None:
        statement = statement.where(log.c.event_id < before_event_id)
    with engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    result = []
    for row in rows:
        record = dict(row)
        try:
            record["detail"] = json.loads(record["detail"]) if record["detail"] else {}
        except ValueError:
            record["detail"] = {"text": record["detail"]}
        result.append(record)
    return result

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
import collections
import contextlib
import dataclasses
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

from data.store import schema
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
        # Never NaN or Infinity in the stored text: it must stay valid JSON.
        detail = pydantic_core.to_json({**self.detail, "served_by": SERVED_BY},
                                       fallback=str, inf_nan_mode="null").decode()
        return (at, self.user_name, self.role, self.action, self.resource[:300],
                self.model_version, self.as_of, detail)


class AuditUnavailable(RuntimeError):
    """The audit row could not be written, so the action must not be answered.

    Its message is generic (it reaches clients in the 503); the store's own error goes to
    the server log.
    """


#: How long a request waits for its audit row at most, in seconds: past it the row is
#: withdrawn (if the writer has not started inserting it) and the request refused (503).
#: A row already being inserted is waited for: its statement is bounded by the store's
#: own lock and statement timeouts (``LOCK_WAIT_SECONDS``, ``serving.app``).
AUDIT_WAIT_SECONDS = 5.0
#: How long an audit insert waits for a lock before it fails (PostgreSQL's lock_timeout,
#: SQLite's busy timeout), in seconds; shorter than AUDIT_WAIT_SECONDS, so a locked table
#: fails the insert (nothing committed) before the request gives up.
LOCK_WAIT_SECONDS = 2.0
#: Refusal rows kept for a retry while the store cannot take them (then dropped, logged).
MAX_PENDING_REFUSALS = 10_000
#: How often the writer retries refusal rows the store did not take, in seconds, when no
#: new row comes to carry them (each new batch carries them at once).
REFUSAL_RETRY_SECONDS = 5.0
_UNAVAILABLE = "the row could not be committed"

_STOP = object()


class _Item:
    """One queued row: its driver parameters, its waiter (None for a refusal row) and
    whether the writer has claimed it for an insert or the request withdrew it."""

    __slots__ = ("claimed", "future", "parameters", "timer", "withdrawn")

    def __init__(self, parameters: Any, future: asyncio.Future[None] | None) -> None:
        self.parameters = parameters
        self.future = future
        self.claimed = False
        self.withdrawn = False
        self.timer: asyncio.TimerHandle | None = None


def _settle(items: list[_Item], error: BaseException | None) -> None:
    """Resolve the futures of one committed (or failed) batch, on their event loop."""
    for item in items:
        if item.timer is not None:
            item.timer.cancel()
        future = item.future
        if future is None or future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(AuditUnavailable(_UNAVAILABLE))


def _locked(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (another writer holds the file)."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.OperationalError) and code in (
        sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def refusal(entry: AuditEntry, reason: str) -> AuditEntry:
    """The row recording that ``entry``'s request was refused (nothing disclosed)."""
    return dataclasses.replace(entry, action=f"{entry.action}.refused"[:40],
                               detail={**entry.detail, "refused": reason})


class AuditWriter:
    """Commits audit rows in groups, on the event loop (SQLite) or a writer thread.

    Each keeps one connection open: checking a pooled connection out and back in (with
    its reset) for every group would cost more than the insert. Start the writer with
    :meth:`start`, stop it with :meth:`close` (which drains the thread's queue).

    A request waits at most ``wait_seconds`` for its row (an insert waits at most
    ``lock_wait_seconds`` for a lock, shorter); when the row cannot be written the
    request is refused and a refusal row (action ``<action>.refused``) is queued in
    its place, retried until the store takes it, so the log records a refusal, never a
    served read that was not answered.
    """

    def __init__(self, engine: Engine, wait_seconds: float = AUDIT_WAIT_SECONDS,
                 lock_wait_seconds: float = LOCK_WAIT_SECONDS) -> None:
        self.engine = engine
        self.wait_seconds = wait_seconds
        self.lock_wait_seconds = lock_wait_seconds
        self._pending: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        self._inline_connection: Any = None
        #: Rows committed by this writer since it was made.
        self.rows_written = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connection: Any = None  # a DBAPI connection, held by the writer thread
        # Claiming (writer thread) and withdrawing (event loop) an item exclude each other.
        self._claims = threading.Lock()
        # Refusal rows not written yet: they ride along with the next batch (or go alone
        # every REFUSAL_RETRY_SECONDS), so a refusal never holds up a fresh row's insert.
        self._refusals: collections.deque[_Item] = collections.deque()
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
            if busy_timeout_ms is None:
                busy_timeout_ms = int(self.lock_wait_seconds * 1000)
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()
        return connection

    async def write(self, entry: AuditEntry) -> None:
        """Commit ``entry`` (with the rows queued beside it); raise AuditUnavailable if not.

        Call it on the event loop, right before answering. On AuditUnavailable the row is
        not committed and a refusal row is queued instead.
        """
        try:
            await self._submit(entry)
        except AuditUnavailable:
            self._refuse(entry)
            raise

    def _refuse(self, entry: AuditEntry) -> None:
        """Queue the refusal row of ``entry`` (nobody waits for it)."""
        logger.warning("refused %s %s by %s: the audit log is unavailable", entry.action,
                       entry.resource, entry.user_name)
        item = _Item(self._parameters(refusal(entry, "the audit log was unavailable")), None)
        if self._thread is None:
            with contextlib.suppress(Exception):
                self._commit([item.parameters])
            return
        self._keep_refusals([item])

    def _keep_refusals(self, items: list[_Item]) -> None:
        """Keep refusal rows for the writer's next batch, at most MAX_PENDING_REFUSALS."""
        self._refusals.extend(items)
        dropped = 0
        while len(self._refusals) > MAX_PENDING_REFUSALS:
            self._refusals.popleft()
            dropped += 1
        if dropped:
            logger.error("dropped %d refusal rows the store did not take", dropped)

    def _expire(self, item: _Item) -> None:
        """On the loop, ``wait_seconds`` after queueing: withdraw the row unless it is being
        inserted (then its outcome, bounded by the store's timeouts, settles it)."""
        with self._claims:
            if item.claimed:
                return
            item.withdrawn = True
        if item.future is not None and not item.future.done():
            item.future.set_exception(AuditUnavailable(
                f"the audit log did not answer within {self.wait_seconds:g} s"))

    def _enqueue(self, item: _Item, loop: asyncio.AbstractEventLoop) -> None:
        """Hand ``item`` to the writer thread, bounded by ``wait_seconds``."""
        item.timer = loop.call_later(self.wait_seconds, self._expire, item)
        self._queue.put(item)

    def _submit(self, entry: AuditEntry) -> asyncio.Future[None]:
        """Queue ``entry``; the future completes once it is committed (AuditUnavailable if not)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        item = _Item(self._parameters(entry), future)
        if self._thread is None:
            # No writer thread (e.g. an app used without its lifespan): write in place.
            try:
                self._commit([item.parameters])
            except Exception:
                logger.exception("could not write an audit row")
                future.set_exception(AuditUnavailable(_UNAVAILABLE))
            else:
                future.set_result(None)
            return future
        if self.inline:
            pending = self._pending.setdefault(loop, [])
            pending.append(item)
            if len(pending) == 1:
                # Next loop iteration: every request this iteration submits shares it.
                loop.call_soon(self._flush_inline, loop)
            return future
        self._enqueue(item, loop)
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
        # Refusal rows kept from a failure ride along, as with the thread's batches.
        refusals = self._take_refusals()
        try:
            if self._inline_connection is None:
                self._inline_connection = self._connect(busy_timeout_ms=0)
            self._insert(self._inline_connection,
                         [item.parameters for item in refusals + batch])
        except Exception as error:
            self._refusals.extendleft(reversed(refusals))  # kept, in their order
            # Only locked: the insert was rolled back and the connection is fine to keep
            # (reopening it on the loop would cost more); anything else, start afresh.
            if not _locked(error):
                connection, self._inline_connection = self._inline_connection, None
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.invalidate()
            for item in batch:
                self._enqueue(item, loop)
            return
        _settle(batch, None)

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
            if len(rows) == 1:  # the usual group on SQLite: execute skips executemany's setup
                cursor.execute(self._sql, rows[0])
            else:
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

    def _take_batch(self) -> tuple[list[_Item], bool]:
        """Wait for one item (at most REFUSAL_RETRY_SECONDS), take whatever else is queued,
        claim the rows not withdrawn, and add the refusal rows kept; (batch, stop)."""
        batch: list[_Item] = []
        stopping = False
        try:
            item = self._queue.get(timeout=REFUSAL_RETRY_SECONDS)
        except queue.Empty:
            item = None
        while item is not None:
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
        with self._claims:
            batch = [item for item in batch if not item.withdrawn]
            for item in batch:
                item.claimed = True
        return self._take_refusals() + batch, stopping

    def _take_refusals(self) -> list[_Item]:
        """The refusal rows kept so far, taken out (the caller writes or keeps them)."""
        refusals = []
        while self._refusals:  # popleft is atomic; the other side may append meanwhile
            refusals.append(self._refusals.popleft())
        return refusals

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take_batch()
            if not batch:
                continue
            error: BaseException | None = None
            try:
                self._commit([item.parameters for item in batch])
            except Exception as failure:  # the store is down: every waiter hears it
                logger.exception("could not write %d audit rows", len(batch))
                error = failure
                self._keep_refusals([item for item in batch if item.future is None])
            # One wake-up per event loop and batch, not one per row.
            waiting: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
            for item in batch:
                if item.future is not None:
                    waiting.setdefault(item.future.get_loop(), []).append(item)
            for loop, items in waiting.items():
                with contextlib.suppress(RuntimeError):  # a closed loop has no one waiting
                    loop.call_soon_threadsafe(_settle, items, error)
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


#: Rows a division-limited reader's page scans at most before it stops and hands out a
#: cursor (its page may then hold fewer than ``limit`` rows; the next page goes on).
AUDIT_SCAN_ROWS = 5000


def row_division(detail: Mapping[str, Any], divisions: Mapping[str, str | None]) -> str | None:
    """The field division an audit row is about, or None for a row of national scope.

    A row naming a licensee (``license_number``) is about that licensee's division
    (``divisions``: license number -> division, from the dealers table); else a row of
    a list, plan or comparison is about the division it was narrowed to
    (``filters.field_division`` or ``field_division``). Every other row (an unfiltered
    list, a plan overview, a reload, a user created) is national.
    """
    number = detail.get("license_number")
    if isinstance(number, str):
        return divisions.get(number)
    filters = detail.get("filters")
    if isinstance(filters, Mapping) and isinstance(filters.get("field_division"), str):
        return str(filters["field_division"])
    division = detail.get("field_division")
    return division if isinstance(division, str) else None


def _divisions_of(engine: Engine, numbers: set[str]) -> dict[str, str | None]:
    """The field division of each named licensee the store knows."""
    if not numbers:
        return {}
    dealers = schema.dealers
    statement = select(dealers.c.license_number, dealers.c.field_division).where(
        dealers.c.license_number.in_(sorted(numbers)))
    with engine.connect() as connection:
        return {str(row[0]): row[1] for row in connection.execute(statement)}


def read_audit_page(
    engine: Engine,
    *,
    field_division: str | None,
    user_name: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_event_id: int | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the audit log for a reader limited to ``field_division`` (None: all).

    Returns the rows, newest first, and the event id the next page continues before
    (None at the end). A division-limited reader sees only the rows about their division
    (:func:`row_division`); rows of other divisions and of national scope are left out,
    scanning at most AUDIT_SCAN_ROWS rows per page.
    """
    if field_division is None:
        rows = read_audit_log(engine, user_name=user_name, action=action, since=since,
                              until=until, before_event_id=before_event_id, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (int(rows[-1]["event_id"]) if more and rows else None)
    kept: list[dict[str, Any]] = []
    scanned = 0
    cursor = before_event_id
    batch_size = min(max(limit * 4, 200), 1000)
    while scanned < AUDIT_SCAN_ROWS:
        batch = read_audit_log(engine, user_name=user_name, action=action, since=since,
                               until=until, before_event_id=cursor, limit=batch_size)
        if not batch:
            return kept, None
        numbers = {str(row["detail"]["license_number"]) for row in batch
                   if isinstance(row["detail"].get("license_number"), str)}
        divisions = _divisions_of(engine, numbers)
        for row in batch:
            scanned += 1
            cursor = int(row["event_id"])
            if row_division(row["detail"], divisions) == field_division:
                kept.append(row)
                if len(kept) == limit:
                    return kept, cursor
        if len(batch) < batch_size:
            return kept, None
    return kept, cursor

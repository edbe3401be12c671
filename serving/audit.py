"""The audit log: who read which list, explanation or what-if, when, under which model.

A request that must be audited is answered only after its row is committed: the log is
never behind what was disclosed. To keep that cheap under load, rows go through one writer
thread per process that commits whatever has queued up in a single transaction (group
commit): at rest each row costs one short transaction, under load many rows share one.
The rows live in the store, so every worker's rows land in the same table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select

from features.store import schema

logger = logging.getLogger(__name__)

#: Which process answered: lets an operator tell workers and hosts apart in the log.
SERVED_BY = f"{socket.gethostname()}:{os.getpid()}"
_BATCH_ROWS = 500


@dataclass(frozen=True)
class AuditEntry:
    """One audited action."""

    user_name: str
    role: str
    action: str
    resource: str
    model_version: str | None
    as_of: dt.date | None
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self, at: dt.datetime) -> dict[str, Any]:
        """The entry as a row of ``audit_log``."""
        detail = {**self.detail, "served_by": SERVED_BY}
        return {
            "at": at, "user_name": self.user_name, "role": self.role, "action": self.action,
            "resource": self.resource[:300], "model_version": self.model_version,
            "as_of": self.as_of, "detail": json.dumps(detail, sort_keys=True, default=str),
        }


class AuditUnavailable(RuntimeError):
    """The audit row could not be written, so the action must not be answered."""


_Done = Callable[[BaseException | None], None]
_STOP = object()


class AuditWriter:
    """Commits audit rows from one background thread, batching whatever is queued.

    Start it with :meth:`start` and stop it with :meth:`close` (which drains the queue).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

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

    async def write(self, entry: AuditEntry) -> None:
        """Queue ``entry`` and wait until it is committed; raise AuditUnavailable if not."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(AuditUnavailable(str(error)))

        def done(error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, error)
            except RuntimeError:  # the loop closed meanwhile; nobody is waiting any more
                pass

        self._submit(entry, done)
        await future

    def write_blocking(self, entry: AuditEntry, timeout: float = 30.0) -> None:
        """Like :meth:`write`, for code running in a worker thread."""
        finished = threading.Event()
        errors: list[BaseException] = []

        def done(error: BaseException | None) -> None:
            if error is not None:
                errors.append(error)
            finished.set()

        self._submit(entry, done)
        if not finished.wait(timeout):
            raise AuditUnavailable("the audit log did not answer in time")
        if errors:
            raise AuditUnavailable(str(errors[0]))

    def _submit(self, entry: AuditEntry, done: _Done) -> None:
        if self._thread is None:
            # No writer thread (e.g. a test app without its lifespan): write in place.
            try:
                self._commit([entry.row(dt.datetime.now(dt.UTC))])
            except Exception as error:
                done(error)
            else:
                done(None)
            return
        self._queue.put((entry.row(dt.datetime.now(dt.UTC)), done))

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(schema.audit_log), rows)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[tuple[dict[str, Any], _Done]] = []
            if item is _STOP:
                stopping = True
            else:
                batch.append(item)
            while len(batch) < _BATCH_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
            if not batch:
                continue
            error: BaseException | None = None
            try:
                self._commit([row for row, _ in batch])
            except Exception as failure:  # the store is down: every waiter hears it
                logger.exception("could not write %d audit rows", len(batch))
                error = failure
            for _, done in batch:
                done(error)


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
    """Audit rows, newest first, filtered; ``before_event_id`` continues a previous page."""
    log = schema.audit_log
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

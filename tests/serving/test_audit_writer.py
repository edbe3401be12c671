"""The audit writer: group commit, failure reaching every waiter, SQLite checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from data.store import open_store
from serving import audit
from serving.audit import AuditEntry, AuditUnavailable, AuditWriter, read_audit_log
from tests.serving.conftest import ServedHome


def _entry(number: int) -> AuditEntry:
    return AuditEntry(user_name="writer_test", role="supervisor", action="explanation.read",
                      resource=f"/api/v1/dealers/{number}/explanation", model_version="7",
                      as_of=dt.date(2024, 1, 1), detail={"n": number})


async def _write_all(writer: AuditWriter, numbers: range) -> list[BaseException | None]:
    return await asyncio.gather(*(writer.write(_entry(n)) for n in numbers),
                                return_exceptions=True)


def test_rows_written_at_once_are_all_committed_and_answered(store_url: str) -> None:
    engine = open_store(store_url)
    writer = AuditWriter(engine)
    writer.start()
    try:
        results = asyncio.run(_write_all(writer, range(300)))
    finally:
        writer.close()
    assert results == [None] * 300
    rows = read_audit_log(engine, user_name="writer_test", limit=1000)
    assert sorted(row["detail"]["n"] for row in rows) == list(range(300))
    assert {(row["model_version"], row["as_of"]) for row in rows} == {("7", dt.date(2024, 1, 1))}
    assert writer.rows_written == 300
    engine.dispose()


def test_a_failed_commit_reaches_every_waiter_and_the_writer_recovers(store_url: str) -> None:
    engine = open_store(store_url)
    writer = AuditWriter(engine)
    writer.start()
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_log RENAME TO audit_log_away")
        failed = asyncio.run(_write_all(writer, range(20)))
        assert all(isinstance(result, AuditUnavailable) for result in failed)
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_log_away RENAME TO audit_log")
        assert asyncio.run(_write_all(writer, range(20, 25))) == [None] * 5
    finally:
        writer.close()
    rows = read_audit_log(engine, user_name="writer_test")
    assert sorted(row["detail"]["n"] for row in rows) == list(range(20, 25))
    engine.dispose()


def _rows_in_database_file(store: Path, folder: Path) -> int:
    """Audit rows in the SQLite database file alone, without its write-ahead log."""
    copy = folder / "main-file-only.db"
    shutil.copyfile(store, copy)
    with sqlite3.connect(copy) as connection:
        count: int = connection.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    copy.unlink()
    for leftover in folder.glob("main-file-only.db-*"):
        leftover.unlink()
    return count


def test_sqlite_rows_reach_the_database_file_through_the_checkpoint_thread(
    tmp_path: Path,
) -> None:
    # The writer's own connection never checkpoints; without the second thread these rows
    # would stay in the write-ahead log until it held 1,000 pages.
    store = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{store}")
    with engine.connect() as connection:  # the new store's tables into the file first
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _rows_in_database_file(store, tmp_path) == 0
    writer = AuditWriter(engine, checkpoint_seconds=0.05)
    writer.start()
    folder = tmp_path / "copies"
    folder.mkdir()
    try:
        assert asyncio.run(_write_all(writer, range(40))) == [None] * 40
        deadline = time.monotonic() + 10
        while _rows_in_database_file(store, folder) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _rows_in_database_file(store, folder) == 40
    finally:
        writer.close()
        engine.dispose()


def test_a_request_whose_audit_row_fails_discloses_nothing(
    client: TestClient, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer: AuditWriter = client.app.state.audit_writer  # type: ignore[attr-defined]
    number = str(client.app.state.holder.current.ranked.license_numbers[0])  # type: ignore[attr-defined]
    headers = served_home.headers("supervisor")

    def fail(connection: Any, rows: list[Any]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_insert", fail)
    for path in ("/api/v1/dealers/ranked", f"/api/v1/dealers/{number}/explanation"):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 503, path
        assert "audit log is unavailable" in refused.json()["detail"]
        assert "items" not in refused.json() and "contributions" not in refused.json()
    monkeypatch.undo()
    assert client.get(f"/api/v1/dealers/{number}/explanation", headers=headers).status_code == 200


def test_a_locked_sqlite_store_never_holds_up_the_event_loop(tmp_path: Path) -> None:
    # Rows are committed on the loop only when the database is free at once; while another
    # process holds the write lock they go to the writer thread, and the loop runs on.
    store = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{store}")
    writer = AuditWriter(engine)
    assert writer.inline
    writer.start()
    locker = sqlite3.connect(store, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # the write lock, as a load in another process takes

    async def scenario() -> tuple[list[BaseException | None], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        writes = asyncio.gather(*(writer.write(_entry(n)) for n in range(10)),
                                return_exceptions=True)
        await asyncio.sleep(0.5)
        assert not writes.done()  # still waiting for the lock, not answered unlogged
        locker.execute("COMMIT")
        results = await writes
        ticker.cancel()
        return results, ticks

    try:
        results, ticks = asyncio.run(scenario())
    finally:
        locker.close()
        writer.close()
    assert results == [None] * 10
    assert ticks >= 20  # the loop ran its 10 ms ticks throughout the half second
    assert len(read_audit_log(engine, user_name="writer_test")) == 10
    engine.dispose()


def _log_pages(store: Path) -> int:
    """Pages in the SQLite write-ahead log now (the ones a new checkpoint would look at)."""
    with contextlib.closing(sqlite3.connect(store)) as connection:
        pages: int = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    return pages


def _restarting_writer(folder: Path, monkeypatch: pytest.MonkeyPatch, restart_pages: int,
                       **options: Any) -> tuple[Path, Engine, AuditWriter]:
    """A new SQLite store and a writer (not started) that restarts its log past N pages."""
    monkeypatch.setattr(audit, "RESTART_PAGES", restart_pages)
    store = folder / "store.db"
    engine = open_store(f"sqlite:///{store}")
    return store, engine, AuditWriter(engine, **options)


def test_sqlite_log_starts_over_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under steady load a passive checkpoint never finds the log fully copied (a commit
    # always lands while it runs), so without the restart the log never starts over:
    # every commit adds at least one page, and the file grows for as long as the load.
    store, engine, writer = _restarting_writer(tmp_path, monkeypatch, 64,
                                               checkpoint_seconds=0.02)
    writer.start()
    stop = threading.Event()

    def load() -> None:
        number = 0
        while not stop.is_set():
            writer.write_blocking(_entry(number))
            number += 1

    writers = [threading.Thread(target=load) for _ in range(3)]
    try:
        for thread in writers:
            thread.start()
        time.sleep(1.5)
        stop.set()
        for thread in writers:
            thread.join()
        rows = writer.rows_written
        assert rows > 500
        # A commit here holds at most three rows (three writers, each waiting for its
        # own) and writes at least two pages (the table's and its index's), so a log that
        # never started over would hold more than rows * 2/3 pages (measured: 23,665 for
        # 14,832 rows); restarted, it holds the last round's or so (measured: 150).
        assert _log_pages(store) < rows / 2
        with engine.connect() as connection:  # and every row answered is in the table
            assert connection.exec_driver_sql("SELECT count(*) FROM audit_log").scalar() == rows
    finally:
        stop.set()
        writer.close()
        engine.dispose()


def test_a_log_kept_busy_by_a_reader_is_restarted_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restart holds new writers while it waits for readers; a long reader must cost
    # them at most RESTART_WAIT_MS per try, and the rows go on being written.
    store, engine, writer = _restarting_writer(tmp_path, monkeypatch, 1)
    # Not started: each write commits in place.
    assert asyncio.run(_write_all(writer, range(5))) == [None] * 5
    reader = sqlite3.connect(store, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM audit_log").fetchone() == (5,)
        assert asyncio.run(_write_all(writer, range(5, 10))) == [None] * 5
        started = time.monotonic()
        assert writer.checkpoint() is False  # the reader still reads the log
        assert time.monotonic() - started < 2.0
        assert asyncio.run(_write_all(writer, range(10, 15))) == [None] * 5
        reader.execute("COMMIT")
        assert writer.checkpoint() is True
        assert writer.checkpoint(restart=False) is None
    finally:
        reader.close()
        writer.close()
    assert len(read_audit_log(engine, user_name="writer_test")) == 15
    engine.dispose()

"""The audit writer: group commit, failure reaching every waiter, a bounded SQLite log."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

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
    rows = read_audit_log(engine, user_name="writer_test", action="explanation.read")
    assert sorted(row["detail"]["n"] for row in rows) == list(range(20, 25))
    # Each refused write left a refusal row instead, written once the table was back.
    refused = read_audit_log(engine, user_name="writer_test", action="explanation.read.refused")
    assert sorted(row["detail"]["n"] for row in refused) == list(range(20))
    assert {row["detail"]["refused"] for row in refused} == {"the audit log was unavailable"}
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


def _log_bytes(store: Path) -> int:
    """The size of the SQLite write-ahead log file beside ``store``."""
    log = store.with_name(store.name + "-wal")
    return log.stat().st_size if log.exists() else 0


def test_sqlite_log_stays_bounded_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection that commits also checkpoints (SQLite's automatic checkpoint), so
    # the log starts over instead of growing for as long as the load lasts. A log that
    # never started over would hold at least two pages (4 KiB each) per commit.
    monkeypatch.setattr(audit, "CHECKPOINT_PAGES", 200)
    store = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{store}")
    writer = AuditWriter(engine)
    writer.start()

    async def load(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        number = 0
        while time.monotonic() < deadline:
            # Three requests per turn of the loop, as under moderate load.
            await asyncio.gather(*(writer.write(_entry(number + k)) for k in range(3)))
            number += 3

    try:
        asyncio.run(load(3.0))
        rows = writer.rows_written
        commits = rows // 3
        assert commits > 2_000
        # The checkpoint runs every 200 pages: the log file holds about that many (0.8
        # MiB), never the 8 KiB per commit an unbounded log would grow by.
        assert _log_bytes(store) < 2 * 1024 * 1024 < commits * 8 * 1024
        with engine.connect() as connection:  # and every row answered is in the table
            assert connection.exec_driver_sql("SELECT count(*) FROM audit_log").scalar() == rows
    finally:
        writer.close()
        engine.dispose()

"""Writing contract rows into the store: upsert by id, inside the caller's transaction.

Callers pass a DataFrame already in the contract's typed form (dates as ``date``,
integers, booleans, ``None`` for null). Rows whose id is stored are updated, so loading
the same rows twice changes nothing the second time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Table, literal, select
from sqlalchemy.dialects import postgresql, sqlite


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    records = cast(list[dict[str, Any]], frame[columns].to_dict(orient="records"))
    for record in records:
        for key, value in record.items():
            # pandas hands missing values back as NaN/NaT/NA; the database wants NULL.
            if value is None or value is pd.NaT or value is pd.NA:
                record[key] = None
            elif isinstance(value, float) and math.isnan(value):
                record[key] = None
    return records


def upsert_frame(connection: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert ``frame``'s rows into ``table``, updating rows whose primary key exists.

    Returns the number of rows sent. Columns of ``frame`` that ``table`` lacks are ignored.
    """
    if frame.empty:
        return 0
    columns = [column.name for column in table.columns if column.name in frame.columns]
    key = [column.name for column in table.primary_key.columns]
    dialect = connection.dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(f"no upsert for {dialect}")
    updates = {name: insert.excluded[name] for name in columns if name not in key}
    statement = insert.on_conflict_do_update(index_elements=key, set_=updates)
    records = _records(frame, columns)
    connection.execute(statement, records)
    return len(records)


class BulkUpsert:
    """Upserts batches of rows in the store's form into one table, fast, in the caller's
    transaction.

    The store's form is what ingestion produces: text and ISO ``YYYY-MM-DD`` dates as
    strings, integers as ``Int64``, booleans as ``boolean``, missing values as NA. Only the
    frame's columns are written, so a column absent from the input keeps its stored
    values. Rows already stored with the same values are left alone, so loading the same
    rows twice writes nothing the second time. Use :func:`bulk_upsert` to get the right
    one for the connection's backend.

    With ``unique_ids`` the caller promises that no id repeats across all the batches it
    writes; then, if the table is empty when the writer is made, no stored row can
    conflict and rows are plainly inserted (or, on PostgreSQL, copied straight in),
    which is what makes a first load as fast as a bulk load.
    """

    def __init__(self, connection: Connection, table: Table, *, unique_ids: bool = False) -> None:
        self.connection = connection
        self.table = table
        self.key = [column.name for column in table.primary_key.columns]
        self.unique_ids = unique_ids
        # Decided once, before this writer's first batch: later batches would see its
        # own rows.
        self._plain_insert = unique_ids and self._is_empty()

    def _is_empty(self) -> bool:
        query = select(literal(1)).select_from(self.table).limit(1)
        return self.connection.execute(query).first() is None

    #: Whether :meth:`write` mostly waits outside the GIL, so that running it on another
    #: thread overlaps with the caller's work.
    overlaps: bool = False

    def write(self, frame: pd.DataFrame) -> int:
        """Upsert ``frame``'s rows; returns how many were inserted or changed."""
        raise NotImplementedError

    def close(self) -> None:
        """Release per-load resources (the transaction itself stays the caller's)."""

    def _columns(self, frame: pd.DataFrame) -> list[str]:
        return [column.name for column in self.table.columns if column.name in frame.columns]


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


class SQLiteBulkUpsert(BulkUpsert):
    """SQLite: one DBAPI ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` per batch.

    Going straight to sqlite3 with tuples avoids SQLAlchemy's per-row parameter
    processing, which would otherwise cost more than SQLite's own work. sqlite3 takes
    the GIL back for every row, so a background thread would only fight the caller for
    it: these writes run on the caller's thread (``overlaps`` is False).
    """

    #: SQLite's page cache while this writer exists, in KiB. The default 2 MiB makes
    #: every insert into a large index a read from disk; 256 MiB halves a big load's time.
    CACHE_KIB = 256 * 1024

    def __init__(self, connection: Connection, table: Table, *, unique_ids: bool = False) -> None:
        super().__init__(connection, table, unique_ids=unique_ids)
        driver = connection.connection.driver_connection
        assert driver is not None
        self._previous_cache = driver.execute("PRAGMA cache_size").fetchone()[0]
        driver.execute(f"PRAGMA cache_size = -{self.CACHE_KIB}")

    def close(self) -> None:
        # The connection goes back to the pool; it should not keep the big cache.
        driver = self.connection.connection.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA cache_size = {int(self._previous_cache)}")

    def write(self, frame: pd.DataFrame) -> int:
        if frame.empty:
            return 0
        columns = self._columns(frame)
        values = [_python_values(frame[name]) for name in columns]
        statement = self._statement(columns, plain=self._plain_insert)
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(statement, list(zip(*values, strict=True)))
            changed = int(cursor.rowcount)
        finally:
            cursor.close()
        return changed

    def _statement(self, columns: list[str], *, plain: bool = False) -> str:
        table = f'"{self.table.name}"'
        placeholders = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table} ({_quoted(columns)}) VALUES ({placeholders})"
        if plain:
            return statement
        updated = [name for name in columns if name not in self.key]
        if not updated:
            return statement + f" ON CONFLICT ({_quoted(self.key)}) DO NOTHING"
        assignments = ", ".join(f'"{name}" = excluded."{name}"' for name in updated)
        stored = ", ".join(f'{table}."{name}"' for name in updated)
        incoming = ", ".join(f'excluded."{name}"' for name in updated)
        # The WHERE makes an unchanged row a no-op, so re-ingesting rewrites nothing.
        return (
            f"{statement} ON CONFLICT ({_quoted(self.key)}) DO UPDATE SET {assignments} "
            f"WHERE ({stored}) IS NOT ({incoming})"
        )


class PostgresBulkUpsert(BulkUpsert):
    """PostgreSQL: ``COPY`` into a temporary staging table, then one
    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` per batch.

    COPY is PostgreSQL's fastest way in; the staging table lets the upsert and the
    "only when values differ" rule run set-wise inside the server. The work happens in
    the server while psycopg waits without the GIL, so ``overlaps`` is True.
    """

    overlaps = True

    def __init__(self, connection: Connection, table: Table, *, unique_ids: bool = False) -> None:
        super().__init__(connection, table, unique_ids=unique_ids)
        self.staging = f"dealer_risk_staging_{table.name}"
        self._created = False

    def _driver(self) -> Any:
        return self.connection.connection.driver_connection

    def write(self, frame: pd.DataFrame) -> int:
        if frame.empty:
            return 0
        columns = self._columns(frame)
        driver = self._driver()
        if self._plain_insert:
            with driver.cursor() as cursor:
                with cursor.copy(
                    f'COPY "{self.table.name}" ({_quoted(columns)}) FROM STDIN (FORMAT csv)'
                ) as copy:
                    copy.write(_csv_bytes(frame[columns]))
                return int(cursor.rowcount)
        with driver.cursor() as cursor:
            if not self._created:
                # LIKE copies column types, so COPY parses dates and booleans as the
                # target would; the table disappears with the transaction.
                cursor.execute(
                    f'CREATE TEMPORARY TABLE "{self.staging}" '
                    f'(LIKE "{self.table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
                )
                self._created = True
            else:
                cursor.execute(f'TRUNCATE "{self.staging}"')
            with cursor.copy(
                f'COPY "{self.staging}" ({_quoted(columns)}) FROM STDIN (FORMAT csv)'
            ) as copy:
                copy.write(_csv_bytes(frame[columns]))
            cursor.execute(self._statement(columns))
            return int(cursor.rowcount)

    def _statement(self, columns: list[str]) -> str:
        table = f'"{self.table.name}"'
        selected = _quoted(columns)
        statement = (
            f'INSERT INTO {table} ({selected}) SELECT {selected} FROM "{self.staging}" '
            f"ON CONFLICT ({_quoted(self.key)}) "
        )
        updated = [name for name in columns if name not in self.key]
        if not updated:
            return statement + "DO NOTHING"
        assignments = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in updated)
        stored = ", ".join(f'{table}."{name}"' for name in updated)
        incoming = ", ".join(f'EXCLUDED."{name}"' for name in updated)
        return (
            f"{statement}DO UPDATE SET {assignments} WHERE ({stored}) IS DISTINCT FROM ({incoming})"
        )

    def close(self) -> None:
        if self._created:
            with self._driver().cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS "{self.staging}"')
            self._created = False


def bulk_upsert(connection: Connection, table: Table, *, unique_ids: bool = False) -> BulkUpsert:
    """The fast batch upserter for ``connection``'s backend (see :class:`BulkUpsert`).

    Examples
    --------
    >>> with engine.begin() as connection:  # doctest: +SKIP
    ...     writer = bulk_upsert(connection, schema.traces)
    ...     writer.write(frame)
    ...     writer.close()
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return SQLiteBulkUpsert(connection, table, unique_ids=unique_ids)
    if dialect == "postgresql":
        return PostgresBulkUpsert(connection, table, unique_ids=unique_ids)
    raise NotImplementedError(f"no bulk upsert for {dialect}")  # pragma: no cover


def _python_values(column: pd.Series) -> list[Any]:
    """A column as Python scalars, None for missing (sqlite3 binds neither NA nor numpy)."""
    missing = column.isna()
    if not missing.any():
        return column.astype(object).tolist() if column.dtype != object else column.tolist()
    return column.astype(object).where(~missing, None).tolist()


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as headerless CSV for COPY: nulls unquoted-empty, which COPY reads as NULL."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    return bytes(sink.getvalue())

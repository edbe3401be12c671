"""Columnar reads of the store: one path for features, training, scoring and serving.

Tables come out of the store as Arrow through ADBC (the Arrow project's database drivers,
``adbc-driver-sqlite`` and ``adbc-driver-postgresql``), never as row objects: building a
DataFrame from SQLAlchemy ``Row`` objects cost about 54 s for the 80,000-licensee world's
event tables, against about 4 s for a columnar read (docs/benchmarks.md, "Store reads and
the features command"). SQLAlchemy still owns the schema, the migrations and every write
that needs a transaction shared with other statements; this module only reads.

``read_table(engine, name, known_before=as_of)`` reads only what a feature table on
``as_of`` may use (events known strictly before it, licensees licensed before it); the
pipelines apply the same rule again, so the filter is for speed, not for correctness.

Example
-------
>>> frames = read_tables(engine, known_before=dt.date(2024, 1, 1))  # doctest: +SKIP
>>> frames["traces"]["trace_date"].dtype  # doctest: +SKIP
dtype('<M8[s]')
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_postgresql
import adbc_driver_sqlite.dbapi as adbc_sqlite
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from adbc_driver_sqlite import StatementOptions as adbc_sqlite_options
from sqlalchemy import Engine

from data.contract import TABLES_BY_NAME, Kind
from data.contract import Table as ContractTable

#: The contract tables in the order features read them.
EVENT_TABLE_NAMES = ("dealers", "traces", "multiple_sales", "inspections", "theft_loss")


@contextlib.contextmanager
def arrow_connection(engine: Engine) -> Iterator[Any]:
    """An ADBC connection to the database ``engine`` points at (SQLite or PostgreSQL).

    ADBC's SQLite driver carries its own copy of SQLite. Two copies in one process must
    never hold the same file open at once: POSIX locks are per process, so each copy
    would take the other's write-ahead-log index for abandoned and reset it ("disk I/O
    error"; sqlite.org/howtocorrupt.html, 2.2.1). So the engine's idle connections are
    closed first, and a process that keeps SQLite connections open elsewhere (the API
    server) does not use this path: it reads stored lists through SQLAlchemy.
    """
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        engine.dispose()
        connection = adbc_sqlite.connect(url.database or ":memory:")
    elif backend == "postgresql":
        uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = adbc_postgresql.connect(uri)
    else:
        raise ValueError(f"no columnar driver for a {backend} store")
    try:
        yield connection
    finally:
        connection.close()


#: Rows per result batch on SQLite: all of them. ADBC's SQLite driver infers each column's
#: type from the first batch (1,024 rows by default); a nullable column empty in those
#: rows would be taken for integers and the first text or date after them would fail the
#: read ("Type mismatch ... expected INT64"). One batch makes it look at every value.
SQLITE_BATCH_ROWS = 1 << 30


def _query(connection: Any, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
    """One query's result as an Arrow table, on a cursor of its own."""
    cursor = connection.cursor()
    try:
        if isinstance(connection, adbc_sqlite.AdbcSqliteConnection):
            # Set before the statement runs: it applies to a fresh statement only.
            cursor.adbc_statement.set_options(
                **{adbc_sqlite_options.BATCH_ROWS.value: str(SQLITE_BATCH_ROWS)})
        cursor.execute(sql, parameters or None)
        table: pa.Table = cursor.fetch_arrow_table()
        return table
    finally:
        cursor.close()


def fetch_arrow(engine: Engine, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
    """The result of one query as an Arrow table (positional ``?``/``$n`` parameters)."""
    with arrow_connection(engine) as connection:
        return _query(connection, sql, parameters)


def _quoted(name: str) -> str:
    # Names come from the contract, never from a caller; quoting keeps words like
    # ``kind`` or ``form`` safe on both databases.
    return '"' + name.replace('"', '""') + '"'


def table_query(spec: ContractTable, known_before: dt.date | None = None) -> str:
    """The SQL that reads one contract table, in id order, optionally before a date."""
    columns = ", ".join(_quoted(column.name) for column in spec.columns)
    sql = f"SELECT {columns} FROM {_quoted(spec.name)}"
    if known_before is not None:
        # An ISO date literal compares correctly with SQLite's text dates and PostgreSQL's
        # DATE columns alike; it comes from a ``date`` object, never from text.
        day = f"'{dt.date.fromordinal(known_before.toordinal()).isoformat()}'"
        if spec.known_date is not None:
            sql += f" WHERE {_quoted(spec.known_date)} < {day}"
        elif spec.name == "dealers":
            issue = _quoted("license_issue_date")
            sql += f" WHERE {issue} IS NULL OR {issue} < {day}"
    # A fixed order makes the frames, and anything derived from them, reproducible.
    return sql + f" ORDER BY {_quoted(spec.id_column)}"


def _values_and_mask(values: pa.ChunkedArray, fill: object) -> tuple[Any, Any]:
    """A column's values as NumPy (nulls replaced by ``fill``) and its null mask.

    Building pandas' masked arrays from these two is one copy each, where going through
    ``pd.ArrowDtype`` and ``astype`` converts element by element.
    """
    missing = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    filled = values.fill_null(pa.scalar(fill, type=values.type))
    return np.asarray(filled.to_numpy(zero_copy_only=False)), missing


def _typed_column(values: pa.ChunkedArray, kind: Kind, required: bool) -> pd.Series:
    """One column in the contract's pandas type, converted while still in Arrow."""
    if values.null_count == len(values):
        # An empty column has no type to read (SQLite's driver says int64): start typed.
        target = {Kind.DATE: pa.date32(), Kind.INTEGER: pa.int64(),
                  Kind.BOOLEAN: pa.bool_(), Kind.TEXT: pa.string()}[kind]
        values = pa.chunked_array([pa.nulls(len(values), target)], type=target)
    if kind is Kind.DATE:
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            values = pc.cast(values, pa.date32())
        elif pa.types.is_null(values.type):
            values = values.cast(pa.date32())
        return pd.Series(values.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False),
                         dtype="datetime64[s]")
    if kind is Kind.INTEGER:
        if required:
            return pd.Series(values.cast(pa.int64()).to_numpy(zero_copy_only=False),
                             dtype="int64")
        numbers, missing = _values_and_mask(values.cast(pa.int64()), 0)
        return pd.Series(pd.arrays.IntegerArray(numbers.astype(np.int64), missing))
    if kind is Kind.BOOLEAN:
        # SQLite stores booleans as 0/1 integers; PostgreSQL returns Arrow booleans.
        flags, missing = _values_and_mask(values.cast(pa.bool_()), False)
        return pd.Series(pd.arrays.BooleanArray(flags.astype(bool), missing))
    text: pd.Series = values.cast(pa.string()).to_pandas().astype("str")
    return text


def typed_frame(spec: ContractTable, table: pa.Table) -> pd.DataFrame:
    """A contract table as pandas: datetime64 dates, nullable ints and booleans, text.

    Text is pandas' ``str`` dtype (missing values NaN), as the pipelines expect; columns
    the result lacks come out null.
    """
    columns: dict[str, pd.Series] = {}
    for column in spec.columns:
        if column.name in table.column_names:
            values = table.column(column.name)
        else:
            values = pa.chunked_array([pa.nulls(table.num_rows)])
        columns[column.name] = _typed_column(values, column.kind, column.required)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def read_table(engine: Engine, name: str, known_before: dt.date | None = None) -> pd.DataFrame:
    """One contract table from the store, typed; optionally only rows usable before a date."""
    spec = TABLES_BY_NAME[name]
    return typed_frame(spec, fetch_arrow(engine, table_query(spec, known_before)))


def read_tables(
    engine: Engine, known_before: dt.date | None = None,
    names: Sequence[str] = EVENT_TABLE_NAMES,
) -> dict[str, pd.DataFrame]:
    """Several contract tables over one connection (see :func:`read_table`)."""
    frames = {}
    with arrow_connection(engine) as connection:
        for name in names:
            spec = TABLES_BY_NAME[name]
            frames[name] = typed_frame(spec, _query(connection, table_query(spec, known_before)))
    return frames

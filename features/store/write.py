"""Writing contract rows into the store: upsert by id, inside the caller's transaction.

Callers pass a DataFrame already in the contract's typed form (dates as ``date``,
integers, booleans, ``None`` for null). Rows whose id is stored are updated, so loading
the same rows twice changes nothing the second time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    records = frame[columns].to_dict(orient="records")
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


def upsert_batches(connection: Connection, table: Table, frames: Iterable[pd.DataFrame]) -> int:
    """``upsert_frame`` over several frames; returns the total number of rows sent."""
    return sum(upsert_frame(connection, table, frame) for frame in frames)

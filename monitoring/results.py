"""The stored results of ``dealer-risk monitor``: what the pages read.

Each ``monitor`` run stores its whole output (the JSON it prints) in the store, keyed by
the champion's version and the monitoring date. The monitoring and enforcement pages read
the newest stored result instead of recomputing it: a result takes seconds to compute
(the feature table for drift, every plan's outcomes) and needs the columnar read path,
which the API server never uses. A newer ``monitor`` run for the same version and date
supersedes the older one; the older rows stay as the record.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
)

from data.store.schema import metadata
from data.store.values import as_date, as_utc

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("result_id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", Date, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("output", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitor_results_model_version_as_of", "model_version", "as_of"),
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class MonitorResult:
    """One stored ``monitor`` output."""

    result_id: int
    as_of: dt.date
    model_version: str
    created_at: dt.datetime
    output: dict[str, Any]


def store_result(engine: Engine, output: dict[str, Any], created_at: dt.datetime) -> int:
    """Store one ``monitor`` output (never replacing one); its id."""
    with engine.begin() as connection:
        result_id = connection.execute(insert(monitor_results).values(
            as_of=dt.date.fromisoformat(str(output["as_of"])),
            model_version=str(output["model_version"]),
            output=json.dumps(output, default=str, sort_keys=True),
            created_at=created_at,
        ).returning(monitor_results.c.result_id)).scalar_one()
    return int(result_id)


def _result(row: Any) -> MonitorResult:
    return MonitorResult(result_id=int(row["result_id"]), as_of=as_date(row["as_of"]),
                         model_version=str(row["model_version"]),
                         created_at=as_utc(row["created_at"]),
                         output=json.loads(row["output"]))


def result_keys(engine: Engine, model_version: str | None = None
                ) -> list[tuple[int, dt.date, str]]:
    """(id, monitoring date, model version) of the newest stored result per date and
    version, newest date first (a date monitored more than once gives its latest run)."""
    statement = select(monitor_results.c.result_id, monitor_results.c.as_of,
                       monitor_results.c.model_version)
    if model_version is not None:
        statement = statement.where(monitor_results.c.model_version == model_version)
    statement = statement.order_by(monitor_results.c.as_of.desc(),
                                   monitor_results.c.result_id.desc())
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    chosen: dict[tuple[str, dt.date], int] = {}
    for result_id, as_of, version in rows:
        chosen.setdefault((str(version), as_date(as_of)), int(result_id))
    return [(result_id, as_of, version) for (version, as_of), result_id in chosen.items()]


def result_by_id(engine: Engine, result_id: int) -> MonitorResult | None:
    """One stored result, or None."""
    with engine.connect() as connection:
        row = connection.execute(select(monitor_results).where(
            monitor_results.c.result_id == result_id)).mappings().first()
    return _result(row) if row else None

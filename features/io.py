"""Reading the contract tables out of the store, and writing feature tables to files.

``load_tables(engine, known_before=as_of)`` reads only what a feature table on ``as_of``
may use (events known strictly before it, licensees licensed before it); the pipelines
apply the same rule again, so the filter is for speed, not for correctness.

Feature files are byte-identical for identical features: rows in license-number order,
columns in catalogue order, floats written with a fixed format, and no timestamps.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, Select, or_, select

from features.catalogue import FEATURE_NAMES
from features.contract import TABLES_BY_NAME, Kind
from features.pipelines.tables import EventTables
from features.store import schema

#: Enough significant digits to round-trip any feature value that matters, few enough
#: that the CSV reads cleanly ("0.333333333333" rather than 17 digits of noise).
CSV_FLOAT_FORMAT = "%.12g"
FEATURE_FILE_SUFFIXES = (".csv", ".parquet")


def _query(name: str, known_before: dt.date | None) -> Select[tuple[object, ...]]:
    table = schema.CONTRACT_TABLES[name]
    statement = select(table)
    spec = TABLES_BY_NAME[name]
    if known_before is not None:
        if spec.known_date is not None:
            statement = statement.where(table.c[spec.known_date] < known_before)
        elif name == "dealers":
            issue = table.c["license_issue_date"]
            statement = statement.where(or_(issue.is_(None), issue < known_before))
    # A fixed order makes the frames, and anything derived from them, reproducible.
    return statement.order_by(table.c[spec.id_column])


def _typed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in the contract's types: datetime64 dates, nullable ints and booleans, text."""
    spec = TABLES_BY_NAME[name]
    typed: dict[str, pd.Series] = {}
    for column in spec.columns:
        values = (
            frame[column.name]
            if column.name in frame.columns
            else pd.Series([None] * len(frame), dtype=object)
        )
        match column.kind:
            case Kind.DATE:
                typed[column.name] = pd.to_datetime(values).astype("datetime64[s]")
            case Kind.INTEGER:
                typed[column.name] = pd.to_numeric(values).astype(
                    "int64" if column.required else "Int64"
                )
            case Kind.BOOLEAN:
                typed[column.name] = values.astype("boolean")
            case Kind.TEXT:
                typed[column.name] = values.astype("str").where(values.notna(), None)
    return pd.DataFrame(typed, index=pd.RangeIndex(len(frame)))


def read_table(engine: Engine, name: str, known_before: dt.date | None = None) -> pd.DataFrame:
    """One contract table from the store, typed; optionally only rows usable before a date."""
    with engine.connect() as connection:
        result = connection.execute(_query(name, known_before))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return _typed(name, frame)


def load_tables(engine: Engine, known_before: dt.date | None = None) -> EventTables:
    """The contract tables in the store as :class:`EventTables`.

    With ``known_before``, only events whose known-date is strictly before it and only
    licensees without an issue date or licensed before it are read.
    """
    frames = {
        name: read_table(engine, name, known_before)
        for name in ("dealers", "traces", "multiple_sales", "inspections", "theft_loss")
    }
    return EventTables.from_mapping(frames)


def write_feature_table(features: pd.DataFrame, path: Path) -> None:
    """Write a feature table (index ``license_number``) as CSV or Parquet by suffix.

    The output depends only on the table's values, so equal tables give equal bytes.
    """
    suffix = path.suffix.lower()
    if suffix not in FEATURE_FILE_SUFFIXES:
        raise ValueError(f"{path}: the feature file must end in .csv or .parquet")
    frame = features.sort_index(kind="stable").reset_index()
    frame = frame[["license_number", *[name for name in FEATURE_NAMES if name in frame.columns]]]
    frame["license_number"] = frame["license_number"].astype("str")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
    else:
        frame.to_parquet(path, index=False, engine="pyarrow", compression="zstd")

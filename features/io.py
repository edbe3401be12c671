"""The store's contract tables as :class:`EventTables`, and feature tables written to files.

``load_tables(engine, known_before=as_of)`` reads, through the store's one columnar read
path (``data.store.read``), only what a feature table on ``as_of`` may use.

Feature files are byte-identical for identical features: rows in license-number order,
columns in catalogue order, floats written with a fixed format, and no timestamps.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from data.store.read import read_tables
from features.catalogue import FEATURE_NAMES
from features.pipelines.tables import EventTables

#: Enough significant digits to round-trip any feature value that matters, few enough
#: that the CSV reads cleanly ("0.333333333333" rather than 17 digits of noise).
CSV_FLOAT_FORMAT = "%.12g"
FEATURE_FILE_SUFFIXES = (".csv", ".parquet")


def load_tables(engine: Engine, known_before: dt.date | None = None) -> EventTables:
    """The contract tables in the store as :class:`EventTables`.

    With ``known_before``, only events whose known-date is strictly before it and only
    licensees without an issue date or licensed before it are read.
    """
    return EventTables.from_mapping(read_tables(engine, known_before))


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

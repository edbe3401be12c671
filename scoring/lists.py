"""Stored scored lists: one row per list, one narrow row per licensee, one artifact.

A list is written once by ``dealer-risk score`` and never changed or replaced: scoring the
same model and date again makes a new list with a new id (ids are never reused, so a
cursor or a cached page of an older list can always tell it is stale).

What is stored, in one transaction:

- ``score_lists``: the list's identity (model name and version, as-of date, catalogue
  version, base value, how many licensees and how many of them are synthetic, the
  calibration), so every number shown can be traced to a model version and a date;
- ``scores``: per licensee the score, raw score, rank, percentile and top reasons, for
  queries across lists (a licensee's score history, what changed between lists);
- ``score_list_artifacts``: the whole list as one Parquet file (zstd), with every
  licensee's feature values, SHAP contributions and peer percentiles. Serving reads only
  this at load: no model call, no feature rebuild.

The Parquet file has one row per licensee in rank order, the columns of
:attr:`ScoredList.rows` (``top_reasons`` as lists of strings) and, per feature ``F``,
``value:F``, ``shap:F`` and ``peer:F``; its schema metadata (``dealer_risk``) holds the
list's identity and the feature order. What speaks for a licensee is told from its
``shap:`` and ``value:`` columns when its explanation is asked for; the
``lowering_reasons`` column of files written before that is not read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    insert,
    select,
)

from data.store.schema import metadata
from data.store.values import as_date, as_utc
from scoring.score import PROFILE_COLUMNS, ScoredList

ARTIFACT_MEDIA_TYPE = "application/vnd.apache.parquet"
_METADATA_KEY = b"dealer_risk"

score_lists = Table(
    "score_lists",
    metadata,
    Column("list_id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(100), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("licensee_count", Integer, nullable=False),
    Column("calibration", Text),
    Column("catalogue_version", String(32)),
    Column("base_value", Float),
    Column("synthetic_licensees", Integer),
    sqlite_autoincrement=True,
)

scores = Table(
    "scores",
    metadata,
    Column("list_id", Integer, ForeignKey("score_lists.list_id", ondelete="CASCADE"),
           primary_key=True),
    Column("license_number", String(32), primary_key=True),
    Column("score", Float, nullable=False),
    Column("raw_score", Float, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("percentile", Float, nullable=False),
    Column("top_reasons", Text, nullable=False),
    Index("ix_scores_list_id_rank", "list_id", "rank"),
    Index("ix_scores_license_number", "license_number"),
)

score_list_artifacts = Table(
    "score_list_artifacts",
    metadata,
    Column("list_id", Integer, ForeignKey("score_lists.list_id", ondelete="CASCADE"),
           primary_key=True),
    Column("media_type", String(64), nullable=False),
    Column("byte_count", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class ListInfo:
    """A stored list's identity: what every number read from it is traced to."""

    list_id: int
    model_name: str
    model_version: str
    as_of: dt.date
    created_at: dt.datetime
    licensee_count: int
    catalogue_version: str | None
    synthetic_licensees: int | None
    has_artifact: bool


#: The list-of-text columns of :attr:`ScoredList.rows`.
REASON_COLUMNS = ("top_reasons",)


def to_parquet(scored: ScoredList, model_name: str) -> bytes:
    """The list as one Parquet file (see the module docstring)."""
    rows = scored.rows
    columns: dict[str, Any] = {
        "license_number": pa.array(rows["license_number"].astype(str), type=pa.string()),
        "score": rows["score"].to_numpy(dtype=float),
        "raw_score": rows["raw_score"].to_numpy(dtype=float),
        "rank": rows["rank"].to_numpy(dtype=np.int64),
        "percentile": rows["percentile"].to_numpy(dtype=float),
        # Profile text: None (or pandas' NaN for a missing string) is stored as null.
        **{name: pa.array(rows[name], type=pa.string(), from_pandas=True)
           for name in PROFILE_COLUMNS},
    }
    for name in REASON_COLUMNS:
        columns[name] = pa.array(scored.rows[name].tolist(), type=pa.list_(pa.string()))
    for prefix, matrix in (("value", scored.feature_values), ("shap", scored.contributions),
                           ("peer", scored.peer_percentiles)):
        for column, name in enumerate(scored.features):
            columns[f"{prefix}:{name}"] = matrix[:, column]
    table = pa.table(columns)
    identity = {
        "model_name": model_name, "model_version": scored.model_version,
        "as_of": scored.as_of.isoformat(), "catalogue_version": scored.catalogue_version,
        "base_value": scored.base_value, "features": list(scored.features),
    }
    table = table.replace_schema_metadata({_METADATA_KEY: json.dumps(identity).encode()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def from_parquet(content: bytes) -> ScoredList:
    """A list read back from :func:`to_parquet`'s bytes."""
    table = pq.read_table(pa.BufferReader(content))
    identity = json.loads(table.schema.metadata[_METADATA_KEY])
    features = tuple(identity["features"])

    def matrix(prefix: str) -> np.ndarray:
        if not features:
            return np.empty((table.num_rows, 0))
        return np.column_stack([
            table.column(f"{prefix}:{name}").to_numpy() for name in features
        ]).astype(float, copy=False)

    rows = pd.DataFrame({
        "license_number": np.asarray(table.column("license_number").to_pylist(), dtype=object),
        **{name: table.column(name).to_numpy()
           for name in ("score", "raw_score", "rank", "percentile")},
        "top_reasons": table.column("top_reasons").to_pylist(),
        # Object columns keep None for a missing value (pandas would infer NaN).
        **{name: pd.Series(table.column(name).to_pylist(), dtype=object)
           for name in PROFILE_COLUMNS},
    })
    return ScoredList(
        model_version=str(identity["model_version"]), as_of=as_date(identity["as_of"]),
        catalogue_version=str(identity["catalogue_version"]),
        base_value=float(identity["base_value"]), features=features, rows=rows,
        feature_values=matrix("value"), contributions=matrix("shap"),
        peer_percentiles=matrix("peer"),
    )


def store_score_list(
    engine: Engine, scored: ScoredList, *, model_name: str, calibration: str,
    created_at: dt.datetime,
) -> int:
    """Store a scored list as a new list (never replacing one); its id."""
    content = to_parquet(scored, model_name)
    with engine.begin() as connection:
        list_id = connection.execute(insert(score_lists).values(
            model_name=model_name, model_version=scored.model_version, as_of=scored.as_of,
            created_at=created_at, licensee_count=len(scored), calibration=calibration,
            catalogue_version=scored.catalogue_version, base_value=scored.base_value,
            synthetic_licensees=scored.synthetic_licensees,
        ).returning(score_lists.c.list_id)).scalar_one()
        rows = scored.rows
        records = [
            {"list_id": list_id, "license_number": number, "score": score, "raw_score": raw,
             "rank": rank, "percentile": percentile, "top_reasons": json.dumps(reasons)}
            for number, score, raw, rank, percentile, reasons in zip(
                rows["license_number"].astype(str).tolist(),
                rows["score"].astype(float).tolist(),
                rows["raw_score"].astype(float).tolist(),
                rows["rank"].astype(int).tolist(),
                rows["percentile"].astype(float).tolist(),
                rows["top_reasons"].tolist(),
                strict=True,
            )
        ]
        for start in range(0, len(records), 20_000):
            connection.execute(insert(scores), records[start:start + 20_000])
        connection.execute(insert(score_list_artifacts).values(
            list_id=list_id, media_type=ARTIFACT_MEDIA_TYPE, byte_count=len(content),
            sha256=hashlib.sha256(content).hexdigest(), content=content,
        ))
    return int(list_id)


def _info(row: Any) -> ListInfo:
    return ListInfo(
        list_id=int(row["list_id"]), model_name=str(row["model_name"]),
        model_version=str(row["model_version"]), as_of=as_date(row["as_of"]),
        created_at=as_utc(row["created_at"]), licensee_count=int(row["licensee_count"]),
        catalogue_version=row["catalogue_version"],
        synthetic_licensees=(None if row["synthetic_licensees"] is None
                             else int(row["synthetic_licensees"])),
        has_artifact=row["has_artifact"] is not None,
    )


def _lists_query() -> Any:
    return (select(*score_lists.c, score_list_artifacts.c.list_id.label("has_artifact"))
            .outerjoin(score_list_artifacts,
                       score_list_artifacts.c.list_id == score_lists.c.list_id))


def latest_list(
    engine: Engine, model_version: str | None = None, *, servable: bool = False,
    on_or_before: dt.date | None = None,
) -> ListInfo | None:
    """The newest stored list (of ``model_version`` when given), or None.

    Newest means the latest as-of date, then the latest list id. With ``servable``, only
    lists with an artifact count (lists stored before artifacts existed have none); with
    ``on_or_before``, only lists as of that date or earlier.
    """
    statement = _lists_query().order_by(score_lists.c.as_of.desc(),
                                        score_lists.c.list_id.desc()).limit(1)
    if model_version is not None:
        statement = statement.where(score_lists.c.model_version == model_version)
    if on_or_before is not None:
        statement = statement.where(score_lists.c.as_of <= on_or_before)
    if servable:
        statement = statement.where(score_list_artifacts.c.list_id.is_not(None))
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    return _info(row) if row else None


def list_info(engine: Engine, list_id: int) -> ListInfo | None:
    """One stored list's identity, or None when there is no such list."""
    statement = _lists_query().where(score_lists.c.list_id == list_id)
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    return _info(row) if row else None


def stored_lists(engine: Engine, limit: int = 50) -> list[ListInfo]:
    """The newest stored lists, newest first."""
    statement = _lists_query().order_by(score_lists.c.as_of.desc(),
                                        score_lists.c.list_id.desc()).limit(limit)
    with engine.connect() as connection:
        return [_info(row) for row in connection.execute(statement).mappings()]


class ArtifactMissing(LookupError):
    """The list has no stored artifact (it was stored before artifacts existed)."""


def read_score_list(engine: Engine, list_id: int) -> ScoredList:
    """The whole stored list ``list_id``, checked against its recorded hash."""
    artifacts = score_list_artifacts
    with engine.connect() as connection:
        row = connection.execute(
            select(artifacts.c.content, artifacts.c.sha256).where(artifacts.c.list_id == list_id)
        ).first()
    if row is None:
        raise ArtifactMissing(f"list {list_id} has no stored artifact: run `dealer-risk score`")
    content = bytes(row.content)
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise ValueError(f"list {list_id}'s artifact does not match its recorded hash")
    return from_parquet(content)

"""Scoring every active licensee, and storing the scored list for serving.

A scored list is traceable: it records the model version and the as-of date, and every
row keeps its raw score (log-odds), calibrated score, rank, percentile and top reasons.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from features.pipelines.build import build_features
from features.pipelines.tables import EventTables
from features.store import schema
from models.bundle import ModelBundle
from models.reasons import top_reasons


def rankable_features(tables: EventTables, as_of: dt.date) -> pd.DataFrame:
    """The feature table of every licensee active on ``as_of``: who gets a score.

    The contract says ``score`` covers every active licensee, so collectors (type 03,
    which the glossary calls "not ranked") are scored too; they sell no retail firearms,
    so they rank low, and a list filtered by license type leaves them out.
    """
    return build_features(tables, as_of)


def score_features(features: pd.DataFrame, bundle: ModelBundle, reasons: int = 3) -> pd.DataFrame:
    """Scores, ranks, percentiles and top reasons for a feature table (index: licensee).

    Rank 1 is inspected first; ties are broken by license number so lists are stable.
    ``percentile`` is the share of scored licensees ranked below this one, in percent.
    """
    scored = bundle.score(features)
    explanation = bundle.explain(features)
    texts = [[reason.text for reason in row]
             for row in top_reasons(explanation.contributions, features[bundle.features], reasons)]
    frame = pd.DataFrame({
        "license_number": features.index.astype(str),
        "score": scored["score"].to_numpy(),
        "raw_score": scored["raw_score"].to_numpy(),
        "top_reasons": texts,
    })
    frame = frame.sort_values(["raw_score", "license_number"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)
    n = len(frame)
    frame["rank"] = np.arange(1, n + 1)
    frame["percentile"] = 100.0 * (n - frame["rank"]) / n if n else []
    return frame[["license_number", "score", "raw_score", "rank", "percentile", "top_reasons"]]


def write_score_csv(scores: pd.DataFrame, path: str) -> None:
    """The contract's score file: license_number, score, rank, plus percentile and reasons."""
    out = scores.copy()
    for i in range(3):
        out[f"reason_{i + 1}"] = [row[i] if len(row) > i else "" for row in out["top_reasons"]]
    out = out.drop(columns=["top_reasons"])
    out.to_csv(path, index=False, float_format="%.10g")


def store_score_list(
    engine: Engine,
    scores: pd.DataFrame,
    *,
    model_name: str,
    model_version: str,
    as_of: dt.date,
    calibration: str,
    created_at: dt.datetime,
) -> int:
    """Store a scored list (replacing one of the same model version and date); its id."""
    lists, rows = schema.score_lists, schema.scores
    with engine.begin() as connection:
        connection.execute(delete(lists).where(
            (lists.c.model_name == model_name) & (lists.c.model_version == model_version)
            & (lists.c.as_of == as_of)))
        list_id = connection.execute(insert(lists).values(
            model_name=model_name, model_version=model_version, as_of=as_of,
            created_at=created_at, licensee_count=len(scores), calibration=calibration,
        ).returning(lists.c.list_id)).scalar_one()
        records = [
            {"list_id": list_id, "license_number": number, "score": score, "raw_score": raw,
             "rank": rank, "percentile": percentile, "top_reasons": json.dumps(reasons)}
            for number, score, raw, rank, percentile, reasons in zip(
                scores["license_number"].astype(str).tolist(),
                scores["score"].astype(float).tolist(),
                scores["raw_score"].astype(float).tolist(),
                scores["rank"].astype(int).tolist(),
                scores["percentile"].astype(float).tolist(),
                scores["top_reasons"].tolist(),
                strict=True,
            )
        ]
        for start in range(0, len(records), 20_000):
            connection.execute(insert(rows), records[start:start + 20_000])
    return int(list_id)


def latest_score_list(engine: Engine, model_version: str | None = None) -> dict[str, object] | None:
    """The newest stored list (of ``model_version`` when given), as a dict, or None."""
    lists = schema.score_lists
    statement = select(lists).order_by(lists.c.as_of.desc(), lists.c.list_id.desc()).limit(1)
    if model_version is not None:
        statement = statement.where(lists.c.model_version == model_version)
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    return dict(row) if row else None

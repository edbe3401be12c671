"""A licensee's page: profile, current score, score history and recent inspections.

The profile, history and inspections are read from the store on each request (they are
small and change with every ingestion or scoring run); the current score comes from the
published state so it matches the list and the explanation being served.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from data.store import schema
from scoring.lists import score_lists as lists
from scoring.lists import scores
from serving.schemas import (
    CurrentScorePublic,
    DealerBase,
    DealerPublic,
    InspectionPublic,
    ScoreHistoryPublic,
)
from serving.state import ServingState

HISTORY_LISTS = 50
RECENT_INSPECTIONS = 10


def read_profile(engine: Engine, license_number: str) -> DealerBase | None:
    """The licensee's row of the dealers table, or None."""
    dealers = schema.dealers
    with engine.connect() as connection:
        row = connection.execute(
            select(dealers).where(dealers.c.license_number == license_number)
        ).mappings().first()
    return DealerBase.model_validate(dict(row)) if row else None


def read_dealer(engine: Engine, state: ServingState, profile: DealerBase) -> DealerPublic:
    """Everything the licensee's page shows."""
    inspections = schema.inspections
    license_number = profile.license_number
    history_query = (
        select(lists.c.list_id, lists.c.model_version, lists.c.as_of, lists.c.licensee_count,
               scores.c.score, scores.c.rank, scores.c.percentile)
        .join(scores, scores.c.list_id == lists.c.list_id)
        .where(scores.c.license_number == license_number)
        .order_by(lists.c.as_of.desc(), lists.c.list_id.desc())
        .limit(HISTORY_LISTS)
    )
    inspection_query = (
        select(inspections)
        .where(inspections.c.license_number == license_number)
        .order_by(inspections.c.inspection_date.desc(), inspections.c.inspection_id.desc())
        .limit(RECENT_INSPECTIONS)
    )
    with engine.connect() as connection:
        history = connection.execute(history_query).mappings().all()
        recent = connection.execute(inspection_query).mappings().all()
    return DealerPublic(
        model_version=state.model_version, as_of=state.as_of, profile=profile,
        current=current_score(state, license_number),
        history=[
            ScoreHistoryPublic(
                list_id=row["list_id"], model_version=row["model_version"],
                as_of=_date(row["as_of"]), score=row["score"], rank=row["rank"],
                percentile=row["percentile"], licensees_ranked=row["licensee_count"],
            )
            for row in history
        ],
        recent_inspections=[
            InspectionPublic(
                inspection_id=row["inspection_id"], inspection_date=_date(row["inspection_date"]),
                inspection_type=row["inspection_type"], outcome=row["outcome"],
                violation_count=row["violation_count"], missing_firearms=row["missing_firearms"],
                violation_codes=[code for code in (row["violation_codes"] or "").split(";")
                                 if code],
            )
            for row in recent
        ],
    )


def current_score(state: ServingState, license_number: str) -> CurrentScorePublic | None:
    """The licensee's place on the served list, or None when it is not on it."""
    ranked = state.ranked
    position = ranked.positions.get(license_number)
    if position is None:
        return None
    item = ranked.items[position]
    return CurrentScorePublic(
        score=item.score, raw_score=float(ranked.raw_scores[position]), rank=item.rank,
        percentile=item.percentile, top_reasons=item.top_reasons,
        licensees_ranked=len(ranked),
    )


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))

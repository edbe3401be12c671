"""``GET /api/v1/audit``: the audit log, newest first."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator

from serving.audit import read_audit_log
from serving.deps import EngineDep, HolderDep, require_supervisor, utc
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import AuditEntryPublic, AuditPagePublic


def _iso_only(value: object) -> object:
    # pydantic would read a bare number as Unix time; the schema promises ISO 8601 text.
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", value):
        raise ValueError("expected an ISO 8601 date-time such as 2024-01-31T00:00:00Z")
    return value


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only)]

router = APIRouter(
    dependencies=[Depends(require_supervisor)],
    prefix="/api/v1/audit", tags=["audit"], route_class=ApiRoute,
)


@router.get("", response_model=AuditPagePublic, responses=problem_responses(401, 403, 422))
async def audit_log(
    engine: EngineDep,
    holder: HolderDep,
    user_name: Annotated[str | None, Query(alias="user", min_length=1, max_length=100)] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    since: Annotated[IsoDateTime | None, Query(description="From (ISO 8601; UTC if no offset).")
                     ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Before (ISO 8601; UTC if no offset).")
                     ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$",
                                        description="next_cursor of the last page.")] = None,
) -> AuditPagePublic:
    """Who read which list, export, dealer, explanation or what-if, when, under which model."""
    # In UTC: PostgreSQL compares instants, and SQLite's stored text is UTC wall time
    # (SQLAlchemy writes an aware datetime's fields, so UTC in, UTC compared).
    bounds = [utc(value) for value in (since, until)]
    rows = await run_in_threadpool(
        lambda: read_audit_log(
            engine, user_name=user_name, action=action,
            since=bounds[0], until=bounds[1],
            before_event_id=int(cursor) if cursor else None, limit=limit + 1,
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [AuditEntryPublic.model_validate({**row, "at": utc(row["at"])}) for row in rows]
    state = holder.current
    return AuditPagePublic(
        model_version=state.model_version if state else None,
        as_of=state.as_of if state else None,
        next_cursor=str(items[-1].event_id) if more and items else None, items=items,
    )

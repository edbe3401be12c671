"""``GET /api/v1/audit``: the audit log, newest first.

A supervisor limited to a field division reads only the rows about that division (see
``serving.audit.row_division``; docs/security.md, "Who may see what").
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BeforeValidator

from serving.audit import read_audit_page
from serving.deps import EngineDep, HolderDep, SupervisorDep, require_supervisor, utc
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import AuditEntryPublic, AuditPagePublic

#: The largest event id (the column is a 32-bit integer on PostgreSQL).
MAX_EVENT_ID = 2**31 - 1
#: ISO 8601 as the API promises it: a date, optionally a time and an offset.
_ISO_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([Zz]|[+-]\d{2}:?\d{2})?")


def _iso_only(value: object) -> object:
    # pydantic would read a bare number (1.5e3 too) as Unix time; the schema promises ISO.
    if not isinstance(value, str) or not _ISO_DATE_TIME.fullmatch(value.strip()):
        raise ValueError("expected an ISO 8601 date-time such as 2024-01-31T00:00:00Z")
    return value.strip()


def _in_utc_range(value: dt.datetime) -> dt.datetime:
    # 0001-01-01T00:00:00+01:00 is a valid date-time whose UTC instant is before year 1.
    try:
        return utc(value) or value
    except OverflowError:
        raise ValueError("is out of range: its UTC instant is before year 1 or after "
                         "year 9999") from None


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only), AfterValidator(_in_utc_range)]

router = APIRouter(
    dependencies=[Depends(require_supervisor)],
    prefix="/api/v1/audit", tags=["audit"], route_class=ApiRoute,
)


@router.get("", response_model=AuditPagePublic, responses=problem_responses(401, 403, 422))
async def audit_log(
    engine: EngineDep,
    holder: HolderDep,
    caller: SupervisorDep,
    user_name: Annotated[str | None, Query(alias="user", min_length=1, max_length=100)] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    since: Annotated[IsoDateTime | None, Query(description="From (ISO 8601; UTC if no offset).")
                     ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Before (ISO 8601; UTC if no offset).")
                     ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(
        ge=1, le=MAX_EVENT_ID, description="next_cursor of the last page (an event id).")
    ] = None,
) -> AuditPagePublic:
    """Who read which list, export, dealer, explanation or what-if, when, under which model.

    A supervisor limited to a field division sees only the rows about that division: a
    page may then hold fewer than ``limit`` rows while ``next_cursor`` goes on.
    """
    # In UTC: PostgreSQL compares instants, and SQLite's stored text is UTC wall time
    # (SQLAlchemy writes an aware datetime's fields, so UTC in, UTC compared).
    rows, next_before = await run_in_threadpool(
        lambda: read_audit_page(
            engine, field_division=caller.user.division, user_name=user_name, action=action,
            since=since, until=until, before_event_id=cursor,
            limit=limit,
        )
    )
    items = [AuditEntryPublic.model_validate({**row, "at": utc(row["at"])}) for row in rows]
    state = holder.current
    return AuditPagePublic(
        model_version=state.model_version if state else None,
        as_of=state.as_of if state else None,
        next_cursor=str(next_before) if next_before is not None else None, items=items,
    )

"""``/api/v1/lists``: what changed between two stored lists."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool

from scoring.lists import list_info
from serving.changes import (
    change_items,
    division_items,
    previous_list_id,
    select_changes,
)
from serving.deps import ComparisonsDep, EngineDep, HolderDep, InspectorDep
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import ListChangesPublic

router = APIRouter(route_class=ApiRoute, prefix="/api/v1/lists", tags=["lists"])

ListId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A stored list's id.")]


@router.get("/{list_id}/changes", response_model=ListChangesPublic,
            responses=problem_responses(401, 403, 404, 422))
async def list_changes(
    list_id: ListId,
    caller: InspectorDep,
    engine: EngineDep,
    holder: HolderDep,
    comparisons: ComparisonsDep,
    against: Annotated[int | None, Query(
        ge=1, le=2**31 - 1,
        description="The earlier list (default: the one before by as-of date, then id).")
    ] = None,
    field_division: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: Annotated[Literal["listed", "new", "gone"] | None, Query(
        description="listed: on both lists; new: on the later only; gone: the earlier only.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000,
                                 description="next_offset of the last page.")] = 0,
) -> ListChangesPublic:
    """Per licensee the score and rank change from the earlier list; per division who
    entered and who left the top (N = the division's default plan capacity).

    Licensees are in the later list's rank order, then those no longer listed. An
    inspector limited to a field division sees only that division.
    """
    division = caller.division_filter(field_division)
    after = await run_in_threadpool(list_info, engine, list_id)
    if after is None:
        raise HTTPException(404, f"no list {list_id}")
    if against is None:
        against = await run_in_threadpool(previous_list_id, engine, after.list_id, after.as_of)
        if against is None:
            raise HTTPException(404, f"list {list_id} has no earlier list to compare with")
    before = await run_in_threadpool(list_info, engine, against)
    if before is None:
        raise HTTPException(404, f"no list {against}")
    missing = [info.list_id for info in (before, after) if not info.has_artifact]
    if missing:
        raise HTTPException(404, f"list {missing[0]} has no stored artifact to compare")
    changes = await run_in_threadpool(comparisons.get, engine, before.list_id, after.list_id)
    frame = select_changes(changes, division, status)
    total = len(frame)
    page = frame.iloc[offset:offset + limit]
    await caller.record("list.changes", f"/api/v1/lists/{list_id}/changes", holder.current, {
        "list_id": list_id, "against": before.list_id, "field_division": division,
        "status": status, "limit": limit, "offset": offset, "returned": len(page)})
    return ListChangesPublic(
        model_version=after.model_version, as_of=after.as_of, list_id=list_id,
        against_list_id=before.list_id, against_model_version=before.model_version,
        against_as_of=before.as_of, divisions=division_items(changes, division),
        total=total, limit=limit, offset=offset,
        next_offset=offset + limit if offset + limit < total else None,
        items=change_items(page),
    )

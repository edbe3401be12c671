"""``/api/v1/plans``: the stored inspection plans (a stored plan never changes) and the
inspectors' "not inspected" marks on their rows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from planning.marks import MarkError
from serving.deps import EngineDep, HolderDep, InspectorDep
from serving.plans import (
    list_plans,
    mark_row,
    plan_csv,
    plan_csv_filename,
    read_plan,
    unmark_row,
)
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import (
    LICENSE_NUMBER_MAX_LENGTH,
    PlanMarkCreate,
    PlanMarkPublic,
    PlanPublic,
    PlansPublic,
)

router = APIRouter(route_class=ApiRoute, prefix="/api/v1/plans", tags=["plans"])

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id `dealer-risk plan` "
                                                             "printed.")]
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "The plan as JSON, or as the `plan` command's CSV when asked for."},
}


@router.get("", response_model=PlansPublic, responses=problem_responses(401, 403, 422))
async def plans(caller: InspectorDep, engine: EngineDep, holder: HolderDep) -> PlansPublic:
    """The stored plans, newest first, with their totals.

    An inspector limited to a field division gets that division's figures only.
    """
    division = caller.user.division
    items = await run_in_threadpool(list_plans, engine, division)
    state = holder.current
    await caller.record("plans.read", "/api/v1/plans", state,
                        {"returned": len(items), "field_division": division})
    return PlansPublic(model_version=state.model_version if state else None,
                       as_of=state.as_of if state else None, items=items)


@router.get("/{plan_id}", response_model=PlanPublic,
            responses={**_CSV_RESPONSE, **problem_responses(401, 403, 404, 422)})
async def plan(
    request: Request,
    plan_id: PlanId,
    caller: InspectorDep,
    engine: EngineDep,
    holder: HolderDep,
    field_division: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    format: Annotated[Literal["json", "csv"] | None,
                      Query(description="csv for the CSV export (or send Accept: text/csv).")
                      ] = None,
) -> Response | PlanPublic:
    """A stored plan: identity, per-division figures and its rows in priority order.

    Each row has the licensee's name, city, state, rank and top reasons on the plan's
    list, and how it was chosen in plain words. An inspector limited to a field division
    sees only that division's figures and rows (asking for another is a 403).
    """
    division = caller.division_filter(field_division)
    found = await run_in_threadpool(lambda: read_plan(
        engine, plan_id, division, plan_wide=caller.user.division is None))
    if found is None:
        raise HTTPException(404, f"no plan {plan_id}")
    as_csv = format == "csv" or (format is None and "text/csv" in
                                 request.headers.get("accept", ""))
    detail = {"plan_id": plan_id, "field_division": division, "returned": found.total,
              "plan_model_version": found.model_version, "list_id": found.plan.list_id}
    await caller.record("plan.export" if as_csv else "plan.read", f"/api/v1/plans/{plan_id}",
                        holder.current, detail)
    if as_csv:
        return Response(plan_csv(found), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{plan_csv_filename(found)}"',
            "X-Model-Version": found.plan.model_version,
            "X-As-Of": found.plan.as_of.isoformat()})
    return found


LicenseNumber = Annotated[str, Path(min_length=1, max_length=LICENSE_NUMBER_MAX_LENGTH,
                                    pattern=r"^[^\x00]*$",
                                    description="A planned licensee's license number.")]


@router.put("/{plan_id}/rows/{license_number}/mark", response_model=PlanMarkPublic,
            responses=problem_responses(401, 403, 404, 422))
async def mark_not_inspected(
    plan_id: PlanId, license_number: LicenseNumber, body: PlanMarkCreate,
    caller: InspectorDep, engine: EngineDep, holder: HolderDep,
) -> PlanMarkPublic:
    """Mark a planned licensee "not inspected", with the reason (and a note).

    Replaces the row's mark if it has one. An inspector limited to a field division may
    mark only that division's rows; another division's row answers 404, as an unknown one
    does. Every mark is audited (`plan.mark`).
    """
    at = dt.datetime.now(dt.UTC)
    try:
        mark = await run_in_threadpool(lambda: mark_row(
            engine, plan_id, license_number, reason=body.reason, note=body.note,
            user_name=caller.user.name, caller_division=caller.user.division, at=at))
    except MarkError as error:
        raise HTTPException(422, str(error)) from error
    if mark is None:
        raise HTTPException(404, f"plan {plan_id} has no row {license_number} you may see")
    await caller.record("plan.mark", f"/api/v1/plans/{plan_id}/rows/{license_number}/mark",
                        holder.current, {"plan_id": plan_id, "license_number": license_number,
                                         "field_division": mark.field_division,
                                         "reason": mark.reason, "note": mark.note})
    return mark


@router.delete("/{plan_id}/rows/{license_number}/mark", status_code=204,
               responses=problem_responses(401, 403, 404, 422))
async def clear_not_inspected(
    plan_id: PlanId, license_number: LicenseNumber, caller: InspectorDep,
    engine: EngineDep, holder: HolderDep,
) -> Response:
    """Clear a planned licensee's "not inspected" mark (audited as `plan.unmark`).

    404 when the row has no mark, is unknown, or belongs to another division than the
    caller's.
    """
    cleared = await run_in_threadpool(unmark_row, engine, plan_id, license_number,
                                      caller.user.division)
    if not cleared:
        raise HTTPException(404, f"plan {plan_id} has no mark on {license_number} you may "
                                 "see")
    await caller.record("plan.unmark", f"/api/v1/plans/{plan_id}/rows/{license_number}/mark",
                        holder.current, {"plan_id": plan_id, "license_number": license_number})
    return Response(status_code=204)

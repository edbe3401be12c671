"""``POST /api/v1/score``: what-if scoring of a licensee with some features changed."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from serving.access import hidden_from
from serving.deps import ServingStateDep, SupervisorDep
from serving.explain import what_if
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import WhatIfCreate, WhatIfPublic

router = APIRouter(route_class=ApiRoute, prefix="/api/v1", tags=["scores"])


@router.post(
    "/score",
    response_model=WhatIfPublic,
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def score_what_if(
    body: WhatIfCreate, caller: SupervisorDep, serving: ServingStateDep
) -> WhatIfPublic:
    """Score and explain a licensee as if some of its feature values were different.

    Nothing is stored but the audit row; the answer says where the licensee would rank
    among the list being served.
    """
    row = serving.explanations.positions.get(body.license_number)
    # Another division's licensee answers as an unlisted one (serving.access).
    if row is None or hidden_from(caller.user, serving.explanations.field_divisions[row]):
        raise HTTPException(404, f"licensee {body.license_number!r} is not on the list scored "
                                 f"by model version {serving.model_version} as of {serving.as_of}")
    # The model runs here (the only request that calls it): off the event loop.
    result = await run_in_threadpool(what_if, serving, body.license_number, body.changes)
    assert result is not None  # the row exists
    await caller.record(
        "whatif.score", "/api/v1/score", serving,
        {"license_number": body.license_number, "changes": body.changes,
         "score": result.score, "current_score": result.current_score},
    )
    return result

"""``/api/v1/dealers``: the ranked list, a licensee's page, and its explanation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from serving.access import hidden_from
from serving.dealers import read_dealer, read_profile
from serving.deps import (
    EngineDep,
    InspectorDep,
    ServingStateDep,
    SupervisorDep,
)
from serving.explain import explanation_json
from serving.problems import problem_responses
from serving.query import ApiRoute, parameters, request_model
from serving.ranked import CURSOR_PATTERN, RankedFilters, StaleCursor, render_page
from serving.schemas import (
    LICENSE_NUMBER_MAX_LENGTH,
    DealerPublic,
    ExplanationPublic,
    RankedPagePublic,
)

router = APIRouter(route_class=ApiRoute, prefix="/api/v1/dealers", tags=["dealers"])

#: The longest query string whose page is kept (every real one is far shorter; a query
#: can repeat a parameter, so its length is up to the caller).
KEPT_QUERY_BYTES = 1024

_LICENSE_NUMBER_HELP = "e.g. 9-99-001-01-ZZ-00001"
LicenseNumber = Annotated[
    str, Path(min_length=1, max_length=LICENSE_NUMBER_MAX_LENGTH, description=_LICENSE_NUMBER_HELP)
]
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "The page as JSON, or as CSV when asked for."},
}


class RankedQuery(BaseModel):
    """The ranked list's query parameters."""

    model_config = ConfigDict(frozen=True)  # remembered per query string (serving.query)

    field_division: str | None = Field(None, min_length=1, max_length=100)
    premise_state: str | None = Field(None, alias="state", pattern=r"^[A-Za-z]{2}$",
                                      description="USPS code.")
    license_type: str | None = Field(None, pattern=r"^[0-9]{2}$")
    min_score: float | None = Field(None, ge=0, le=1)
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN,
                               description="next_cursor of the last page.")
    format: Literal["json", "csv"] | None = Field(
        None, description="csv for a CSV export (or send Accept: text/csv).")


class LicensePath(BaseModel):
    """The explanation's path parameter."""

    license_number: str = Field(min_length=1, max_length=LICENSE_NUMBER_MAX_LENGTH,
                                description=_LICENSE_NUMBER_HELP)


# Validated in one call each, as dependencies of the Request alone: the two hottest
# operations take the API's one fast path (see serving.query).
RankedQueryDep = Annotated[RankedQuery, Depends(request_model(RankedQuery))]
LicensePathDep = Annotated[LicensePath, Depends(request_model(LicensePath, "path"))]


@router.get(
    "/ranked",
    response_model=RankedPagePublic,
    responses={**_CSV_RESPONSE, **problem_responses(401, 403, 409, 422, 503)},
    openapi_extra={"parameters": parameters(RankedQuery)},
)
async def ranked_list(
    request: Request, caller: InspectorDep, serving: ServingStateDep, query: RankedQueryDep
) -> Response:
    """The licensees to inspect first, highest risk first, filtered and paged.

    An inspector limited to a field division sees only that division.
    """
    # A page depends only on the state, the query string, the caller's division and
    # whether Accept asks for CSV, so the state keeps it once it is asked for twice
    # (serving.memo.Memo); every request still writes its own audit row, committed
    # before the page is sent.
    query_string: bytes = request.scope["query_string"]
    accepts_csv = "text/csv" in request.headers.get("accept", "")
    key = (query_string, caller.user.division, accepts_csv)
    page = serving.pages.get(key)
    if page is None:
        filters = RankedFilters(field_division=caller.division_filter(query.field_division),
                                state=query.premise_state, license_type=query.license_type,
                                min_score=query.min_score)
        as_csv = query.format == "csv" or (query.format is None and accepts_csv)
        try:
            page = render_page(serving, filters, query.limit, query.cursor, as_csv)
        except StaleCursor as stale:
            raise HTTPException(409, "the ranked list changed since this cursor was issued "
                                     "(a new model or list); start again without a cursor"
                                ) from stale
        if len(query_string) <= KEPT_QUERY_BYTES:  # keys are bounded too, not just pages
            serving.pages.put(key, page)
    await caller.record(page.action, request.scope["path"], serving, page.detail)
    return Response(page.body, media_type=page.media_type, headers=page.headers)


@router.get(
    "/{license_number}",
    response_model=DealerPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def dealer(
    license_number: LicenseNumber,
    caller: InspectorDep,
    serving: ServingStateDep,
    engine: EngineDep,
) -> DealerPublic:
    """A licensee's profile, current score and rank, score history and recent inspections."""
    profile = await run_in_threadpool(read_profile, engine, license_number)
    if profile is None or hidden_from(caller.user, profile.field_division):
        raise HTTPException(404, f"no licensee {license_number!r}")  # the same either way
    page = await run_in_threadpool(read_dealer, engine, serving, profile)
    await caller.record("dealer.read", f"/api/v1/dealers/{license_number}", serving,
                        {"license_number": license_number})
    return page


@router.get(
    "/{license_number}/explanation",
    response_model=ExplanationPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
    openapi_extra={"parameters": parameters(LicensePath, "path")},
)
async def explanation(
    caller: SupervisorDep,
    serving: ServingStateDep,
    path: LicensePathDep,
    engine: EngineDep,
) -> Response:
    """Why the licensee scores as it does: every feature's SHAP contribution.

    ``base_value + sum(shap_value) = raw_score`` (to 1e-6) and
    ``score = 1 / (1 + exp(-(slope * raw_score + intercept)))`` (see ``calibration``).
    """
    license_number = path.license_number
    table = serving.explanations
    row = table.positions.get(license_number)
    if row is None or hidden_from(caller.user, table.field_divisions[row]):
        # Another division's licensee answers as an unknown one (serving.access).
        known = None if row is not None else await run_in_threadpool(
            read_profile, engine, license_number)
        listed_elsewhere = known is not None and not hidden_from(caller.user,
                                                                 known.field_division)
        where = (f"is not on the list scored by model version {serving.model_version} as of "
                 f"{serving.as_of}") if listed_elsewhere else "does not exist"
        raise HTTPException(404, f"licensee {license_number!r} {where}")
    body = explanation_json(serving, license_number)
    assert body is not None  # the row exists
    await caller.record("explanation.read", f"/api/v1/dealers/{license_number}/explanation",
                        serving, {"license_number": license_number})
    # The body is already the validated ExplanationPublic's JSON (see serving.explain).
    return Response(body, media_type="application/json")

"""Liveness and readiness, for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.audit import SERVED_BY
from serving.deps import HolderDep, not_ready
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import HealthPublic, ReadinessPublic

router = APIRouter(route_class=ApiRoute, tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
async def healthz(holder: HolderDep) -> HealthPublic:
    """The process is up (whether or not a model is loaded yet)."""
    state = holder.current
    return HealthPublic(
        model_version=state.model_version if state else None,
        as_of=state.as_of if state else None, served_by=SERVED_BY,
    )


@router.get("/readyz", response_model=ReadinessPublic, responses=problem_responses(503))
async def readyz(holder: HolderDep) -> ReadinessPublic:
    """200 only when a champion model and a scored list are loaded; 503 otherwise.

    The 503 carries ``Retry-After``: the server answers while it loads.
    """
    state = holder.current
    if state is None:
        raise not_ready(holder)
    return ReadinessPublic(
        model_version=state.model_version, as_of=state.as_of, list_id=state.list_id,
        loaded_at=state.loaded_at, champion_version=holder.champion_version,
        notes=list(state.notes), served_by=SERVED_BY,
    )

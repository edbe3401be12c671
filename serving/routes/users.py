"""``/api/v1/users``: the admin's view of users (the CLI can create them too)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool

from serving.deps import AdminDep, EngineDep, HolderDep, require_admin
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import UserCreate, UserCreatedPublic, UserPublic, UsersPublic
from serving.users import UserExists, create_user, list_users

router = APIRouter(
    dependencies=[Depends(require_admin)],
    prefix="/api/v1/users", tags=["users"], route_class=ApiRoute,
)


@router.get("", response_model=UsersPublic, responses=problem_responses(401, 403))
def users(engine: EngineDep, holder: HolderDep) -> UsersPublic:
    """Every user with role and division (tokens are never shown again)."""
    state = holder.current
    return UsersPublic(
        model_version=state.model_version if state else None,
        as_of=state.as_of if state else None,
        items=[UserPublic(name=u.name, role=u.role, division=u.division, created_at=u.created_at)
               for u in list_users(engine)],
    )


@router.post("", response_model=UserCreatedPublic, status_code=201,
             responses=problem_responses(400, 401, 403, 409, 422))
async def add_user(
    body: UserCreate, engine: EngineDep, holder: HolderDep, caller: AdminDep
) -> UserCreatedPublic:
    """Create a user; the answer holds its token, shown this once."""
    try:
        created, token = await run_in_threadpool(
            create_user, engine, body.name, body.role, body.division, dt.datetime.now(dt.UTC))
    except UserExists as error:
        raise HTTPException(409, str(error)) from error
    state = holder.current
    await caller.record("users.create", "/api/v1/users", state,
                       {"name": created.name, "role": created.role.value,
                        "division": created.division})
    return UserCreatedPublic(
        model_version=state.model_version if state else None,
        as_of=state.as_of if state else None, name=created.name, role=created.role,
        division=created.division, created_at=created.created_at, token=token,
    )

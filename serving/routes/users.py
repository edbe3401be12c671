"""``/api/v1/users``: the admin's view of users and their tokens (the CLI can do the same).

Creating a user, revoking its token and rotating it are audited (``users.create``,
``users.revoke``, ``users.rotate``). A revoked or rotated token stops working at once in
this process and within ``TOKEN_CACHE_SECONDS`` in every other (docs/security.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool

from serving.deps import AdminDep, EngineDep, HolderDep, TokenCache, require_admin
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import (
    TokenExpiry,
    UserChangedPublic,
    UserCreate,
    UserCreatedPublic,
    UserPublic,
    UsersPublic,
)
from serving.state import StateHolder
from serving.users import (
    USER_NAME_PATTERN,
    UnknownUser,
    User,
    UserExists,
    create_user,
    expiry,
    list_users,
    revoke_user,
    rotate_token,
)

router = APIRouter(
    dependencies=[Depends(require_admin)],
    prefix="/api/v1/users", tags=["users"], route_class=ApiRoute,
)

UserName = Annotated[str, Path(min_length=1, max_length=100, pattern=USER_NAME_PATTERN)]


def _public(user: User) -> UserPublic:
    return UserPublic(name=user.name, role=user.role, division=user.division,
                      created_at=user.created_at, expires_at=user.expires_at,
                      revoked_at=user.revoked_at, status=user.status)


def _stamp(holder: StateHolder) -> dict[str, object]:
    state = holder.current
    return {"model_version": state.model_version if state else None,
            "as_of": state.as_of if state else None}


def _lifetime(body: TokenExpiry, now: dt.datetime) -> dict[str, Any]:
    """The body's lifetime or moment (in UTC), checked: 422 naming the field if unusable."""
    lifetime = (dt.timedelta(days=body.expires_in_days)
                if body.expires_in_days is not None else None)
    try:
        ends = expiry(now, expires_in=lifetime, expires_at=body.expires_at)
    except (ValueError, OverflowError) as error:
        field = "expires_at" if body.expires_at is not None else "expires_in_days"
        raise HTTPException(422, f"{field}: {error}") from None
    return {"expires_in": lifetime, "expires_at": ends if lifetime is None else None}


@router.get("", response_model=UsersPublic, responses=problem_responses(401, 403))
def users(engine: EngineDep, holder: HolderDep) -> UsersPublic:
    """Every user with role, division and token status (tokens are never shown again)."""
    return UsersPublic(**_stamp(holder),
                       items=[_public(u) for u in list_users(engine)])


@router.post("", response_model=UserCreatedPublic, status_code=201,
             responses=problem_responses(400, 401, 403, 409, 422))
async def add_user(
    body: UserCreate, engine: EngineDep, holder: HolderDep, caller: AdminDep
) -> UserCreatedPublic:
    """Create a user, optionally with a token that expires; the answer holds its token,
    shown this once."""
    now = dt.datetime.now(dt.UTC)
    ends = expiry(now, **_lifetime(body, now))
    try:
        created, token = await run_in_threadpool(
            create_user, engine, body.name, body.role, body.division, now, ends)
    except UserExists as error:
        raise HTTPException(409, str(error)) from error
    await caller.record("users.create", "/api/v1/users", holder.current,
                        {"name": created.name, "role": created.role.value,
                         "division": created.division,
                         "expires_at": created.expires_at.isoformat()
                         if created.expires_at else None})
    return UserCreatedPublic(**_stamp(holder), **_public(created).model_dump(),
                             token=token)


@router.post("/{name}/revoke", response_model=UserChangedPublic,
             responses=problem_responses(401, 403, 404, 422))
async def revoke(name: UserName, request: Request, engine: EngineDep, holder: HolderDep,
                 caller: AdminDep) -> UserChangedPublic:
    """Revoke the user's token: it and the user's page sessions stop working. The user
    stays (the audit log names it); rotating gives it a new token."""
    try:
        user = await run_in_threadpool(revoke_user, engine, name, dt.datetime.now(dt.UTC))
    except UnknownUser as error:
        raise HTTPException(404, str(error)) from error
    cache: TokenCache = request.app.state.token_cache
    cache.forget(user.name)
    await caller.record("users.revoke", f"/api/v1/users/{user.name}", holder.current,
                        {"name": user.name})
    return UserChangedPublic(**_stamp(holder), **_public(user).model_dump())


@router.post("/{name}/rotate", response_model=UserCreatedPublic,
             responses=problem_responses(400, 401, 403, 404, 422))
async def rotate(
    name: UserName, request: Request, engine: EngineDep, holder: HolderDep, caller: AdminDep,
    body: Annotated[TokenExpiry | None, Body()] = None,
) -> UserCreatedPublic:
    """A new token for the user, shown this once: the old one and its page sessions stop
    working. The new token lives as long as the old one did unless the body says
    otherwise; a revoked user gets access again."""
    now = dt.datetime.now(dt.UTC)
    ends = _lifetime(body or TokenExpiry(), now)
    try:
        user, token = await run_in_threadpool(lambda: rotate_token(engine, name, now, **ends))
    except UnknownUser as error:
        raise HTTPException(404, str(error)) from error
    cache: TokenCache = request.app.state.token_cache
    cache.forget(user.name)
    await caller.record("users.rotate", f"/api/v1/users/{user.name}", holder.current,
                        {"name": user.name,
                         "expires_at": user.expires_at.isoformat() if user.expires_at else None})
    return UserCreatedPublic(**_stamp(holder), **_public(user).model_dump(),
                             token=token)

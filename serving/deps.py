"""Dependencies of the handlers, as ``Annotated`` aliases so signatures read like the domain.

``ServingStateDep`` is the published state (503 with ``Retry-After`` while it loads);
``InspectorDep``, ``SupervisorDep``, ``DataScientistDep`` and ``AdminDep`` are the one way
to authorise an API request: they authenticate the bearer token, check the role (401
without a valid token, 403 for a role without the right) and give a :class:`Caller`, whose
:meth:`Caller.record` writes the request's audit row.

They are ``async`` although none of them awaits but the token lookup: FastAPI runs a plain
``def`` dependency in its thread pool, a hop per dependency per request that cost more
than the handlers' work.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from data.settings import Settings
from serving.audit import AuditEntry, AuditUnavailable, AuditWriter
from serving.changes import ComparisonCache
from serving.state import ServingState, StateHolder
from serving.users import Role, TokenRefused, User, check_usable, find_user_by_hash, hash_token

#: How long a worker trusts a token it has looked up, in seconds: it saves a store round
#: trip on nearly every request, and bounds how long another process may still accept a
#: token after it is revoked or rotated (the process that revokes forgets it at once).
#: A cached token never outlives its own expiry.
TOKEN_CACHE_SECONDS = 5.0
#: What a 503 asks clients to wait before trying again while the state loads, in seconds.
RETRY_AFTER_SECONDS = 10


async def get_settings_dep(request: Request) -> Settings:
    """The settings ``create_app`` was given."""
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    """The store's engine, shared by the process."""
    engine: Engine = request.app.state.engine
    return engine


async def get_holder(request: Request) -> StateHolder:
    """The holder of the published serving state."""
    holder: StateHolder = request.app.state.holder
    return holder


def not_ready(holder: StateHolder) -> HTTPException:
    """The 503 (with ``Retry-After``) of a request that needs a state none is loaded yet."""
    reason = holder.last_error or "the champion model is still loading"
    return HTTPException(503, f"not ready: {reason}",
                         headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def get_serving_state(request: Request) -> ServingState:
    """The published state, taken once per request; 503 until the first load succeeds."""
    holder: StateHolder = request.app.state.holder
    state = holder.current
    if state is None:
        raise not_ready(holder)
    return state


async def get_comparisons(request: Request) -> ComparisonCache:
    """The process's kept comparisons of stored lists."""
    comparisons: ComparisonCache = request.app.state.comparisons
    return comparisons


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]
HolderDep = Annotated[StateHolder, Depends(get_holder)]
ServingStateDep = Annotated[ServingState, Depends(get_serving_state)]
ComparisonsDep = Annotated[ComparisonCache, Depends(get_comparisons)]


class TokenCache:
    """Recently seen token hashes and their users, per process, for a short time.

    Only tokens that work are kept (a new token works at once, a refused one is looked up
    again), each until ``seconds`` have passed or its token expires, whichever is first.
    """

    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._users: dict[str, tuple[User, float]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> User | None:
        """The cached user of a token hash, if fresh."""
        hit = self._users.get(token_hash)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, token_hash: str, user: User) -> None:
        """Remember a looked-up user whose token works, until its expiry at the latest."""
        until = time.monotonic() + self.seconds
        if user.expires_at is not None:
            until = min(until, time.monotonic() + (user.expires_at.timestamp() - time.time()))
        with self._lock:
            if len(self._users) > 10_000:  # a bound against memory growth, not an LRU
                self._users.clear()
            self._users[token_hash] = (user, until)

    def forget(self, name: str) -> None:
        """Drop every cached token of user ``name`` (after revoking or rotating it)."""
        with self._lock:
            self._users = {key: hit for key, hit in self._users.items()
                           if hit[0].name != name}


#: The security scheme every /api/v1 operation declares in the OpenAPI schema.
BEARER_SCHEME = {
    "type": "http", "scheme": "bearer",
    "description": "A token from `dealer-risk users add NAME --role ROLE [--division D]`.",
}


def check_division(user: User, field_division: str | None) -> None:
    """403 when a division-bound user asks about another division's licensee."""
    if user.division is not None and field_division != user.division:
        raise HTTPException(
            403, f"user {user.name!r} is limited to field division {user.division!r}"
        )


def narrowed_division(user: User, asked: str | None) -> str | None:
    """The division a list, plan or page is narrowed to: the user's own when limited to
    one (403 when another is asked for, as :func:`check_division` answers), else the one
    asked for (None: every division)."""
    if user.division is None:
        return asked
    if asked is not None:
        check_division(user, asked)
    return user.division


class Caller:
    """The authorised user of one request: the division check and the audit row.

    An audited request is answered only once its row is committed; if the log cannot be
    written the request fails (503) rather than disclose anything unlogged.
    """

    def __init__(self, writer: AuditWriter, user: User) -> None:
        self.writer = writer
        self.user = user

    def division_filter(self, field_division: str | None) -> str | None:
        """The division a list request is narrowed to: the caller's own if they are
        limited to one (403 when they ask for another), else the one asked for."""
        return narrowed_division(self.user, field_division)

    async def record(self, action: str, resource: str, state: ServingState | None,
                     detail: Mapping[str, Any] | None = None) -> None:
        """Write one audit row and wait for its commit (503 if it cannot be written)."""
        entry = AuditEntry(
            user_name=self.user.name, role=self.user.role.value, action=action,
            resource=resource, model_version=state.model_version if state else None,
            as_of=state.as_of if state else None, detail=detail or {},
        )
        try:
            await self.writer.write(entry)
        except AuditUnavailable as error:
            raise HTTPException(503, f"the audit log is unavailable: {error}") from error


def bearer_token(request: Request) -> str | None:
    """The bearer token of the Authorization header, if there is one."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(request: Request) -> User:
    """The user holding the request's bearer token; 401 without a working one.

    A hit in the process's :class:`TokenCache` costs a hash and a dict lookup; a miss is
    one lookup on the unique index of the token hash. A revoked or expired token gets a
    401 that says so.
    """
    token = bearer_token(request)
    if token is None:
        raise HTTPException(401, "a bearer token is required", headers=_CHALLENGE)
    cache: TokenCache = request.app.state.token_cache
    token_hash = hash_token(token)
    user = cache.get(token_hash)
    if user is None:
        engine: Engine = request.app.state.engine
        found = await run_in_threadpool(find_user_by_hash, engine, token_hash)
        if found is None:
            raise HTTPException(401, "the bearer token is not valid", headers=_CHALLENGE)
        try:
            user = check_usable(found)
        except TokenRefused as refused:
            raise HTTPException(401, f"the bearer token is no longer valid: {refused.reason}",
                                headers=_REFUSED) from None
        cache.put(token_hash, user)
    return user


_CHALLENGE = {"WWW-Authenticate": "Bearer"}
#: RFC 6750's answer to a token that was valid once.
_REFUSED = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def require(role: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting callers whose role has ``role``'s rights (401, else 403).

    Reading the header, checking the role and handing out the audit handle are one
    dependency: FastAPI's cost per dependency is paid on every request. (So ``create_app``
    declares the bearer scheme in the OpenAPI schema, on every operation documenting a
    401, instead of a ``HTTPBearer`` dependency doing it.)
    """

    async def caller(request: Request) -> Caller:
        user = await authenticate(request)
        if not user.role.allows(role):
            raise HTTPException(
                403, f"role {user.role.value!r} may not do this; it needs {role.value!r} or above"
            )
        return Caller(request.app.state.audit_writer, user)

    caller.__name__ = f"require_{role.value}"
    return caller


require_inspector = require(Role.INSPECTOR)
require_supervisor = require(Role.SUPERVISOR)
require_data_scientist = require(Role.DATA_SCIENTIST)
require_admin = require(Role.ADMIN)

InspectorDep = Annotated[Caller, Depends(require_inspector)]
SupervisorDep = Annotated[Caller, Depends(require_supervisor)]
DataScientistDep = Annotated[Caller, Depends(require_data_scientist)]
AdminDep = Annotated[Caller, Depends(require_admin)]


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime in UTC (naive ones are taken to be UTC already)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)

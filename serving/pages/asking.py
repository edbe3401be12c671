"""Who is asking, for every page: the session's user, role checks, the audit caller and
the forms' bodies; the page modules (:mod:`serving.pages.routes`,
:mod:`serving.pages.monitoring`) take them from here, as the API's routes take theirs
from :mod:`serving.deps`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool

from serving.deps import Caller
from serving.pages.render import ROLE_NAMES, SignInRequired
from serving.pages.sessions import COOKIE_NAME, csrf_token, read_session
from serving.schemas import LICENSE_NUMBER_MAX_LENGTH
from serving.users import Role, User

#: A page's form is a few short fields; anything larger is not one.
MAX_FORM_BYTES = 64_000


async def session_user(request: Request) -> User | None:
    """The user of the request's session cookie, or None (no, ended or expired session).

    Looked up in the store on every page request (no cache), so signing out, revoking and
    rotating take effect at once in every process.
    """
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    user = await run_in_threadpool(read_session, request.app.state.engine, cookie)
    if user is None:
        return None
    request.state.page_user = user
    request.state.page_csrf = csrf_token(cookie)
    return user


async def page_user(request: Request) -> User:
    """The signed-in user; without a valid session the browser goes to the sign-in page."""
    user = await session_user(request)
    if user is None:
        raise SignInRequired
    return user


def _role_names(role: Role) -> str:
    names = [ROLE_NAMES[r] + "s" for r in Role if r.allows(role)]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def page_role(role: Role) -> Any:
    """A dependency admitting signed-in users whose role has ``role``'s rights (else 403)."""

    async def check(user: Annotated[User, Depends(page_user)]) -> User:
        if not user.role.allows(role):
            raise HTTPException(403, f"Only {_role_names(role)} may open this page; you are "
                                     f"signed in as {user.name} ({user.role.value}).")
        return user

    return check


PageUserDep = Annotated[User, Depends(page_user)]
PageSupervisorDep = Annotated[User, Depends(page_role(Role.SUPERVISOR))]
LicenseNumber = Annotated[str, Path(min_length=1, max_length=LICENSE_NUMBER_MAX_LENGTH)]


def auditor(request: Request, user: User) -> Caller:
    """The audit writer of the request's app, writing as ``user``."""
    return Caller(request.app.state.audit_writer, user)


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """An urlencoded form body, first value per field (no multipart: these forms have none);
    413 over ``limit`` bytes."""
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, "The form is too large.")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}

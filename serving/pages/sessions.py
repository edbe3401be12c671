"""Browser sessions, kept on the server: a random cookie naming a row of ``api_sessions``.

A page user signs in once with the same bearer token the API takes. The cookie holds 256
random bits (never the token); the store keeps only the cookie's SHA-256, beside the user
and the hash of the token the session was opened with. Every page request looks the row
up (one primary-key lookup joined to the user), so a session ends everywhere at once:

- signing out deletes the row;
- revoking the user's token, or rotating it, ends every session of that user (the row's
  token hash no longer matches the user's, and the change deletes the rows anyway);
- a session lasts ``SESSION_SECONDS`` at most, and never past its token's expiry.

Nothing about a session lives in a process or a file, so every worker and host sharing the
store shares the sessions.

Form posts carry a CSRF token derived from the cookie (an HMAC keyed by the cookie, which
another site can neither read nor guess); SameSite=Lax already keeps other sites' forms
from sending the cookie, the token guards browsers that ignore it. The sign-in form, which
has no session yet, uses a double-submit cookie of its own and refuses posts a browser
marks as coming from another origin (:func:`cross_origin`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, insert, select
from starlette.requests import Request

from serving import tables
from serving.users import Role, User, check_usable, find_user_by_hash, hash_token

COOKIE_NAME = "dealer_risk_session"
#: The sign-in form's double-submit cookie (only ``/login`` sees it).
LOGIN_COOKIE_NAME = "dealer_risk_login"
#: A working day plus slack: inspectors sign in in the morning, not every hour.
SESSION_SECONDS = 12 * 3600
#: How long a sign-in form may be left open before it must be reloaded.
LOGIN_FORM_SECONDS = 3600
_COOKIE_PREFIX = "s1_"
_COOKIE_PATTERN = re.compile(r"s1_[A-Za-z0-9_-]{43}")
#: Sec-Fetch-Site values of a request a user made on this site (or typed in).
_SAME_SITE = frozenset({"same-origin", "none"})


def _mac(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_session(engine: Engine, token: str, now: dt.datetime | None = None
                 ) -> tuple[User, str] | None:
    """A new session for the holder of ``token``: its user and the cookie value.

    None for an unknown token; TokenRefused (from :mod:`serving.users`) for a revoked or
    expired one. Sessions that have run out are deleted on the way.
    """
    now = now or _now()
    token_hash = hash_token(token)
    user = find_user_by_hash(engine, token_hash)
    if user is None:
        return None
    check_usable(user, now)
    cookie = _COOKIE_PREFIX + secrets.token_urlsafe(32)
    ends = now + dt.timedelta(seconds=SESSION_SECONDS)
    if user.expires_at is not None:
        ends = min(ends, user.expires_at)
    sessions, users = tables.api_sessions, tables.api_users
    with engine.begin() as connection:
        user_id = connection.execute(select(users.c.user_id)
                                     .where(users.c.token_hash == token_hash)).scalar()
        if user_id is None:  # rotated between the two statements
            return None
        connection.execute(delete(sessions).where(sessions.c.expires_at < now))
        connection.execute(insert(sessions).values(
            session_hash=hash_token(cookie), user_id=user_id, token_hash=token_hash,
            created_at=now, expires_at=ends,
        ))
    return user, cookie


def read_session(engine: Engine, cookie: str, now: dt.datetime | None = None) -> User | None:
    """The user of a session cookie, or None (unknown, ended, expired, revoked or rotated).

    One lookup by the cookie's hash (the primary key), joined to its user.
    """
    if not _COOKIE_PATTERN.fullmatch(cookie):
        return None
    sessions, users = tables.api_sessions, tables.api_users
    statement = (
        select(users.c.name, users.c.role, users.c.division, users.c.created_at,
               users.c.token_expires_at, sessions.c.expires_at)
        .join(users, (users.c.user_id == sessions.c.user_id)
              & (users.c.token_hash == sessions.c.token_hash))
        .where(sessions.c.session_hash == hash_token(cookie), users.c.revoked_at.is_(None))
    )
    with engine.connect() as connection:
        row = connection.execute(statement).first()
    if row is None:
        return None
    now = now or _now()
    ends = _aware(row.expires_at)
    token_ends = None if row.token_expires_at is None else _aware(row.token_expires_at)
    if ends <= now or (token_ends is not None and token_ends <= now):
        return None
    return User(name=row.name, role=Role(row.role), division=row.division,
                created_at=_aware(row.created_at), expires_at=token_ends)


def end_session(engine: Engine, cookie: str) -> bool:
    """Delete the session a cookie names; whether there was one."""
    if not _COOKIE_PATTERN.fullmatch(cookie):
        return False
    sessions = tables.api_sessions
    with engine.begin() as connection:
        deleted = connection.execute(
            delete(sessions).where(sessions.c.session_hash == hash_token(cookie)))
    return bool(deleted.rowcount)


def csrf_token(cookie: str) -> str:
    """The token every form of this session posts back (bound to the cookie)."""
    return _mac(cookie, "csrf")


def csrf_matches(cookie: str, submitted: str | None) -> bool:
    """Whether a posted CSRF token belongs to this session."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(
        csrf_token(cookie), submitted or "")


def new_login_cookie() -> str:
    """A fresh value for the sign-in form's double-submit cookie."""
    return secrets.token_urlsafe(32)


def login_csrf(login_cookie: str) -> str:
    """The hidden field of the sign-in form that goes with ``login_cookie``."""
    return _mac(login_cookie, "login")


def login_csrf_matches(login_cookie: str | None, submitted: str | None) -> bool:
    """Whether a sign-in post carries the field of the cookie its browser holds."""
    return bool(login_cookie) and bool(submitted) and hmac.compare_digest(
        login_csrf(login_cookie or ""), submitted or "")


def cross_origin(request: Request) -> str | None:
    """Why a browser's post comes from another site, or None if it does not.

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (anything but
    ``same-origin``, or ``none`` for a typed address, is refused) and ``Origin`` (its
    host and port must be this request's ``Host``). A client that sends neither (a script)
    is not a browser another site can drive.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in _SAME_SITE:
        return f"Sec-Fetch-Site is {site!r}"
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            return f"Origin {origin!r} is not this site"
    return None


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their offset; they were written in UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value

"""Browser sessions: a signed cookie that names a user's token hash, never the token.

A page user signs in once with the same bearer token the API takes. The cookie then holds
``v1.<issued unix time>.<sha256 of the token>.<HMAC>``, signed with a secret kept in the
home, so it cannot be forged or extended, and a stolen cookie does not reveal a token that
works on the API. The hash is what the store already keeps, so a session follows its user
without a sessions table, and every worker and process sharing the home shares the secret.

Form posts carry a CSRF token derived from the cookie; SameSite=Lax already keeps other
sites' forms from sending the cookie, the token guards browsers that ignore it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from sqlalchemy import Engine, select

from serving import tables
from serving.users import Role, User, hash_token

COOKIE_NAME = "dealer_risk_session"
#: A working day plus slack: inspectors sign in in the morning, not every hour.
SESSION_SECONDS = 12 * 3600
SECRET_FILE = "session-secret"
_VERSION = "v1"


def load_secret(home: Path) -> bytes:
    """The home's session secret, created (readable by its owner only) on first use.

    The file is written under a temporary name and linked into place, so two workers
    starting together agree on one secret instead of one reading a half-written file.
    """
    path = home / SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        scratch = home / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            scratch.unlink()
    secret = bytes.fromhex(path.read_text().strip())
    if len(secret) < 16:
        raise ValueError(f"{path} holds a session secret shorter than 16 bytes")
    return secret


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_session(secret: bytes, token: str, now: float | None = None) -> str:
    """The cookie value for a user who signed in with ``token``."""
    issued = int(time.time() if now is None else now)
    body = f"{_VERSION}.{issued}.{hash_token(token)}"
    return f"{body}.{_mac(secret, body)}"


def read_session(secret: bytes, cookie: str, now: float | None = None) -> str | None:
    """The token hash a cookie names, or None if it is forged, malformed or expired."""
    parts = cookie.split(".")
    if len(parts) != 4 or parts[0] != _VERSION:
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _mac(secret, body)):
        return None
    try:
        issued = int(parts[1])
    except ValueError:
        return None
    age = (time.time() if now is None else now) - issued
    if not 0 <= age <= SESSION_SECONDS:
        return None
    return parts[2]


def csrf_token(secret: bytes, cookie: str) -> str:
    """The token every form of this session posts back (bound to the cookie)."""
    return _mac(secret, f"csrf.{cookie}")


def csrf_matches(secret: bytes, cookie: str, submitted: str | None) -> bool:
    """Whether a posted CSRF token belongs to this session."""
    return bool(submitted) and hmac.compare_digest(csrf_token(secret, cookie), submitted or "")


def find_user_by_token_hash(engine: Engine, token_hash: str) -> User | None:
    """The user whose stored token hash is ``token_hash``, or None.

    :func:`serving.users.find_user` does the same from the raw token, which a session
    deliberately does not keep.
    """
    users = tables.api_users
    statement = select(users.c.name, users.c.role, users.c.division).where(
        users.c.token_hash == token_hash
    )
    with engine.connect() as connection:
        row = connection.execute(statement).first()
    if row is None:
        return None
    return User(name=row.name, role=Role(row.role), division=row.division)

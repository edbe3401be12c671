"""Users of the API and their bearer tokens; only a hash of each token is stored.

Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless
(there is nothing to brute-force); a deliberately slow hash would only slow every request.
Users live in the store, so every worker and host that shares it knows them at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from serving import tables

#: A recognisable prefix lets secret scanners find leaked tokens.
TOKEN_PREFIX = "drk_"
#: User names appear in the audit log and in URLs; keep them plain.
USER_NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,100}$"


class Role(StrEnum):
    """What a user may do; each role can do everything the roles before it can."""

    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"
    DATA_SCIENTIST = "data_scientist"
    ADMIN = "admin"

    @property
    def level(self) -> int:
        """Position in the hierarchy: inspector 0 < supervisor < data scientist < admin."""
        return _LEVELS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role has ``needed``'s rights."""
        return self.level >= needed.level


#: Each role's level, computed once (checked on every request).
_LEVELS = {role: level for level, role in enumerate(Role)}


@dataclass(frozen=True)
class User:
    """An authenticated caller.

    ``division``, when set, limits every licensee-level read to that field division.
    """

    name: str
    role: Role
    division: str | None = None
    created_at: dt.datetime | None = None


class UserExists(ValueError):
    """A user of that name exists already."""


def hash_token(token: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_user(
    engine: Engine, name: str, role: Role, division: str | None, created_at: dt.datetime
) -> tuple[User, str]:
    """Store a new user and return it with its token (the only time the token exists)."""
    name = name.strip()
    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise ValueError(
            f"user name {name!r}: use 1 to 100 letters, digits or the characters _ . @ -"
        )
    token = new_token()
    user = User(name=name, role=Role(role), division=division or None, created_at=created_at)
    try:
        with engine.begin() as connection:
            connection.execute(insert(tables.api_users).values(
                name=user.name, role=user.role.value, division=user.division,
                token_hash=hash_token(token), created_at=created_at,
            ))
    except IntegrityError as error:
        raise UserExists(f"a user named {name!r} exists already") from error
    return user, token


def find_user(engine: Engine, token: str) -> User | None:
    """The user holding ``token``, or None."""
    users = tables.api_users
    statement = select(users.c.name, users.c.role, users.c.division, users.c.created_at).where(
        users.c.token_hash == hash_token(token)
    )
    with engine.connect() as connection:
        row = connection.execute(statement).first()
    if row is None:
        return None
    return User(name=row.name, role=Role(row.role), division=row.division,
                created_at=_aware(row.created_at))


def list_users(engine: Engine) -> list[User]:
    """Every user, by name (never their token hashes)."""
    users = tables.api_users
    statement = select(users.c.name, users.c.role, users.c.division, users.c.created_at)
    with engine.connect() as connection:
        rows = connection.execute(statement.order_by(users.c.name)).all()
    return [User(name=r.name, role=Role(r.role), division=r.division,
                 created_at=_aware(r.created_at)) for r in rows]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands timestamps back without their offset; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value

"""Users of the API and their bearer tokens; only a hash of each token is stored.

Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless
(there is nothing to brute-force); a deliberately slow hash would only slow every request.
Users live in the store, so every worker and host that shares it knows them at once.

A token can carry an expiry, be revoked (the user stays, its token and page sessions stop
working) and be rotated (a new token; the old one and its sessions stop working). The
token lifecycle is in docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from serving import tables

#: A recognisable prefix lets secret scanners find leaked tokens.
TOKEN_PREFIX = "drk_"
#: User names appear in the audit log and in URLs; keep them plain.
USER_NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,100}$"
#: The longest lifetime a token may be given (an expiry further out is no expiry).
MAX_LIFETIME = dt.timedelta(days=3660)


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
    ``expires_at`` is when the user's current token stops working (None: never).
    """

    name: str
    role: Role
    division: str | None = None
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @property
    def status(self) -> str:
        """``active``, ``revoked`` or ``expired`` (now)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= dt.datetime.now(dt.UTC):
            return "expired"
        return "active"


class UserExists(ValueError):
    """A user of that name exists already."""


class UnknownUser(LookupError):
    """No user has that name."""


class TokenRefused(ValueError):
    """A token that matches a user but no longer works: ``reason`` says why, in words."""

    def __init__(self, reason: str, user: User) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user


def hash_token(token: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_lifetime(text: str) -> dt.timedelta:
    """A token lifetime such as ``30d``, ``12h``, ``90m`` or ``2w`` (ValueError if not)."""
    match = re.fullmatch(r"\s*([0-9]{1,6})\s*([mhdw])\s*", text.lower())
    if match is None:
        raise ValueError(f"token lifetime {text!r}: use a whole number and a unit, such as "
                         "30d (m minutes, h hours, d days, w weeks)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise ValueError(f"token lifetime {text!r}: use more than zero")
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    lifetime = dt.timedelta(**{units[unit]: amount})
    if lifetime > MAX_LIFETIME:
        raise ValueError(f"token lifetime {text!r}: use at most {MAX_LIFETIME.days} days")
    return lifetime


def expiry(now: dt.datetime, *, expires_in: dt.timedelta | None = None,
           expires_at: dt.datetime | dt.date | None = None) -> dt.datetime | None:
    """When a token issued at ``now`` stops working: a lifetime or a moment, not both.

    A date alone means the start of that day in UTC. ValueError for a moment not in the
    future, or both given.
    """
    if expires_in is not None and expires_at is not None:
        raise ValueError("give either a lifetime or an expiry date, not both")
    if expires_in is not None:
        return now + expires_in
    if expires_at is None:
        return None
    if not isinstance(expires_at, dt.datetime):
        expires_at = dt.datetime.combine(expires_at, dt.time(), tzinfo=dt.UTC)
    elif expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    try:
        # In UTC: SQLite keeps a timestamp's wall-clock time and drops its offset.
        expires_at = expires_at.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"expiry {expires_at.isoformat()} is out of range") from None
    if expires_at <= now:
        raise ValueError(f"expiry {expires_at.isoformat()} is not in the future")
    return expires_at


def _check_name(name: str) -> str:
    name = name.strip()
    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise ValueError(
            f"user name {name!r}: use 1 to 100 letters, digits or the characters _ . @ -"
        )
    return name


def create_user(
    engine: Engine, name: str, role: Role, division: str | None, created_at: dt.datetime,
    expires_at: dt.datetime | None = None, audit: AuditRow | None = None,
) -> tuple[User, str]:
    """Store a new user and return it with its token (the only time the token exists).

    ``expires_at`` (optional) is when the token stops working; ``audit``, when given, is
    written in the same transaction (the command line's record of what it did).
    """
    name = _check_name(name)
    token = new_token()
    user = User(name=name, role=Role(role), division=division or None, created_at=created_at,
                expires_at=expires_at)
    try:
        with engine.begin() as connection:
            connection.execute(insert(tables.api_users).values(
                name=user.name, role=user.role.value, division=user.division,
                token_hash=hash_token(token), created_at=created_at,
                token_issued_at=created_at, token_expires_at=expires_at,
            ))
            if audit is not None:
                _write_audit(connection, audit, "users.create", user)
    except IntegrityError as error:
        raise UserExists(f"a user named {name!r} exists already") from error
    return user, token


_USER_COLUMNS = (tables.api_users.c.name, tables.api_users.c.role,
                 tables.api_users.c.division, tables.api_users.c.created_at,
                 tables.api_users.c.token_expires_at, tables.api_users.c.revoked_at)


def _user(row: Any) -> User:
    return User(name=row.name, role=Role(row.role), division=row.division,
                created_at=_aware(row.created_at), expires_at=_aware(row.token_expires_at),
                revoked_at=_aware(row.revoked_at))


def check_usable(user: User, now: dt.datetime | None = None) -> User:
    """``user`` if its token works now; TokenRefused saying why (revoked, expired) if not."""
    if user.revoked_at is not None:
        raise TokenRefused(f"the token of user {user.name!r} was revoked on "
                           f"{user.revoked_at:%Y-%m-%d %H:%M} UTC", user)
    if user.expires_at is not None and user.expires_at <= (now or dt.datetime.now(dt.UTC)):
        raise TokenRefused(f"the token of user {user.name!r} expired on "
                           f"{user.expires_at:%Y-%m-%d %H:%M} UTC; an administrator can "
                           "issue a new one (dealer-risk users rotate NAME)", user)
    return user


def find_user_by_hash(engine: Engine, token_hash: str) -> User | None:
    """The user whose current token hashes to ``token_hash`` (revoked or expired too), or None.

    One lookup on the unique index of ``token_hash``.
    """
    statement = select(*_USER_COLUMNS).where(tables.api_users.c.token_hash == token_hash)
    with engine.connect() as connection:
        row = connection.execute(statement).first()
    return None if row is None else _user(row)


def find_user(engine: Engine, token: str) -> User | None:
    """The user holding ``token`` if it works now; None for an unknown token.

    Raises TokenRefused for a revoked or expired one (so the caller can say which).
    """
    user = find_user_by_hash(engine, hash_token(token))
    return None if user is None else check_usable(user)


def get_user(engine: Engine, name: str) -> User:
    """The user named ``name`` (UnknownUser if there is none)."""
    statement = select(*_USER_COLUMNS).where(tables.api_users.c.name == name)
    with engine.connect() as connection:
        row = connection.execute(statement).first()
    if row is None:
        raise UnknownUser(f"there is no user named {name!r}")
    return _user(row)


def list_users(engine: Engine) -> list[User]:
    """Every user, by name (never their token hashes)."""
    statement = select(*_USER_COLUMNS).order_by(tables.api_users.c.name)
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return [_user(row) for row in rows]


def revoke_user(engine: Engine, name: str, now: dt.datetime,
                audit: AuditRow | None = None) -> User:
    """Stop ``name``'s token working and end its page sessions (UnknownUser if none).

    The user stays (the audit log names it); :func:`rotate_token` gives it a new token.
    Revoking a revoked user changes nothing but is recorded again.
    """
    users = tables.api_users
    with engine.begin() as connection:
        user_id = _user_id(connection, name)
        connection.execute(update(users).where(users.c.user_id == user_id,
                                               users.c.revoked_at.is_(None))
                           .values(revoked_at=now))
        connection.execute(delete(tables.api_sessions)
                           .where(tables.api_sessions.c.user_id == user_id))
        user = _user(connection.execute(select(*_USER_COLUMNS)
                                        .where(users.c.user_id == user_id)).one())
        if audit is not None:
            _write_audit(connection, audit, "users.revoke", user)
    return user


def rotate_token(engine: Engine, name: str, now: dt.datetime, *,
                 expires_in: dt.timedelta | None = None,
                 expires_at: dt.datetime | None = None,
                 audit: AuditRow | None = None) -> tuple[User, str]:
    """A new token for ``name``: the old one stops working at once and its sessions end.

    The new token lives as long as the old one did (issued to expiry) unless ``expires_in``
    or ``expires_at`` says otherwise; a token that never expired gets one that never does.
    Rotating a revoked user's token gives it access again.
    """
    users = tables.api_users
    token = new_token()
    with engine.begin() as connection:
        row = connection.execute(
            select(users.c.user_id, users.c.created_at, users.c.token_issued_at,
                   users.c.token_expires_at).where(users.c.name == name)
        ).first()
        if row is None:
            raise UnknownUser(f"there is no user named {name!r}")
        if expires_in is None and expires_at is None and row.token_expires_at is not None:
            issued = _aware(row.token_issued_at or row.created_at)
            old_end = _aware(row.token_expires_at)
            assert issued is not None and old_end is not None
            expires_in = max(old_end - issued, dt.timedelta(minutes=1))
        new_end = expiry(now, expires_in=expires_in, expires_at=expires_at)
        connection.execute(update(users).where(users.c.user_id == row.user_id).values(
            token_hash=hash_token(token), token_issued_at=now, token_expires_at=new_end,
            revoked_at=None))
        connection.execute(delete(tables.api_sessions)
                           .where(tables.api_sessions.c.user_id == row.user_id))
        user = _user(connection.execute(select(*_USER_COLUMNS)
                                        .where(users.c.user_id == row.user_id)).one())
        if audit is not None:
            _write_audit(connection, audit, "users.rotate", user)
    return user, token


def _user_id(connection: Connection, name: str) -> int:
    user_id = connection.execute(select(tables.api_users.c.user_id)
                                 .where(tables.api_users.c.name == name)).scalar()
    if user_id is None:
        raise UnknownUser(f"there is no user named {name!r}")
    return int(user_id)


@dataclass(frozen=True)
class AuditRow:
    """Who changed a user, for the audit row written with the change (the command line)."""

    user_name: str
    role: str
    resource: str


def _write_audit(connection: Connection, audit: AuditRow, action: str, user: User) -> None:
    detail = {"name": user.name, "role": user.role.value, "division": user.division,
              "expires_at": user.expires_at.isoformat() if user.expires_at else None}
    connection.execute(insert(tables.audit_log).values(
        at=dt.datetime.now(dt.UTC), user_name=audit.user_name, role=audit.role,
        action=action, resource=audit.resource[:300], model_version=None, as_of=None,
        detail=json.dumps(detail),
    ))


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands timestamps back without their offset; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value

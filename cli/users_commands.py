"""``dealer-risk users add|list|revoke|rotate``: users of the API and pages, and their tokens.

Every change is written to the audit log in the same transaction, as user
``cli:<login name>`` with role ``cli`` (whoever can run these commands can write the store).
Errors are one line on stderr: exit 2 for a bad argument, 1 for a name that is taken or
unknown, or a store that cannot be opened.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Annotated

import typer
from sqlalchemy import Engine

from cli.options import fail, open_store_or_fail
from data.settings import get_settings
from serving.users import (
    AuditRow,
    Role,
    UnknownUser,
    User,
    UserExists,
    create_user,
    expiry,
    list_users,
    parse_lifetime,
    revoke_user,
    rotate_token,
)

users_app = typer.Typer(help="Users of the API and pages.", no_args_is_help=True)

ExpiresIn = Annotated[
    str | None,
    typer.Option("--expires-in", metavar="LIFETIME",
                 help="The token stops working after this long: 90m, 12h, 30d or 8w."),
]
ExpiresOn = Annotated[
    dt.datetime | None,
    typer.Option("--expires", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                 metavar="DATE",
                 help="The token stops working at this date (the day's start) or time, UTC."),
]


def _engine() -> Engine:
    return open_store_or_fail(get_settings().database_url)


def _audit(command: str) -> AuditRow:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        login = "unknown"
    return AuditRow(user_name=f"cli:{login}"[:100], role="cli",
                    resource=f"dealer-risk users {command}")


def _expiry(now: dt.datetime, expires_in: str | None, expires_on: dt.datetime | None
            ) -> tuple[dt.timedelta | None, dt.datetime | None]:
    """The options' lifetime or moment (exit 2 with one line if they are not usable)."""
    try:
        lifetime = parse_lifetime(expires_in) if expires_in is not None else None
        moment = expires_on.replace(tzinfo=dt.UTC) if expires_on is not None else None
        expiry(now, expires_in=lifetime, expires_at=moment)
    except ValueError as error:
        raise fail(f"{error} (--expires-in or --expires)") from None
    return lifetime, moment


def _until(user: User) -> str:
    return (f"expires {user.expires_at:%Y-%m-%d %H:%M} UTC" if user.expires_at
            else "does not expire")


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's name, as the audit log shows it.")],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False,
                                       help="What the user may do.")],
    division: Annotated[
        str | None,
        typer.Option("--division", help="Limit the user to this field division's licensees."),
    ] = None,
    expires_in: ExpiresIn = None,
    expires_on: ExpiresOn = None,
) -> None:
    """Create a user; prints its token once (the last line is the token alone).

    Only a hash of the token is stored: keep the token now, it cannot be shown again.
    """
    now = dt.datetime.now(dt.UTC)
    lifetime, moment = _expiry(now, expires_in, expires_on)
    engine = _engine()
    try:
        user, token = create_user(engine, name, role, division, now,
                                  expiry(now, expires_in=lifetime, expires_at=moment),
                                  audit=_audit(f"add {name}"))
    except UserExists as error:
        raise fail(str(error), code=1) from None
    except ValueError as error:
        raise fail(str(error)) from None
    finally:
        engine.dispose()
    scope = f", field division {user.division}" if user.division else ""
    typer.echo(f"created user {user.name} (role {user.role.value}{scope}; the token "
               f"{_until(user)}); the token below is shown only this once:")
    typer.echo(token)


@users_app.command("list")
def list_command() -> None:
    """List users: name, role, division, token status and expiry (never their tokens)."""
    engine = _engine()
    try:
        for user in list_users(engine):
            until = f"{user.expires_at:%Y-%m-%dT%H:%MZ}" if user.expires_at else "-"
            typer.echo(f"{user.name}\t{user.role.value}\t{user.division or '-'}\t"
                       f"{user.status}\t{until}")
    finally:
        engine.dispose()


@users_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The user whose token stops working.")],
) -> None:
    """Revoke a user's token: it and the user's page sessions stop working.

    The user stays (the audit log names it); ``users rotate`` gives it a new token. Servers
    stop accepting the token within a few seconds (docs/security.md).
    """
    engine = _engine()
    try:
        user = revoke_user(engine, name, dt.datetime.now(dt.UTC), audit=_audit(f"revoke {name}"))
    except UnknownUser as error:
        raise fail(str(error), code=1) from None
    finally:
        engine.dispose()
    typer.echo(f"revoked the token of user {user.name}; its page sessions have ended")


@users_app.command("rotate")
def rotate(
    name: Annotated[str, typer.Argument(help="The user who gets a new token.")],
    expires_in: ExpiresIn = None,
    expires_on: ExpiresOn = None,
) -> None:
    """Give a user a new token, printed once (the last line); the old one stops working.

    The new token lives as long as the old one did unless --expires-in or --expires says
    otherwise. A revoked user gets access again.
    """
    now = dt.datetime.now(dt.UTC)
    lifetime, moment = _expiry(now, expires_in, expires_on)
    engine = _engine()
    try:
        user, token = rotate_token(engine, name, now, expires_in=lifetime, expires_at=moment,
                                   audit=_audit(f"rotate {name}"))
    except UnknownUser as error:
        raise fail(str(error), code=1) from None
    finally:
        engine.dispose()
    typer.echo(f"new token for user {user.name} (it {_until(user)}); the old token and its "
               "page sessions no longer work; the token below is shown only this once:")
    typer.echo(token)


def register(app: typer.Typer) -> None:
    """Add the ``users`` group to ``app``."""
    app.add_typer(users_app, name="users")

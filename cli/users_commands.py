"""``dealer-risk users add|list``: users of the API and pages, and their tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from data.settings import get_settings
from data.store import open_store
from serving.users import Role, UserExists, create_user, list_users

users_app = typer.Typer(help="Users of the API and pages.", no_args_is_help=True)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's name, as the audit log shows it.")],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False,
                                       help="What the user may do.")],
    division: Annotated[
        str | None,
        typer.Option("--division", help="Limit the user to this field division's licensees."),
    ] = None,
) -> None:
    """Create a user; prints its token once (the last line is the token alone).

    Only a hash of the token is stored: keep the token now, it cannot be shown again.
    """
    engine = open_store(get_settings().database_url)
    try:
        user, token = create_user(engine, name, role, division, dt.datetime.now(dt.UTC))
    except (UserExists, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    finally:
        engine.dispose()
    scope = f", field division {user.division}" if user.division else ""
    typer.echo(f"created user {user.name} (role {user.role.value}{scope}); "
               "the token below is shown only this once:")
    typer.echo(token)


@users_app.command("list")
def list_command() -> None:
    """List users with their role and division (never their tokens)."""
    engine = open_store(get_settings().database_url)
    try:
        for user in list_users(engine):
            typer.echo(f"{user.name}\t{user.role.value}\t{user.division or '-'}")
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add the ``users`` group to ``app``."""
    app.add_typer(users_app, name="users")

"""What several commands share: options, the one-line failure and checks done up front."""

from __future__ import annotations

import datetime as dt
import errno
import socket
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from data.settings import Settings
from data.store import open_store

AsOf = Annotated[
    dt.datetime,
    typer.Option("--as-of", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD",
                 help="Only facts known strictly before this date are used."),
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q",
                 help="Print only the result on stdout: no progress bar, no notes (errors "
                      "are still printed)."),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object on stdout."),
]
Progress = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", show_default=False,
                 help="Show the progress bar on stderr (default: only on a terminal)."),
]

#: Exit status of a usage error (a bad argument, a port in use), as Click uses it.
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit (status 2 by default) for the caller."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def validation_problem(error: ValidationError, source: object | None = None) -> str:
    """A pydantic error as one line: ``SOURCE: field.path: reason (and N more)``.

    The one wording of a bad setting for every command: an experiment or generator config
    file names itself as the source; an environment variable is its own field.
    """
    first = error.errors()[0]
    reason = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    parts = [str(source)] if source is not None else []
    where = ".".join(str(part) for part in first["loc"])
    if where:
        parts.append(where)
    return ": ".join([*parts, reason]) + more


def store_label(url: str) -> str:
    """The store's URL as a person may see it (no password)."""
    return make_url(url).render_as_string(hide_password=True)


def open_store_or_fail(url: str) -> Engine:
    """:func:`open_store`, or one line naming the store when it cannot be opened.

    A PostgreSQL database that does not exist, a server that is down or a SQLite path that
    cannot be written is the user's setting to fix, not a traceback.
    """
    try:
        return open_store(url)
    except (SQLAlchemyError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise fail(f"cannot open the store {store_label(url)}: {reason} (check "
                   "DEALER_RISK_DATABASE_URL or DEALER_RISK_HOME)", code=1) from error


def store_exists(url: str) -> bool:
    """False for a SQLite store whose file is missing; a server's database is assumed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


def open_existing_store_or_fail(url: str) -> Engine:
    """:func:`open_store_or_fail` for a command that only reads: a missing store is an error.

    Creating an empty store where a user happened to run a question would hide that they
    are in the wrong folder (or forgot DEALER_RISK_HOME).
    """
    if not store_exists(url):
        raise fail(f"there is no store at {store_label(url)} yet: `dealer-risk ingest DIR` "
                   "or `dealer-risk demo` creates it (DEALER_RISK_HOME chooses where)", code=1)
    return open_store_or_fail(url)


def check_port_free(host: str, port: int) -> None:
    """Fail at once (exit 2) when ``host:port`` is taken, rather than after the work."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: a port left in TIME_WAIT is free, one being listened on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise fail(f"port {port} on {host} is already in use: stop what listens "
                           "there or choose another --port") from error
            raise fail(f"cannot listen on {host}:{port}: {error.strerror}") from error


def artifact_root(settings: Settings) -> Path | None:
    """Where a local tracking store keeps artifacts; a tracking server decides its own."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return settings.home / "mlflow-artifacts"
    return None

"""What several commands share: the ``--as-of`` option and the one-line failure."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

AsOf = Annotated[
    dt.datetime,
    typer.Option("--as-of", formats=["%Y-%m-%d"],
                 help="Only facts known strictly before this date are used."),
]


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit (status 2) for the caller to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)

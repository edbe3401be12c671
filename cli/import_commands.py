"""``dealer-risk import ...``: load real public formats into the store.

Each command reads the settings, opens the store and calls one importer from
``data.importers``; a rejected file exits with status 2 and every error on stderr
as ``file:line: field: reason``, the store unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from cli.options import open_store_or_fail
from data.importers import (
    ImportRejected,
    ImportSummary,
    import_atf_ffl_list,
    import_atf_inspection_reports,
)
from data.settings import get_settings

#: Errors shown on screen; a file with thousands of bad rows should not flood it.
MAX_ERRORS_SHOWN = 50

EXIT_REJECTED = 2

import_app = typer.Typer(
    name="import",
    help="Load real public formats (ATF's licensee listing, inspection reports).",
    no_args_is_help=True,
)

InputFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to load."),
]


def _run(importer: Callable[[Engine, Path], ImportSummary], file: Path) -> None:
    settings = get_settings()
    engine = open_store_or_fail(settings.database_url)
    try:
        summary = importer(engine, file)
    except ImportRejected as rejected:
        for error in rejected.errors[:MAX_ERRORS_SHOWN]:
            typer.echo(str(error), err=True)
        hidden = len(rejected.errors) - MAX_ERRORS_SHOWN
        if hidden > 0:
            typer.echo(f"... and {hidden} more errors", err=True)
        typer.echo(
            f"{file.name}: rejected, {len(rejected.errors)} errors; the store is unchanged",
            err=True,
        )
        raise typer.Exit(EXIT_REJECTED) from None
    finally:
        engine.dispose()
    for issue in (*summary.skipped, *summary.notes):
        typer.echo(str(issue), err=True)
    typer.echo(summary.describe())


@import_app.command("atf-ffl-list")
def atf_ffl_list(file: InputFile) -> None:
    """Load licensees from ATF's published listing (either header style) into dealers."""
    _run(import_atf_ffl_list, file)


@import_app.command("atf-inspection-reports")
def atf_inspection_reports(file: InputFile) -> None:
    """Load inspection reports (JSON lines) and the licensees they name."""
    _run(import_atf_inspection_reports, file)


def register(app: typer.Typer) -> None:
    """Add the ``import`` command group to ``app``."""
    app.add_typer(import_app, name="import")

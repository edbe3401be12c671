"""Commands that load data into the store: ``ingest`` and ``import``."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from data.ingest import IngestResult, ingest_directory
from data.settings import get_settings
from data.store import open_store

#: Problems printed on screen; all of them are in the report file.
PROBLEMS_SHOWN = 50
#: Exit status of a rejected input, as the data contract fixes it.
EXIT_REJECTED = 2


def ingest(
    directory: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="Input directory in the data contract's layout."
        ),
    ],
    quarantine: Annotated[
        Path | None,
        typer.Option(
            "--quarantine",
            dir_okay=False,
            help="Load the valid rows and write every rejected row, with its reasons, here.",
        ),
    ] = None,
) -> None:
    """Validate and load an input directory into the store.

    Any problem rejects the whole load (exit status 2, store unchanged) unless
    --quarantine is given.
    """
    settings = get_settings()
    engine = open_store(settings.database_url)
    # Microseconds keep two loads in one second from sharing a report.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    report_path = settings.reports_dir / f"ingest-{stamp}.txt"
    result = ingest_directory(
        engine,
        directory,
        report_path=report_path,
        quarantine_path=quarantine,
        progress=sys.stderr.isatty(),
        keep_first=PROBLEMS_SHOWN,
    )
    engine.dispose()
    _print_outcome(result)
    if not result.accepted:
        raise typer.Exit(code=EXIT_REJECTED)


def _print_outcome(result: IngestResult) -> None:
    for problem in result.first_problems:
        typer.echo(str(problem), err=True)
    hidden = result.problem_count - len(result.first_problems)
    if hidden > 0:
        typer.echo(f"... and {hidden:,} more", err=True)
    if result.report_path is not None:
        typer.echo(f"{result.problem_count:,} problem(s); report: {result.report_path}", err=True)
    if result.ignored_files:
        typer.echo(f"ignored (not a table): {', '.join(result.ignored_files)}", err=True)
    for table in result.tables:
        typer.echo(
            f"{table.file}: {table.rows_read:,} rows, {table.rows_valid:,} valid, "
            f"{table.rows_rejected:,} rejected, {table.rows_changed:,} inserted or changed"
        )
    if result.quarantine_path is not None:
        typer.echo(f"quarantined {result.quarantined_rows:,} row(s) to {result.quarantine_path}")
    if result.accepted:
        loaded = sum(table.rows_valid for table in result.tables)
        typer.echo(f"loaded {loaded:,} valid row(s)")
    else:
        typer.echo("rejected: nothing was applied to the store", err=True)


def register(app: typer.Typer) -> None:
    """Add the store-loading commands to ``app``."""
    app.command()(ingest)

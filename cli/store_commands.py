"""Commands that load data into the store: ``ingest`` and ``import``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from cli.options import Json, Progress, Quiet, open_store_or_fail
from data.ingest import IngestResult, ingest_directory
from data.settings import get_settings

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
    quiet: Quiet = False,
    as_json: Json = False,
    progress: Progress = None,
) -> None:
    """Validate and load an input directory into the store.

    Any problem rejects the whole load (exit status 2, store unchanged) unless
    --quarantine is given. Every load leaves its summary in DEALER_RISK_HOME/reports.
    """
    settings = get_settings()
    engine = open_store_or_fail(settings.database_url)
    try:
        result, summary_path = ingest_with_report(
            engine, directory, settings.reports_dir, quarantine=quarantine,
            progress=(sys.stderr.isatty() if progress is None else progress) and not quiet)
    finally:
        engine.dispose()
    _print_outcome(result, summary_path, quiet=quiet, as_json=as_json)
    if not result.accepted:
        raise typer.Exit(code=EXIT_REJECTED)


def ingest_with_report(
    engine: Engine, directory: Path, reports_dir: Path, *, quarantine: Path | None = None,
    progress: bool = False,
) -> tuple[IngestResult, Path]:
    """Ingest ``directory`` and write its summary to ``reports_dir/ingest-<UTC>.json``.

    Problems, when there are any, go to ``ingest-<UTC>.txt`` beside it (docs/ingestion.md).
    """
    # Microseconds keep two loads in one second from sharing a report.
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
    result = ingest_directory(
        engine,
        directory,
        report_path=reports_dir / f"ingest-{stamp}.txt",
        quarantine_path=quarantine,
        progress=progress,
        keep_first=PROBLEMS_SHOWN,
    )
    summary = ingest_summary(result, directory)
    summary["started"] = started.isoformat()
    summary["finished"] = dt.datetime.now(dt.UTC).isoformat()
    reports_dir.mkdir(parents=True, exist_ok=True)
    summary_path = reports_dir / f"ingest-{stamp}.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return result, summary_path


def ingest_summary(result: IngestResult, directory: Path) -> dict[str, Any]:
    """What a load did, as the JSON report and ``ingest --json`` give it."""
    return {
        "directory": str(directory.resolve()),
        "accepted": result.accepted,
        "problems": result.problem_count,
        "problems_report": None if result.report_path is None else str(result.report_path),
        "tables": [{"file": table.file, "rows_read": table.rows_read,
                    "rows_valid": table.rows_valid, "rows_rejected": table.rows_rejected,
                    "rows_inserted_or_changed": table.rows_changed}
                   for table in result.tables],
        "ignored_files": list(result.ignored_files),
        "quarantine": None if result.quarantine_path is None else str(result.quarantine_path),
        "quarantined_rows": result.quarantined_rows,
    }


def _print_outcome(result: IngestResult, summary_path: Path, *, quiet: bool,
                   as_json: bool) -> None:
    # Problems are errors: printed even when quiet.
    for problem in result.first_problems:
        typer.echo(str(problem), err=True)
    hidden = result.problem_count - len(result.first_problems)
    if hidden > 0:
        typer.echo(f"... and {hidden:,} more", err=True)
    if result.report_path is not None:
        typer.echo(f"{result.problem_count:,} problem(s); report: {result.report_path}", err=True)
    if not result.accepted:
        typer.echo("rejected: nothing was applied to the store", err=True)
    if as_json:
        summary = json.loads(summary_path.read_text())
        typer.echo(json.dumps({**summary, "summary_report": str(summary_path)}))
        return
    if result.ignored_files and not quiet:
        typer.echo(f"ignored (not a table): {', '.join(result.ignored_files)}", err=True)
    if not quiet:
        for table in result.tables:
            typer.echo(
                f"{table.file}: {table.rows_read:,} rows, {table.rows_valid:,} valid, "
                f"{table.rows_rejected:,} rejected, {table.rows_changed:,} inserted or changed"
            )
    if result.quarantine_path is not None:
        typer.echo(f"quarantined {result.quarantined_rows:,} row(s) to {result.quarantine_path}")
    if result.accepted:
        loaded = sum(table.rows_valid for table in result.tables)
        typer.echo(f"loaded {loaded:,} valid row(s); summary: {summary_path}")


def register(app: typer.Typer) -> None:
    """Add the store-loading commands to ``app``."""
    app.command()(ingest)

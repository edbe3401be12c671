"""``dealer-risk features --as-of DATE --out FILE``: the feature table as a file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from cli.options import open_existing_store_or_fail
from data.settings import get_settings
from features.catalogue import CATALOGUE_VERSION
from features.io import FEATURE_FILE_SUFFIXES, load_tables, write_feature_table
from features.pipelines import build_features


def features(
    as_of: Annotated[
        dt.datetime,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Compute features as of this date: only facts known strictly before it.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Output file; .csv or .parquet decides the format."),
    ],
) -> None:
    """Write the feature table (one row per active licensee) as of DATE to FILE."""
    if out.suffix.lower() not in FEATURE_FILE_SUFFIXES:
        raise typer.BadParameter("FILE must end in .csv or .parquet", param_hint="--out")
    day = as_of.date()
    engine = open_existing_store_or_fail(get_settings().database_url)
    try:
        # Reading only rows known before the date is faster; the pipeline enforces it anyway.
        tables = load_tables(engine, known_before=day)
    finally:
        engine.dispose()
    table = build_features(tables, day)
    write_feature_table(table, out)
    typer.echo(
        f"wrote {len(table)} licensees x {table.shape[1]} features as of {day.isoformat()} "
        f"(catalogue {CATALOGUE_VERSION}) to {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``features`` command to ``app``."""
    app.command("features")(features)

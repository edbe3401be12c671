"""``monitor``, ``report`` and ``simulate-outcomes``: closing the loop on the plans."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import Engine

from cli.options import (
    AsOf,
    Progress,
    Quiet,
    artifact_root,
    fail,
    open_existing_store_or_fail,
)
from cli.progress import Stages
from data.settings import Settings, get_settings
from data.store import table_counts
from data.truth_files import default_truth_path
from models.registry import log_monitoring_run
from monitoring.monitor import MonitorError, flat_metrics
from monitoring.monitor import monitor as monitor_figures
from monitoring.report import write_report
from monitoring.results import store_result
from synthetic.outcomes import (
    DEFAULT_INSPECTED_SHARE,
    OutcomeError,
    default_world_dir,
    read_plan_csv,
    simulate_plan_outcomes,
)


def monitor_and_store(engine: Engine, settings: Settings, day: dt.date) -> dict[str, Any]:
    """``monitor``'s figures as of ``day``, stored for the monitoring and enforcement
    pages (``monitoring.results``); the demo runs the same."""
    output = monitor_figures(engine, settings.mlflow_tracking_uri, day)
    store_result(engine, output, dt.datetime.now(dt.UTC))
    return output


def log_monitor_figures(settings: Settings, output: dict[str, Any], day: dt.date) -> str:
    """Log ``monitor``'s figures to MLflow as a monitoring run of their model version."""
    return log_monitoring_run(
        settings.mlflow_tracking_uri, artifact_root(settings),
        model_version=str(output["model_version"]), as_of=day.isoformat(),
        metrics=flat_metrics(output), report=output)


def monitor(
    as_of: AsOf,
    pretty: Annotated[bool, typer.Option(help="Indent the JSON.")] = True,
    log: Annotated[bool, typer.Option(help="Log the figures to MLflow as a monitoring run "
                                           "against the champion's version.")] = True,
    quiet: Quiet = False,
    progress: Progress = None,
) -> None:
    """Print, as JSON, what the stored plans found by DATE, calibration, drift and whether
    retraining is recommended; log the same figures to MLflow.

    Only facts known strictly before DATE count (docs/monitoring.md).
    """
    settings = get_settings()
    day = as_of.date()
    with Stages("monitor", 2 if log else 1, quiet=quiet, progress=progress) as stages:
        engine = open_existing_store_or_fail(settings.database_url)
        try:
            with stages.stage(f"linking outcomes to plans as of {day}"):
                output = monitor_and_store(engine, settings, day)
        except MonitorError as error:
            raise fail(str(error)) from error
        finally:
            engine.dispose()
        if log:
            with stages.stage("logging the figures to MLflow") as notes:
                run_id = log_monitor_figures(settings, output, day)
                notes.append(f"logged monitoring run {run_id} against version "
                             f"{output['model_version']}")
    typer.echo(json.dumps(output, indent=2 if pretty else None, default=str))


def report(
    as_of: AsOf,
    out: Annotated[Path, typer.Option("--out", file_okay=False,
                                      help="Directory to write index.html and the CSVs to.")],
) -> None:
    """Write the public transparency report as of DATE: index.html and CSV aggregates.

    Counts from 1 to 9 are written `<10`, rates on fewer than 10 are suppressed, and no
    license number, business name or address appears (docs/monitoring.md).
    """
    settings = get_settings()
    engine = open_existing_store_or_fail(settings.database_url)
    try:
        if table_counts(engine)["dealers"] == 0:
            raise fail("the store has no licensees yet: `dealer-risk ingest DIR` first", code=1)
        written = write_report(engine, as_of.date(), out)
    finally:
        engine.dispose()
    typer.echo(f"wrote {len(written)} files to {out}", err=True)
    for path in written:
        typer.echo(str(path))


def simulate_outcomes(
    plan_csv: Annotated[Path, typer.Argument(help="A plan CSV written by `dealer-risk plan`.",
                                             dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", file_okay=False,
                                      help="Contract directory to write (for `ingest`).")],
    world: Annotated[
        Path | None,
        typer.Option("--world", file_okay=False,
                     help="The generated contract directory the store was loaded from "
                          "(default: beside the truth file, TRUTH without .truth.csv)."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", dir_okay=False,
                     help="The world's truth file (default: WORLD.truth.csv)."),
    ] = None,
    period_days: Annotated[int, typer.Option("--period-days",
                                             help="Length of the plan's period.")] = 365,
    inspected_share: Annotated[
        float, typer.Option("--inspected-share",
                            help="Share of planned licensees inspected in the period.")
    ] = DEFAULT_INSPECTED_SHARE,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw.")] = 0,
) -> None:
    """Draw a plan's inspections on a generated world from its hidden truth.

    Writes a contract directory (the planned licensees' dealers rows, their compliance
    inspections closing inside the period, empty event files) for `dealer-risk ingest`.
    Only for generated worlds: the outcomes come from the generator's truth.
    """
    if world is not None:
        world_dir = world
    elif truth is not None:
        world_dir = default_world_dir(truth)
    else:
        raise fail("give --world DIR (the generated directory) or --truth FILE")
    truth_path = truth if truth is not None else default_truth_path(world_dir)
    if not 1 <= period_days <= 3660:
        raise fail(f"--period-days must be from 1 to 3660, not {period_days}")
    try:
        plan = read_plan_csv(plan_csv)
        if plan.empty:
            raise OutcomeError(f"{plan_csv}: the plan has no rows")
        start = dt.date.fromisoformat(str(plan["as_of"].iloc[0]))
        result = simulate_plan_outcomes(
            truth_path, plan_csv, world_dir, out, period_start=start,
            period_end=start + dt.timedelta(days=period_days - 1), seed=seed,
            inspected_share=inspected_share)
    except OutcomeError as error:
        raise fail(str(error)) from error
    rows = result.rows
    inspected = int(rows["inspected"].sum())
    typer.echo(f"{len(rows):,} planned, {inspected:,} inspected, "
               f"{int(rows['serious'].sum()):,} serious; wrote {out}", err=True)
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to ``app``."""
    app.command("monitor")(monitor)
    app.command("report")(report)
    app.command("simulate-outcomes")(simulate_outcomes)

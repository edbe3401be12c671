"""``dealer-risk plan``: next period's compliance inspections in every field division."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from cli.options import AsOf, Json, Progress, Quiet, fail, open_existing_store_or_fail
from cli.progress import Stages
from data.csv_cells import frame_to_csv
from data.settings import get_settings
from data.store.read import read_tables
from models.registry import champion_version
from planning.design import (
    DEFAULT_EXPLORATION_SHARE,
    DEFAULT_PERIOD_DAYS,
    Design,
    PlanError,
    PlanOptions,
    read_capacity,
)
from planning.plans import make_design, plan_csv_frame, store_plan
from scoring.lists import ListInfo, latest_list, read_score_list


def plan_and_store(
    engine: Engine, tracking_uri: str, options: PlanOptions, created_by: str | None = None,
) -> tuple[Design, int, ListInfo]:
    """Make the plan of ``options`` from the champion's newest list and store it.

    Raises :class:`PlanError` when there is no champion or it has no list as of the date.
    """
    version = champion_version(tracking_uri)
    if version is None:
        raise PlanError("no champion model: run `dealer-risk promote VERSION` first")
    day = options.as_of
    listing = latest_list(engine, model_version=version, servable=True, on_or_before=day)
    if listing is None:
        raise PlanError(f"champion version {version} has no stored list as of {day} or "
                        f"earlier: run `dealer-risk score --as-of {day} --out FILE` first")
    scored = read_score_list(engine, listing.list_id)
    frames = read_tables(engine, known_before=day, names=("dealers", "inspections"))
    design = make_design(scored, frames["dealers"], frames["inspections"], options)
    plan_id = store_plan(engine, design, listing, created_by=created_by or getpass.getuser(),
                         created_at=dt.datetime.now(dt.UTC))
    return design, plan_id, listing


def plan(
    as_of: AsOf,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write the plan to.")],
    capacity: Annotated[
        Path | None,
        typer.Option("--capacity", dir_okay=False,
                     help="CSV field_division,inspections: each division's capacity in the "
                          "period (default: 12% of its eligible licensees a year)."),
    ] = None,
    period_days: Annotated[
        int, typer.Option("--period-days", help="Length of the planned period in days.")
    ] = DEFAULT_PERIOD_DAYS,
    exploration_share: Annotated[
        float, typer.Option("--exploration-share",
                            help="Share of each division's capacity drawn at random from its "
                                 "other eligible licensees (above 0, at most 1).")
    ] = DEFAULT_EXPLORATION_SHARE,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the exploration draw.")] = 0,
    quiet: Quiet = False,
    as_json: Json = False,
    progress: Progress = None,
) -> None:
    """Plan the period's compliance inspections from the champion's newest list as of DATE.

    The plan is stored (its id is the last line printed) and written to FILE as CSV: one
    row per planned inspection, with its selection path and probability.
    """
    settings = get_settings()
    day = as_of.date()
    try:
        options = PlanOptions(
            as_of=day, period_days=period_days, exploration_share=exploration_share,
            seed=seed, capacity=read_capacity(str(capacity)) if capacity else None)
    except PlanError as error:
        raise fail(str(error)) from error
    with Stages("plan", 2, quiet=quiet, progress=progress) as stages:
        engine = open_existing_store_or_fail(settings.database_url)
        try:
            with stages.stage("planning from the champion's newest list"):
                design, plan_id, listing = plan_and_store(engine, settings.mlflow_tracking_uri,
                                                          options)
        except PlanError as error:
            raise fail(str(error)) from error
        finally:
            engine.dispose()
        with stages.stage(f"writing {out}"):
            out.parent.mkdir(parents=True, exist_ok=True)
            frame_to_csv(plan_csv_frame(design, plan_id, listing), out,
                         float_format="%.10g")
        stages.close()
    if as_json:
        typer.echo(json.dumps(_plan_summary(design, plan_id, listing, out)))
        return
    if quiet:
        typer.echo(plan_id)
        return
    if listing.as_of != day:
        typer.echo(f"note: the newest list of version {listing.model_version} is as of "
                   f"{listing.as_of}", err=True)
    for note in design.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"{'division':<24} {'capacity':>8} {'eligible':>8} {'risk':>6} "
               f"{'explore':>7} {'expected':>9} {'DL2 rule':>9} {'random':>8}", err=True)
    for division in design.divisions:
        dl2 = division.expected_serious_demand_letter_2
        typer.echo(
            f"{division.field_division[:24]:<24} {division.capacity:>8,} "
            f"{division.eligible:>8,} {division.risk:>6,} {division.exploration:>7,} "
            f"{division.expected_serious:>9.1f} "
            f"{'-' if dl2 is None else f'{dl2:.1f}':>9} "
            f"{division.expected_serious_random:>8.1f}", err=True)
    expected = sum(d.expected_serious for d in design.divisions)
    rule = [d.expected_serious_demand_letter_2 for d in design.divisions]
    rule_text = ("" if any(value is None for value in rule) else
                 f" against {sum(value or 0.0 for value in rule):.1f} for the Demand Letter 2 "
                 "rule")
    random_total = sum(d.expected_serious_random for d in design.divisions)
    excluded = ", ".join(f"{count:,} {name.replace('_', ' ')}"
                         for name, count in design.exclusions.items() if count)
    typer.echo(f"excluded: {excluded or 'none'}", err=True)
    typer.echo(
        f"planned {len(design.rows):,} inspections in {len(design.divisions)} divisions from "
        f"list {listing.list_id} (version {listing.model_version}, as of {listing.as_of}); "
        f"expected serious findings {expected:.1f}{rule_text} and {random_total:.1f} for a "
        f"random plan; wrote {out}", err=True)
    typer.echo(plan_id)


def _plan_summary(design: Design, plan_id: int, listing: ListInfo, out: Path) -> dict[str, Any]:
    """``plan --json``: the stored plan and what it expects, per division and in total."""
    rule = [d.expected_serious_demand_letter_2 for d in design.divisions]
    return {
        "plan_id": plan_id, "list_id": listing.list_id, "model_version": listing.model_version,
        "as_of": listing.as_of.isoformat(), "inspections": len(design.rows), "out": str(out),
        "expected_serious": sum(d.expected_serious for d in design.divisions),
        "expected_serious_demand_letter_2": (None if any(v is None for v in rule)
                                             else sum(v or 0.0 for v in rule)),
        "expected_serious_random": sum(d.expected_serious_random for d in design.divisions),
        "divisions": [{"field_division": d.field_division, "capacity": d.capacity,
                       "eligible": d.eligible, "risk": d.risk, "exploration": d.exploration,
                       "expected_serious": d.expected_serious,
                       "expected_serious_demand_letter_2": d.expected_serious_demand_letter_2,
                       "expected_serious_random": d.expected_serious_random}
                      for d in design.divisions],
        "exclusions": dict(design.exclusions), "notes": list(design.notes),
    }


def register(app: typer.Typer) -> None:
    """Add the plan command to ``app``."""
    app.command("plan")(plan)

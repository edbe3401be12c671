"""``dealer-risk demo``: the main job end to end on the embedded default.

Generate a synthetic national world, ingest it, train, promote, score (an earlier list
too, so there is a history), plan each division's inspections, create one user per role,
print their tokens and the address, and serve. Every stage prints a line with
its time, so a new user sees where the minutes go.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cli.model_commands import log_with_truth, score_and_store
from cli.plan_commands import plan_and_store
from cli.serve_commands import serve
from data.ingest import ingest_directory
from data.settings import get_settings
from data.store import open_store, table_counts
from features.io import load_tables
from models.registry import load_bundle
from planning.design import PlanOptions
from planning.plans import plan_csv_frame
from serving.users import Role, UserExists, create_user
from synthetic import generate_world, write_world
from training.experiment import ExperimentConfig
from training.pipeline import train
from training.promotion import promote

STAGES = 8
#: How long before the demo's date its earlier list is scored (its score history).
EARLIER_LIST_DAYS = 182


@contextmanager
def _stage(number: int, text: str) -> Iterator[Callable[[str], None]]:
    """Print ``[n/8] text ...`` and, when the block ends, the seconds it took."""
    typer.echo(f"[{number}/{STAGES}] {text} ...", err=True)
    started = time.perf_counter()
    notes: list[str] = []
    yield notes.append
    detail = f": {'; '.join(notes)}" if notes else ""
    typer.echo(f"      done in {time.perf_counter() - started:.1f} s{detail}", err=True)


def _create_demo_user(engine_url: str, role: Role, division: str | None) -> tuple[str, str]:
    engine = open_store(engine_url)
    try:
        for attempt in range(1, 100):
            name = f"demo-{role.value}" + (f"-{attempt}" if attempt > 1 else "")
            try:
                user, token = create_user(engine, name, role, division, dt.datetime.now(dt.UTC))
            except UserExists:
                continue
            return user.name, token
    finally:
        engine.dispose()
    raise RuntimeError("could not find a free demo user name")


def demo(
    dealers: Annotated[int, typer.Option(min=500, help="Licensees in the generated world.")]
    = 80_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generated world.")] = 2026,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop before serving.")] = False,
) -> None:
    """Generate a national world, ingest, train, promote, score, add users, and serve."""
    settings = get_settings()
    world_dir = settings.home / "demo" / "world"
    truth_path = settings.home / "demo" / "world.truth.csv"
    started = time.perf_counter()
    typer.echo(f"dealer-risk demo: {dealers:,} synthetic licensees, state in {settings.home}",
               err=True)

    with _stage(1, f"generating a synthetic national world (seed {seed})") as note:
        world = generate_world(seed=seed, dealers=dealers)
        write_world(world, world_dir, truth_path=truth_path)
        as_of = world.end + dt.timedelta(days=1)
        note(f"{len(world.traces):,} traces, {len(world.inspections):,} inspections "
             f"to {world_dir}")
        del world

    with _stage(2, "validating and ingesting it into the store") as note:
        engine = open_store(settings.database_url)
        settings.reports_dir.mkdir(parents=True, exist_ok=True)
        result = ingest_directory(
            engine, world_dir, report_path=settings.reports_dir / "demo-ingest-problems.txt",
            progress=sys.stderr.isatty(),
        )
        if not result.accepted:
            typer.echo(f"ingestion rejected the generated world; see {result.report_path}",
                       err=True)
            raise typer.Exit(code=2)
        counts = table_counts(engine)
        note(", ".join(f"{name} {count:,}" for name, count in counts.items()))

    with _stage(3, f"training on inspections closed before {as_of}") as note:
        tables = load_tables(engine, known_before=as_of)
        trained = train(tables, as_of, ExperimentConfig())
        logged = log_with_truth(settings, trained, truth_path)
        s = trained.summary
        note(f"version {logged.version}; precision@2% {s['precision_at_2pct']:.3f} vs "
             f"Demand Letter 2 {s['baseline_demand_letter_2_precision_at_2pct']:.3f}, "
             f"ceiling {s['truth_ceiling_precision_at_2pct']:.3f}")

    with _stage(4, f"promoting version {logged.version} to champion") as note:
        note(promote(settings.mlflow_tracking_uri, logged.version, force=True).describe())

    earlier = as_of - dt.timedelta(days=EARLIER_LIST_DAYS)
    with _stage(5, f"scoring every active licensee as of {earlier} and {as_of}") as note:
        bundle, version = load_bundle(settings.mlflow_tracking_uri)
        # An earlier list too, so the pages have a score history and something changed.
        for day in (earlier, as_of):
            out = settings.home / "demo" / f"scores-{day.isoformat()}.csv"
            scored, list_id = score_and_store(engine, tables, day, bundle, version, out)
            note(f"list {list_id}: {len(scored):,} licensees as of {day} to {out}")
        top_division = scored.rows["field_division"].head(100).mode().iloc[0]

    with _stage(6, f"planning each field division's inspections from {as_of}") as note:
        out = settings.home / "demo" / f"plan-{as_of.isoformat()}.csv"
        design, plan_id, listing = plan_and_store(
            engine, settings.mlflow_tracking_uri, PlanOptions(as_of=as_of, seed=seed),
            created_by="demo")
        plan_csv_frame(design, plan_id, listing).to_csv(out, index=False,
                                                        float_format="%.10g")
        rule = sum(d.expected_serious_demand_letter_2 or 0.0 for d in design.divisions)
        note(f"plan {plan_id}: {len(design.rows):,} inspections, expected serious "
             f"{sum(d.expected_serious for d in design.divisions):.0f} against {rule:.0f} "
             f"for the Demand Letter 2 rule, to {out}")
        engine.dispose()

    with _stage(7, "creating one user per role") as note:
        users = [_create_demo_user(settings.database_url, Role.INSPECTOR, str(top_division)),
                 *(_create_demo_user(settings.database_url, role, None)
                   for role in (Role.SUPERVISOR, Role.DATA_SCIENTIST, Role.ADMIN))]
        note(f"{len(users)} users")
    typer.echo("")
    typer.echo(f"Sign in at http://{host}:{port}/ with one of these tokens "
               "(shown only now; only hashes are stored):")
    for name, token in users:
        typer.echo(f"  {name:<24} {token}")
    typer.echo(f"The inspector sees field division {top_division} only.")
    typer.echo(f"Demo ready in {time.perf_counter() - started:.0f} s.")
    if no_serve:
        return
    typer.echo(f"[{STAGES}/{STAGES}] serving on http://{host}:{port} (Ctrl+C to stop); "
               "/readyz answers 503 until the stored list is loaded", err=True)
    serve(host=host, port=port, workers=1, reload_seconds=None, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)

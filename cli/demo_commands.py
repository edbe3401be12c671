"""``dealer-risk demo``: the main job end to end on the embedded default, a full cycle.

Generate a synthetic national world, ingest it, train, promote, score (an earlier list
too, so there is a history), plan each division's inspections for a year, draw that
year's inspections of the plan from the world's hidden truth and ingest them, monitor
after the year and its grace period, write the public report, create one user per role,
print their tokens and the address, and serve. Every stage prints a line with its time,
so a new user sees where the minutes go.

The world runs :data:`WORLD_BEYOND_PLAN_DAYS` past the plan's date, so the monitored
year has the world's own events too (traces, the regulator's other inspections): drift
then compares like with like instead of features emptying out past the world's end.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Annotated

import typer

from cli.model_commands import log_with_truth, score_and_store
from cli.monitor_commands import log_monitor_figures, monitor_and_store
from cli.options import Progress, check_port_free, open_store_or_fail
from cli.plan_commands import plan_and_store
from cli.progress import Stages
from cli.serve_commands import serve
from cli.store_commands import ingest_with_report
from data.csv_cells import frame_to_csv
from data.settings import get_settings
from data.store import open_store, table_counts
from features.io import load_tables
from models.registry import load_bundle
from monitoring.outcomes import GRACE_DAYS
from monitoring.report import write_report
from planning.design import PlanOptions
from planning.plans import plan_csv_frame
from serving.users import Role, UserExists, create_user
from synthetic import generate_world, write_world
from synthetic.outcomes import simulate_plan_outcomes
from synthetic.world import DEFAULT_END
from training.experiment import ExperimentConfig
from training.pipeline import train
from training.promotion import promote

STAGES = 10
#: The demo's date: training, lists and the plan are as of this day.
DEMO_AS_OF = DEFAULT_END + dt.timedelta(days=1)
#: The plan's period (from DEMO_AS_OF), as `dealer-risk plan` sets it by default.
PLAN_PERIOD_DAYS = 365
#: How far the generated world runs past DEMO_AS_OF: the plan's year, the outcomes' grace
#: period, and a quarter more, so the monitoring date lies inside the world.
WORLD_BEYOND_PLAN_DAYS = PLAN_PERIOD_DAYS + GRACE_DAYS + 91
#: How long before the demo's date its earlier list is scored (its score history).
EARLIER_LIST_DAYS = 182


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
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop before serving.")] = False,
    progress: Progress = None,
) -> None:
    """Generate a national world, ingest, train, promote, score, add users, and serve."""
    if not no_serve:
        # Before minutes of work, not after them.
        check_port_free(host, port)
    settings = get_settings()
    world_dir = settings.home / "demo" / "world"
    truth_path = settings.home / "demo" / "world.truth.csv"
    typer.echo(f"dealer-risk demo: {dealers:,} synthetic licensees, state in {settings.home}",
               err=True)
    stages = Stages("demo", STAGES, progress=progress, announce=True)
    with stages.stage(f"generating a synthetic national world (seed {seed})") as notes:
        as_of = DEMO_AS_OF
        world = generate_world(seed=seed, dealers=dealers,
                               end=as_of + dt.timedelta(days=WORLD_BEYOND_PLAN_DAYS))
        write_world(world, world_dir, truth_path=truth_path)
        notes.append(f"{len(world.traces):,} traces, {len(world.inspections):,} inspections "
                     f"to {world_dir}")
        del world

    with stages.stage("validating and ingesting it into the store") as notes:
        engine = open_store_or_fail(settings.database_url)
        result, summary_path = ingest_with_report(
            engine, world_dir, settings.reports_dir,
            progress=sys.stderr.isatty() and not stages.bar_shown)
        if not result.accepted:
            stages.close()
            typer.echo(f"ingestion rejected the generated world; see {result.report_path}",
                       err=True)
            raise typer.Exit(code=2)
        counts = table_counts(engine)
        notes.append(", ".join(f"{name} {count:,}" for name, count in counts.items())
                     + f"; report {summary_path}")

    with stages.stage(f"training on inspections closed before {as_of}") as notes:
        started_at = dt.datetime.now(dt.UTC)
        tables = load_tables(engine, known_before=as_of)
        trained = train(tables, as_of, ExperimentConfig())
        logged = log_with_truth(settings, trained, truth_path, started_at=started_at)
        s = trained.summary
        notes.append(f"version {logged.version}; precision@2% {s['precision_at_2pct']:.3f} vs "
                     f"Demand Letter 2 {s['baseline_demand_letter_2_precision_at_2pct']:.3f}, "
                     f"ceiling {s['truth_ceiling_precision_at_2pct']:.3f}")

    with stages.stage(f"promoting version {logged.version} to champion") as notes:
        notes.append(promote(settings.mlflow_tracking_uri, logged.version,
                             force=True).describe())

    earlier = as_of - dt.timedelta(days=EARLIER_LIST_DAYS)
    with stages.stage(f"scoring every active licensee as of {earlier} and {as_of}") as notes:
        bundle, version = load_bundle(settings.mlflow_tracking_uri)
        # An earlier list too, so the pages have a score history and something changed.
        for day in (earlier, as_of):
            out = settings.home / "demo" / f"scores-{day.isoformat()}.csv"
            scored, list_id = score_and_store(engine, tables, day, bundle, version, out)
            notes.append(f"list {list_id}: {len(scored):,} licensees as of {day} to {out}")
        top_division = scored.rows["field_division"].head(100).mode().iloc[0]

    with stages.stage(f"planning each field division's inspections from {as_of}") as notes:
        out = settings.home / "demo" / f"plan-{as_of.isoformat()}.csv"
        design, plan_id, listing = plan_and_store(
            engine, settings.mlflow_tracking_uri, PlanOptions(as_of=as_of, seed=seed),
            created_by="demo")
        frame_to_csv(plan_csv_frame(design, plan_id, listing), out, float_format="%.10g")
        rule = sum(d.expected_serious_demand_letter_2 or 0.0 for d in design.divisions)
        notes.append(f"plan {plan_id}: {len(design.rows):,} inspections, expected serious "
                     f"{sum(d.expected_serious for d in design.divisions):.0f} against "
                     f"{rule:.0f} for the Demand Letter 2 rule, to {out}")
        plan_path = out

    period_end = as_of + dt.timedelta(days=PLAN_PERIOD_DAYS - 1)
    with stages.stage(f"drawing the plan's inspections to {period_end} from the world's "
                      "truth and ingesting them") as notes:
        outcomes_dir = settings.home / "demo" / f"outcomes-plan-{plan_id}"
        simulated = simulate_plan_outcomes(truth_path, plan_path, world_dir, outcomes_dir,
                                           period_start=as_of, period_end=period_end,
                                           seed=seed)
        outcome_result, _ = ingest_with_report(engine, outcomes_dir, settings.reports_dir,
                                               progress=False)
        if not outcome_result.accepted:
            stages.close()
            typer.echo(f"ingestion rejected the plan's outcomes; see "
                       f"{outcome_result.report_path}", err=True)
            raise typer.Exit(code=2)
        rows = simulated.rows
        notes.append(f"{int(rows['inspected'].sum()):,} of {len(rows):,} planned inspected, "
                     f"{int(rows['serious'].sum()):,} serious (the truth's draw)")

    monitor_day = period_end + dt.timedelta(days=GRACE_DAYS + 1)
    with stages.stage(f"monitoring the plan as of {monitor_day} and writing the public "
                      "report") as notes:
        output = monitor_and_store(engine, settings, monitor_day)
        log_monitor_figures(settings, output, monitor_day)
        report_dir = settings.home / "demo" / f"report-{monitor_day.isoformat()}"
        written = write_report(engine, monitor_day, report_dir)
        ours = [p for p in output["plans"] if p["plan_id"] == str(plan_id)]
        estimate = ours[0]["estimated_serious_rate"] if ours else {
            "value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
        notes.append(f"serious rate among eligible licensees {estimate['value']:.3f} "
                     f"(95% {estimate['ci_low']:.3f}-{estimate['ci_high']:.3f}); retraining "
                     f"{'recommended' if output['retrain_recommended'] else 'not needed'}; "
                     f"report ({len(written)} files) in {report_dir}")
        engine.dispose()

    with stages.stage("creating one user per role") as notes:
        users = [_create_demo_user(settings.database_url, Role.INSPECTOR, str(top_division)),
                 *(_create_demo_user(settings.database_url, role, None)
                   for role in (Role.SUPERVISOR, Role.DATA_SCIENTIST, Role.ADMIN))]
        notes.append(f"{len(users)} users")
    stages.close()
    elapsed = time.perf_counter() - stages.started
    typer.echo("")
    typer.echo(f"Sign in at http://{host}:{port}/ with one of these tokens "
               "(shown only now; only hashes are stored):")
    for name, token in users:
        typer.echo(f"  {name:<24} {token}")
    typer.echo(f"The inspector sees field division {top_division} only.")
    typer.echo(f"Demo ready in {elapsed:.0f} s: version {logged.version} is champion, list "
               f"{list_id} as of {as_of}, plan {plan_id} monitored as of {monitor_day} "
               "(/monitoring, /enforcement); MLflow: `dealer-risk mlflow-ui`.")
    if no_serve:
        return
    typer.echo(f"[{STAGES}/{STAGES}] serving on http://{host}:{port} (Ctrl+C to stop); "
               "/readyz answers 503 until the stored list is loaded", err=True)
    serve(host=host, port=port, workers=1, reload_seconds=None, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)

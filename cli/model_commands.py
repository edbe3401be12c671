"""``train``, ``promote`` and ``score``: the model's life cycle from the command line."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tomllib
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from cli.options import (
    AsOf,
    Json,
    Progress,
    Quiet,
    fail,
    open_existing_store_or_fail,
    open_store_or_fail,
    validation_problem,
)
from cli.options import artifact_root as artifact_root  # monitor_commands imports it here
from cli.progress import Stages
from data.settings import Settings, get_settings
from data.truth_files import truth_companions
from features.io import load_tables
from features.pipelines.tables import EventTables
from models.bundle import ModelBundle
from models.registry import REGISTERED_MODEL_NAME, LoggedRun, ModelNotFound, load_bundle
from monitoring.outcomes import stored_selection_probabilities
from scoring.lists import latest_list, store_score_list
from scoring.score import ScoredList, rankable_features, score_list, write_score_csv
from training.experiment import ExperimentConfig, load_experiment
from training.pipeline import TrainingResult
from training.pipeline import train as train_model
from training.promotion import PromotionRefused
from training.promotion import promote as promote_version
from training.tracking import log_result
from training.truth import truth_evaluation


def git_commit() -> str:
    """The commit of the code that trains, for the run's tags ("unknown" outside git)."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, check=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip() or "unknown"


def log_with_truth(settings: Settings, result: TrainingResult, truth: Path | None,
                   started_at: dt.datetime | None = None) -> LoggedRun:
    """Log a training result to MLflow, with the truth comparison when a truth file is given.

    The truth metrics are added to ``result.summary`` and the section to the model card;
    ``started_at`` (when training began) becomes the run's start.
    """
    sections: list[str] = []
    if truth is not None:
        inspection_truth = pd.read_csv(truth_companions(truth)["inspections"])
        truth_metrics, section = truth_evaluation(result, inspection_truth)
        result.summary.update(truth_metrics)
        sections.append(section)
    return log_result(result, settings.mlflow_tracking_uri, artifact_root(settings),
                      git_commit=git_commit(), extra_sections=sections,
                      started_at=started_at)


def score_and_store(
    engine: Engine, tables: EventTables, as_of: dt.date, bundle: ModelBundle, version: str,
    out: Path,
) -> tuple[ScoredList, int]:
    """Score every active licensee, write the CSV to ``out`` and store the list."""
    features = rankable_features(tables, as_of)
    missing = [name for name in bundle.features if name not in features.columns]
    if missing:
        # A champion trained before the feature catalogue changed (e.g. after an upgrade).
        raise fail(f"version {version} was trained on features this code no longer computes "
                   f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): train "
                   "and promote a new version, or score with --model another one", code=1)
    scored = score_list(features, bundle, tables.dealers, model_version=version, as_of=as_of)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_score_csv(scored, str(out))
    list_id = store_score_list(
        engine, scored, model_name=REGISTERED_MODEL_NAME,
        calibration=bundle.calibrator.describe(), created_at=dt.datetime.now(dt.UTC),
    )
    return scored, list_id


def train(
    as_of: AsOf,
    experiment: Annotated[
        Path | None,
        typer.Option("--experiment", exists=True, dir_okay=False,
                     help="Experiment config (TOML); default: experiments/default.toml values."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", exists=True, dir_okay=False,
                     help="A generated world's truth file (OUT_DIR.truth.csv): adds the "
                          "ceiling and inverse-propensity-weighted estimates to the run."),
    ] = None,
    quiet: Quiet = False,
    as_json: Json = False,
    progress: Progress = None,
) -> None:
    """Train on inspections closed before DATE, evaluate, log to MLflow, register a version.

    The last line printed is the new version number alone (with --json: one JSON object).
    """
    settings = get_settings()
    config = _experiment_or_fail(experiment)
    day = as_of.date()
    with Stages("train", 3, quiet=quiet,
                progress=progress) as stages:
        with stages.stage(f"reading inspections closed before {day}"):
            engine = open_existing_store_or_fail(settings.database_url)
            try:
                tables = load_tables(engine, known_before=day)
                # Inspections that came from plans made before the date, linked as
                # monitoring links them: their selection probabilities weigh the run
                # (docs/model.md).
                selection = stored_selection_probabilities(engine, tables.inspections, day)
            finally:
                engine.dispose()
        started_at = dt.datetime.now(dt.UTC)
        with stages.stage(f"training experiment {config.name!r} as of {day}") as notes:
            try:
                # No plan yet and weights off: the run is exactly what it was before plans.
                given = len(selection) > 0 or config.weights.inverse_probability
                result = train_model(tables, day, config,
                                     selection=selection if given else None)
            except ValueError as error:
                raise fail(str(error), code=1) from error
            notes.extend(_training_lines(result))
        with stages.stage("logging the run to MLflow and registering the version") as notes:
            logged = log_with_truth(settings, result, truth, started_at=started_at)
            summary = result.summary
            if truth is not None:
                notes.append(
                    f"against the truth: ceiling precision@2% "
                    f"{summary['truth_ceiling_precision_at_2pct']:.3f}, gap closed "
                    f"{summary['truth_gap_closed_at_2pct']:.0%}, IPW precision@2% "
                    f"{summary['ipw_precision_at_2pct']:.3f}")
        model_at_capacity = summary.get("precision_at_capacity", float("nan"))
        rule_at_capacity = summary.get("baseline_demand_letter_2_precision_at_capacity",
                                       float("nan"))
        stages.finish(f"registered {REGISTERED_MODEL_NAME} version {logged.version} "
                      f"(run {logged.run_id}): precision at capacity {model_at_capacity:.3f} "
                      f"against {rule_at_capacity:.3f} for the Demand Letter 2 rule")
    if as_json:
        typer.echo(json.dumps({
            "version": logged.version, "run_id": logged.run_id, "model_uri": logged.model_uri,
            "experiment": config.name, "label": config.label, "as_of": day.isoformat(),
            "metrics": {key: value for key, value in summary.items() if value == value},
        }))
    else:
        typer.echo(logged.version)


def _experiment_or_fail(path: Path | None) -> ExperimentConfig:
    """The experiment config, or one line naming the file and the first fault (exit 2)."""
    try:
        return load_experiment(path)
    except tomllib.TOMLDecodeError as error:
        raise fail(f"{path}: not valid TOML: {error}") from error
    except ValidationError as error:
        raise fail(validation_problem(error, path)) from error


def _training_lines(result: TrainingResult) -> list[str]:
    """What a run found, in a few lines: rows, validation against baselines, notes."""
    summary, config = result.summary, result.config
    # The positives are of the run's own label, which is "serious" only by default.
    positives = ("serious" if config.label == "serious"
                 else f"positive for label {config.label}")
    return [
        f"inspections: {int(summary['training_inspections']):,} "
        f"({int(summary['training_serious']):,} {positives})",
        f"validation precision@2%: model {summary['precision_at_2pct']:.3f}, "
        f"Demand Letter 2 {summary['baseline_demand_letter_2_precision_at_2pct']:.3f}, "
        f"random {summary['baseline_random_precision_at_2pct']:.3f}",
        f"validation ROC-AUC {summary['roc_auc']:.3f}, PR-AUC {summary['pr_auc']:.3f}, "
        f"Brier {summary['brier']:.4f}",
        *([f"inspections from plans: {int(summary['plan_linked_inspections']):,}, "
           f"inverse-probability weights "
           f"{'on' if config.weights.inverse_probability else 'off'}; validation IPW "
           f"precision at capacity {summary['ipw_precision_at_capacity']:.3f}"]
          if "plan_linked_inspections" in summary else []),
        *result.notes,
    ]


def promote(
    version: Annotated[str, typer.Argument(help="The model version to make champion.")],
    force: Annotated[bool, typer.Option("--force", help="Promote even if it is worse.")] = False,
) -> None:
    """Move the serving alias (champion) to VERSION, unless it is worse than the champion."""
    settings = get_settings()
    try:
        promotion = promote_version(settings.mlflow_tracking_uri, version, force=force)
    except ModelNotFound as missing:
        raise fail(str(missing)) from missing
    except PromotionRefused as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(code=1) from refused
    typer.echo(promotion.describe())
    _say_whether_the_champion_has_a_list(settings, promotion.version)


def _say_whether_the_champion_has_a_list(settings: Settings, version: str) -> None:
    """After a promotion: which list serving will show, and how to give it its own."""
    engine = open_store_or_fail(settings.database_url)
    try:
        own = latest_list(engine, model_version=version, servable=True)
        served = own or latest_list(engine, servable=True)
    finally:
        engine.dispose()
    if own is not None:
        typer.echo(f"serving will show version {version}'s list {own.list_id} as of {own.as_of}")
    elif served is not None:
        typer.echo(f"version {version} has no stored list yet: serving keeps showing version "
                   f"{served.model_version}'s list {served.list_id} as of {served.as_of}; run "
                   f"`dealer-risk score --as-of {served.as_of} --out FILE` to store one")
    else:
        typer.echo(f"version {version} has no stored list yet: run "
                   "`dealer-risk score --as-of DATE --out FILE` to store one")


def score(
    as_of: AsOf,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model URI (default: models:/dealer-risk@champion)."),
    ] = None,
    quiet: Quiet = False,
    as_json: Json = False,
    progress: Progress = None,
) -> None:
    """Score every active licensee as of DATE; write FILE and store the list for serving."""
    settings = get_settings()
    day = as_of.date()
    with Stages("score", 3, quiet=quiet,
                progress=progress) as stages:
        with stages.stage("loading the model"):
            try:
                bundle, version = load_bundle(settings.mlflow_tracking_uri, model)
            except ModelNotFound as missing:
                raise fail(f"{missing} (train and promote a model first)", code=1) from missing
        engine = open_existing_store_or_fail(settings.database_url)
        try:
            with stages.stage(f"reading facts known before {day}"):
                tables = load_tables(engine, known_before=day)
            with stages.stage("scoring, explaining and storing the list"):
                scored, list_id = score_and_store(engine, tables, day, bundle, version, out)
        finally:
            engine.dispose()
        stages.finish(f"scored {len(scored):,} licensees with version {version}")
    if as_json:
        typer.echo(json.dumps({"list_id": list_id, "licensees": len(scored),
                               "model_version": version, "as_of": day.isoformat(),
                               "out": str(out)}))
    else:
        typer.echo(f"scored {len(scored):,} licensees as of {day} with version {version}; "
                   f"wrote {out}; stored as list {list_id}")


def register(app: typer.Typer) -> None:
    """Add the model commands to ``app``."""
    app.command("train")(train)
    app.command("promote")(promote)
    app.command("score")(score)

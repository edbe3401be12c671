"""The ``dealer-risk`` command line (see ../shared/data-contract.md for the contract).

Each command reads the settings, opens what it needs and calls one library function;
the work itself lives in the layers below.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Annotated

import typer

from cli import (
    demo_commands,
    features_commands,
    generate_commands,
    import_commands,
    model_commands,
    monitor_commands,
    plan_commands,
    serve_commands,
    store_commands,
    users_commands,
)
from data.settings import get_settings
from data.store import open_store, table_counts
from models.registry import list_model_versions

app = typer.Typer(
    name="dealer-risk",
    help="Explainable risk scores to decide which licensed firearms dealers to inspect first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Explainable risk scores to decide which licensed firearms dealers to inspect first."""


@app.command()
def status(
    pretty: Annotated[bool, typer.Option(help="Indent the JSON.")] = True,
) -> None:
    """Print, as JSON, row counts per table, model versions and the champion."""
    settings = get_settings()
    engine = open_store(settings.database_url)
    models = list_model_versions(settings.mlflow_tracking_uri)
    report = {
        **table_counts(engine),
        "model_versions": models["versions"],
        "champion": models["champion"],
        "store": engine.url.render_as_string(hide_password=True),
    }
    typer.echo(json.dumps(report, indent=2 if pretty else None, default=str))


store_commands.register(app)
import_commands.register(app)
features_commands.register(app)
model_commands.register(app)
plan_commands.register(app)
monitor_commands.register(app)
serve_commands.register(app)
users_commands.register(app)
generate_commands.register(app)
demo_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    # MLflow's per-file download bars would bury the command's own output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    _quiet_library_noise()
    app()


def _quiet_library_noise() -> None:
    """Silence advice meant for library authors, so users see the command's own lines."""
    warnings.filterwarnings("ignore", message=".*LightGBM binary classifier.*")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    logging.getLogger("mlflow").setLevel(logging.ERROR)

"""The ``dealer-risk`` command line (see ../shared/data-contract.md for the contract).

Each command reads the settings, opens what it needs and calls one library function;
the work itself lives in the layers below.

A command's module is imported only when that command runs (:class:`LazyCommands`):
importing every module up front (LightGBM, scikit-learn, MLflow, FastAPI, the generator)
cost about 3 s before any command began, more than ``plan`` itself takes.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from data.settings import get_settings
from data.store import open_store, table_counts

#: Each command, in the order ``--help`` lists them, and the module that registers it.
COMMAND_MODULES = {
    "generate": "cli.generate_commands",
    "ingest": "cli.store_commands",
    "import": "cli.import_commands",
    "features": "cli.features_commands",
    "train": "cli.model_commands",
    "promote": "cli.model_commands",
    "score": "cli.model_commands",
    "plan": "cli.plan_commands",
    "simulate-outcomes": "cli.monitor_commands",
    "monitor": "cli.monitor_commands",
    "report": "cli.monitor_commands",
    "users": "cli.users_commands",
    "serve": "cli.serve_commands",
    "demo": "cli.demo_commands",
}


class LazyCommands(TyperGroup):
    """The command group, importing a command's module only when the command is used."""

    # Typer's own command classes (it carries its own click): typed loosely here.
    def list_commands(self, ctx: Any) -> list[str]:
        own: list[str] = super().list_commands(ctx)
        return [*own, *(name for name in COMMAND_MODULES if name not in own)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMAND_MODULES:
            return command
        module = importlib.import_module(COMMAND_MODULES[cmd_name])
        commands = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        module.register(commands)
        group: Any = typer.main.get_command(commands)
        if isinstance(group, TyperGroup):
            return group.get_command(ctx, cmd_name)
        return group if group.name == cmd_name else None


app = typer.Typer(
    name="dealer-risk",
    help="Explainable risk scores to decide which licensed firearms dealers to inspect first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyCommands,
)


@app.callback()
def _root() -> None:
    """Explainable risk scores to decide which licensed firearms dealers to inspect first."""


@app.command()
def status(
    pretty: Annotated[bool, typer.Option(help="Indent the JSON.")] = True,
) -> None:
    """Print, as JSON, row counts per table, model versions and the champion."""
    from models.registry import list_model_versions  # MLflow: only when asked for

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

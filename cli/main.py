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
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from cli.options import Quiet, open_store_or_fail, store_exists, store_label
from data.settings import get_settings
from data.store import schema, table_counts

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
    "mlflow-ui": "cli.mlflow_commands",
    "demo": "cli.demo_commands",
}


#: Help texts are Markdown: a docstring's paragraph wraps to the terminal instead of
#: breaking where its source line ends (Typer's "rich" mode keeps those line breaks).
MARKUP: Literal["markdown"] = "markdown"


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
        commands = typer.Typer(pretty_exceptions_enable=False, add_completion=False,
                               rich_markup_mode=MARKUP)
        module.register(commands)
        group: Any = typer.main.get_command(commands)
        _markdown_help(group)
        if isinstance(group, TyperGroup):
            return group.get_command(ctx, cmd_name)
        return group if group.name == cmd_name else None


def _markdown_help(command: Any) -> None:
    """Give ``command`` and every subcommand (a module's own Typer group too) Markdown help."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = MARKUP
    for sub in getattr(command, "commands", {}).values():
        _markdown_help(sub)


app = typer.Typer(
    name="dealer-risk",
    help="Explainable risk scores to decide which licensed firearms dealers to inspect first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKUP,
    cls=LazyCommands,
)


@app.callback()
def _root() -> None:
    """Explainable risk scores to decide which licensed firearms dealers to inspect first."""


@app.command()
def status(
    pretty: Annotated[bool, typer.Option(help="Indent the JSON.")] = True,
    quiet: Quiet = False,
) -> None:
    """Print, as JSON, the store read, row counts per table, model versions, the champion.

    A read-only question: a store that does not exist yet is reported (``store_exists``
    false, zero rows), never created.
    """
    from models.registry import list_model_versions  # MLflow: only when asked for

    settings = get_settings()
    url = settings.database_url
    exists = store_exists(url)
    if exists:
        engine = open_store_or_fail(url)
        counts = table_counts(engine)
        engine.dispose()
    else:
        counts = dict.fromkeys(schema.CONTRACT_TABLES, 0)
    models = list_model_versions(settings.mlflow_tracking_uri)
    report = {
        **counts,
        "model_versions": models["versions"],
        "champion": models["champion"],
        "store": store_label(url),
        "store_exists": exists,
        "home": str(settings.home.resolve()),
    }
    if not quiet:
        typer.echo(f"store: {store_label(url)}" + ("" if exists else
                   " does not exist (nothing was created; `dealer-risk ingest` or "
                   "`dealer-risk demo` creates it; DEALER_RISK_HOME chooses where)"), err=True)
    typer.echo(json.dumps(report, indent=2 if pretty else None, default=str))


def _one_line_usage_error(error: Exception) -> None:
    """A usage mistake as every other: one ``error:`` line naming it (exit 2 follows)."""
    if type(error).__name__ == "NoArgsIsHelpError":  # bare `dealer-risk`: help was shown
        return
    ctx = getattr(error, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    message = error.format_message() if hasattr(error, "format_message") else str(error)
    typer.echo(f"error: {message}{where}", err=True)


def _usage_errors_on_one_line() -> None:
    """Typer prints a usage error as a boxed panel of four lines or more; make it one.

    Typer's standalone mode hands every Click usage error to ``rich_utils.
    rich_format_error`` and then exits with the error's code (2); replacing that printer
    keeps the exit codes and changes only the words on stderr. Only the console script
    does this, so Typer's own test runner still sees its usual output.
    """
    from typer import rich_utils

    rich_utils.rich_format_error = _one_line_usage_error  # type: ignore[assignment]


def main() -> None:
    """Console-script entry point."""
    # MLflow's per-file download bars would bury the command's own output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    _quiet_library_noise()
    _usage_errors_on_one_line()
    app()


def _quiet_library_noise() -> None:
    """Silence advice meant for library authors, so users see the command's own lines."""
    warnings.filterwarnings("ignore", message=".*LightGBM binary classifier.*")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # Alembic announces every migration step at INFO (the store's and MLflow's own);
    # warnings and errors still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)

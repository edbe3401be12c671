"""``dealer-risk mlflow-ui``: MLflow's UI on the project's own tracking store and artifacts.

The command becomes MLflow's server (``python -m mlflow server``), so the CLI never imports it;
the backend store and artifact root come from the settings, the same ones ``train`` logs
to, so the UI shows this project's runs wherever the command is started.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cli.options import artifact_root, check_port_free, fail
from data.settings import Settings, get_settings

#: MLflow 3 opens in its GenAI view unless the page's address asks for the classic one
#: (the sidebar's toggle is remembered only by the browser): the printed link asks.
CLASSIC_VIEW_QUERY = "workflowType=machine_learning"


def mlflow_server_command(settings: Settings, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for the project's tracking store and artifacts."""
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", settings.mlflow_tracking_uri,
               "--host", host, "--port", str(port), "--workers", "1"]
    root = artifact_root(settings)
    if root is not None:
        command += ["--default-artifact-root", root.resolve().as_uri()]
    return command


def mlflow_ui(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 5000,
) -> None:
    """Open MLflow's UI on this project's runs and registered model versions.

    Reads the tracking store and artifact root from DEALER_RISK_HOME (or
    MLFLOW_TRACKING_URI); Ctrl+C stops it.
    """
    settings = get_settings()
    uri = settings.mlflow_tracking_uri
    if "://" in uri and not uri.startswith(("sqlite:", "file:")):
        raise fail(f"MLFLOW_TRACKING_URI is a tracking server ({uri}): open its own UI")
    check_port_free(host, port)
    typer.echo(f"MLflow UI on {uri}: http://{host}:{port}/#/experiments?{CLASSIC_VIEW_QUERY} "
               "(Ctrl+C to stop)", err=True)
    sys.stderr.flush()
    # Replaced by MLflow's server, which then gets Ctrl+C and stops its own workers.
    command = mlflow_server_command(settings, host, port)
    os.execv(command[0], command)


def register(app: typer.Typer) -> None:
    """Add ``mlflow-ui`` to ``app``."""
    app.command("mlflow-ui")(mlflow_ui)

"""``dealer-risk serve``: the HTTP API under uvicorn, with one or more worker processes."""

from __future__ import annotations

import copy
import os
from typing import Annotated, Any

import typer

from cli.options import check_port_free, fail, open_store_or_fail, validation_problem
from data.settings import get_settings

WORKER_HEALTHCHECK_SECONDS = 60


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (share store and MLflow).")
    ] = 1,
    reload_seconds: Annotated[
        float | None,
        typer.Option("--reload-seconds", min=1,
                     help="How often each worker checks for a promotion (default 30)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
) -> None:
    """Start the HTTP API (OpenAPI at /docs) on the champion model and its scored list."""
    import uvicorn

    check_port_free(host, port)
    settings = get_settings()
    if reload_seconds is not None:
        # Workers are fresh processes that read their settings from the environment.
        os.environ["DEALER_RISK_RELOAD_SECONDS"] = str(reload_seconds)
    _check_serving_environment()
    # Migrate once here: several workers starting on an empty store would race to do it.
    open_store_or_fail(settings.database_url).dispose()
    typer.echo(f"serving on http://{host}:{port} with {workers} worker(s); "
               f"store {settings.database_url.split('@')[-1]}", err=True)
    uvicorn.run(
        "serving.app:app_from_environment", factory=True, host=host, port=port,
        workers=workers, log_level=log_level, access_log=False,
        # A fresh worker imports the model stack and loads the champion before it answers
        # the supervisor's ping; uvicorn's default of 5 s kills (and restarts) workers
        # that are merely starting on a busy machine.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        log_config=_log_config(),
    )


def _check_serving_environment() -> None:
    """Fail in one line on a bad serving variable, before any worker starts."""
    from pydantic import ValidationError

    from serving.settings import ServingSettings

    try:
        ServingSettings()
    except ValidationError as error:
        raise fail(validation_problem(error)) from None


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with alembic's per-migration INFO lines left out.

    Every worker (a fresh process) applies it, so the store's migration check when a worker
    opens it stays quiet; alembic's warnings and errors still show.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["alembic"] = {"level": "WARNING"}
    return config


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)

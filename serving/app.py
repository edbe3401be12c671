"""The application: ``create_app(settings)`` and the factory uvicorn's workers call.

The lifespan opens the store, starts the audit writer and starts loading the champion and
its scored list in the background, so the port answers at once: until a state is
published, /readyz and every data route answer 503 with ``Retry-After`` (the pages a 503
page). It then polls for a promotion or a new list every ``reload_interval_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine, event

from data.settings import Settings
from data.store import open_store
from serving.audit import LOCK_WAIT_SECONDS, AuditWriter
from serving.changes import ComparisonCache
from serving.deps import BEARER_SCHEME, TokenCache
from serving.docs_assets import router as docs_router
from serving.guard import RequestGuard
from serving.operation_ids import tag_and_name
from serving.pages import monitoring as monitoring_pages
from serving.pages import router as pages_router
from serving.problems import add_problem_schemas, install_problem_handlers
from serving.routes import audit, dealers, health, lists, models, plans, scores, users
from serving.settings import ServingSettings, serving_settings
from serving.state import Loader, StateHolder, load_state

logger = logging.getLogger(__name__)

#: The interpreter's thread switch interval in a serving process (Python's default: 5 ms).
SWITCH_INTERVAL_SECONDS = 0.001

API_DESCRIPTION = """
Risk scores that help decide which licensed firearms dealers to inspect first, with the
reasons behind each score. Every answer names the model version and the as-of date of its
numbers. Authenticate with `Authorization: Bearer <token>`; tokens come from
`dealer-risk users add NAME --role ROLE [--division D]`. Errors are problem details
(`application/problem+json`).
"""


def _telemetry(settings: Settings) -> dict[str, bool]:
    """FastAPI's OpenTelemetry hooks: off unless ``DEALER_RISK_OPENTELEMETRY`` is true.

    With them on and no OpenTelemetry provider configured, FastAPI still asks the tracer,
    meter and logger providers on every request whether one is: about 15 us of a kept
    list page's 130 us, measured in-process on 20,000 licensees.
    """
    enabled = serving_settings(settings).opentelemetry
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


async def _load_and_poll(holder: StateHolder, interval: float) -> None:
    """Load the state now, then refresh it every ``interval`` seconds, until cancelled."""
    while True:
        try:
            await run_in_threadpool(holder.refresh)
        except Exception:  # refresh logs its own failures; keep polling whatever happens
            logger.exception("state refresh failed")
        await asyncio.sleep(interval)


#: The longest a serving statement may run on PostgreSQL (the state load reads a stored
#: list in one statement; every request's statements take milliseconds), in seconds.
STATEMENT_SECONDS = 30.0


def bound_store_waits(engine: Engine, lock_wait_seconds: float = LOCK_WAIT_SECONDS) -> None:
    """Give every new connection of the serving engine a bounded lock and statement wait.

    A lock is waited for ``lock_wait_seconds`` (PostgreSQL's lock_timeout, SQLite's busy
    timeout): a locked audit table answers 503 within about that instead of holding the
    request (docs/security.md, "Limits").

    Only the serving process's engine: ingestion and scoring run statements far longer.
    """

    @event.listens_for(engine, "connect")
    def _bounded(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "postgresql":
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True  # SET outside a transaction: it persists
            cursor.execute(f"SET lock_timeout = {int(lock_wait_seconds * 1000)}")
            cursor.execute(f"SET statement_timeout = {int(STATEMENT_SECONDS * 1000)}")
            cursor.execute("SET idle_in_transaction_session_timeout = "
                           f"{int(STATEMENT_SECONDS * 1000)}")
            dbapi_connection.autocommit = autocommit
        elif engine.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {int(lock_wait_seconds * 1000)}")
        cursor.close()

    engine.dispose()  # connections opened before (the migration check) go


def _open_serving_store(url: str, lock_wait_seconds: float) -> Engine:
    engine = open_store(url)
    bound_store_waits(engine, lock_wait_seconds)
    return engine


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store, start the audit writer, load the state in the background and poll."""
    settings: Settings = app.state.settings
    serving = serving_settings(settings)
    engine = await run_in_threadpool(_open_serving_store, settings.database_url,
                                     serving.lock_wait_seconds)
    holder = StateHolder(engine, settings.mlflow_tracking_uri, app.state.state_loader)
    writer = AuditWriter(engine, wait_seconds=serving.audit_wait_seconds,
                         lock_wait_seconds=serving.lock_wait_seconds)
    writer.start()
    app.state.engine = engine
    app.state.holder = holder
    app.state.audit_writer = writer
    app.state.token_cache = TokenCache()
    # Not awaited: the server answers (503 while loading) from the start.
    poller = asyncio.create_task(_load_and_poll(holder, serving.reload_interval_seconds),
                                 name="state-load-and-poll")
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        writer.close()
        engine.dispose()


def _declare_bearer(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the bearer scheme on every operation that can answer 401."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})[
        "HTTPBearer"] = BEARER_SCHEME
    for operations in schema["paths"].values():
        for operation in operations.values():
            if "401" in operation.get("responses", {}):
                operation["security"] = [{"HTTPBearer": []}]
    return schema


def create_app(settings: Settings, *, state_loader: Loader = load_state) -> FastAPI:
    """The dealer-risk API for ``settings`` (the store and the MLflow tracking URI).

    ``state_loader`` builds a serving state (tests pass one that waits, to see the app
    answer while it loads).
    """
    app = FastAPI(
        title="dealer-risk",
        summary="Explainable risk scores of licensed firearms dealers.",
        description=API_DESCRIPTION,
        version="1",
        lifespan=lifespan,
        telemetry=_telemetry(settings),  # type: ignore[arg-type]
        docs_url=None, redoc_url=None,  # served offline by serving.docs_assets
        generate_unique_id_function=tag_and_name,  # operation ids `dealers-ranked_list`
    )
    app.state.settings = settings
    app.state.state_loader = state_loader
    app.state.comparisons = ComparisonCache()
    install_problem_handlers(app)
    # NUL characters, body limits, authentication before a body is read (serving.guard).
    app.add_middleware(RequestGuard)
    for router in (dealers.router, health.router, scores.router, models.router,
                   audit.router, users.router, plans.router, lists.router):
        app.include_router(router)
    app.include_router(pages_router)  # the HTML pages (docs/pages.md)
    app.include_router(monitoring_pages.router)  # monitoring, enforcement, plan marks
    app.include_router(docs_router)  # /docs and /redoc without a CDN

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 description=app.description, routes=app.routes)
            app.openapi_schema = _declare_bearer(add_problem_schemas(schema))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_environment() -> FastAPI:
    """The factory ``dealer-risk serve`` hands uvicorn: settings from the environment.

    Each worker process calls it, so every worker reads the same environment.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    # The audit writer thread must get the GIL back quickly after its commit, or every
    # audited request waits for the interpreter's 5 ms switch interval under load
    # (measured at 2 connections: audited p99 5-6 ms with the default, 2-5 ms with 1 ms).
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # MLflow's download bars would fill the server log at every model load.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return create_app(ServingSettings())

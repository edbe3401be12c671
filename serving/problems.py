"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns, whether raised by a handler, by FastAPI's request validation
or by Starlette's router (404, 405), goes through the handlers installed here, so clients
parse one shape. A bad parameter is a 422 whose ``errors`` name each offending field.
"""

from __future__ import annotations

import datetime as dt
import http
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy import exc as sql_errors
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One rejected field of a request: where it was and what was wrong with it."""

    field: str = Field(description="Dotted name of the field, e.g. `limit` or `changes.traces_3y`.")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details, stamped with the model serving at the time."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    model_version: str | None = None
    as_of: dt.date | None = None


class ProblemResponse(JSONResponse):
    """A JSON response with the problem-details media type."""

    media_type = PROBLEM_MEDIA_TYPE


class ParameterError(Exception):
    """A request parameter that passed the schema but not the handler's own checks.

    Raised for values only the handler can judge (an undecodable cursor, a feature name
    the model does not know); answered as a 422 naming the field, like schema errors.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    """A problem-details response for ``status``, with the serving model's stamp."""
    stamp = _serving_stamp(request)
    body = Problem(
        title=http.HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=list(errors) if errors else None,
        model_version=stamp[0],
        as_of=stamp[1],
    )
    return ProblemResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def _serving_stamp(request: Request) -> tuple[str | None, dt.date | None]:
    holder = getattr(request.app.state, "holder", None)
    state = holder.current if holder is not None else None
    if state is None:
        return None, None
    return state.model_version, state.as_of


def _field_name(location: Iterable[Any]) -> str:
    # FastAPI prefixes the location ("query", "path", "body"); the client knows it by name.
    parts = [str(part) for part in location]
    if parts and parts[0] in {"query", "path", "body", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(field=_field_name(error.get("loc", ())), message=str(error.get("msg", "")))
        for error in exc.errors()
    ]


def _allowed_methods(request: Request) -> str:
    """Every method the path accepts, across all routes on it.

    Starlette names only the methods of the first route matching the path, so a path with
    one route per method (GET and POST on /users) would advertise half of them.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):  # included routers too
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _http_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(request, exc.status_code, detail, headers=headers or None)


async def _validation_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    detail = "; ".join(f"{error.field}: {error.message}" for error in errors)
    return problem_response(request, 422, detail, errors=errors)


async def _parameter_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ParameterError)
    return problem_response(
        request, 422, str(exc), errors=[FieldError(field=exc.field, message=exc.message)]
    )


#: What a 503 for an unavailable or stalled store asks clients to wait, in seconds.
STORE_RETRY_AFTER_SECONDS = 5
#: Errors meaning the store failed (down, stalled past a timeout, out of connections, a
#: table missing or locked): a 503, not a 500. Request input never reaches the store in
#: a form it refuses (NUL, out-of-range numbers and dates are 422s before it).
STORE_UNAVAILABLE = (sql_errors.DBAPIError, sql_errors.TimeoutError)


def store_unavailable_response(request: Request, exc: BaseException) -> ProblemResponse:
    """503 for a store that did not answer: generic words; the database's to the log."""
    logger.error("the store failed on %s %s: %s", request.method, request.url.path,
                 exc, exc_info=exc)
    return problem_response(
        request, 503, "The store is unavailable or did not answer in time; try again later.",
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})


def unexpected_response(request: Request, exc: Exception) -> ProblemResponse:
    """The answer to an exception no handler expected: 503 for the store, else 500.

    Neither quotes the exception (a database's text names tables and statements); the
    traceback goes to the log.
    """
    if isinstance(exc, STORE_UNAVAILABLE):
        return store_unavailable_response(request, exc)
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "An unexpected error occurred; it has been logged.")


def handled_elsewhere(app: Any, exc: Exception) -> bool:
    """Whether one of ``app``'s own exception handlers (other than the catch-all) takes ``exc``."""
    handlers = app.exception_handlers
    return any(cls in handlers for cls in type(exc).__mro__ if cls is not Exception)


async def _unexpected_exception(request: Request, exc: Exception) -> ProblemResponse:
    # Reached only for errors outside an API or page route (those answer in the route and
    # keep the connection): Starlette re-raises after this answer and the server then
    # drops the connection, so the answer says so.
    response = unexpected_response(request, exc)
    response.headers["Connection"] = "close"
    return response


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_exception)
    app.add_exception_handler(ParameterError, _parameter_exception)
    app.add_exception_handler(Exception, _unexpected_exception)


_DESCRIPTIONS = {
    400: "The body could not be read (not JSON, or not UTF-8).",
    401: "No valid bearer token.",
    403: "The token's role (or field division) does not allow this.",
    404: "No such licensee (or resource).",
    409: "Conflict: the resource changed or already exists.",
    422: "A parameter or the body is invalid; `errors` names each field.",
    413: "The request body is larger than the limit (docs/security.md); the connection "
         "closes.",
    503: "No champion model and scored list are loaded yet, or the store (or its audit "
         "log) is unavailable or did not answer in time.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting ``statuses`` as problem details."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, http.HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def add_problem_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put the Problem schema (referenced by :func:`problem_responses`) into components."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas["Problem"] = schema
    return openapi

"""Query parameters: unknown ones refused, and the hottest endpoints' validated in one go.

``ApiRoute`` is the route class of every API router: a query parameter the operation does
not document is refused with 422 naming it, so a misspelt filter (``?stat=TX``) is an
error rather than a silently unfiltered list.

FastAPI validates each declared query parameter through its own machinery, which costs
about 15 us per parameter per request (measured: a third of the ranked list's time in
the app). ``parse_query`` validates the whole query string with the model in one call and
reports errors exactly as FastAPI would (422 naming each field); ``query_parameters``
documents the same model's fields in the OpenAPI schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
#: How many accepted query strings a route remembers (see ``ApiRoute``), and the longest
#: it remembers: it runs before authentication, so neither may be left to the caller.
ACCEPTED_QUERY_STRINGS = 4096
ACCEPTED_QUERY_BYTES = 512


def _validated(model: type[Model], values: dict[str, Any], where: str) -> Model:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RequestValidationError(
            [{**problem, "loc": (where, *problem["loc"])} for problem in error.errors()]
        ) from None


def parse_query(model: type[Model], request: Request) -> Model:
    """The request's query string validated as ``model`` (422 naming each bad field)."""
    return _validated(model, dict(request.query_params), "query")


def parse_path(model: type[Model], request: Request) -> Model:
    """The request's path parameters validated as ``model`` (422 naming each bad field)."""
    return _validated(model, request.path_params, "path")


def query_parameters(model: type[BaseModel], where: str = "query") -> list[dict[str, Any]]:
    """OpenAPI ``parameters`` entries (in: ``where``) for every field of ``model``."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = dict(field_schema)
        description = field_schema.pop("description", None)
        field_schema.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": where,
                                     "required": name in required, "schema": field_schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


class ApiRoute(APIRoute):
    """A route that refuses query parameters its operation does not document (422).

    An ``async`` endpoint whose only parameter is the Request (the ranked list) is called
    directly: FastAPI's request handler would solve an empty set of dependencies and
    check the result's type, which cost about as much as the ranked list's own work.
    """

    def takes_only_the_request(self) -> bool:
        """Whether the endpoint is ``async def endpoint(request)`` and nothing else."""
        dependant = self.dependant
        others = (dependant.dependencies, dependant.path_params, dependant.query_params,
                  dependant.header_params, dependant.cookie_params, dependant.body_params)
        special = (dependant.websocket_param_name, dependant.http_connection_param_name,
                   dependant.response_param_name, dependant.background_tasks_param_name,
                   dependant.security_scopes_param_name)
        return (dependant.request_param_name is not None and not any(others)
                and all(name is None for name in special)
                and inspect.iscoroutinefunction(self.endpoint))

    def documented_query(self) -> frozenset[str]:
        """The query parameters of this operation: declared ones and ``openapi_extra``'s."""
        names = {param.alias for param in self.dependant.query_params}
        for parameter in (self.openapi_extra or {}).get("parameters", []):
            if parameter.get("in") == "query":
                names.add(str(parameter["name"]))
        return frozenset(names)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        documented = self.documented_query()
        handle: Callable[[Request], Coroutine[Any, Any, Response]]
        if self.takes_only_the_request():
            endpoint = self.endpoint

            async def call_directly(request: Request) -> Response:
                response = await endpoint(request)
                if not isinstance(response, Response):
                    raise TypeError(f"{endpoint.__name__} must return a Response")
                return response

            handle = call_directly
        else:
            handle = super().get_route_handler()

        # Query strings already found to hold documented names only: clients repeat
        # theirs (the next page, the same filters), and parsing one costs ~10 us.
        accepted: set[bytes] = set()

        async def handle_documented(request: Request) -> Response:
            query_string: bytes = request.scope["query_string"]
            if query_string and query_string not in accepted:
                unknown = [name for name in request.query_params if name not in documented]
                if unknown:
                    raise RequestValidationError([
                        {"loc": ("query", name), "type": "extra_forbidden",
                         "msg": "is not a parameter of this operation"}
                        for name in dict.fromkeys(unknown)
                    ])
                if len(query_string) <= ACCEPTED_QUERY_BYTES:
                    if len(accepted) >= ACCEPTED_QUERY_STRINGS:
                        accepted.clear()
                    accepted.add(query_string)
            return await handle(request)

        return handle_documented

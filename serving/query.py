"""The API's route class: undocumented query parameters refused, and its one fast path.

``ApiRoute`` is the route class of every API router. A query parameter the operation does
not document is refused with 422 naming it, so a misspelt filter (``?stat=TX``) is an
error rather than a silently unfiltered list.

The one fast path of the API (docs/api.md, "Performance"): when every dependency of an
``async`` operation takes nothing but the Request (the token check, the state, a query or
path model validated in one pydantic call by :func:`request_model`), ``ApiRoute`` calls
them itself, in declaration order and once each, then the endpoint; FastAPI's dependency
solving re-inspects every dependency on every request, which measured more than the
ranked list's own work (in-process, 20,000 licensees: 175 us a request with it, about
110 without). Handlers look the same either way (``Annotated`` aliases); any other
operation goes through FastAPI's own request handler. Likewise FastAPI's own query models
(``Annotated[Model, Query()]``) walk every field again per request (about 60 us of the
list's), hence :func:`request_model`, documented in the schema by :func:`parameters`.
Both remember the (short) query strings they have already checked: clients repeat theirs.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Literal, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from serving.deps import authenticate
from serving.problems import handled_elsewhere, unexpected_response

Model = TypeVar("Model", bound=BaseModel)


#: How many query strings a route (or query model) remembers as checked, and the longest
#: it remembers: checking runs before authentication, so neither is left to the caller.
REMEMBERED_QUERIES = 4096
REMEMBERED_QUERY_BYTES = 512


def request_model(model: type[Model], where: Literal["query", "path"] = "query"
                  ) -> Callable[[Request], Awaitable[Model]]:
    """A dependency: the query string (or path) validated as ``model`` (422 naming each field).

    Document the fields with ``openapi_extra={"parameters": parameters(model, where)}``.
    A query model is validated once per distinct (short) query string: clients repeat
    theirs (the same filters, the next page), so the model must be frozen.
    """
    if where == "query" and not model.model_config.get("frozen"):
        raise TypeError(f"{model.__name__} must be frozen to be remembered per query string")
    remembered: dict[bytes, Model] = {}

    def validate(values: Mapping[str, Any]) -> Model:
        try:
            return model.model_validate(values)
        except ValidationError as error:
            raise RequestValidationError(
                [{**problem, "loc": (where, *problem["loc"])} for problem in error.errors()]
            ) from None

    async def validated_path(request: Request) -> Model:
        return validate(request.path_params)

    async def validated_query(request: Request) -> Model:
        query_string: bytes = request.scope["query_string"]
        known = remembered.get(query_string)
        if known is not None:
            return known
        value = validate(dict(request.query_params))
        if len(query_string) <= REMEMBERED_QUERY_BYTES:
            if len(remembered) >= REMEMBERED_QUERIES:
                remembered.clear()
            remembered[query_string] = value
        return value

    validated = validated_query if where == "query" else validated_path
    validated.__name__ = f"{model.__name__}_{where}"
    return validated


def parameters(model: type[BaseModel], where: str = "query") -> list[dict[str, Any]]:
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
    """A route that refuses query parameters its operation does not document (422)."""

    def documented_query(self) -> frozenset[str]:
        """The query parameters of this operation: declared ones and ``openapi_extra``'s."""
        names = {param.alias for param in self.dependant.query_params}
        for parameter in (self.openapi_extra or {}).get("parameters", []):
            if parameter.get("in") == "query":
                names.add(str(parameter["name"]))
        return frozenset(names)

    def authenticated(self) -> bool:
        """Whether the operation takes a bearer token (it documents a 401)."""
        return any(str(status) == "401" for status in self.responses)

    def request_only_dependencies(self) -> list[tuple[str | None, Callable[..., Any]]] | None:
        """(parameter name, callable) of each dependency, if the fast path can call them.

        That is: an ``async`` endpoint that returns a Response (nothing for FastAPI to
        validate or serialise) and has no parameters of its own but the Request, and
        dependencies that are ``async`` functions of the Request alone; else None.
        """
        dependant = self.dependant
        returns = typing.get_type_hints(self.endpoint).get("return")
        if (not _request_only(dependant) or not inspect.iscoroutinefunction(self.endpoint)
                or not (isinstance(returns, type) and issubclass(returns, Response))):
            return None
        calls = []
        for dependency in dependant.dependencies:
            if (dependency.call is None or not _request_only(dependency)
                    or dependency.dependencies or dependency.request_param_name is None
                    or not inspect.iscoroutinefunction(dependency.call)):
                return None
            calls.append((dependency.name, dependency.call))
        return calls

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        documented = self.documented_query()
        dependencies = self.request_only_dependencies()
        handle: Callable[[Request], Coroutine[Any, Any, Response]]
        if dependencies is None:
            handle = super().get_route_handler()
        else:
            endpoint = self.endpoint
            request_name = self.dependant.request_param_name

            async def call_directly(request: Request) -> Response:
                # What FastAPI's solver would do for these: each dependency once, in order.
                solved: dict[Callable[..., Any], Any] = {}
                values: dict[str, Any] = {}
                for name, call in dependencies:
                    if call not in solved:
                        solved[call] = await call(request)
                    if name is not None:
                        values[name] = solved[call]
                if request_name is not None:
                    values[request_name] = request
                response = await endpoint(**values)
                assert isinstance(response, Response)  # as its annotation says
                return response

            handle = call_directly

        # Query strings already found to hold documented names only.
        accepted: set[bytes] = set()
        authenticated = self.authenticated()

        async def handle_documented(request: Request) -> Response:
            try:
                return await handle_checked(request)
            except Exception as error:
                # An error no handler expects answers here, as problem details, so the
                # connection stays open (past this point Starlette would answer, re-raise
                # and the server drop the connection).
                if handled_elsewhere(request.app, error):
                    raise
                return unexpected_response(request, error)

        async def handle_checked(request: Request) -> Response:
            query_string: bytes = request.scope["query_string"]
            if query_string and query_string not in accepted:
                unknown = [name for name in request.query_params if name not in documented]
                if unknown:
                    if authenticated:  # an anonymous caller hears 401 first, as everywhere
                        await authenticate(request)
                    raise RequestValidationError([
                        {"loc": ("query", name), "type": "extra_forbidden",
                         "msg": "is not a parameter of this operation"}
                        for name in dict.fromkeys(unknown)
                    ])
                if len(query_string) <= REMEMBERED_QUERY_BYTES:
                    if len(accepted) >= REMEMBERED_QUERIES:
                        accepted.clear()
                    accepted.add(query_string)
            return await handle(request)

        return handle_documented



def _request_only(dependant: Any) -> bool:
    """Whether a dependant takes no parameters but (perhaps) the Request."""
    return not any((dependant.path_params, dependant.query_params, dependant.header_params,
                    dependant.cookie_params, dependant.body_params)) and all(
        name is None for name in (
            dependant.websocket_param_name, dependant.http_connection_param_name,
            dependant.response_param_name, dependant.background_tasks_param_name,
            dependant.security_scopes_param_name))

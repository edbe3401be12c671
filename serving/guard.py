"""The request guard: what every request passes before the application reads it.

A pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` costs a task and two queues per
request; this costs two substring tests on a GET) that enforces, for the API and the pages:

- **No NUL characters.** A path or query holding a NUL (``%00``) is a 422 naming the
  field (the API's problem details, the pages' error page): PostgreSQL text cannot hold
  one, and no license number, filter or user name does.
- **Bodies are capped at** :data:`MAX_BODY_BYTES`. A request with a body (any method but
  GET, HEAD and OPTIONS) declaring more is refused with 413 before a byte of it is read;
  a body sent without a length (chunked) is counted as it streams and refused as soon as
  it passes the limit. Either way the 413 says ``Connection: close``: the rest of the body
  is never read.
- **The API authenticates first.** A request with a body under ``/api/`` is
  authenticated (``serving.deps.authenticate``, the same check every operation makes)
  before its body is read or parsed, so an anonymous caller gets 401 whatever it sends,
  never a 413 or a 422 that cost the server the body's parsing.

GET and HEAD requests, the hot path of the ranked list, go straight on after the NUL test.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.deps import authenticate
from serving.pages.render import error_page
from serving.problems import FieldError, problem_response, store_unavailable_response

logger = logging.getLogger(__name__)

#: The largest request body the service takes, in bytes. The largest real one is a
#: what-if of every feature (about 10 kB) or a sign-in form (under 1 kB).
MAX_BODY_BYTES = 64 * 1024
#: Methods whose requests carry no body the service reads.
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})
_NUL_MESSAGE = "must not contain a NUL character"
_CLOSE = {"Connection": "close"}


class BodyTooLarge(StarletteHTTPException):
    """The streamed body passed :data:`MAX_BODY_BYTES` (413, and the connection closes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes",
                         headers=dict(_CLOSE))


class RequestGuard:
    """The ASGI middleware enforcing the module's rules in front of ``app``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope["query_string"]
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await self._refuse_nul(scope, receive, send)
            return
        if scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        await self._with_body(scope, receive, send)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        request = Request(scope, receive)
        declared = request.headers.get("content-length")
        api = scope["path"].startswith("/api/")
        # A path or method no operation has is answered (404, 405) without its body.
        if api and _operation_exists(scope):
            refusal = await _authentication_refusal(request)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            status = 413 if declared.isdigit() else 400
            detail = (f"the request body is larger than {limit} bytes" if status == 413
                      else "the Content-Length header is not a number")
            await _error(request, api, status, detail, headers=dict(_CLOSE))(
                scope, receive, send)
            return
        received = 0
        too_large = False

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge(limit)
            return message

        async def closing(message: Message) -> None:
            # Whoever renders the 413 (the API's problem, a page), the rest of the body is
            # never read, so the server closes the connection: the answer says so.
            if too_large and message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", [])
                           if name.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, counted, closing)

    async def _refuse_nul(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        api = scope["path"].startswith("/api/")
        # A path or method no operation has is answered (404, 405) without its body.
        if api and _operation_exists(scope):
            refusal = await _authentication_refusal(request)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        fields = _nul_fields(scope)
        detail = "; ".join(f"{field}: {_NUL_MESSAGE}" for field in fields)
        await _error(request, api, 422, detail, fields=fields)(scope, receive, send)


async def _authentication_refusal(request: Request) -> Any:
    """None when the request's bearer token is valid, else the response refusing it."""
    try:
        await authenticate(request)
    except StarletteHTTPException as error:
        detail = error.detail if isinstance(error.detail, str) else None
        return problem_response(request, error.status_code, detail,
                                headers=dict(error.headers or {}) or None)
    except Exception as error:  # the store did not answer: nothing was disclosed
        return store_unavailable_response(request, error)
    return None


def _operation_exists(scope: Scope) -> bool:
    """Whether a route takes this method on this path (only requests with a body ask)."""
    return any(route.matches(scope)[0] is Match.FULL
               for route in iter_route_contexts(scope["app"].router.routes))


def _nul_fields(scope: Scope) -> list[str]:
    """The names of the path and query parameters holding a NUL ("path" if unnamed)."""
    fields: list[str] = []
    if "\x00" in scope["path"]:
        named = []
        for route in iter_route_contexts(scope["app"].router.routes):
            match, child = route.matches(scope)
            if match is not Match.NONE:  # the path matches (the method may not)
                named = [name for name, value in child.get("path_params", {}).items()
                         if "\x00" in str(value)]
                break
        fields += named or ["path"]
    try:
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    except ValueError:
        pairs = []
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\x00")
            if shown not in fields:
                fields.append(shown)
    return fields or ["query"]


def _error(request: Request, api: bool, status: int, detail: str, *,
           fields: list[str] | None = None, headers: dict[str, str] | None = None) -> Any:
    """The API's problem details, or the pages' error page, for a refused request."""
    if api:
        errors = [FieldError(field=field, message=_NUL_MESSAGE) for field in fields or []]
        return problem_response(request, status, detail, errors=errors or None,
                                headers=headers)
    return error_page(request, status, detail, headers)

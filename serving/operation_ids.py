"""OpenAPI operation ids a generated client reads like the domain: ``tag-name``.

FastAPI's default joins the function name, the path and the method
(``ranked_list_api_v1_dealers_ranked_get``); a client generated from ``/openapi.json``
turns each id into a function name. As in FastAPI's full-stack template, the id is the
router's first tag and the handler's name (``dealers-ranked_list``), which a client
generator makes ``dealers.ranked_list``.
"""

from __future__ import annotations

from fastapi.routing import APIRoute


def tag_and_name(route: APIRoute) -> str:
    """``<first tag>-<handler name>``, or the handler's name for an untagged route."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name

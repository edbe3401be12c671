"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their assets served from here.

FastAPI's own doc pages load Swagger UI and ReDoc from a CDN, so on a closed network they
are blank. Following FastAPI's "Self-hosting JavaScript and CSS for docs", the app turns
its doc pages off (``docs_url=None, redoc_url=None``) and this router serves them with the
assets of the installed ``fastapi-offline`` distribution (it packages the Swagger UI and
ReDoc builds; we use only its files, not its app class), so nothing is copied into this
repository and an upgrade of that package upgrades the viewers. ReDoc's Google fonts are
left out, and a Content-Security-Policy keeps both pages from fetching anything from
another host. The pages and assets are public, like ``/openapi.json``.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

#: Where the assets are served from.
ASSETS_PATH = "/docs/assets"
#: The files served, with their media types.
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}

#: Nothing from another host. FastAPI's Swagger page starts the viewer with an inline
#: script, and both viewers style themselves inline and search in a blob worker; ReDoc's
#: footer logo (an image on its CDN, which hides itself when it cannot load) is refused.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

router = APIRouter(include_in_schema=False)


def _closed(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return page


def asset_directory() -> Traversable:
    """The installed distribution's folder of Swagger UI and ReDoc builds."""
    return resources.files("fastapi_offline") / "static"


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI on the app's OpenAPI document, with local assets."""
    return _closed(get_swagger_ui_html(
        openapi_url="/openapi.json", title="dealer-risk API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
    ))


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """ReDoc on the app's OpenAPI document, with local assets and no web fonts."""
    return _closed(get_redoc_html(
        openapi_url="/openapi.json", title="dealer-risk API",
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False,
    ))


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> Response:
    """One of the viewers' files (only the known names: no path is ever joined)."""
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise HTTPException(404, f"No docs asset named {name}.")
    content = (asset_directory() / name).read_bytes()
    return Response(content, media_type=media_type,
                    headers={"Cache-Control": "public, max-age=86400",
                             "X-Content-Type-Options": "nosniff"})

"""Rendering: the Jinja environment, the context every page shares, and error pages.

Every page route uses :class:`PageRoute`, which turns whatever a page raises (the API's
own 403s and 503s from the shared dependencies included) into a readable HTML page with
the same status, instead of the API's problem-details JSON or a stack trace.
"""

from __future__ import annotations

import hashlib
import http
import logging
import math
import re
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from data.contract import SYNTHETIC_EXPIRATION_CODE
from serving.pages.charts import ordinal
from serving.problems import ParameterError
from serving.state import ServingState, StateHolder
from serving.users import Role, User

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

#: No script, style, image or form target from anywhere but this server (closed networks,
#: and an injected tag could not load anything either). Inline SVG needs no exception.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show licensee-level scores; no shared cache or back-button copy should keep them.
    "Cache-Control": "no-store",
}

LICENSE_TYPE_NAMES = {
    "01": "dealer", "02": "pawnbroker", "03": "collector", "06": "ammunition maker",
    "07": "manufacturer", "08": "importer", "09": "destructive devices dealer",
    "10": "destructive devices manufacturer", "11": "destructive devices importer",
}
ROLE_NAMES = {Role.INSPECTOR: "inspector", Role.SUPERVISOR: "supervisor",
              Role.DATA_SCIENTIST: "data scientist", Role.ADMIN: "administrator"}


class SignInRequired(Exception):
    """The request has no valid session; the browser goes to the sign-in page."""


# --- what the served list is made of -----------------------------------------------------


@dataclass(frozen=True)
class ListFacts:
    """Facts about the served list that every page needs, computed once per list."""

    licensees: int
    synthetic: int
    divisions: tuple[str, ...]
    states: tuple[str, ...]
    license_types: tuple[str, ...]

    @property
    def all_synthetic(self) -> bool:
        return self.licensees > 0 and self.synthetic == self.licensees


def _distinct(values: np.ndarray) -> tuple[str, ...]:
    return tuple(sorted({str(value) for value in values if value is not None}))


# The newest state's facts, held by a weak reference: a reload publishes a new state and
# the old one (with its model and arrays) must be free to go.
_LAST: tuple[weakref.ref[ServingState], ListFacts] | None = None


def list_facts(state: ServingState) -> ListFacts:
    """The :class:`ListFacts` of ``state`` (computed on its first use, then reused)."""
    global _LAST
    last = _LAST
    if last is not None and last[0]() is state:
        return last[1]
    ranked = state.ranked
    facts = ListFacts(
        licensees=len(ranked),
        synthetic=state.synthetic_licensees,
        divisions=_distinct(ranked.field_divisions),
        states=_distinct(ranked.premise_states),
        license_types=_distinct(ranked.license_types),
    )
    _LAST = (weakref.ref(state), facts)
    return facts


def synthetic_banner(state: ServingState | None) -> str | None:
    """The banner's text when the served list holds synthetic licensees, else None."""
    if state is None:
        return None
    facts = list_facts(state)
    if facts.synthetic == 0:
        return None
    if facts.all_synthetic:
        return (f"All {facts.licensees:,} licensees on this list were made up by the "
                "generator. Do not use these scores to choose real inspections.")
    return (f"{facts.synthetic:,} of {facts.licensees:,} licensees on this list were made up "
            "by the generator (license numbers with the expiration code "
            f"{SYNTHETIC_EXPIRATION_CODE}); their scores say nothing about real licensees.")


# --- the template environment ------------------------------------------------------------


#: Shown for a number that does not exist (a screen reader says it; a dash it mumbles).
MISSING = "n/a"
#: A true minus sign: the hyphen is too short to read at a glance in a column of numbers.
MINUS_SIGN = "\u2212"


def _score(value: float | None) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.3f}"


def _percent(value: float | None, digits: int = 0) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.{digits}f}%"


def _number(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:,.{digits}f}"


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}".replace("-", MINUS_SIGN)


def _plain(value: float | None) -> str:
    """A feature value as typed: whole numbers without ".0", others to four decimals."""
    if value is None or math.isnan(value):
        return "unknown"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _ordinal(value: float | None) -> str:
    return MISSING if value is None or math.isnan(value) else ordinal(value)


def _license_type(code: str | None) -> str:
    if not code:
        return "unknown type"
    name = LICENSE_TYPE_NAMES.get(code)
    return f"{code} {name}" if name else code


def _license_type_name(code: str | None) -> str:
    """The type's name alone (the list's narrow column; the code is in the license number)."""
    return LICENSE_TYPE_NAMES.get(code or "", code or "unknown type")


_PEER_CLAUSE = re.compile(r"^(.*?)\s+((?:The highest|The lowest|Higher than|Lower than|"
                          r"So are) [^.]*\.)$")


def _reason_parts(reason: str) -> tuple[str, str]:
    """A reason as (fact, peer comparison) (models.reasons.peer_clause), "" when none."""
    match = _PEER_CLAUSE.match(reason)
    return (match.group(1), match.group(2)) if match else (reason, "")


def _plural(word: str, count: float | None) -> str:
    """``word`` for one, ``word`` + "s" for any other count ("1 violation", "2 violations")."""
    return word if count == 1 else word + "s"


def _standing(rank: int | None, ranked: int | None) -> str:
    """Where a rank stands on the list, never rounded to a claim the rank does not make.

    Rank 1 of 3,907 is "in the top 0.1%" (not "above 100.0% of the list"); the share is
    rounded up, so a licensee is never placed higher than it is. The lower half reads
    "in the bottom 23%".
    """
    if not rank or not ranked:
        return MISSING
    if ranked == 1:
        return "the only licensee ranked"
    top = 100 * rank / ranked
    bottom = 100 * (ranked - rank + 1) / ranked
    where, share = ("top", top) if top <= 50 else ("bottom", bottom)
    tenths = max(math.ceil(share * 10 - 1e-9) / 10, 0.1)
    text = f"{tenths:.1f}" if tenths < 10 else f"{math.ceil(share - 1e-9):.0f}"
    return f"in the {where} {text}%"


def _static_url(name: str) -> str:
    # The content hash in the query makes a changed file a new URL, so it can be cached.
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(["html"], default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters.update(score=_score, percent=_percent, number=_number, signed=_signed,
                           ordinal=_ordinal, plain=_plain, license_type=_license_type,
                           plural=_plural, standing=_standing,
                           license_type_name=_license_type_name, reason_parts=_reason_parts)
ENVIRONMENT.globals.update(static_url={name: _static_url(name)
                                       for name in ("style.css", "pages.js")},
                           role_names=ROLE_NAMES)


def _holder(request: Request) -> StateHolder | None:
    return getattr(request.app.state, "holder", None)


def render(request: Request, template: str, context: dict[str, Any],
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page: ``template`` with ``context`` and what every page shows.

    Every page shows the signed-in user (if any), the synthetic-data banner and the model
    version and as-of date its numbers come from.
    """
    holder = _holder(request)
    state = holder.current if holder is not None else None
    user: User | None = getattr(request.state, "page_user", None)
    shared = {
        "request_path": request.url.path,
        "user": user,
        "csrf": getattr(request.state, "page_csrf", ""),
        "serving": state,
        "banner": synthetic_banner(state),
        "may_see_models": bool(user and user.role.allows(Role.SUPERVISOR)),
    }
    body = ENVIRONMENT.get_template(template).render({**shared, **context})
    return HTMLResponse(body, status_code=status_code,
                        headers={**SECURITY_HEADERS, **(headers or {})})


_ERROR_TEXT = {
    403: "You are signed in, but your role may not open this page.",
    404: "There is nothing here by that name.",
    422: "The address has a value this page cannot use.",
    500: "Something went wrong on our side; it has been logged.",
    503: "The model and its scored list are still loading. Try again in a minute.",
}


def error_page(request: Request, status_code: int, detail: str | None,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """A readable page for an error status."""
    return render(request, "error.html", {
        "status_code": status_code,
        "title": http.HTTPStatus(status_code).phrase,
        "summary": _ERROR_TEXT.get(status_code, ""),
        "detail": detail,
    }, status_code=status_code, headers=headers)


def sign_in_redirect(request: Request) -> RedirectResponse:
    """Send the browser to the sign-in page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return response


class PageRoute(APIRoute):
    """A route whose errors are HTML pages with the right status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except StarletteHTTPException as error:
                detail = error.detail if isinstance(error.detail, str) else None
                keep = {k: v for k, v in (error.headers or {}).items() if k == "Retry-After"}
                return error_page(request, error.status_code, detail, keep)
            except RequestValidationError as error:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                    for e in error.errors())
                return error_page(request, 422, fields)
            except ParameterError as error:
                return error_page(request, 422, str(error))
            except Exception:  # the traceback goes to the log, never to the browser
                logger.exception("page %s %s failed", request.method, request.url.path)
                return error_page(request, 500, None)

        return handle_page

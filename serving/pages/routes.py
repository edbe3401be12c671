"""The pages: sign-in, the ranked list, a licensee's page, what-if, and the models page.

Handlers stay thin: the numbers come from the same functions the API's handlers call
(:mod:`serving.ranked`, :mod:`serving.dealers`, :mod:`serving.explain`,
:mod:`serving.models_info`), the same role and division rules apply, and every read
writes the audit row the matching API call writes. Roles: every signed-in user sees the
list and the licensee pages; supervisors and above also see the full explanation, the
what-if form and the models page.
"""

from __future__ import annotations

import functools
import math
import re
import tempfile
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from features.catalogue import format_value, get_feature
from models.registry import download_run_artifact
from planning.plans import MARK_NOTE_MAX_LENGTH, MARK_REASONS, PlanInfo, plan_info, stored_plans
from serving.access import hidden_from
from serving.changes import movements, previous_ranks
from serving.dealers import read_dealer, read_profile
from serving.deps import ServingStateDep, narrowed_division
from serving.explain import calibration, explain_licensee, what_if
from serving.models_info import (
    METRIC_HELP,
    VERSION_METRICS,
    fairness_guidance,
    metric_comparisons,
    metric_label,
    model_versions,
    ordered_metrics,
    run_details,
    version_comparison,
)
from serving.pages.asking import (
    LicenseNumber,
    PageSupervisorDep,
    PageUserDep,
    auditor,
    page_role,
    read_form,
    session_user,
)
from serving.pages.charts import findings_svg, history_svg, probability, waterfall_svg
from serving.pages.listing import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    SORT_KEYS,
    division_ranks,
    division_size,
    list_page,
)
from serving.pages.render import (
    STATIC_DIR,
    PageRoute,
    error_page,
    list_facts,
    render,
)
from serving.pages.sessions import (
    COOKIE_NAME,
    LOGIN_COOKIE_NAME,
    LOGIN_FORM_SECONDS,
    SESSION_SECONDS,
    cross_origin,
    csrf_matches,
    end_session,
    login_csrf,
    login_csrf_matches,
    new_login_cookie,
    open_session,
)
from serving.plans import plan_csv, plan_csv_filename, plan_summary, read_plan
from serving.ranked import Page, RankedFilters, page_csv
from serving.schemas import (
    ExplanationBase,
    WhatIfCreate,
    WhatIfPublic,
)
from serving.state import ServingState
from serving.users import Role, TokenRefused, User

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: Artifacts of the training run the models page shows, with what they show in words.
MODEL_PLOTS = {
    "precision_at_k.png": "Precision at k: the share of the k top-ranked licensees whose "
                          "inspection ended serious, for the model and each baseline, as k "
                          "grows.",
    "reliability.png": "Reliability: the predicted score against the share that actually "
                       "ended serious, by score bin; on the diagonal the scores are calibrated.",
}
#: Features the what-if form shows first; the rest are folded away.
WHAT_IF_FIRST = 10
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_STATIC_FILES = {path.name: path for path in STATIC_DIR.iterdir()
                 if path.suffix in _STATIC_TYPES}


def _safe_next(target: str | None) -> str:
    """A local path to return to after signing in (never another site)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/dealers"


# --- sign-in -----------------------------------------------------------------------------


@router.api_route("/", methods=["GET", "HEAD"])
async def home() -> RedirectResponse:
    """The ranked list is the start page (HEAD too: link checkers and monitors ask it)."""
    return RedirectResponse("/dealers", status_code=303)


def _login_page(request: Request, target: str, error: str | None, status_code: int = 200,
                signed_out: bool = False) -> Response:
    """The sign-in form with a fresh double-submit pair: a cookie and its hidden field."""
    login_cookie = new_login_cookie()
    response = render(request, "login.html", {
        "title": "Sign in", "next": target, "error": error, "signed_out": signed_out,
        "login_csrf": login_csrf(login_cookie)}, status_code=status_code)
    response.set_cookie(LOGIN_COOKIE_NAME, login_cookie, max_age=LOGIN_FORM_SECONDS,
                        path="/login", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form (or straight on, for someone already signed in)."""
    if await session_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, _safe_next(next), None,
                       signed_out="signed_out" in request.query_params)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token; on success open a session, set its cookie and go on.

    Refused (403) when the browser says the post comes from another site, or when it
    lacks the form's CSRF field (login CSRF: another site signing the victim in as the
    attacker); docs/security.md.
    """
    elsewhere = cross_origin(request)
    if elsewhere is not None:
        raise HTTPException(403, f"Sign-in refused: the form was posted from another site "
                                 f"({elsewhere}). Open this site's sign-in page and try again.")
    form = await read_form(request)
    target = _safe_next(form.get("next"))
    if not login_csrf_matches(request.cookies.get(LOGIN_COOKIE_NAME), form.get("csrf")):
        return _login_page(request, target, "The sign-in form expired or came from another "
                                            "page; enter your token again.", status_code=403)
    token = form.get("token", "").strip()
    error = "Enter your access token." if not token else "That token is not valid."
    opened = None
    if token:
        try:
            opened = await run_in_threadpool(open_session, request.app.state.engine, token)
        except TokenRefused as refused:
            error = f"That token no longer works: {refused.reason}."
    if opened is None:
        return _login_page(request, target, error, status_code=401)
    _, cookie = opened
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME, cookie, max_age=SESSION_SECONDS,
        path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_COOKIE_NAME, path="/login", httponly=True, samesite="strict")
    return response


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request) -> RedirectResponse:
    """End the session on the server and forget its cookie.

    Ending one needs no proof: it only ever protects the user (another site can at most
    sign them out).
    """
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        await run_in_threadpool(end_session, request.app.state.engine, cookie)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response


# --- the ranked list ---------------------------------------------------------------------


def _filters_from(request: Request, user: User) -> tuple[RankedFilters, dict[str, str],
                                                         list[str]]:
    """The list's filters from the query, the values to echo back, and any errors."""
    query = {k: v.strip() for k, v in request.query_params.items()}
    errors: list[str] = _unknown_parameters(query)
    state = query.get("state", "").upper() or None
    if state is not None and not re.fullmatch(r"[A-Z]{2}", state):
        errors.append("State: use a two-letter postal code such as TX.")
        state = None
    license_type = query.get("license_type") or None
    if license_type is not None and not re.fullmatch(r"[0-9]{2}", license_type):
        errors.append("License type: use a two-digit type such as 01.")
        license_type = None
    min_score: float | None = None
    if query.get("min_score"):
        try:
            min_score = float(query["min_score"])
        except ValueError:
            min_score = math.nan
        if not 0 <= min_score <= 1:
            errors.append("Minimum score: use a number from 0 to 1, such as 0.2.")
            min_score = None
    division, division_errors = _division_asked(query)
    errors += division_errors
    division = narrowed_division(user, division)  # 403 for another one, as the API answers
    filters = RankedFilters(field_division=division, state=state, license_type=license_type,
                            min_score=min_score)
    echo = {"field_division": division or "", "state": state or "",
            "license_type": license_type or "",
            "min_score": query.get("min_score", "") if min_score is not None else ""}
    return filters, echo, errors


#: The list page's query parameters: the API's filter names (``field_division``,
#: ``state``, ``license_type``, ``min_score``), the page's own sorting and paging, and
#: ``division``, the name the page used before it took the API's (old links keep working).
LIST_PARAMETERS = ("field_division", "state", "license_type", "min_score", "sort", "page",
                   "per_page", "division")


def _unknown_parameters(query: dict[str, str]) -> list[str]:
    """An error for parameters the list does not know: never silently ignored."""
    unknown = sorted(name for name in query if name not in LIST_PARAMETERS)
    if not unknown:
        return []
    known = ", ".join(name for name in LIST_PARAMETERS if name != "division")
    return [f"Unknown filter {', '.join(repr(name) for name in unknown)}: the list "
            f"understands {known}."]


def _division_asked(query: dict[str, str]) -> tuple[str | None, list[str]]:
    """The field division asked for, by the API's name or the page's old one."""
    canonical, alias = query.get("field_division") or None, query.get("division") or None
    if canonical and alias and canonical != alias:
        return None, [f"Field division: field_division={canonical!r} and "
                      f"division={alias!r} disagree; use field_division only."]
    return canonical or alias, []


def _list_options(request: Request) -> tuple[str, int, int]:
    query = request.query_params
    sort = query.get("sort") or "rank"
    if sort.removeprefix("-") not in SORT_KEYS:
        sort = "rank"
    try:
        page = max(int(query.get("page") or 1), 1)
    except ValueError:
        page = 1
    try:
        size = int(query.get("per_page") or DEFAULT_PAGE_SIZE)
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    return sort, page, size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


@router.get("/dealers")
async def dealers_page(request: Request, user: PageUserDep,
                       serving: ServingStateDep) -> Response:
    """The ranked list: filters, sorting, numbered pages, reasons, a CSV export."""
    filters, echo, errors = _filters_from(request, user)
    sort, page_number, page_size = _list_options(request)
    page = list_page(serving, filters, sort, page_number, page_size)
    detail = {"filters": {k: v for k, v in vars(filters).items() if v is not None},
              "limit": page_size, "cursor": None, "returned": int(page.positions.size),
              "list_id": serving.list_id, "page": page.page, "sort": sort}
    await auditor(request, user).record("ranked.read", request.url.path, serving, detail)
    items = [(int(p), serving.ranked.items[p]) for p in page.positions]
    # Movement markers: each shown licensee's rank on the list before the served one.
    previous, ranks_before = await run_in_threadpool(
        previous_ranks, request.app.state.engine, serving.list_id, serving.as_of,
        [item.license_number for _, item in items])
    moved = movements({item.license_number: item.rank for _, item in items}, ranks_before) \
        if previous is not None else {}
    kept = {k: v for k, v in echo.items()
            if v and not (k == "field_division" and user.division)}

    def link(**changes: Any) -> str:
        values = {**kept, "sort": sort, "per_page": page_size, "page": page.page, **changes}
        defaults = {"sort": "rank", "per_page": DEFAULT_PAGE_SIZE, "page": 1}
        return "/dealers?" + urlencode({k: v for k, v in values.items()
                                        if v not in ("", None) and defaults.get(k) != v})

    division = filters.field_division
    return render(request, "dealers.html", {
        "title": "Ranked list",
        "facts": list_facts(serving),
        # With a division chosen, each row's rank in it beside the national rank.
        "division": division,
        "division_ranks": dict(zip([int(p) for p in page.positions],
                                   division_ranks(serving, division, page.positions),
                                   strict=True)) if division else {},
        "division_size": division_size(serving, division) if division else 0,
        "filters": echo, "errors": errors, "page": page,
        "items": items, "previous": previous, "moved": moved,
        "page_sizes": PAGE_SIZES, "sort_keys": SORT_KEYS, "link": link,
        "export_url": "/dealers.csv?" + urlencode(kept),
    }, status_code=422 if errors else 200)


@router.get("/dealers.csv")
async def dealers_csv(request: Request, user: PageUserDep,
                      serving: ServingStateDep) -> Response:
    """Every licensee the filters admit, as the API's CSV (same columns, same audit row)."""
    filters, _, errors = _filters_from(request, user)
    if errors:
        raise HTTPException(422, " ".join(errors))
    page = list_page(serving, filters, "rank", 1, max(len(serving.ranked), 1))
    await auditor(request, user).record(
        "ranked.export", request.url.path, serving,
        {"filters": {k: v for k, v in vars(filters).items() if v is not None},
         "limit": page.page_size, "cursor": None, "returned": int(page.positions.size),
         "list_id": serving.list_id})
    filename = f"ranked-{serving.as_of.isoformat()}-v{serving.model_version}.csv"
    body = page_csv(serving, Page(positions=page.positions, total=page.total, next_cursor=None))
    return Response(body, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Model-Version": serving.model_version, "X-As-Of": serving.as_of.isoformat(),
        "Cache-Control": "no-store"})


# --- a licensee --------------------------------------------------------------------------


def _input_value(value: float | None) -> str:
    """A feature value as the what-if form shows it (empty = unknown).

    Four decimals are plenty to read and edit; a field whose text is still exactly this
    is taken as unchanged, so rounding never counts as a change.
    """
    if value is None or math.isnan(value):
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _field_label(description: str) -> str:
    """A catalogue sentence as a field label: the value slot left out."""
    return (description.replace(": {value}.", "").replace("{value}.", "…")
            .replace("{value}", "…"))


def _is_number_or_empty(text: str) -> bool:
    """Whether a what-if field holds a value the form accepts (empty = unknown)."""
    text = text.strip()
    if not text:
        return True
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _what_if_fields(serving: ServingState, explanation: ExplanationBase,
                    submitted: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The form's rows: every model feature, largest contribution first."""
    table = serving.explanations
    rows = []
    for index, row in enumerate(explanation.contributions):
        feature = get_feature(row.feature)
        original = _input_value(row.value)
        current = original if submitted is None else submitted.get(row.feature, original)
        rows.append({
            "name": row.feature, "id": f"whatif-{row.feature}", "value": current,
            "original": original, "changed": current.strip() != original,
            "invalid": current.strip() != original and not _is_number_or_empty(current),
            "unit": str(feature.unit), "label": _field_label(feature.description),
            "first": index < WHAT_IF_FIRST, "family": row.family,
        })
    order = {name: i for i, name in enumerate(table.features)}
    return sorted(rows, key=lambda r: (not r["first"], 0 if r["first"] else order[r["name"]]))


def _licensee_or_404(engine: Any, license_number: str, user: User | None = None) -> Any:
    profile = read_profile(engine, license_number)
    # Another division's licensee answers as an unknown one (serving.access).
    if profile is None or (user is not None and hidden_from(user, profile.field_division)):
        raise HTTPException(404, f"No licensee has the license number {license_number}.")
    return profile


def _explanation_rows(explanation: ExplanationBase) -> list[dict[str, Any]]:
    return [{"row": row, "value_text": format_value(get_feature(row.feature), row.value)}
            for row in explanation.contributions]


@router.get("/dealers/{license_number}")
async def dealer_page(request: Request, license_number: LicenseNumber, user: PageUserDep,
                      serving: ServingStateDep) -> Response:
    """Profile, score and rank with history, the waterfall, peers, inspections."""
    engine = request.app.state.engine
    profile = await run_in_threadpool(_licensee_or_404, engine, license_number, user)
    dealer = await run_in_threadpool(read_dealer, engine, serving, profile)
    audit = auditor(request, user)
    await audit.record("dealer.read", f"/api/v1/dealers/{license_number}", serving,
                       {"license_number": license_number, "page": request.url.path})
    explanation = explain_licensee(serving, license_number)
    full = user.role.allows(Role.SUPERVISOR)
    if explanation is not None:
        # The chart is an explanation, whoever reads it: audit it like the API's.
        await audit.record("explanation.read",
                           f"/api/v1/dealers/{license_number}/explanation", serving,
                           {"license_number": license_number, "page": request.url.path,
                            "view": "full" if full else "chart"})
    history = sorted(dealer.history, key=lambda h: (h.as_of, h.list_id))
    return render(request, "dealer.html", {
        "title": profile.business_name, "dealer": dealer, "profile": profile,
        "license_number": license_number,
        "explanation": explanation,
        "chart": waterfall_svg(explanation, license_type=profile.license_type)
        if explanation else None,
        "history_chart": history_svg([(h.as_of.isoformat(), h.model_version, h.score)
                                      for h in history]),
        "average_score": probability(explanation.base_value, explanation.calibration)
        if explanation else None,
        "full": full,
        "rows": _explanation_rows(explanation) if explanation and full else [],
        "fields": _what_if_fields(serving, explanation) if explanation and full else [],
        "what_if": None, "what_if_errors": [],
    })


def _parse_changes(form: dict[str, str], explanation: ExplanationBase,
                   ) -> tuple[dict[str, float | None], list[str]]:
    """The fields that differ from the licensee's values, as the API's ``changes``."""
    changes: dict[str, float | None] = {}
    errors: list[str] = []
    for row in explanation.contributions:
        text = form.get(row.feature)
        if text is None:
            continue
        text = text.strip()
        if text == _input_value(row.value):
            continue  # as shown: unchanged, even where the shown value is rounded
        if text == "":
            new: float | None = None
        else:
            try:
                new = float(text)
            except ValueError:
                errors.append(f"{row.feature}: {text!r} is not a number.")
                continue
            if not math.isfinite(new):
                errors.append(f"{row.feature}: use a finite number.")
                continue
        if (new is None and row.value is None) or (new is not None and new == row.value):
            continue
        changes[row.feature] = new
    return changes, errors


@router.get("/dealers/{license_number}/what-if")
async def what_if_form(request: Request, license_number: LicenseNumber,
                       user: PageSupervisorDep, serving: ServingStateDep) -> Response:
    """The what-if form on its own (supervisors and above)."""
    return await _what_if_page(request, license_number, user, serving, None)


@router.post("/dealers/{license_number}/what-if")
async def what_if_post(request: Request, license_number: LicenseNumber,
                       user: PageSupervisorDep, serving: ServingStateDep) -> Response:
    """Score the licensee with the changed values, as ``POST /api/v1/score`` does."""
    form = await read_form(request)
    cookie = request.cookies.get(COOKIE_NAME, "")
    if not csrf_matches(cookie, form.get("csrf")):
        raise HTTPException(403, "The form expired or came from another page; open the "
                                 "licensee's page and try again.")
    return await _what_if_page(request, license_number, user, serving, form)


async def _what_if_page(request: Request, license_number: str, user: User,
                        serving: ServingState, form: dict[str, str] | None) -> Response:
    table = serving.explanations
    row = table.positions.get(license_number)
    if row is None or hidden_from(user, table.field_divisions[row]):
        await run_in_threadpool(_licensee_or_404, request.app.state.engine, license_number,
                                user)
        raise HTTPException(404, f"Licensee {license_number} is not on the list scored by "
                                 f"model version {serving.model_version} as of {serving.as_of}.")
    explanation = explain_licensee(serving, license_number)
    assert explanation is not None  # the row exists
    result: WhatIfPublic | None = None
    errors: list[str] = []
    if form is not None:
        changes, errors = _parse_changes(form, explanation)
        if not errors:
            body = WhatIfCreate(license_number=license_number, changes=changes)
            result = await run_in_threadpool(what_if, serving, license_number, body.changes)
            assert result is not None
            await auditor(request, user).record(
                "whatif.score", request.url.path, serving,
                {"license_number": license_number, "changes": body.changes,
                 "score": result.score, "current_score": result.current_score})
    profile = await run_in_threadpool(read_profile, request.app.state.engine, license_number)
    submitted = form
    # The changed values in the catalogue's words and units, with each one's push before
    # and after (the chart below draws every changed feature).
    before = {row.feature: row.shap_value for row in explanation.contributions}
    changed_rows = [{
        "feature": change.feature,
        "label": _field_label(get_feature(change.feature).description),
        "from_text": format_value(get_feature(change.feature), change.from_value),
        "to_text": format_value(get_feature(change.feature), change.to_value),
        "push_before": before.get(change.feature),
        "push_after": next((row.shap_value for row in result.contributions
                            if row.feature == change.feature), None),
    } for change in result.changes] if result else []
    return render(request, "what_if.html", {
        "title": f"What if: {profile.business_name if profile else license_number}",
        "profile": profile, "license_number": license_number, "explanation": explanation,
        "fields": _what_if_fields(serving, explanation, submitted),
        "what_if": result, "what_if_errors": errors, "changed_rows": changed_rows,
        "chart": waterfall_svg(result, license_type=profile.license_type if profile else None,
                               chart_id="what-if-chart",
                               caption="Why the changed licensee would score as it does",
                               always=[change.feature for change in result.changes])
        if result else None,
    }, status_code=422 if errors else 200)


# --- plans -------------------------------------------------------------------------------


def _chosen_plan(engine: Any, request: Request) -> PlanInfo | None:
    """The plan a page shows: ``?plan=ID`` (404 when unknown), else the newest, else None."""
    asked = request.query_params.get("plan")
    if asked:
        if not asked.isdigit() or len(asked) > 9:
            raise HTTPException(422, "plan: use the number of a stored plan.")
        info = plan_info(engine, int(asked))
        if info is None:
            raise HTTPException(404, f"No plan has the id {asked}.")
        return info
    newest = stored_plans(engine, limit=1)
    return newest[0] if newest else None


def _plan_division(user: User, info: PlanInfo, request: Request) -> str | None:
    """The division My plan shows: the account's own, else the one asked for or the first."""
    asked = request.query_params.get("division") or None
    divisions = [str(d["field_division"]) for d in info.divisions]
    if user.division is None and asked is not None and asked not in divisions:
        raise HTTPException(404, f"Plan {info.plan_id} has no field division {asked!r}.")
    return narrowed_division(user, asked) or (divisions[0] if divisions else None)


@router.get("/plan")
async def my_plan_page(request: Request, user: PageUserDep) -> Response:
    """A division's plan in priority order: reasons, selection path, CSV, printable."""
    engine = request.app.state.engine
    info = await run_in_threadpool(_chosen_plan, engine, request)
    if info is None:
        return render(request, "plan.html", {"title": "My plan", "plan": None})
    division = _plan_division(user, info, request)
    plan = await run_in_threadpool(lambda: read_plan(engine, info.plan_id, division,
                                                     plan_wide=False))
    assert plan is not None  # the plan exists
    await auditor(request, user).record(
        "plan.read", f"/api/v1/plans/{info.plan_id}", request.app.state.holder.current,
        {"plan_id": info.plan_id, "field_division": division, "returned": plan.total,
         "plan_model_version": plan.model_version, "list_id": info.list_id,
         "page": request.url.path})
    query = {"plan": info.plan_id} | ({} if user.division else {"division": division or ""})
    # Rows a page at a time, as the ranked list shows them, or all of them to print.
    show_all = request.query_params.get("rows") == "all"
    pages = max(1, -(-plan.total // PLAN_PAGE_ROWS))
    page_number = _page_number(request.query_params.get("page"), pages)
    first = 0 if show_all else (page_number - 1) * PLAN_PAGE_ROWS
    shown = plan.items if show_all else plan.items[first:first + PLAN_PAGE_ROWS]

    def page_url(**changes: object) -> str:
        return "/plan?" + urlencode({**query, **changes})

    return render(request, "plan.html", {
        "title": f"My plan: {division}" if division else "My plan", "plan": plan,
        "rows": shown, "first_row": first + 1, "last_row": first + len(shown),
        "page_number": page_number, "pages": pages, "show_all": show_all,
        "previous_url": page_url(page=page_number - 1) if page_number > 1 else None,
        "next_url": page_url(page=page_number + 1) if page_number < pages else None,
        "all_url": page_url(rows="all"), "paged_url": page_url(),
        "division": division, "divisions": [str(d["field_division"]) for d in info.divisions],
        "figures": plan.divisions[0] if plan.divisions else None,
        "export_url": "/plan.csv?" + urlencode(query),
        "mark_reasons": MARK_REASONS, "mark_note_max": MARK_NOTE_MAX_LENGTH,
        "marked": sum(row.mark is not None for row in plan.items),
    })


#: Rows of My plan a page: the ranked list's largest page size.
PLAN_PAGE_ROWS = 100


def _page_number(asked: str | None, pages: int) -> int:
    """The page asked for, within 1..pages (1 for anything else)."""
    if asked is None or not asked.isdigit() or len(asked) > 6:
        return 1
    return min(max(1, int(asked)), pages)


@router.get("/plan.csv")
async def my_plan_csv(request: Request, user: PageUserDep) -> Response:
    """My plan as the API's CSV (the ``plan`` command's columns), audited as an export."""
    engine = request.app.state.engine
    info = await run_in_threadpool(_chosen_plan, engine, request)
    if info is None:
        raise HTTPException(404, "No plan has been stored yet.")
    division = _plan_division(user, info, request)
    plan = await run_in_threadpool(lambda: read_plan(engine, info.plan_id, division,
                                                     plan_wide=False))
    assert plan is not None
    await auditor(request, user).record(
        "plan.export", f"/api/v1/plans/{info.plan_id}", request.app.state.holder.current,
        {"plan_id": info.plan_id, "field_division": division, "returned": plan.total,
         "plan_model_version": plan.model_version, "list_id": info.list_id,
         "page": request.url.path})
    return Response(plan_csv(plan), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{plan_csv_filename(plan)}"',
        "X-Model-Version": plan.plan.model_version, "X-As-Of": plan.plan.as_of.isoformat(),
        "Cache-Control": "no-store"})


@router.get("/plans")
async def plans_page(request: Request, user: PageSupervisorDep) -> Response:
    """Every division's capacity, coverage and expected findings against DL2 and random.

    An account limited to a field division sees its own division's figures only, and not the
    plan-wide exclusion counts, as the plans API answers it.
    """
    engine = request.app.state.engine
    info = await run_in_threadpool(_chosen_plan, engine, request)
    plans = await run_in_threadpool(stored_plans, engine, 20)
    if info is None:
        return render(request, "plans.html", {"title": "Plan overview", "plan": None,
                                              "plans": plans})
    plan = await run_in_threadpool(lambda: read_plan(engine, info.plan_id, user.division,
                                                     plan_wide=user.division is None))
    assert plan is not None
    await auditor(request, user).record(
        "plan.read", f"/api/v1/plans/{info.plan_id}", request.app.state.holder.current,
        {"plan_id": info.plan_id, "field_division": user.division, "returned": 0,
         "view": "overview",
         "plan_model_version": plan.model_version, "list_id": info.list_id,
         "page": request.url.path})
    return render(request, "plans.html", {
        "title": "Plan overview", "plan": plan, "plans": plans,
        "planned": {other.plan_id: plan_summary(other, user.division).totals.planned
                    for other in plans},
        "chart": findings_svg([(d.field_division, d.expected_serious,
                                d.expected_serious_demand_letter_2, d.expected_serious_random)
                               for d in plan.divisions]),
    })


# --- models ------------------------------------------------------------------------------


@router.get("/models", dependencies=[Depends(page_role(Role.SUPERVISOR))])
async def models_page(request: Request, serving: ServingStateDep) -> Response:
    """The served model beside its baselines, its plots and its fairness table."""
    uri = request.app.state.settings.mlflow_tracking_uri
    details = await run_in_threadpool(run_details, uri, serving.model_version)
    champion, versions = await run_in_threadpool(model_versions, uri, serving.model_version)
    comparisons = metric_comparisons(details["metrics"])
    baselines = sorted({name for row in comparisons for name in row.baselines})
    tags, params = details["tags"], details["params"]
    selection_metric = tags.get("selection_metric") or params.get("selection_metric")
    versions = sorted(versions, reverse=True,
                      key=lambda v: int(v.version) if v.version.isdigit() else -1)
    compared = await run_in_threadpool(version_comparison, uri, versions)
    return render(request, "models.html", {
        "title": "Models", "details": details,
        "metrics": ordered_metrics(comparisons, selection_metric),
        "metric_help": METRIC_HELP, "selection_metric": selection_metric,
        "selection_label": metric_label(selection_metric) if selection_metric else None,
        "baselines": baselines, "champion": champion,
        "versions": versions, "compared": compared, "version_metrics": VERSION_METRICS,
        "metric_label": metric_label,
        "fairness_guidance": fairness_guidance(details["fairness"]),
        "trained_as_of": tags.get("as_of") or params.get("as_of"),
        "experiment": tags.get("experiment"), "calibration": calibration(serving),
        "catalogue_version": tags.get("catalogue_version"),
        "fairness": details["fairness"], "plots": MODEL_PLOTS,
    })


@functools.lru_cache(maxsize=16)
def _plot_bytes(tracking_uri: str, run_id: str, name: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dealer-risk-plot-") as scratch:
        return download_run_artifact(tracking_uri, run_id, name, FilePath(scratch)).read_bytes()


@router.get("/models/plots/{name}", dependencies=[Depends(page_role(Role.SUPERVISOR))])
async def model_plot(request: Request, name: str, serving: ServingStateDep) -> Response:
    """One of the served model's training plots (an MLflow run artifact)."""
    if name not in MODEL_PLOTS:
        raise HTTPException(404, f"No plot named {name}.")
    uri = request.app.state.settings.mlflow_tracking_uri
    details = await run_in_threadpool(run_details, uri, serving.model_version)
    try:
        content = await run_in_threadpool(_plot_bytes, uri, details["run_id"], name)
    except Exception as error:  # a run logged without the plot: a 404, not a 500
        raise HTTPException(404, f"Model version {serving.model_version} has no {name}.") \
            from error
    return Response(content, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


# --- static files ------------------------------------------------------------------------


@router.get("/static/{name}")
async def static_file(request: Request, name: str) -> Response:
    """The pages' stylesheet and script, from the package (nothing from the network)."""
    path = _STATIC_FILES.get(name)
    if path is None:
        return error_page(request, 404, f"No static file named {name}.")
    return Response(path.read_bytes(), media_type=_STATIC_TYPES[path.suffix],
                    headers={"Cache-Control": "public, max-age=86400",
                             "X-Content-Type-Options": "nosniff"})

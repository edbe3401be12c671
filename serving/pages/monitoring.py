"""The monitoring and enforcement pages, and the inspectors' "not inspected" form.

- ``/monitoring`` (supervisors and above): what the plans found against what they
  predicted, per plan and path over the stored monitoring dates; calibration in the field;
  the drift table with its watch and act flags; the retraining recommendation and its
  reasons. ``/monitoring.csv`` exports it.
- ``/enforcement`` (every signed-in user; an account limited to a field division sees
  that division only): inspections and serious findings per year and selection path,
  what the plans and the Demand Letter 2 rule expected, coverage, time since the last
  inspection, and the crime-gun trace picture. ``/enforcement.csv`` exports it.
- ``POST /plan/mark``: My plan's per-row form, the page side of
  ``PUT``/``DELETE /api/v1/plans/{id}/rows/{license}/mark``.

Both pages read the newest stored ``dealer-risk monitor`` result (:mod:`serving.monitoring`):
they never recompute it. Every read and export is audited as the API's reads are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from planning.marks import MarkError
from serving.deps import narrowed_division
from serving.monitoring import (
    NoSuchResult,
    enforcement_csv,
    enforcement_view,
    monitoring_csv,
    monitoring_view,
    plan_series,
    result_divisions,
    selection_names,
)
from serving.monitoring import (
    drift_rows as sorted_drift_rows,
)
from serving.pages.asking import PageSupervisorDep, PageUserDep, auditor, read_form
from serving.pages.monitoring_charts import bars_svg, calibration_svg, lines_svg
from serving.pages.render import PageRoute, render
from serving.pages.sessions import COOKIE_NAME, csrf_matches
from serving.plans import mark_row, unmark_row
from serving.schemas import LICENSE_NUMBER_MAX_LENGTH
from serving.users import User

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: A mark form is a few short fields; anything larger is not one.
MAX_MARK_FORM_BYTES = 8_000


# --- My plan's "not inspected" form ------------------------------------------------------


@router.post("/plan/mark")
async def my_plan_mark(request: Request, user: PageUserDep) -> Response:
    """Mark a planned licensee "not inspected" (or clear its mark), then back to My plan.

    The form carries the page's CSRF token; the row must be of the account's division
    (another division's answers 404, as the API does). Audited as the API's calls are.
    """
    form = await read_form(request, MAX_MARK_FORM_BYTES)
    if not csrf_matches(request.cookies.get(COOKIE_NAME, ""), form.get("csrf")):
        raise HTTPException(403, "The form expired or came from another page; open My plan "
                                 "and try again.")
    plan_text, number = form.get("plan", ""), form.get("license_number", "").strip()
    if not plan_text.isdigit() or len(plan_text) > 9:
        raise HTTPException(422, "plan: use the number of a stored plan.")
    if not number or len(number) > LICENSE_NUMBER_MAX_LENGTH or "\x00" in number:
        raise HTTPException(422, "license_number: give the planned licensee's number.")
    plan_id, engine = int(plan_text), request.app.state.engine
    resource = f"/api/v1/plans/{plan_id}/rows/{number}/mark"
    detail: dict[str, Any] = {"plan_id": plan_id, "license_number": number,
                              "page": request.url.path}
    state = request.app.state.holder.current
    if form.get("action") == "clear":
        cleared = await run_in_threadpool(unmark_row, engine, plan_id, number, user.division)
        if cleared is None:
            raise HTTPException(404, f"Plan {plan_id} has no licensee {number} you may see.")
        if cleared:
            await auditor(request, user).record("plan.unmark", resource, state, detail)
    else:
        reason, note = form.get("reason", ""), form.get("note") or None
        try:
            mark = await run_in_threadpool(lambda: mark_row(
                engine, plan_id, number, reason=reason, note=note, user_name=user.name,
                caller_division=user.division, at=dt.datetime.now(dt.UTC)))
        except MarkError as error:
            raise HTTPException(422, str(error)) from error
        if mark is None:
            raise HTTPException(404, f"Plan {plan_id} has no licensee {number} you may see.")
        await auditor(request, user).record(
            "plan.mark", resource, state,
            {**detail, "field_division": mark.field_division, "reason": mark.reason,
             "note": mark.note})
    back: dict[str, str] = {"plan": str(plan_id)}
    for name in ("division", "page", "rows"):
        value = form.get(name, "")
        if value and len(value) <= 100:
            back[name] = value
    return RedirectResponse("/plan?" + urlencode(back) + f"#row-{number}", status_code=303)


# --- monitoring --------------------------------------------------------------------------


def _result_id(request: Request) -> int | None:
    asked = request.query_params.get("result")
    if not asked:
        return None
    if not asked.isdigit() or len(asked) > 9:
        raise HTTPException(422, "result: use the number of a stored monitoring result.")
    return int(asked)


async def _view(request: Request) -> Any:
    state = request.app.state.holder.current
    try:
        return await run_in_threadpool(monitoring_view, request.app.state.engine,
                                       state.model_version if state else None,
                                       _result_id(request))
    except NoSuchResult as error:
        raise HTTPException(404, f"No monitoring result has the id {error.args[0]}.") \
            from error


@router.get("/monitoring")
async def monitoring_page(request: Request, user: PageSupervisorDep) -> Response:
    """Realized against predicted, calibration, drift and the retraining recommendation."""
    view = await _view(request)
    if view is None:
        return render(request, "monitoring.html", {"title": "Monitoring", "view": None})
    output = view.output
    await auditor(request, user).record(
        "monitoring.read", request.url.path, request.app.state.holder.current,
        {"result_id": view.result.result_id, "monitor_as_of": output["as_of"],
         "monitor_model_version": output["model_version"]})
    dates, series = plan_series(view)
    bands = output["calibration"]["bands"]
    return render(request, "monitoring.html", {
        "title": "Monitoring", "view": view, "output": output,
        "plans_chart": lines_svg("plans-chart", "Serious findings: found and predicted, per "
                                 "plan and selection path, by monitoring date", dates, series),
        "calibration_chart": calibration_svg("calibration-chart", [
            (b["band"], b["predicted"], b["observed"], b["ci_low"], b["ci_high"],
             int(b["inspected"])) for b in bands]),
        "drift": sorted_drift_rows(output),
        "export_url": "/monitoring.csv?" + urlencode({"result": view.result.result_id}),
    })


@router.get("/monitoring.csv")
async def monitoring_export(request: Request, user: PageSupervisorDep) -> Response:
    """The shown monitoring result as CSV."""
    view = await _view(request)
    if view is None:
        raise HTTPException(404, "No monitoring result is stored yet: run `dealer-risk "
                                 "monitor --as-of DATE`.")
    output = view.output
    await auditor(request, user).record(
        "monitoring.export", request.url.path, request.app.state.holder.current,
        {"result_id": view.result.result_id, "monitor_as_of": output["as_of"],
         "monitor_model_version": output["model_version"]})
    name = f"monitoring-{output['as_of']}-v{output['model_version']}.csv"
    return Response(monitoring_csv(view), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Model-Version": str(output["model_version"]), "X-As-Of": str(output["as_of"]),
        "Cache-Control": "no-store"})


# --- enforcement -------------------------------------------------------------------------


def _division(user: User, request: Request, divisions: list[str]) -> str | None:
    """The account's own division, else the one asked for (None: all divisions)."""
    asked = (request.query_params.get("division") or "").strip() or None
    if asked is not None and len(asked) > 100:
        raise HTTPException(422, "division: use the name of a field division.")
    if user.division is None and asked is not None and asked not in divisions:
        raise HTTPException(404, f"No field division is named {asked!r}.")
    return narrowed_division(user, asked)  # 403 for another division, as the API answers


async def _enforcement(request: Request, user: User) -> Any:
    view = await _view(request)
    if view is None:
        return None
    engine = request.app.state.engine
    division = _division(user, request, result_divisions(view.result))
    return await run_in_threadpool(enforcement_view, engine, view.result, division)


def _percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


@router.get("/enforcement")
async def enforcement_page(request: Request, user: PageUserDep) -> Response:
    """Enforcement metrics per division and year, from the newest monitoring result."""
    view = await _enforcement(request, user)
    if view is None:
        return render(request, "enforcement.html", {"title": "Enforcement", "view": None})
    await auditor(request, user).record(
        "enforcement.read", request.url.path, request.app.state.holder.current,
        {"field_division": view.field_division, "monitor_as_of": view.as_of.isoformat(),
         "monitor_model_version": view.model_version})
    years = [str(r["year"]) for r in view.by_year]
    names = selection_names()
    paths = [p for p in names if any(r["selected_by"] == p for r in view.by_selection)]

    def per_path(path: str, key: str) -> list[float | None]:
        found = {str(r["year"]): r for r in view.by_selection if r["selected_by"] == path}
        return [found[y][key] if y in found else None for y in years]

    query = {"division": view.field_division} if view.field_division and not user.division \
        else {}
    return render(request, "enforcement.html", {
        "title": "Enforcement", "view": view, "names": names,
        "divisions": [] if user.division else view.divisions,
        "inspections_chart": bars_svg(
            "inspections-chart", "Compliance inspections by year and how they came about",
            years, [(names[p], per_path(p, "inspections")) for p in paths]),
        "hit_chart": bars_svg(
            "hit-chart", "Serious findings per 100 inspections, by selection path", years,
            [(names[p], [_percent(v) for v in per_path(p, "serious_per_inspection")])
             for p in paths], digits=1),
        "coverage_chart": lines_svg(
            "coverage-chart", f"Licensees uninspected for {view.coverage_years} years or more "
            "(%)", years, [("uninspected", [_percent(r["uninspected_5_years_share"])
                                             for r in view.by_year], False)]),
        "since_chart": bars_svg(
            "since-chart", "Active licensees by time since their last compliance inspection",
            [r["band"] for r in view.time_since],
            [("licensees", [float(r["licensees"]) for r in view.time_since])]),
        "traces_chart": bars_svg(
            "traces-chart", "Crime-gun traces by year", [str(r["year"]) for r in view.traces],
            [("traces", [float(r["traces"]) for r in view.traces]),
             (f"time-to-crime ≤ {view.short_time_to_crime_days // 365} years",
              [float(r["short_time_to_crime"]) for r in view.traces]),
             ("recovered abroad", [float(r["recovered_abroad"]) for r in view.traces])]),
        "abroad_chart": bars_svg(
            "abroad-chart", "Guns recovered abroad, by the state where they were sold",
            [r["premise_state"] for r in view.abroad_by_state[:20]],
            [("recovered abroad", [float(r["recovered_abroad"])
                                   for r in view.abroad_by_state[:20]])]),
        "export_url": "/enforcement.csv?" + urlencode(query),
    })


@router.get("/enforcement.csv")
async def enforcement_export(request: Request, user: PageUserDep) -> Response:
    """The enforcement figures shown, as CSV (aggregates only)."""
    view = await _enforcement(request, user)
    if view is None:
        raise HTTPException(404, "No monitoring result is stored yet: run `dealer-risk "
                                 "monitor --as-of DATE`.")
    await auditor(request, user).record(
        "enforcement.export", request.url.path, request.app.state.holder.current,
        {"field_division": view.field_division, "monitor_as_of": view.as_of.isoformat(),
         "monitor_model_version": view.model_version})
    suffix = f"-{view.field_division.replace(' ', '-')}" if view.field_division else ""
    name = f"enforcement-{view.as_of.isoformat()}{suffix}.csv"
    return Response(enforcement_csv(view), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Model-Version": view.model_version, "X-As-Of": view.as_of.isoformat(),
        "Cache-Control": "no-store"})

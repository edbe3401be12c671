"""What the monitoring and enforcement pages show, assembled from stored ``monitor`` results.

The pages never recompute monitoring: ``dealer-risk monitor`` stores its whole output
(``monitoring.results``) and the pages read the newest stored result, by default the
served champion's newest. A result takes seconds to compute and needs the columnar read
path the API server never uses; a stored result never changes, so each process keeps
the last :data:`KEPT_RESULTS` it has parsed, by id. The figures are therefore exactly
those ``monitor`` printed, as of its date; run ``monitor`` again to bring them up to date.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from data.csv_cells import csv_writer
from monitoring.enforcement import NEVER as NEVER_INSPECTED
from monitoring.enforcement import OUTSIDE_PLANS, SINCE_BANDS
from monitoring.results import MonitorResult, result_by_id, result_keys
from planning.plans import MARK_REASONS, PlanInfo, stored_plans
from serving.memo import KeptValues

#: Stored results each process keeps parsed (a result is immutable).
KEPT_RESULTS = 16
#: Stored results the monitoring page draws over time.
HISTORY_RESULTS = 24
#: Plans the over-time chart draws (the newest).
CHARTED_PLANS = 3
PATHS = ("risk", "exploration")

_kept: KeptValues[MonitorResult] = KeptValues(KEPT_RESULTS)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def stored_result(engine: Engine, result_id: int) -> MonitorResult | None:
    """A stored result, parsed once per process."""
    return _kept.get((_url(engine), result_id), lambda: result_by_id(engine, result_id))


@dataclass(frozen=True)
class MonitoringView:
    """The result a page shows and the same version's earlier results (oldest first)."""

    result: MonitorResult
    history: list[MonitorResult]
    #: Other stored results to choose from: (id, monitoring date, model version).
    choices: list[tuple[int, dt.date, str]]

    @property
    def output(self) -> dict[str, Any]:
        return self.result.output


class NoSuchResult(LookupError):
    """A result id that is not stored."""


def monitoring_view(engine: Engine, served_version: str | None,
                    result_id: int | None = None) -> MonitoringView | None:
    """The stored result to show (``result_id``, else the served version's newest, else the
    newest of any version) with its version's history; None when none is stored."""
    keys = result_keys(engine)
    if not keys:
        if result_id is not None:
            raise NoSuchResult(result_id)
        return None
    if result_id is not None:
        if result_id not in {k[0] for k in keys}:
            found = result_by_id(engine, result_id)
            if found is None:
                raise NoSuchResult(result_id)
            return MonitoringView(result=found, history=[found], choices=keys)
        chosen = result_id
    else:
        mine = [k for k in keys if k[2] == served_version]
        chosen = (mine or keys)[0][0]
    result = stored_result(engine, chosen)
    assert result is not None
    same = [k for k in keys if k[2] == result.model_version and k[1] <= result.as_of]
    history = [stored_result(engine, k[0]) for k in sorted(same, key=lambda k: k[1])
               [-HISTORY_RESULTS:]]
    return MonitoringView(result=result, history=[h for h in history if h is not None],
                          choices=keys)


def plan_series(view: MonitoringView) -> tuple[list[str], list[tuple[str, list[float | None],
                                                                      bool]]]:
    """Realized and predicted serious findings per plan and path, over monitoring dates.

    Returns the dates and (name, values, dashed) series: realized solid, predicted
    dashed, for the :data:`CHARTED_PLANS` newest plans of the shown result.
    """
    dates = [r.as_of.isoformat() for r in view.history]
    plan_ids = [str(p["plan_id"]) for p in view.output["plans"]][-CHARTED_PLANS:]
    series: list[tuple[str, list[float | None], bool]] = []
    for plan_id in plan_ids:
        for path in PATHS:
            realized: list[float | None] = []
            predicted: list[float | None] = []
            for result in view.history:
                plan = next((p for p in result.output["plans"]
                             if str(p["plan_id"]) == plan_id), None)
                figures = plan["by_selection"].get(path) if plan else None
                realized.append(float(figures["serious"]) if figures else None)
                predicted.append(float(figures["predicted_serious"]) if figures else None)
            series.append((f"plan {plan_id} {path}: found", realized, False))
            series.append((f"plan {plan_id} {path}: predicted", predicted, True))
    return dates, series


def drift_rows(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The drift table, largest PSI first (flagged rows first)."""
    rows = list(output.get("drift", []))
    return sorted(rows, key=lambda r: (-(r.get("psi") or 0.0), str(r.get("feature"))))


def _write(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # neutralises formulas (data/csv_cells.py)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


MONITORING_CSV_COLUMNS = ("as_of", "model_version", "section", "plan_id", "selected_by",
                          "item", "metric", "value")


def monitoring_csv(view: MonitoringView) -> str:
    """The shown result as long-form CSV: plans by path, calibration bands, drift, reasons."""
    output = view.output
    base = (output["as_of"], output["model_version"])
    rows: list[tuple[object, ...]] = []
    for plan in output["plans"]:
        for path, figures in plan["by_selection"].items():
            for metric in ("planned", "inspected", "serious", "predicted_serious", "pending",
                           "not_inspected", "inspected_not_serious", "marked_not_inspected"):
                if metric in figures:
                    rows.append((*base, "plan", plan["plan_id"], path, "", metric,
                                 figures[metric]))
            for reason, count in figures.get("marked_not_inspected_by_reason", {}).items():
                rows.append((*base, "plan", plan["plan_id"], path, reason,
                             "marked_not_inspected", count))
            for key in ("value", "ci_low", "ci_high"):
                rows.append((*base, "plan", plan["plan_id"], path, "", f"hit_rate_{key}",
                             figures["hit_rate"][key]))
        for key in ("value", "ci_low", "ci_high"):
            rows.append((*base, "plan", plan["plan_id"], "", "",
                         f"estimated_serious_rate_{key}",
                         plan["estimated_serious_rate"][key]))
            rows.append((*base, "plan", plan["plan_id"], "", "", f"naive_rate_{key}",
                         plan["naive_rate"][key]))
    for band in output["calibration"]["bands"]:
        for metric in ("inspected", "serious", "predicted", "observed", "ci_low", "ci_high",
                       "outside"):
            rows.append((*base, "calibration", "", "", band["band"], metric, band[metric]))
    for row in output["drift"]:
        for metric in ("psi", "level", "flagged"):
            if metric in row:
                rows.append((*base, "drift", "", "", row["feature"], metric, row[metric]))
    rows.append((*base, "retraining", "", "", "", "retrain_recommended",
                 output["retrain_recommended"]))
    for reason in output["reasons"]:
        rows.append((*base, "retraining", "", "", "", "reason", reason))
    return _write(rows, MONITORING_CSV_COLUMNS)


# --- enforcement -------------------------------------------------------------------------


def _pick(rows: Iterable[dict[str, Any]], division: str | None) -> list[dict[str, Any]]:
    return [r for r in rows if division is None or r.get("field_division") == division]


def _sum_by(rows: Iterable[dict[str, Any]], keys: Sequence[str],
            values: Sequence[str]) -> list[dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        into = out.setdefault(key, {**dict(zip(keys, key, strict=True)),
                                    **dict.fromkeys(values, 0)})
        for v in values:
            into[v] += int(row.get(v) or 0)
    return [out[k] for k in sorted(out)]


@dataclass(frozen=True)
class EnforcementView:
    """The enforcement figures of one stored result, for one division or all."""

    as_of: dt.date
    model_version: str
    field_division: str | None
    divisions: list[str]
    years: list[int]
    by_year: list[dict[str, Any]]
    by_selection: list[dict[str, Any]]
    time_since: list[dict[str, Any]]
    traces: list[dict[str, Any]]
    abroad_by_state: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    coverage_years: int
    short_time_to_crime_days: int


def _plan_rows(output: dict[str, Any], plans: Sequence[PlanInfo], division: str | None
               ) -> list[dict[str, Any]]:
    """Per plan made before the result's date: what it expected (and the Demand Letter 2
    rule's and a random plan's) beside what its inspections found."""
    found = {str(p["plan_id"]): p for p in output["plans"]}
    rows = []
    for info in plans:
        figures = found.get(str(info.plan_id))
        if figures is None:
            continue
        expected = [d for d in info.divisions
                    if division is None or d["field_division"] == division]
        realized = [d for d in figures["by_division"]
                    if division is None or d["field_division"] == division]
        rule = [d.get("expected_serious_demand_letter_2") for d in expected]
        rows.append({
            "plan_id": info.plan_id, "period_start": info.period_start.isoformat(),
            "period_end": info.period_end.isoformat(),
            "window_closed": bool(figures.get("window_closed")),
            "planned": sum(int(d["planned"]) for d in expected),
            "expected_serious": round(sum(float(d["expected_serious"]) for d in expected), 2),
            "expected_serious_demand_letter_2": None if any(v is None for v in rule)
            else round(sum(float(v) for v in rule if v is not None), 2),
            "expected_serious_random": round(
                sum(float(d["expected_serious_random"]) for d in expected), 2),
            "inspected": sum(int(d["inspected"]) for d in realized),
            "serious": sum(int(d["serious"]) for d in realized),
            "predicted_serious": round(sum(float(d["predicted_serious"]) for d in realized), 2),
            "marked_not_inspected": sum(int(d.get("marked_not_inspected", 0))
                                        for d in realized),
        })
    return rows


def result_divisions(result: MonitorResult) -> list[str]:
    """The field divisions ``result``'s enforcement figures cover, sorted."""
    figures = result.output.get("enforcement") or {}
    return sorted({str(r["field_division"]) for r in figures.get("by_division_year", [])})


def enforcement_view(engine: Engine, result: MonitorResult, division: str | None
                     ) -> EnforcementView:
    """The enforcement figures of ``result`` for ``division`` (None: every division
    together)."""
    output = result.output
    figures = output.get("enforcement") or {}
    by_division_year = figures.get("by_division_year", [])
    divisions = result_divisions(result)
    counts = ("licensees", "eligible_for_coverage", "uninspected_5_years", "inspections",
              "serious")
    by_year = _sum_by(_pick(by_division_year, division), ["year"], counts)
    for row in by_year:
        row["uninspected_5_years_share"] = (row["uninspected_5_years"]
                                            / row["eligible_for_coverage"]
                                            if row["eligible_for_coverage"] else None)
        row["serious_per_inspection"] = (row["serious"] / row["inspections"]
                                         if row["inspections"] else None)
    by_selection = _sum_by(_pick(figures.get("by_selection", []), division),
                           ["year", "selected_by"], ["inspections", "serious"])
    for row in by_selection:
        row["serious_per_inspection"] = (row["serious"] / row["inspections"]
                                         if row["inspections"] else None)
    since = _sum_by(_pick(figures.get("time_since_inspection", []), division), ["band"],
                    ["licensees"])
    order = {label: i for i, (label, _, _) in enumerate(SINCE_BANDS)} | {
        NEVER_INSPECTED: len(SINCE_BANDS)}
    since.sort(key=lambda r: order.get(r["band"], 99))
    traces = _sum_by(_pick(figures.get("traces", []), division), ["year"],
                     ["traces", "short_time_to_crime", "recovered_abroad"])
    abroad = _sum_by(_pick(figures.get("recovered_abroad_by_state", []), division),
                     ["premise_state"], ["traces", "recovered_abroad"])
    abroad.sort(key=lambda r: (-r["recovered_abroad"], r["premise_state"]))
    plans = [p for p in stored_plans(engine, limit=100) if p.as_of < result.as_of]
    plans.sort(key=lambda p: (p.as_of, p.plan_id))
    return EnforcementView(
        as_of=result.as_of, model_version=result.model_version, field_division=division,
        divisions=divisions, years=[int(y) for y in figures.get("years", [])],
        by_year=by_year, by_selection=by_selection, time_since=since, traces=traces,
        abroad_by_state=abroad, plans=_plan_rows(output, plans, division),
        coverage_years=int(figures.get("coverage_years", 5)),
        short_time_to_crime_days=int(figures.get("short_time_to_crime_days", 1095)),
    )


def selection_names() -> dict[str, str]:
    """How an inspection came about, in words."""
    return {"risk": "plan: risk score", "exploration": "plan: random draw",
            OUTSIDE_PLANS: "outside plans"}


ENFORCEMENT_CSV_COLUMNS = ("as_of", "model_version", "field_division", "section", "year",
                           "item", "metric", "value")


def enforcement_csv(view: EnforcementView) -> str:
    """The enforcement figures shown, as long-form CSV (aggregates only)."""
    base = (view.as_of.isoformat(), view.model_version, view.field_division or "all")
    rows: list[tuple[object, ...]] = []
    for row in view.by_year:
        for metric in ("licensees", "inspections", "serious", "serious_per_inspection",
                       "eligible_for_coverage", "uninspected_5_years",
                       "uninspected_5_years_share"):
            rows.append((*base, "by_year", row["year"], "", metric, row[metric]))
    for row in view.by_selection:
        for metric in ("inspections", "serious", "serious_per_inspection"):
            rows.append((*base, "by_selection", row["year"], row["selected_by"], metric,
                         row[metric]))
    for row in view.time_since:
        rows.append((*base, "time_since_inspection", "", row["band"], "licensees",
                     row["licensees"]))
    for row in view.traces:
        for metric in ("traces", "short_time_to_crime", "recovered_abroad"):
            rows.append((*base, "traces", row["year"], "", metric, row[metric]))
    for row in view.abroad_by_state:
        for metric in ("traces", "recovered_abroad"):
            rows.append((*base, "recovered_abroad_by_state", "", row["premise_state"],
                         metric, row[metric]))
    for row in view.plans:
        for metric in ("planned", "expected_serious", "expected_serious_demand_letter_2",
                       "expected_serious_random", "inspected", "serious",
                       "predicted_serious", "marked_not_inspected"):
            rows.append((*base, "plans", "", f"plan {row['plan_id']}", metric, row[metric]))
    return _write(rows, ENFORCEMENT_CSV_COLUMNS)


def mark_reason_names() -> dict[str, str]:
    """The inspectors' reasons for "not inspected", in words."""
    return dict(MARK_REASONS)

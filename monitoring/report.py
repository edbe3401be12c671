"""The public transparency report: aggregates only, small cells suppressed.

``dealer-risk report --as-of DATE --out DIR`` writes ``index.html`` (self-contained: the
charts are inline SVG drawn by matplotlib, no external file or script) and CSV files:

- ``by_year.csv``, ``by_state.csv``, ``by_field_division.csv``, ``by_license_type.csv``:
  per complete calendar year before DATE (and per state, division or license type): the
  licensees active at the year's end, compliance inspections closed in the year, serious
  outcomes among them, traces that became known in the year, those with a time-to-crime
  of three years or less, the median time-to-crime, and recoveries outside the United
  States, with the rates these give;
- ``plan_performance.csv`` and ``plan_performance_by_division.csv``: per stored plan
  (made before DATE) and selection path, planned, inspected and serious, the hit rate and
  the plan's estimate of the serious rate among eligible licensees.

Suppression, exactly as the contract says: a count from 1 to 9 is written ``<10`` and a
rate (or median) whose denominator is below 10 is written ``suppressed``. Zero is shown:
it identifies no one. No license number, business name or address is ever written: the
report is built from counts grouped by state, division, license type and year only.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data.contract import SERIOUS_OUTCOMES, recovered_abroad
from data.csv_cells import frame_to_csv
from data.store.read import read_tables
from monitoring.enforcement import SHORT_TIME_TO_CRIME_DAYS
from monitoring.monitor import plan_figures
from monitoring.outcomes import link_outcomes
from planning.plans import read_plan_rows, stored_plans

#: Counts from 1 to this are written as :data:`SMALL_COUNT`.
SMALL_COUNT_MAX = 9
SMALL_COUNT = "<10"
#: A rate or median on fewer than this many is written as :data:`SUPPRESSED`.
MIN_DENOMINATOR = 10
SUPPRESSED = "suppressed"

LICENSE_TYPE_NAMES = {
    "01": "dealer", "02": "pawnbroker", "03": "collector", "06": "ammunition maker",
    "07": "manufacturer", "08": "importer", "09": "destructive devices dealer",
    "10": "destructive devices manufacturer", "11": "destructive devices importer",
}

#: Each published rate and the count columns it divides (numerator, denominator).
RATES: dict[str, tuple[str, str]] = {
    "serious_rate": ("serious", "inspections"),
    "short_time_to_crime_share": ("short_time_to_crime_traces", "traces"),
    "recovered_abroad_share": ("recovered_abroad", "traces"),
    "traces_per_100_licensees": ("traces", "licensees"),
    "inspections_per_100_licensees": ("inspections", "licensees"),
    "hit_rate": ("serious", "inspected"),
}
#: Medians, and the count of values they are the median of.
MEDIANS: dict[str, str] = {"median_time_to_crime_days": "traces"}
COUNT_COLUMNS = ("licensees", "inspections", "serious", "traces",
                 "short_time_to_crime_traces", "recovered_abroad", "planned", "inspected",
                 "pending", "not_inspected", "marked_not_inspected")
DIMENSIONS = {
    "by_year": None,
    "by_state": "premise_state",
    "by_field_division": "field_division",
    "by_license_type": "license_type",
}


def suppress_count(value: int) -> int | str:
    """A count as published: ``<10`` from 1 to 9, else the count."""
    return SMALL_COUNT if 1 <= value <= SMALL_COUNT_MAX else int(value)


def suppress_rate(numerator: float, denominator: float, scale: float = 1.0,
                  digits: int = 4) -> float | str:
    """A rate as published: ``suppressed`` on a denominator below 10."""
    if denominator < MIN_DENOMINATOR:
        return SUPPRESSED
    return round(scale * numerator / denominator, digits)


@dataclass(frozen=True)
class Aggregates:
    """The report's raw (unsuppressed) tables, before publishing."""

    tables: dict[str, pd.DataFrame]
    years: list[int]


def _years(as_of: dt.date, frames: Sequence[pd.Series]) -> list[int]:
    """Complete calendar years before ``as_of`` with any event."""
    first = min((int(s.dt.year.min()) for s in frames if len(s.dropna())), default=as_of.year)
    return [year for year in range(first, as_of.year) if dt.date(year, 12, 31) < as_of]


def aggregate(frames: dict[str, pd.DataFrame], as_of: dt.date) -> Aggregates:
    """Counts, medians and rates by year and by state, division and license type.

    ``frames`` are the contract tables known before ``as_of`` (``dealers``, ``traces``,
    ``inspections``).
    """
    dealers = frames["dealers"].drop_duplicates("license_number").set_index("license_number")
    profile = pd.DataFrame({
        "premise_state": dealers["premise_state"].astype(str),
        "field_division": dealers["field_division"].astype(object).where(
            dealers["field_division"].notna(), "unknown").astype(str),
        "license_type": dealers["license_type"].astype(str),
    }, index=dealers.index)
    inspections = frames["inspections"]
    closed = pd.to_datetime(inspections["inspection_date"])
    compliance = inspections.assign(year=closed.dt.year)[
        inspections["inspection_type"] == "compliance"]
    compliance = compliance.assign(serious=compliance["outcome"].isin(SERIOUS_OUTCOMES))
    traces = frames["traces"]
    known = pd.to_datetime(traces["trace_date"])
    days = (pd.to_datetime(traces["recovery_date"])
            - pd.to_datetime(traces["purchase_date"])).dt.days
    trace_rows = pd.DataFrame({
        "license_number": traces["license_number"].astype(str), "year": known.dt.year,
        "time_to_crime_days": days,
        "short": days <= SHORT_TIME_TO_CRIME_DAYS,
        "abroad": recovered_abroad(traces["recovery_country"])})
    years = _years(as_of, [closed, known])

    issued = pd.to_datetime(dealers["license_issue_date"])
    revoked = (inspections[inspections["outcome"] == "revocation"]
               .assign(day=closed).groupby("license_number")["day"].min()
               .reindex(dealers.index))
    tables = {}
    for name, dimension in DIMENSIONS.items():
        parts = []
        for year in years:
            end = pd.Timestamp(dt.date(year, 12, 31))
            active = ((issued.isna() | (issued <= end)) & ~(revoked <= end)).to_numpy(bool)
            group = profile[dimension] if dimension else pd.Series("all", index=profile.index)
            parts.append(pd.DataFrame({"year": year, "key": group[active]})
                         .groupby(["year", "key"]).size().rename("licensees"))
        licensees = (pd.concat(parts) if parts else pd.Series(dtype=int, name="licensees"))
        inspected = compliance[compliance["year"].isin(years)].join(
            profile, on="license_number")
        traced = trace_rows[trace_rows["year"].isin(years)].join(profile, on="license_number")
        for frame in (inspected, traced):
            frame["key"] = frame[dimension] if dimension else "all"
        by_inspection = inspected.groupby(["year", "key"]).agg(
            inspections=("serious", "size"), serious=("serious", "sum"))
        by_trace = traced.groupby(["year", "key"]).agg(
            traces=("short", "size"), short_time_to_crime_traces=("short", "sum"),
            recovered_abroad=("abroad", "sum"),
            median_time_to_crime_days=("time_to_crime_days", "median"))
        table = pd.concat([licensees, by_inspection, by_trace], axis=1)
        counts = [c for c in COUNT_COLUMNS if c in table.columns]
        table[counts] = table[counts].fillna(0).astype(np.int64)
        table = table.reset_index().rename(columns={"level_0": "year", "level_1": "key"})
        table.columns = ["year", "key", *table.columns[2:]]
        table = table.sort_values(["year", "key"], kind="stable")
        if dimension:
            table = table.rename(columns={"key": dimension})
            if dimension == "license_type":
                table.insert(2, "license_type_name",
                             table["license_type"].map(LICENSE_TYPE_NAMES).fillna("other"))
        else:
            table = table.drop(columns=["key"])
        tables[name] = table.reset_index(drop=True)
    return Aggregates(tables=tables, years=years)


def plan_tables(plans_figures: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Plan performance by plan and path, and by plan, division and path (raw)."""
    rows, division_rows = [], []
    for plan in plans_figures:
        ident = {"plan_id": plan["plan_id"], "period_start": plan["period_start"],
                 "period_end": plan["period_end"], "window_closed": plan["window_closed"]}
        estimate = plan["estimated_serious_rate"]
        for path, figures in plan["by_selection"].items():
            rows.append({**ident, "selected_by": path,
                         **{k: figures[k] for k in ("planned", "inspected", "serious",
                                                    "pending", "not_inspected")},
                         "marked_not_inspected": figures.get("marked_not_inspected", 0),
                         "predicted_serious": figures["predicted_serious"],
                         "estimated_serious_rate": estimate["value"],
                         "estimate_ci_low": estimate["ci_low"],
                         "estimate_ci_high": estimate["ci_high"],
                         "estimate_observed": estimate["observed"]})
        for division in plan["by_division"]:
            division_rows.append({**ident, **{k: division[k] for k in (
                "field_division", "selected_by", "planned", "inspected", "serious",
                "pending", "not_inspected")},
                "marked_not_inspected": division.get("marked_not_inspected", 0)})
    columns = ["plan_id", "period_start", "period_end", "window_closed", "selected_by",
               "planned", "inspected", "serious", "pending", "not_inspected",
               "marked_not_inspected", "predicted_serious", "estimated_serious_rate",
               "estimate_ci_low", "estimate_ci_high", "estimate_observed"]
    division_columns = ["plan_id", "period_start", "period_end", "window_closed",
                        "field_division", "selected_by", "planned", "inspected", "serious",
                        "pending", "not_inspected", "marked_not_inspected"]
    return {"plan_performance": pd.DataFrame(rows, columns=columns),
            "plan_performance_by_division": pd.DataFrame(division_rows,
                                                         columns=division_columns)}


def publish(table: pd.DataFrame) -> pd.DataFrame:
    """A raw table as published: counts and rates suppressed, rates added.

    Every column of :data:`COUNT_COLUMNS` goes through :func:`suppress_count`; each rate
    of :data:`RATES` whose columns are present is computed from the raw counts and
    suppressed on its raw denominator; medians likewise on their count of values. The
    plan estimate is published only when it rests on at least 10 inspected licensees.
    """
    out = table.copy()
    raw = table.copy()
    for rate, (numerator, denominator) in RATES.items():
        if numerator in raw and denominator in raw:
            scale = 100.0 if rate.endswith("per_100_licensees") else 1.0
            out[rate] = [suppress_rate(float(x), float(n), scale)
                         for x, n in zip(raw[numerator], raw[denominator], strict=True)]
    for median, count in MEDIANS.items():
        if median in raw:
            out[median] = [SUPPRESSED if n < MIN_DENOMINATOR or v != v else round(float(v), 1)
                           for v, n in zip(raw[median], raw[count], strict=True)]
    if "estimated_serious_rate" in raw:
        small = raw["estimate_observed"].fillna(0) < MIN_DENOMINATOR
        for column in ("estimated_serious_rate", "estimate_ci_low", "estimate_ci_high"):
            out[column] = [SUPPRESSED if hide or v is None or v != v else round(float(v), 4)
                           for v, hide in zip(raw[column], small, strict=True)]
        out = out.drop(columns=["estimate_observed"])
    if "predicted_serious" in raw:
        out["predicted_serious"] = [SUPPRESSED if n < MIN_DENOMINATOR else round(float(v), 1)
                                    for v, n in zip(raw["predicted_serious"], raw["inspected"],
                                                    strict=True)]
    for column in COUNT_COLUMNS:
        if column in out:
            out[column] = [suppress_count(int(v)) for v in raw[column]]
    return out


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    # The page carries no metadata block (creator, licence links): only the drawing.
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _numbers(values: Sequence[object]) -> list[float]:
    """Published cells as numbers for a chart; suppressed cells are gaps (NaN)."""
    return [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
            for v in values]


def charts(by_year: pd.DataFrame, performance: pd.DataFrame) -> list[tuple[str, str]]:
    """Inline SVG charts of the published (already suppressed) tables: (title, svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text as text: no glyph outlines
    out = []
    years = by_year["year"].astype(int).tolist()
    figure, left = plt.subplots(figsize=(7, 3))
    left.bar(years, _numbers(by_year["inspections"].tolist()), color="#6b8fb3")
    left.set_ylabel("compliance inspections")
    right = left.twinx()
    right.plot(years, _numbers(by_year["serious_rate"].tolist()), color="#b34a3c", marker="o")
    right.set_ylabel("share serious")
    left.set_title("Compliance inspections and the share ending serious, by year")
    out.append(("Inspections by year", _svg(figure)))
    plt.close(figure)

    figure, left = plt.subplots(figsize=(7, 3))
    left.bar(years, _numbers(by_year["traces"].tolist()), color="#7a9a6b")
    left.set_ylabel("traces known in the year")
    right = left.twinx()
    right.plot(years, _numbers(by_year["short_time_to_crime_share"].tolist()),
               color="#8a5a9e", marker="o", label="time-to-crime ≤ 3 years")
    right.plot(years, _numbers(by_year["recovered_abroad_share"].tolist()),
               color="#c98b2b", marker="s", label="recovered abroad")
    right.set_ylabel("share of traces")
    right.legend(loc="upper left", fontsize=8)
    left.set_title("Crime-gun traces by year")
    out.append(("Traces by year", _svg(figure)))
    plt.close(figure)

    if len(performance):
        figure, axis = plt.subplots(figsize=(7, 3))
        labels, values = [], []
        for _, row in performance.iterrows():
            labels.append(f"plan {row['plan_id']} {row['selected_by']}")
            values.append(_numbers([row["hit_rate"]])[0])
        axis.bar(labels, values, color=["#b34a3c" if "risk" in label else "#6b8fb3"
                                        for label in labels])
        axis.set_ylabel("share of inspections serious")
        axis.set_title("Plans: serious findings per inspection, by selection path")
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
        out.append(("Plan performance", _svg(figure)))
        plt.close(figure)
    return out


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):,.4g}" if abs(float(value)) < 1000 else f"{float(value):,.0f}"
    return str(value)


_DESCRIPTIONS = {
    "by_year": "national figures per year",
    "by_state": "per year and state of the licensee's premises",
    "by_field_division": "per year and field division",
    "by_license_type": "per year and license type",
    "plan_performance": "per inspection plan and selection path",
    "plan_performance_by_division": "per inspection plan, field division and selection path",
}

_STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222}table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}
.note{color:#555;font-size:.9rem}svg{max-width:100%;height:auto}"""


def render_html(as_of: dt.date, published: dict[str, pd.DataFrame],
                chart_svgs: list[tuple[str, str]]) -> str:
    """The self-contained ``index.html`` from the published tables and charts."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>Transparency report as of {as_of}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Compliance inspections and crime-gun traces: transparency report as of "
        f"{as_of}</h1>",
        "<p class=note>Aggregates only. Any count from 1 to 9 is written &lt;10 and any rate "
        "or median on fewer than 10 is suppressed. The report names no licensee: no license "
        "number, business name or address. Years are complete calendar years before the "
        "report's date; only facts known before that date are counted.</p>",
    ]
    for title, svg in chart_svgs:
        parts.append(f"<h2>{html.escape(title)}</h2>{svg}")
    parts.append("<h2>By year</h2>" + _html_table(published["by_year"]))
    if len(published["plan_performance"]):
        parts.append("<h2>Inspection plans</h2><p class=note>Each plan inspects the highest "
                     "risk scores in each field division and a randomly drawn exploration "
                     "share; the estimate is the serious rate among all eligible licensees "
                     "that the randomised design allows.</p>"
                     + _html_table(published["plan_performance"]))
    parts.append("<h2>Files</h2><ul>")
    for name in published:
        parts.append(f"<li><a href='{name}.csv'>{name}.csv</a>: "
                     f"{html.escape(_DESCRIPTIONS.get(name, ''))}</li>")
    parts.append("</ul><h2>Definitions</h2><ul>"
                 "<li>licensees: active at the end of the year (licensed by then, not revoked)</li>"
                 "<li>inspections: compliance inspections closed in the year; serious: ending in "
                 "a warning conference or revocation</li>"
                 "<li>traces: crime-gun traces whose result became known in the year, by the "
                 "selling licensee; time-to-crime is recovery date minus purchase date</li>"
                 "<li>recovered abroad: recovered outside the United States</li></ul>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(engine: Engine, as_of: dt.date, out: Path) -> list[Path]:
    """Write the report as of ``as_of`` into ``out``; the files written.

    Reads plans with SQLAlchemy first and the contract tables with the columnar path last.
    """
    plans = sorted((p for p in stored_plans(engine, limit=1000) if p.as_of < as_of),
                   key=lambda p: (p.as_of, p.plan_id))
    rows = {plan.plan_id: read_plan_rows(engine, plan.plan_id) for plan in plans}
    frames = read_tables(engine, known_before=as_of,
                         names=("dealers", "traces", "inspections"))
    aggregates = aggregate(frames, as_of)
    figures = [plan_figures(plan, link_outcomes(plan, rows[plan.plan_id],
                                                frames["inspections"], as_of), as_of)
               for plan in plans]
    raw = {**aggregates.tables, **plan_tables(figures)}
    published = {name: publish(table) for name, table in raw.items()}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in published.items():
        path = out / f"{name}.csv"
        frame_to_csv(table, path)  # neutralises formulas (data/csv_cells.py)
        written.append(path)
    index = out / "index.html"
    index.write_text(render_html(as_of, published, charts(published["by_year"],
                                                          published["plan_performance"])),
                     encoding="utf-8")
    written.insert(0, index)
    return written

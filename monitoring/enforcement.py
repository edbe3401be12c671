"""Enforcement metrics per field division and year: what the regulator's inspections did.

:func:`enforcement_figures` is a pure function of the contract tables known before the
monitoring date and the plans' linked outcomes; ``dealer-risk monitor`` adds its result
to its output (key ``enforcement``) and the enforcement page reads it from there.

- **Inspections** per division and calendar year (by closing date), serious findings among
  them, and the same split by how the licensee came to be inspected: chosen by a plan for
  its risk score, drawn by a plan's exploration share, or outside any plan;
- **coverage**: at each year's end, the share of licensees active then and licensed for at
  least :data:`COVERAGE_YEARS` years with no compliance inspection in those years (the
  inspector general's figure);
- **time since the last compliance inspection** on the monitoring date, in bands;
- **the crime-gun trace picture**: traces known per division and year, those with a
  time-to-crime of at most :data:`SHORT_TIME_TO_CRIME_DAYS`, those recovered outside the
  United States, and the recoveries abroad by the state of the selling licensee.

Only complete calendar years before the date count, the last :data:`YEARS_SHOWN` of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from data.contract import SERIOUS_OUTCOMES
from features.pipelines.tables import EventTables

#: A licensee counts as uncovered after this many years without a compliance inspection.
COVERAGE_YEARS = 5
#: A trace's time-to-crime counts as short at or below this many days (three years, the
#: regulator's usual indicator of trafficking).
SHORT_TIME_TO_CRIME_DAYS = 3 * 365
#: How many complete calendar years the figures cover.
YEARS_SHOWN = 10
#: How an inspection came about, when it is not linked to a plan.
OUTSIDE_PLANS = "outside plans"
#: Bands of the years since the last compliance inspection: (label, low, high) in years,
#: low inclusive and high exclusive; ``never`` is a band of its own.
SINCE_BANDS = (("under 1 year", 0, 1), ("1-2 years", 1, 2), ("2-3 years", 2, 3),
               ("3-5 years", 3, 5), ("5-10 years", 5, 10), ("10 years or more", 10, 1000))
NEVER = "never inspected"
UNKNOWN_DIVISION = "unknown"


def _years(as_of: dt.date) -> list[int]:
    last = as_of.year - 1 if dt.date(as_of.year - 1, 12, 31) < as_of else as_of.year - 2
    return list(range(last - YEARS_SHOWN + 1, last + 1))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): (v.item() if isinstance(v, np.generic) else v)
                    for k, v in row.items()})
    return out


def enforcement_figures(tables: EventTables, linked: Sequence[pd.DataFrame],
                        as_of: dt.date) -> dict[str, Any]:
    """The enforcement figures as of ``as_of`` (see the module's docstring).

    ``tables`` hold only what was known before ``as_of``; ``linked`` are the plans' linked
    outcomes (:func:`monitoring.outcomes.link_outcomes`), which say which inspections a
    plan chose and by which path.
    """
    years = _years(as_of)
    dealers = tables.dealers.drop_duplicates("license_number").set_index("license_number")
    division = dealers["field_division"].astype(object).where(
        dealers["field_division"].notna(), UNKNOWN_DIVISION).astype(str)
    state = dealers["premise_state"].astype(str)
    issued = pd.to_datetime(dealers["license_issue_date"])

    inspections = tables.inspections
    compliance = inspections[inspections["inspection_type"] == "compliance"]
    closed = pd.to_datetime(compliance["inspection_date"])
    numbers = compliance["license_number"].astype(str)
    revoked = (closed[compliance["outcome"] == "revocation"]
               .groupby(numbers[compliance["outcome"] == "revocation"]).min()
               .reindex(dealers.index))

    # How each inspection came about: the first plan path that linked it.
    paths = pd.Series(dtype=object)
    if linked:
        chosen = pd.concat([frame.loc[frame["inspected"], ["inspection_id", "selected_by"]]
                            for frame in linked], ignore_index=True)
        paths = chosen.drop_duplicates("inspection_id").set_index("inspection_id")[
            "selected_by"]
    path = paths.reindex(compliance["inspection_id"]).to_numpy(dtype=object)
    path = np.where(pd.isna(path), OUTSIDE_PLANS, path)
    done = pd.DataFrame({
        "field_division": division.reindex(numbers).fillna(UNKNOWN_DIVISION).to_numpy(),
        "year": closed.dt.year.to_numpy(), "selected_by": path,
        "serious": compliance["outcome"].isin(SERIOUS_OUTCOMES).to_numpy(bool)})
    done = done[done["year"].isin(years)]
    per_year = (done.groupby(["field_division", "year"])
                .agg(inspections=("serious", "size"), serious=("serious", "sum")))
    per_path = (done.groupby(["field_division", "year", "selected_by"])
                .agg(inspections=("serious", "size"), serious=("serious", "sum"))
                .reset_index())

    # Coverage at each year's end, from each licensee's inspection dates.
    order = np.argsort(closed.to_numpy(), kind="stable")
    dates_sorted = closed.to_numpy()[order]
    owners_sorted = numbers.to_numpy()[order]
    coverage_parts = []
    for year in years:
        end = pd.Timestamp(dt.date(year, 12, 31))
        active = ((issued.isna() | (issued <= end)) & ~(revoked <= end)).to_numpy(bool)
        window = end - pd.DateOffset(years=COVERAGE_YEARS)
        old_enough = (issued.isna() | (issued <= window)).to_numpy(bool)
        inside = (dates_sorted > window.to_datetime64()) & (dates_sorted <= end.to_datetime64())
        seen = dealers.index.isin(pd.unique(owners_sorted[inside]))
        counted = active & old_enough
        coverage_parts.append(pd.DataFrame({
            "field_division": division.to_numpy()[active], "year": year,
            "licensees": 1, "eligible_for_coverage": counted[active].astype(int),
            "uninspected_5_years": (counted & ~seen)[active].astype(int)}))
    coverage = (pd.concat(coverage_parts).groupby(["field_division", "year"]).sum()
                if coverage_parts else pd.DataFrame())
    table = pd.concat([coverage, per_year], axis=1).fillna(0).astype(np.int64).reset_index()
    table.columns = ["field_division", "year", *table.columns[2:]]
    table["uninspected_5_years_share"] = [
        None if n == 0 else round(float(u) / float(n), 4)
        for u, n in zip(table["uninspected_5_years"], table["eligible_for_coverage"],
                        strict=True)]

    # Years since the last compliance inspection, on the monitoring date.
    day = pd.Timestamp(as_of)
    active_now = ((issued.isna() | (issued < day)) & ~(revoked < day)).to_numpy(bool)
    last = closed.groupby(numbers).max().reindex(dealers.index)
    years_since = ((day - last).dt.days / 365.25).to_numpy()
    band = np.full(len(dealers), NEVER, dtype=object)
    for label, low, high in SINCE_BANDS:
        band[(years_since >= low) & (years_since < high)] = label
    since = (pd.DataFrame({"field_division": division.to_numpy()[active_now],
                           "band": band[active_now]})
             .groupby(["field_division", "band"]).size().rename("licensees").reset_index())
    band_order = {label: i for i, (label, _, _) in enumerate(SINCE_BANDS)} | {
        NEVER: len(SINCE_BANDS)}
    since = since.assign(order=since["band"].map(band_order)).sort_values(
        ["field_division", "order"]).drop(columns="order")

    # The trace picture.
    traces = tables.traces
    known = pd.to_datetime(traces["trace_date"])
    ttc = (pd.to_datetime(traces["recovery_date"]) - pd.to_datetime(traces["purchase_date"])
           ).dt.days
    sellers = traces["license_number"].astype(str)
    trace_rows = pd.DataFrame({
        "field_division": division.reindex(sellers).fillna(UNKNOWN_DIVISION).to_numpy(),
        "premise_state": state.reindex(sellers).fillna("unknown").to_numpy(),
        "year": known.dt.year.to_numpy(),
        "short": (ttc <= SHORT_TIME_TO_CRIME_DAYS).to_numpy(bool),
        "abroad": (traces["recovery_country"].astype(str) != "US").to_numpy(bool)})
    trace_rows = trace_rows[trace_rows["year"].isin(years)]
    per_trace_year = (trace_rows.groupby(["field_division", "year"])
                      .agg(traces=("short", "size"), short_time_to_crime=("short", "sum"),
                           recovered_abroad=("abroad", "sum")).reset_index())
    abroad = (trace_rows.groupby(["field_division", "premise_state"])
              .agg(traces=("abroad", "size"), recovered_abroad=("abroad", "sum"))
              .reset_index())
    abroad = abroad[abroad["recovered_abroad"] > 0].sort_values(
        ["field_division", "recovered_abroad"], ascending=[True, False])

    return {
        "years": years,
        "coverage_years": COVERAGE_YEARS,
        "short_time_to_crime_days": SHORT_TIME_TO_CRIME_DAYS,
        "by_division_year": _records(table),
        "by_selection": _records(per_path),
        "time_since_inspection": _records(since),
        "traces": _records(per_trace_year),
        "recovered_abroad_by_state": _records(abroad),
    }

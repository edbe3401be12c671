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
import numpy.typing as npt
import pandas as pd

from data.contract import SERIOUS_OUTCOMES, recovered_abroad
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


def _codes(values: pd.Series, index: pd.Index) -> npt.NDArray[np.intp]:
    """Each value's position in ``index`` (-1 when absent), by factorizing first: the
    strings are hashed once per distinct value, not once per row (traces have millions
    of rows and tens of thousands of distinct licensees)."""
    codes, uniques = pd.factorize(values)
    positions = index.get_indexer(uniques)
    out = np.full(len(values), -1, dtype=np.intp)
    known = codes >= 0
    out[known] = positions[codes[known]]
    return out


def _names(codes: npt.NDArray[np.intp], names: npt.NDArray[np.object_], missing: str
           ) -> npt.NDArray[np.object_]:
    out = np.full(len(codes), missing, dtype=object)
    known = codes >= 0
    out[known] = names[codes[known]]
    return out


def _text(values: pd.Series) -> npt.NDArray[np.object_]:
    return values.to_numpy(dtype=object, na_value="")


def enforcement_figures(tables: EventTables, linked: Sequence[pd.DataFrame],
                        as_of: dt.date) -> dict[str, Any]:
    """The enforcement figures as of ``as_of`` (see the module's docstring).

    ``tables`` hold only what was known before ``as_of``; ``linked`` are the plans' linked
    outcomes (:func:`monitoring.outcomes.link_outcomes`), which say which inspections a
    plan chose and by which path. Licensees are numbered once and every grouping is on
    those numbers: the 80,000-licensee world's 2.7 million traces take about a second.
    """
    years = _years(as_of)
    dealers = tables.dealers.drop_duplicates("license_number")
    licensees = pd.Index(dealers["license_number"])
    division_of = _text(dealers["field_division"])
    division_of[division_of == ""] = UNKNOWN_DIVISION
    state_of = _text(dealers["premise_state"])
    issued = pd.to_datetime(dealers["license_issue_date"]).to_numpy(dtype="datetime64[ns]")
    no_issue = np.isnat(issued)

    inspections = tables.inspections
    compliance = inspections[(inspections["inspection_type"] == "compliance").to_numpy(bool)]
    closed = pd.to_datetime(compliance["inspection_date"]).to_numpy(dtype="datetime64[ns]")
    owner = _codes(compliance["license_number"], licensees)
    outcome = _text(compliance["outcome"])
    serious = np.isin(outcome, list(SERIOUS_OUTCOMES))
    revoked = np.full(len(licensees), np.datetime64("NaT"), dtype="datetime64[ns]")
    revocation = (outcome == "revocation") & (owner >= 0)
    if revocation.any():
        first = (pd.DataFrame({"owner": owner[revocation], "day": closed[revocation]})
                 .groupby("owner")["day"].min())
        revoked[first.index.to_numpy()] = first.to_numpy(dtype="datetime64[ns]")

    # How each inspection came about: the first plan path that linked it.
    path = np.full(len(compliance), OUTSIDE_PLANS, dtype=object)
    if linked:
        chosen = pd.concat([frame.loc[frame["inspected"], ["inspection_id", "selected_by"]]
                            for frame in linked], ignore_index=True)
        chosen = chosen.drop_duplicates("inspection_id")
        where = pd.Index(chosen["inspection_id"].astype(str)).get_indexer(
            pd.Index(compliance["inspection_id"].astype(str)))
        path[where >= 0] = chosen["selected_by"].to_numpy(dtype=object)[where[where >= 0]]
    year_closed = pd.DatetimeIndex(closed).year.to_numpy()
    done = pd.DataFrame({"field_division": _names(owner, division_of, UNKNOWN_DIVISION),
                         "year": year_closed, "selected_by": path, "serious": serious})
    done = done[done["year"].isin(years)]
    per_year = (done.groupby(["field_division", "year"])
                .agg(inspections=("serious", "size"), serious=("serious", "sum")))
    per_path = (done.groupby(["field_division", "year", "selected_by"])
                .agg(inspections=("serious", "size"), serious=("serious", "sum"))
                .reset_index())

    # Coverage at each year's end, from each licensee's inspection dates, counted per
    # division with bincount on the divisions' numbers.
    division_code, division_names = pd.factorize(division_of)
    groups = len(division_names)
    coverage_parts = []
    for year in years:
        end = np.datetime64(dt.date(year, 12, 31), "ns")
        window = np.datetime64(dt.date(year - COVERAGE_YEARS, 12, 31), "ns")
        active = (no_issue | (issued <= end)) & ~(revoked <= end)
        old_enough = no_issue | (issued <= window)
        inside = (closed > window) & (closed <= end) & (owner >= 0)
        seen = np.zeros(len(licensees), dtype=bool)
        seen[owner[inside]] = True
        counted = active & old_enough
        coverage_parts.append(pd.DataFrame({
            "field_division": np.asarray(division_names, dtype=object), "year": year,
            "licensees": np.bincount(division_code, weights=active, minlength=groups),
            "eligible_for_coverage": np.bincount(division_code, weights=counted,
                                                 minlength=groups),
            "uninspected_5_years": np.bincount(division_code, weights=counted & ~seen,
                                               minlength=groups)}))
    coverage = pd.concat(coverage_parts)
    coverage = (coverage[coverage["licensees"] > 0]
                .set_index(["field_division", "year"]).sort_index())
    table = pd.concat([coverage, per_year], axis=1).fillna(0).astype(np.int64).reset_index()
    table.columns = ["field_division", "year", *table.columns[2:]]
    table["uninspected_5_years_share"] = [
        None if n == 0 else round(float(u) / float(n), 4)
        for u, n in zip(table["uninspected_5_years"], table["eligible_for_coverage"],
                        strict=True)]

    # Years since the last compliance inspection, on the monitoring date.
    day = np.datetime64(as_of, "ns")
    active_now = (no_issue | (issued < day)) & ~(revoked < day)
    last = np.full(len(licensees), np.datetime64("NaT"), dtype="datetime64[ns]")
    known = owner >= 0
    if known.any():
        latest = (pd.DataFrame({"owner": owner[known], "day": closed[known]})
                  .groupby("owner")["day"].max())
        last[latest.index.to_numpy()] = latest.to_numpy(dtype="datetime64[ns]")
    since_last = day - last
    years_since = np.where(np.isnat(since_last), np.nan,
                           since_last.astype("timedelta64[s]").astype(np.float64)
                           / (86_400.0 * 365.25))
    band = np.full(len(licensees), NEVER, dtype=object)
    for label, low, high in SINCE_BANDS:
        band[(years_since >= low) & (years_since < high)] = label
    since = (pd.DataFrame({"field_division": division_of[active_now],
                           "band": band[active_now]})
             .groupby(["field_division", "band"]).size().rename("licensees").reset_index())
    band_order = {label: i for i, (label, _, _) in enumerate(SINCE_BANDS)} | {
        NEVER: len(SINCE_BANDS)}
    since = since.assign(order=since["band"].map(band_order)).sort_values(
        ["field_division", "order"]).drop(columns="order")

    # The trace picture, counted per seller and year first (one bincount per figure over
    # seller x year cells), then named.
    traces = tables.traces
    known_year = pd.DatetimeIndex(pd.to_datetime(traces["trace_date"])).year.to_numpy()
    sold = pd.to_datetime(traces["purchase_date"]).to_numpy(dtype="datetime64[ns]")
    recovered = pd.to_datetime(traces["recovery_date"]).to_numpy(dtype="datetime64[ns]")
    gap = recovered - sold
    ttc = np.where(np.isnat(gap), np.nan, gap.astype("timedelta64[s]").astype(np.float64)
                   / 86_400.0)
    abroad_trace = recovered_abroad(traces["recovery_country"])
    seller = _codes(traces["license_number"], licensees)
    first_year, span = years[0], len(years)
    keep = (known_year >= first_year) & (known_year < first_year + span)
    # Sellers missing from the dealers table share one extra row, as "unknown".
    cell = ((np.where(seller >= 0, seller, len(licensees)) * span
             + (known_year - first_year))[keep]).astype(np.intp)
    size = (len(licensees) + 1) * span
    counts = np.bincount(cell, minlength=size)
    short = np.bincount(cell, weights=(ttc <= SHORT_TIME_TO_CRIME_DAYS)[keep], minlength=size)
    abroad_count = np.bincount(cell, weights=abroad_trace[keep], minlength=size)
    filled = np.flatnonzero(counts)
    codes = (filled // span).astype(np.intp)
    codes[codes == len(licensees)] = -1
    counted_traces = pd.DataFrame({
        "year": first_year + filled % span, "traces": counts[filled],
        "short_time_to_crime": short[filled].round().astype(np.int64),
        "recovered_abroad": abroad_count[filled].round().astype(np.int64),
        "field_division": _names(codes, division_of, UNKNOWN_DIVISION),
        "premise_state": _names(codes, state_of, "unknown")})
    per_trace_year = (counted_traces.groupby(["field_division", "year"])
                      [["traces", "short_time_to_crime", "recovered_abroad"]].sum()
                      .reset_index())
    abroad = (counted_traces.groupby(["field_division", "premise_state"])
              [["traces", "recovered_abroad"]].sum().reset_index())
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

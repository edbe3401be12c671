"""The feature families, each a function of a prepared world and a batch of queries.

A query is one (licensee, as_of) pair; the feature table is the batch "every active
licensee at one date", a training panel is any batch. Every function returns columns
aligned with the batch, named as in :mod:`features.catalogue`. Only events known strictly
before the query's ``as_of`` are ever within a window: every window ends at ``as_of``
exclusive (see :meth:`EventIndex.position`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from features.pipelines.dates import (
    EARLIEST_DAY,
    MISSING_DAY,
    Days,
    month_start,
    shift_years,
    year_start,
)
from features.pipelines.events import Floats, Ints, gather, ratio, segment_median, window_sum
from features.pipelines.peers import peer_percentile
from features.pipelines.tables import PreparedWorld

Columns = dict[str, npt.NDArray[np.generic]]

#: Windows in calendar years, as feature names spell them.
WINDOW_YEARS: dict[str, int] = {"1y": 1, "3y": 3, "5y": 5}
#: Demand Letter 2: this many traces with time-to-crime of 3 years or less in a calendar
#: year. (The rule used 10 before 2018; the feature applies today's threshold to every
#: year so its meaning does not shift across a training panel.)
DEMAND_LETTER_2_MIN_TRACES = 25
#: Rates per sale assume at least a year of selling: a shop licensed last month has sold
#: too little for a rate per sale to mean anything yet.
MIN_EXPOSURE_YEARS = 1.0
_DAYS_PER_YEAR = 365.25
_LICENSE_TYPE_FEATURES: dict[str, tuple[str, ...]] = {
    "license_type_dealer": ("01",),
    "license_type_pawnbroker": ("02",),
    "license_type_collector": ("03",),
    "license_type_ammunition_maker": ("06",),
    "license_type_manufacturer": ("07",),
    "license_type_importer": ("08",),
    "license_type_destructive_devices": ("09", "10", "11"),
}


@dataclass(frozen=True)
class Queries:
    """A batch of (licensee code, as_of day) pairs and their window starts."""

    codes: Ints
    days: Days
    window_start: dict[str, Days]
    previous_year_start: Days
    year_start: Days

    @classmethod
    def of(cls, codes: Ints, days: Days) -> Queries:
        return cls(
            codes=codes,
            days=days,
            window_start={name: shift_years(days, -years) for name, years in WINDOW_YEARS.items()},
            previous_year_start=year_start(days, years_back=1),
            year_start=year_start(days),
        )

    def __len__(self) -> int:
        return int(self.codes.size)


def years_licensed(world: PreparedWorld, codes: Ints, days: Days) -> Floats:
    """Years from the license's issue date to as_of; NaN when the issue date is unknown."""
    issue = world.licensees.issue_day[codes]
    years = (days - issue) / _DAYS_PER_YEAR
    return np.where(issue == MISSING_DAY, np.nan, years)


def sales_in_window(world: PreparedWorld, codes: Ints, days: Days, window_years: int) -> Floats:
    """Estimated firearms sold during a window: annual sales times the years of selling.

    The years are the window's, cut to the time licensed (at least
    :data:`MIN_EXPOSURE_YEARS`) so a young shop is not compared with a full window of sales.
    Unknown or zero annual sales give NaN, and so do the rates built on them.
    """
    licensed = years_licensed(world, codes, days)
    exposure = np.where(
        np.isnan(licensed),
        float(window_years),
        np.clip(licensed, MIN_EXPOSURE_YEARS, float(window_years)),
    )
    sales = world.licensees.annual_sales[codes] * exposure
    return np.where(sales > 0, sales, np.nan)


def _per_1k(count: Ints, sales: Floats) -> Floats:
    return ratio(count * 1000.0, sales)


def _trace_window(world: PreparedWorld, queries: Queries, window: str) -> tuple[Ints, Ints]:
    return world.traces.index.window(queries.codes, queries.window_start[window], queries.days)


def traces_3y_and_rate(
    world: PreparedWorld, codes: Ints, days: Days, start: Days
) -> tuple[Ints, Floats]:
    """Traces known in ``[start, day)`` and per 1,000 sales: the values peers are ranked by."""
    lo, hi = world.traces.index.window(codes, start, days)
    count = hi - lo
    return count, _per_1k(count, sales_in_window(world, codes, days, 3))


def _peer_percentiles(
    world: PreparedWorld, queries: Queries, own_count: Ints, own_rate: Floats
) -> Columns:
    """Percentiles among active licensees of the same type and state.

    Peers are valued on the first day of the as_of month, not on as_of itself: a panel
    then needs one peer distribution per month (a vectorised pass over all licensees per
    distinct month, however many pairs fall in it) instead of one per distinct date. The
    month start is on or before as_of, so "known strictly before as_of" still holds; the
    licensee's own value is its value on as_of. Peers include the licensee itself when it
    was active on the month's first day.
    """
    licensees = world.licensees
    count_percentile = np.full(len(queries), np.nan)
    rate_percentile = np.full(len(queries), np.nan)
    reference_day = month_start(queries.days)
    months, month_of_query = np.unique(reference_day, return_inverse=True)
    by_month = np.argsort(month_of_query, kind="stable")
    month_bounds = np.searchsorted(month_of_query[by_month], np.arange(months.size + 1))
    own_group = licensees.peer_group[queries.codes]
    everyone = np.arange(len(licensees), dtype=np.int64)
    for index, month in enumerate(months):
        # One pass per distinct month, vectorised over that month's queries and peers.
        selected = by_month[month_bounds[index] : month_bounds[index + 1]]
        groups = own_group[selected]
        day = np.full(everyone.size, month, dtype=np.int64)
        is_peer = licensees.active(everyone, day) & np.isin(licensees.peer_group, groups)
        peers = everyone[is_peer]
        peer_day = day[: peers.size]
        start = np.full(peers.size, shift_years(np.array([month]), -3)[0], dtype=np.int64)
        peer_count, peer_rate = traces_3y_and_rate(world, peers, peer_day, start)
        peer_group = licensees.peer_group[peers]
        count_percentile[selected] = peer_percentile(
            own_count[selected].astype(np.float64),
            groups,
            peer_count.astype(np.float64),
            peer_group,
        )
        rate_percentile[selected] = peer_percentile(
            own_rate[selected], groups, peer_rate, peer_group
        )
    return {
        "traces_3y_peer_percentile": count_percentile,
        "traces_per_1k_sales_3y_peer_percentile": rate_percentile,
    }


def trace_frequency(world: PreparedWorld, queries: Queries) -> Columns:
    """Traces per window, per 1,000 estimated sales, and percentiles among peers."""
    columns: Columns = {}
    counts: dict[str, Ints] = {}
    for window in WINDOW_YEARS:
        lo, hi = _trace_window(world, queries, window)
        counts[window] = hi - lo
        columns[f"traces_{window}"] = counts[window]
    for window, years in WINDOW_YEARS.items():
        columns[f"traces_per_1k_sales_{window}"] = _per_1k(
            counts[window], sales_in_window(world, queries.codes, queries.days, years)
        )
    rate_3y = np.asarray(columns["traces_per_1k_sales_3y"], dtype=np.float64)
    columns.update(_peer_percentiles(world, queries, counts["3y"], rate_3y))
    return columns


def time_to_crime(world: PreparedWorld, queries: Queries) -> Columns:
    """Median time-to-crime, short time-to-crime counts and shares, Demand Letter 2."""
    traces = world.traces
    lo, hi = _trace_window(world, queries, "3y")
    count = hi - lo
    query, position = gather(lo, hi)
    under_1y = window_sum(traces.prefix["under_1y"], lo, hi)
    at_most_3y = window_sum(traces.prefix["at_most_3y"], lo, hi)
    year_lo, year_hi = traces.index.window(
        queries.codes, queries.previous_year_start, queries.year_start
    )
    demand_letter_2 = window_sum(traces.prefix["at_most_3y"], year_lo, year_hi)
    return {
        "time_to_crime_median_days_3y": segment_median(
            query, traces.time_to_crime_days[position], len(queries)
        ),
        "time_to_crime_under_1y_traces_3y": under_1y,
        "time_to_crime_under_1y_share_3y": ratio(under_1y, count),
        "time_to_crime_at_most_3y_traces_3y": at_most_3y,
        "time_to_crime_at_most_3y_share_3y": ratio(at_most_3y, count),
        "demand_letter_2_traces_previous_year": demand_letter_2,
        "meets_demand_letter_2_previous_year": (
            demand_letter_2 >= DEMAND_LETTER_2_MIN_TRACES
        ).astype(np.int64),
    }


def trace_characteristics(world: PreparedWorld, queries: Queries) -> Columns:
    """Where and how the last 3 years' crime guns were found.

    Shares of flags that may be unrecorded (possessor, serial) are over the traces that
    record them; the others are over all traces of the window.
    """
    prefix = world.traces.prefix
    lo, hi = _trace_window(world, queries, "3y")
    count = hi - lo

    def total(name: str) -> Ints:
        return window_sum(prefix[name], lo, hi)

    mexico, obliterated = total("mexico"), total("obliterated")
    return {
        "recovered_in_mexico_traces_3y": mexico,
        "recovered_in_mexico_share_3y": ratio(mexico, count),
        "possessor_not_purchaser_share_3y": ratio(
            total("possessor_not_purchaser"), total("possessor_known")
        ),
        "serial_obliterated_traces_3y": obliterated,
        "serial_obliterated_share_3y": ratio(obliterated, total("obliterated_known")),
        "rifle_share_3y": ratio(total("rifle"), count),
    }


def repeat_purchasers(world: PreparedWorld, queries: Queries, lo: Ints, hi: Ints) -> Ints:
    """Distinct purchaser keys in two or more of a licensee's reports within each window."""
    reports = world.multiple_sales
    query, position = gather(lo, hi)
    purchaser = reports.purchaser[position]
    named = purchaser >= 0
    pairs = query[named] * reports.purchaser_count + purchaser[named]
    distinct, occurrences = np.unique(pairs, return_counts=True)
    repeated_query = distinct[occurrences >= 2] // reports.purchaser_count
    return np.bincount(repeated_query, minlength=len(queries)).astype(np.int64)


def multiple_sales(world: PreparedWorld, queries: Queries) -> Columns:
    """Multiple-sale reports and firearms by form and window, rates per sale, repeat buyers."""
    reports = world.multiple_sales
    columns: Columns = {}
    windows: dict[str, tuple[Ints, Ints]] = {}
    for window in ("1y", "3y"):
        windows[window] = reports.index.window(
            queries.codes, queries.window_start[window], queries.days
        )
    for form in ("3310_4", "3310_12"):
        for what in ("reports", "firearms"):
            for window, (lo, hi) in windows.items():
                columns[f"multiple_sale_{what}_{form}_{window}"] = window_sum(
                    reports.prefix[f"{what}_{form}"], lo, hi
                )
    sales_3y = sales_in_window(world, queries.codes, queries.days, 3)
    for what in ("reports", "firearms"):
        both_forms = np.asarray(columns[f"multiple_sale_{what}_3310_4_3y"], dtype=np.int64) + (
            np.asarray(columns[f"multiple_sale_{what}_3310_12_3y"], dtype=np.int64)
        )
        columns[f"multiple_sale_{what}_per_1k_sales_3y"] = _per_1k(both_forms, sales_3y)
    columns["repeat_multiple_sale_purchasers_3y"] = repeat_purchasers(
        world, queries, *windows["3y"]
    )
    return columns


def theft_loss(world: PreparedWorld, queries: Queries) -> Columns:
    """Theft and loss reports and firearms per window, and firearms per 1,000 sales."""
    reports = world.theft_loss
    columns: Columns = {}
    for window in ("1y", "3y"):
        lo, hi = reports.index.window(queries.codes, queries.window_start[window], queries.days)
        columns[f"theft_loss_reports_{window}"] = hi - lo
        columns[f"theft_loss_firearms_{window}"] = window_sum(reports.prefix["firearms"], lo, hi)
    columns["theft_loss_firearms_per_1k_sales_3y"] = _per_1k(
        np.asarray(columns["theft_loss_firearms_3y"]),
        sales_in_window(world, queries.codes, queries.days, 3),
    )
    return columns


def inspection_history(world: PreparedWorld, queries: Queries) -> Columns:
    """Every inspection closed before as_of: counts, sums and the last one's outcome."""
    inspections = world.inspections
    first, end = inspections.index.window(
        queries.codes, np.full(len(queries), EARLIEST_DAY, dtype=np.int64), queries.days
    )
    count = end - first
    inspected = count > 0
    # For never-inspected licensees ``last`` points at some other licensee's row; every
    # value read through it is masked by ``inspected``.
    last = np.maximum(end - 1, 0)

    def at_last(values: npt.NDArray[np.generic]) -> Floats:
        if values.size == 0:
            return np.full(len(queries), np.nan)
        return np.where(inspected, values[np.minimum(last, values.size - 1)], np.nan)

    return {
        "inspections_total": count,
        "never_inspected": (~inspected).astype(np.int64),
        "days_since_last_inspection": queries.days - at_last(inspections.day),
        "serious_outcomes_total": window_sum(inspections.prefix["serious"], first, end),
        "violations_total": window_sum(inspections.prefix["violations"], first, end),
        "violations_at_last_inspection": at_last(inspections.violations),
        "missing_firearms_total": window_sum(inspections.prefix["missing_firearms"], first, end),
        "missing_firearms_at_last_inspection": at_last(inspections.missing_firearms),
        "last_inspection_outcome_severity": at_last(inspections.severity),
    }


def profile(world: PreparedWorld, queries: Queries) -> Columns:
    """License type, years licensed and estimated sales volume."""
    licensees = world.licensees
    license_type = licensees.license_type[queries.codes]
    columns: Columns = {
        "years_licensed": years_licensed(world, queries.codes, queries.days),
        "estimated_annual_firearm_sales": licensees.annual_sales[queries.codes],
    }
    for name, types in _LICENSE_TYPE_FEATURES.items():
        columns[name] = np.isin(license_type, list(types)).astype(np.int64)
    return columns


#: The families in table order; each returns its columns for a batch of queries.
FAMILIES = (
    trace_frequency,
    time_to_crime,
    trace_characteristics,
    multiple_sales,
    theft_loss,
    inspection_history,
    profile,
)


def compute_columns(world: PreparedWorld, queries: Queries) -> Columns:
    """All families' columns for a batch of queries."""
    columns: Columns = {}
    for family in FAMILIES:
        columns.update(family(world, queries))
    return columns

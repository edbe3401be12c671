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
from features.pipelines.events import (
    EventIndex,
    Floats,
    Ints,
    decayed_count,
    gather,
    ratio,
    segment_median,
    window_sum,
)
from features.pipelines.peers import peer_percentile
from features.pipelines.tables import (
    Inspections,
    MultipleSales,
    PreparedWorld,
    TheftLoss,
    Traces,
)

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


#: A peer group with fewer members of known sales than this borrows the prior fitted on
#: every licensee of its type nationwide (a prior fitted on a handful of shops is noise).
MIN_PRIOR_PEERS = 20
#: Half-life of the recency-weighted inspection history (events halve yearly, in steps).
INSPECTION_HALF_LIFE_YEARS = 3.0


#: The rates shrunk toward the peer group: feature name -> (event table, flag or None).
#: The count is the table's events (with the flag set, when named) of the last 3 years.
SHRUNK_RATES: dict[str, tuple[str, str | None]] = {
    "traces_per_1k_sales_3y_shrunk": ("traces", None),
    "time_to_crime_under_1y_per_1k_sales_3y_shrunk": ("traces", "under_1y"),
    "recovered_abroad_per_1k_sales_3y_shrunk": ("traces", "abroad"),
    "possessor_not_purchaser_per_1k_sales_3y_shrunk": ("traces", "possessor_not_purchaser"),
    "multiple_sale_reports_per_1k_sales_3y_shrunk": ("multiple_sales", None),
    "theft_loss_reports_per_1k_sales_3y_shrunk": ("theft_loss", None),
}


def _shrunk_counts(world: PreparedWorld, codes: Ints, days: Days, start: Days) -> dict[str, Ints]:
    """Each shrunk rate's count in ``[start, day)``: one window per event table."""
    tables: dict[str, Traces | MultipleSales | TheftLoss] = {
        "traces": world.traces, "multiple_sales": world.multiple_sales,
        "theft_loss": world.theft_loss}
    windows = {name: table.index.window(codes, start, days) for name, table in tables.items()}
    counts = {}
    for feature, (table, flag) in SHRUNK_RATES.items():
        lo, hi = windows[table]
        counts[feature] = hi - lo if flag is None else window_sum(
            tables[table].prefix[flag], lo, hi)
    return counts


@dataclass(frozen=True)
class GammaPrior:
    """A gamma prior on a rate per sale, per block: ``shape`` and ``rate`` (per sale)."""

    shape: Floats
    rate: Floats


def fit_gamma_prior(count: Ints, exposure: Floats, block: Ints, blocks: int) -> GammaPrior:
    """Method-of-moments gamma prior on a Poisson rate, per block (Marshall 1991).

    Each member has ``count ~ Poisson(rate * exposure)`` and ``rate ~ Gamma(shape, rate)``.
    The prior mean is the pooled rate ``m = sum(count) / sum(exposure)``; the prior
    variance is the exposure-weighted variance of the raw rates less the part Poisson noise
    explains, ``v = sum(E (c/E - m)^2) / sum(E) - m / mean(E)``. Then ``shape = m^2 / v``
    and ``rate = m / v``. Members with unknown or zero exposure are left out. When ``v`` is
    not positive (no more spread than chance) it is floored at ``(m / 10)^2``, a prior ten
    times as sure as its mean; a block with no events gets mean 0 and the weight of one
    average member (``rate = 1 / mean(E)``).
    """
    known = np.isfinite(exposure) & (exposure > 0)
    c = count[known].astype(np.float64)
    e = exposure[known]
    b = block[known]
    members = np.bincount(b, minlength=blocks).astype(np.float64)
    total_count = np.bincount(b, weights=c, minlength=blocks)
    total_exposure = np.bincount(b, weights=e, minlength=blocks)
    mean = ratio(total_count, total_exposure)
    mean_exposure = ratio(total_exposure, members)
    # sum(E (c/E - m)^2) = sum(c^2 / E) - 2 m sum(c) + m^2 sum(E)
    squares = np.bincount(b, weights=c * c / e, minlength=blocks)
    with np.errstate(invalid="ignore"):
        spread = ratio(squares - 2 * mean * total_count + mean * mean * total_exposure,
                       total_exposure)
        variance = spread - ratio(mean, mean_exposure)
    floor = (mean / 10.0) ** 2
    variance = np.where(np.isfinite(variance) & (variance > floor), variance, floor)
    empty = ~(mean > 0)
    shape = np.where(empty, 0.0, ratio(mean * mean, variance))
    rate = np.where(empty, ratio(1.0, mean_exposure), ratio(mean, variance))
    return GammaPrior(shape=shape, rate=rate)


def shrunk_rate(count: Ints, exposure: Floats, shape: Floats, rate: Floats) -> Floats:
    """Posterior mean per 1,000 sales, ``1000 (count + shape) / (exposure + rate)``.

    NaN where the exposure (sales) or the prior is unknown: no rate without a volume.
    """
    known = np.isfinite(exposure) & (exposure > 0) & np.isfinite(shape) & np.isfinite(rate)
    out = np.full(count.size, np.nan)
    out[known] = 1000.0 * (count[known] + shape[known]) / (exposure[known] + rate[known])
    return out


def _priors(
    world: PreparedWorld, peers: Ints, counts: dict[str, Ints], exposure: Floats
) -> dict[str, tuple[Floats, Floats]]:
    """Per peer group, each shrunk rate's prior (shape, rate) on one day.

    A group with fewer than :data:`MIN_PRIOR_PEERS` members of known sales takes the prior
    of every active licensee of its license type (nationwide) instead.
    """
    licensees = world.licensees
    groups = licensees.group_sizes.size
    peer_group = licensees.peer_group[peers]
    type_code = licensees.type_code
    types = int(type_code.max(initial=-1)) + 1
    peer_type = type_code[peers]
    known = np.isfinite(exposure) & (exposure > 0)
    members = np.bincount(peer_group[known], minlength=groups)
    own_type = licensees.group_type
    borrow = members < MIN_PRIOR_PEERS
    priors = {}
    for name, count in counts.items():
        local = fit_gamma_prior(count, exposure, peer_group, groups)
        national = fit_gamma_prior(count, exposure, peer_type, types)
        shape = np.where(borrow, national.shape[own_type], local.shape)
        rate = np.where(borrow, national.rate[own_type], local.rate)
        priors[name] = (shape, rate)
    return priors


def _by_reference_day(reference_day: Days) -> list[tuple[int, Ints]]:
    """The distinct reference days, each with the queries that use it (in query order)."""
    days, day_of_query = np.unique(reference_day, return_inverse=True)
    by_day = np.argsort(day_of_query, kind="stable")
    bounds = np.searchsorted(day_of_query[by_day], np.arange(days.size + 1))
    return [(int(day), by_day[bounds[index] : bounds[index + 1]])
            for index, day in enumerate(days)]


def peer_comparisons(world: PreparedWorld, queries: Queries) -> Columns:
    """Percentiles among active peers of the same type and state, and shrunk rates.

    Peers are valued on the first day of the as_of month, not on as_of itself: a panel
    then needs one peer distribution per month (a vectorised pass over all licensees per
    distinct month, however many pairs fall in it) instead of one per distinct date. The
    month start is on or before as_of, so "known strictly before as_of" still holds; the
    licensee's own value is its value on as_of. Peers include the licensee itself when it
    was active on the month's first day.

    The shrunk rates (:data:`SHRUNK_RATES`) are gamma-Poisson posterior means: the prior
    is fitted (:func:`fit_gamma_prior`) on the peers' 3-year counts and sales on 1 January
    of the as_of year (one fit per distinct year of a panel: a prior moves slowly), the
    licensee's own count and sales are those on as_of.
    """
    licensees = world.licensees
    n = len(queries)
    start_3y = queries.window_start["3y"]
    own_count, own_rate = traces_3y_and_rate(world, queries.codes, queries.days, start_3y)
    count_percentile = np.full(n, np.nan)
    rate_percentile = np.full(n, np.nan)
    own_group = licensees.peer_group[queries.codes]
    everyone = np.arange(len(licensees), dtype=np.int64)
    for month, selected in _by_reference_day(month_start(queries.days)):
        # One pass per distinct month, vectorised over that month's queries and peers.
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
    columns: Columns = {
        "traces_3y_peer_percentile": count_percentile,
        "traces_per_1k_sales_3y_peer_percentile": rate_percentile,
    }
    columns.update(_shrunk_rates(world, queries))
    return columns


def _shrunk_rates(world: PreparedWorld, queries: Queries) -> Columns:
    """:data:`SHRUNK_RATES`, with priors fitted on every active licensee on 1 January."""
    licensees = world.licensees
    n = len(queries)
    start_3y = queries.window_start["3y"]
    own_exposure = sales_in_window(world, queries.codes, queries.days, 3)
    shape = {name: np.full(n, np.nan) for name in SHRUNK_RATES}
    rate = {name: np.full(n, np.nan) for name in SHRUNK_RATES}
    own_group = licensees.peer_group[queries.codes]
    everyone = np.arange(len(licensees), dtype=np.int64)
    for year, selected in _by_reference_day(year_start(queries.days)):
        day = np.full(everyone.size, year, dtype=np.int64)
        peers = everyone[licensees.active(everyone, day)]
        peer_day = day[: peers.size]
        start = np.full(peers.size, shift_years(np.array([year]), -3)[0], dtype=np.int64)
        exposure = sales_in_window(world, peers, peer_day, 3)
        counts = _shrunk_counts(world, peers, peer_day, start)
        groups = own_group[selected]
        for name, (group_shape, group_rate) in _priors(world, peers, counts, exposure).items():
            shape[name][selected] = group_shape[groups]
            rate[name][selected] = group_rate[groups]
    own_counts = _shrunk_counts(world, queries.codes, queries.days, start_3y)
    return {name: shrunk_rate(own_counts[name], own_exposure, shape[name], rate[name])
            for name in SHRUNK_RATES}


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


def yearly_windows(index: EventIndex, queries: Queries, years: int) -> list[tuple[Ints, Ints]]:
    """Sorted positions of each 12-month span ending at as_of, newest first.

    The spans share their bounds, so ``years`` spans cost ``years + 1`` searches.
    """
    positions = [index.position(queries.codes, queries.days)] + [
        index.position(queries.codes, shift_years(queries.days, -k)) for k in range(1, years + 1)
    ]
    return [(positions[k + 1], positions[k]) for k in range(years)]


def yearly_counts(
    index: EventIndex, prefix: Ints | None, queries: Queries, years: int,
    windows: list[tuple[Ints, Ints]] | None = None,
) -> list[Ints]:
    """Events (flagged in ``prefix``, or all) per 12-month span ending at as_of, newest first."""
    spans = windows if windows is not None else yearly_windows(index, queries, years)
    return [hi - lo if prefix is None else window_sum(prefix, lo, hi) for lo, hi in spans]


def stepwise_decayed(per_year: list[Ints]) -> Floats:
    """A recency-weighted count: the events of the k-th 12-month span back weigh ``2**-k``.

    The weights halve once a year, in steps (a one-year half-life); sums of integers times
    powers of two are exact, so the value does not depend on the order of anything.
    """
    total = np.zeros(per_year[0].size, dtype=np.float64)
    for k, count in enumerate(per_year):
        total += count * 2.0 ** -k
    return total


def time_to_crime_trend(world: PreparedWorld, queries: Queries) -> Columns:
    """Short time-to-crime traces over time: this year against the licensee's earlier years.

    Years here are the 12-month spans ending at as_of: ``y0`` the last one, ``y1`` the one
    before, and so on. Change is ``y0`` less the mean of ``y1``..``y4``. (An acceleration,
    ``(y0 - y1) - (y1 - y2)``, and the time since the first short trace were tried and
    dropped: docs/features.md says why.)
    """
    traces = world.traces
    under = traces.prefix["under_1y"]
    windows = yearly_windows(traces.index, queries, 5)
    per_year = yearly_counts(traces.index, under, queries, 5, windows)
    earlier = (per_year[1] + per_year[2] + per_year[3] + per_year[4]) / 4.0
    return {
        "time_to_crime_under_1y_traces_1y": per_year[0],
        "time_to_crime_under_1y_change_1y": per_year[0] - earlier,
        "traces_decayed": stepwise_decayed(yearly_counts(traces.index, None, queries, 5, windows)),
        "time_to_crime_under_1y_traces_decayed": stepwise_decayed(per_year),
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
    fresh_not_purchaser = total("under_1y_not_purchaser")
    return {
        "recovered_in_mexico_traces_3y": mexico,
        "recovered_in_mexico_share_3y": ratio(mexico, count),
        "possessor_not_purchaser_share_3y": ratio(
            total("possessor_not_purchaser"), total("possessor_known")
        ),
        "serial_obliterated_traces_3y": obliterated,
        "serial_obliterated_share_3y": ratio(obliterated, total("obliterated_known")),
        "rifle_share_3y": ratio(total("rifle"), count),
        "time_to_crime_under_1y_not_purchaser_traces_3y": fresh_not_purchaser,
        "time_to_crime_under_1y_not_purchaser_share_3y": ratio(
            fresh_not_purchaser, total("under_1y_possessor_known")
        ),
    }


def repeat_purchasers(
    world: PreparedWorld, queries: Queries, lo: Ints, hi: Ints
) -> tuple[Ints, Ints]:
    """Per window, distinct purchaser keys in two or more of a licensee's reports, and the
    reports those repeat purchasers account for."""
    reports = world.multiple_sales
    query, position = gather(lo, hi)
    purchaser = reports.purchaser[position]
    named = purchaser >= 0
    pairs = query[named] * reports.purchaser_count + purchaser[named]
    distinct, occurrences = np.unique(pairs, return_counts=True)
    repeated = occurrences >= 2
    repeated_query = distinct[repeated] // reports.purchaser_count
    buyers = np.bincount(repeated_query, minlength=len(queries)).astype(np.int64)
    repeat_reports = np.bincount(
        repeated_query, weights=occurrences[repeated], minlength=len(queries)
    ).astype(np.int64)
    return buyers, repeat_reports


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
    both_forms: dict[str, Ints] = {}
    for what in ("reports", "firearms"):
        both_forms[what] = np.asarray(
            columns[f"multiple_sale_{what}_3310_4_3y"], dtype=np.int64
        ) + np.asarray(columns[f"multiple_sale_{what}_3310_12_3y"], dtype=np.int64)
        columns[f"multiple_sale_{what}_per_1k_sales_3y"] = _per_1k(both_forms[what], sales_3y)
    buyers, repeat_reports = repeat_purchasers(world, queries, *windows["3y"])
    columns["repeat_multiple_sale_purchasers_3y"] = buyers
    lo, hi = windows["3y"]
    reports_3y = hi - lo
    columns["repeat_purchaser_report_share_3y"] = ratio(repeat_reports, reports_3y)
    columns["multiple_sale_firearms_per_report_3y"] = ratio(both_forms["firearms"], reports_3y)
    columns["multiple_sale_reports_decayed"] = stepwise_decayed(
        yearly_counts(reports.index, None, queries, 3)
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
        "prohibited_sale_citations_total": window_sum(
            inspections.prefix["prohibited_sale_citations"], first, end
        ),
        "record_keeping_citations_total": window_sum(
            inspections.prefix["record_keeping_citations"], first, end
        ),
        "last_compliance_inspection_cited": _last_compliance_cited(inspections, first, end),
        **_inspection_decay(world, queries, first, end),
    }


def _last_compliance_cited(inspections: Inspections, first: Ints, end: Ints) -> Ints:
    """1 when the last compliance inspection in ``[first, end)`` cited violations or worse."""
    compliance = inspections.compliance
    seen = compliance[end] > compliance[first]
    # The last compliance row: where the prefix sum reaches its value at the window end.
    last = np.searchsorted(compliance, compliance[end], side="left") - 1
    cited = np.diff(inspections.compliance_cited)
    out = np.zeros(first.size, dtype=np.int64)
    out[seen] = cited[last[seen]]
    return out


def _inspection_decay(world: PreparedWorld, queries: Queries, first: Ints, end: Ints) -> Columns:
    """Inspection history weighted by recency."""
    inspections = world.inspections
    query, position = gather(first, end)
    half_life = INSPECTION_HALF_LIFE_YEARS * _DAYS_PER_YEAR
    day = inspections.day[position]
    serious = inspections.serious[position].astype(np.float64)
    missing = np.nan_to_num(inspections.missing_firearms[position])
    serious_decayed = decayed_count(query, day, queries.days, half_life, len(queries), serious)
    missing_decayed = decayed_count(query, day, queries.days, half_life, len(queries), missing)
    annual_sales = world.licensees.annual_sales[queries.codes]
    return {
        "serious_outcomes_decayed": serious_decayed,
        "missing_firearms_decayed_per_1k_annual_sales": ratio(
            missing_decayed * 1000.0, annual_sales
        ),
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
    peer_comparisons,
    time_to_crime,
    time_to_crime_trend,
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

"""Dates as whole days, and calendar arithmetic on arrays of them.

Every known-date comparison in the pipelines is a comparison of integers (days since
1970-01-01), so windows can be found with ``searchsorted`` on sorted arrays instead of
per-licensee Python loops.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Days = npt.NDArray[np.int64]

#: The integer numpy uses for NaT; a missing date keeps it through ``to_days``.
MISSING_DAY = np.iinfo(np.int64).min
#: Windows that reach back to "the beginning of time" start here (year 1-ish): before
#: any date the contract can hold, yet far from int64 overflow.
EARLIEST_DAY = -(1 << 20) + 1
#: Sentinel for "never" (for example a licensee never revoked).
LATEST_DAY = (1 << 20) - 1


def to_days(values: Any) -> Days:
    """Whole days since 1970-01-01 for dates, datetimes, or ``YYYY-MM-DD`` strings.

    Missing values become :data:`MISSING_DAY`. Times of day are dropped (floored), so a
    timestamp and its date compare alike.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series)
    if series.dt.tz is not None:
        series = series.dt.tz_localize(None)
    # Whatever the resolution (s, ms, us, ns), flooring to days gives the same integers.
    days = series.to_numpy().astype("datetime64[D]")
    return days.view(np.int64).copy()


def day_of(value: dt.date | str | pd.Timestamp) -> int:
    """One date as whole days since 1970-01-01."""
    return int(to_days([value])[0])


def as_dates(days: Days) -> npt.NDArray[np.datetime64]:
    """Days back to ``datetime64[D]``."""
    return np.asarray(days, dtype=np.int64).view("datetime64[D]")


def civil_from_days(days: Days) -> tuple[Days, Days, Days]:
    """(year, month, day) of each day number, in integer arithmetic.

    Howard Hinnant's ``civil_from_days``: exact for the proleptic Gregorian calendar and,
    unlike ``datetime64[M]`` casts, a few integer operations per element, which matters
    for millions of trace dates.
    """
    z = np.asarray(days, dtype=np.int64) + 719468
    era = z // 146097
    day_of_era = z - era * 146097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = np.where(shifted_month < 10, shifted_month + 3, shifted_month - 9)
    year = year_of_era + era * 400 + (month <= 2)
    return year, month, day


def days_from_civil(year: Days, month: Days, day: Days) -> Days:
    """Day numbers of (year, month, day); the inverse of :func:`civil_from_days`."""
    year = np.asarray(year, dtype=np.int64) - (np.asarray(month) <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return np.asarray(era * 146097 + day_of_era - 719468, dtype=np.int64)


def _is_leap(year: Days) -> npt.NDArray[np.bool_]:
    return np.asarray((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), dtype=bool)


def shift_years(days: Days, years: int) -> Days:
    """The same calendar date ``years`` later (earlier when negative).

    29 February maps to 28 February in a year without one, as ``DateOffset`` does;
    windows are calendar years because an inspector reads "the last 3 years" that way.
    """
    year, month, day = civil_from_days(days)
    target = year + years
    day = np.where((month == 2) & (day == 29) & ~_is_leap(target), 28, day)
    return days_from_civil(target, month, day)


def month_start(days: Days) -> Days:
    """The first day of each date's month."""
    year, month, _ = civil_from_days(days)
    return days_from_civil(year, month, np.ones_like(month))


def year_start(days: Days, years_back: int = 0) -> Days:
    """1 January of each date's year, ``years_back`` years earlier."""
    year, _, _ = civil_from_days(days)
    ones = np.ones_like(year)
    return days_from_civil(year - years_back, ones, ones)


def within_years(start: Days, end: Days, years: int, *, inclusive: bool) -> npt.NDArray[np.bool_]:
    """Is ``end`` before (or, inclusive, on) the ``years``-th anniversary of ``start``?

    Same answer as ``end < shift_years(start, years)`` (``<=`` when inclusive), but the
    calendar is only consulted for the few rows near the anniversary: a span of ``years``
    calendar years is 365 days a year plus at most one leap day per started four years.
    """
    gap = np.asarray(end, dtype=np.int64) - np.asarray(start, dtype=np.int64)
    shortest = 365 * years
    longest = 365 * years + years // 4 + 1
    result = gap < shortest if not inclusive else gap <= shortest
    near = (gap >= shortest) & (gap <= longest)
    if near.any():
        anniversary = shift_years(np.asarray(start, dtype=np.int64)[near], years)
        ends = np.asarray(end, dtype=np.int64)[near]
        result[near] = ends <= anniversary if inclusive else ends < anniversary
    return result

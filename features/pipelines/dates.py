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


def shift_years(days: Days, years: int) -> Days:
    """The same calendar date ``years`` later (earlier when negative).

    29 February maps to 28 February in a year without one, as ``DateOffset`` does;
    windows are calendar years because an inspector reads "the last 3 years" that way.
    """
    dates = as_dates(days)
    months = dates.astype("datetime64[M]")
    day_in_month = (dates - months.astype("datetime64[D]")).astype(np.int64)
    target = months + np.timedelta64(12 * years, "M")
    target_start = target.astype("datetime64[D]")
    month_length = (
        (target + np.timedelta64(1, "M")).astype("datetime64[D]") - target_start
    ).astype(np.int64)
    shifted = target_start + np.minimum(day_in_month, month_length - 1).astype("timedelta64[D]")
    return shifted.view(np.int64).copy()


def month_start(days: Days) -> Days:
    """The first day of each date's month."""
    starts = as_dates(days).astype("datetime64[M]").astype("datetime64[D]")
    return starts.view(np.int64).copy()


def year_start(days: Days, years_back: int = 0) -> Days:
    """1 January of each date's year, ``years_back`` years earlier."""
    years = as_dates(days).astype("datetime64[Y]") - np.timedelta64(years_back, "Y")
    return years.astype("datetime64[D]").view(np.int64).copy()

"""Integer time: days and months since 1970-01-01, so millions of dates stay numpy ints."""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
DAYS_PER_YEAR = 365.25


def day_number(date: dt.date) -> int:
    """Days since 1970-01-01."""
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    """The date ``day`` days after 1970-01-01."""
    return EPOCH + dt.timedelta(days=int(day))


def month_index(year: int, month: int) -> int:
    """Months since January 1970 (January 1970 is 0)."""
    return (year - 1970) * 12 + month - 1


def month_of_date(date: dt.date) -> int:
    """The month index containing ``date``."""
    return month_index(date.year, date.month)


def month_start_days(months: np.ndarray) -> np.ndarray:
    """First day (days since 1970-01-01) of each month index."""
    return (
        (np.datetime64("1970-01", "M") + months.astype("timedelta64[M]"))
        .astype("datetime64[D]")
        .astype(np.int64)
    )


def month_of_days(days: np.ndarray) -> np.ndarray:
    """Month index of each day number."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def year_of_days(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day number."""
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


class MonthGrid:
    """Consecutive months from ``first_month`` to ``last_month`` clipped to a day range.

    ``lo``/``hi`` hold, for each month, the first day and one past the last day that lie
    inside ``[first_day, last_day]``; ``fraction`` is the share of the month inside it,
    so a monthly intensity times ``fraction`` is the intensity of the clipped month.
    """

    def __init__(self, first_day: int, last_day: int) -> None:
        first_month = int(month_of_days(np.array([first_day]))[0])
        last_month = int(month_of_days(np.array([last_day]))[0])
        self.first_month = first_month
        self.months = np.arange(first_month, last_month + 1, dtype=np.int64)
        starts = month_start_days(self.months)
        ends = month_start_days(self.months + 1)
        self.lo = np.maximum(starts, first_day)
        self.hi = np.minimum(ends, last_day + 1)
        self.fraction = (self.hi - self.lo) / (ends - starts)

    def __len__(self) -> int:
        return len(self.months)

    def position(self, months: np.ndarray) -> np.ndarray:
        """Position in the grid of month indices (clipped to the grid)."""
        position: np.ndarray = np.clip(months - self.first_month, 0, len(self.months) - 1)
        return position

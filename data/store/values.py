"""Values as they come back from the store, in one form whichever database holds them.

SQLite returns dates and timestamps as text or naive datetimes; PostgreSQL returns
``date`` and aware ``datetime`` objects. Readers of the store's own tables use these.
"""

from __future__ import annotations

import datetime as dt


def as_date(value: object) -> dt.date:
    """A stored date (or the date of a stored timestamp)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def as_utc(value: object) -> dt.datetime:
    """A stored timestamp, aware; the store writes UTC, so a naive one is UTC."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

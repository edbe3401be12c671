"""Inspectors' "not inspected" marks on planned licensees.

An inspector who cannot inspect a planned licensee says why (:data:`MARK_REASONS`: out
of business, refused, moved, deferred), with an optional note of at most
:data:`MARK_NOTE_MAX_LENGTH` characters. A row holds at most one mark; marking again
replaces it and clearing deletes it (the audit log keeps every change). Monitoring counts
marked licensees apart from inspections that found nothing (``docs/monitoring.md``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, and_, delete, insert, select

from data.store.values import as_utc
from planning.plans import MARK_NOTE_MAX_LENGTH, MARK_REASONS, plan_marks, plan_rows

MARK_COLUMNS = ("plan_id", "license_number", "field_division", "reason", "note",
                "marked_by", "marked_at")


class MarkError(ValueError):
    """A mark that cannot be stored as given (unknown reason, note too long)."""


@dataclass(frozen=True)
class Mark:
    """One stored mark."""

    plan_id: int
    license_number: str
    field_division: str
    reason: str
    note: str | None
    marked_by: str
    marked_at: dt.datetime


def check_mark(reason: str, note: str | None) -> str | None:
    """The note as stored (stripped, None when empty); MarkError for a bad reason or note."""
    if reason not in MARK_REASONS:
        raise MarkError(f"reason: use one of {', '.join(MARK_REASONS)}, not {reason!r}")
    text = (note or "").strip()
    if "\x00" in text:  # PostgreSQL text cannot hold NUL
        raise MarkError("note: the text contains a NUL character")
    if len(text) > MARK_NOTE_MAX_LENGTH:
        raise MarkError(f"note: at most {MARK_NOTE_MAX_LENGTH} characters, not {len(text)}")
    return text or None


def planned_division(engine: Engine, plan_id: int, license_number: str) -> str | None:
    """The field division of a plan row, or None when the plan has no such row."""
    with engine.connect() as connection:
        found = connection.execute(select(plan_rows.c.field_division).where(and_(
            plan_rows.c.plan_id == plan_id,
            plan_rows.c.license_number == license_number))).scalar_one_or_none()
    return None if found is None else str(found)


def set_mark(engine: Engine, plan_id: int, license_number: str, *, reason: str,
             note: str | None, marked_by: str, marked_at: dt.datetime) -> Mark | None:
    """Mark a plan row "not inspected" (replacing its mark); None when there is no row."""
    stored_note = check_mark(reason, note)
    where = and_(plan_marks.c.plan_id == plan_id,
                 plan_marks.c.license_number == license_number)
    with engine.begin() as connection:
        # The plan row is locked first, so two marks of one row at once take turns
        # (PostgreSQL; SQLite has one writer at a time anyway) instead of both inserting.
        division = connection.execute(select(plan_rows.c.field_division).where(and_(
            plan_rows.c.plan_id == plan_id,
            plan_rows.c.license_number == license_number)).with_for_update()
        ).scalar_one_or_none()
        if division is None:
            return None
        connection.execute(delete(plan_marks).where(where))
        mark = Mark(plan_id=plan_id, license_number=license_number,
                    field_division=str(division), reason=reason, note=stored_note,
                    marked_by=marked_by, marked_at=marked_at)
        connection.execute(insert(plan_marks).values(
            plan_id=plan_id, license_number=license_number, field_division=str(division),
            reason=reason, note=stored_note, marked_by=marked_by, marked_at=marked_at))
    return mark


def clear_mark(engine: Engine, plan_id: int, license_number: str) -> bool:
    """Remove a plan row's mark; whether there was one."""
    with engine.begin() as connection:
        removed = connection.execute(delete(plan_marks).where(and_(
            plan_marks.c.plan_id == plan_id,
            plan_marks.c.license_number == license_number))).rowcount
    return bool(removed)


def read_marks(engine: Engine, plan_id: int | None = None,
               field_division: str | None = None) -> dict[tuple[int, str], Mark]:
    """The stored marks (one plan's, one division's when given), by (plan, license)."""
    statement = select(plan_marks)
    if plan_id is not None:
        statement = statement.where(plan_marks.c.plan_id == plan_id)
    if field_division is not None:
        statement = statement.where(plan_marks.c.field_division == field_division)
    with engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    return {(int(row["plan_id"]), str(row["license_number"])): Mark(
        plan_id=int(row["plan_id"]), license_number=str(row["license_number"]),
        field_division=str(row["field_division"]), reason=str(row["reason"]),
        note=None if row["note"] is None else str(row["note"]),
        marked_by=str(row["marked_by"]), marked_at=as_utc(row["marked_at"]))
        for row in rows}


def marks_frame(marks: dict[tuple[int, str], Mark], plan_id: int) -> pd.Series:
    """One plan's mark reasons by license number (for :func:`monitoring.outcomes`)."""
    return pd.Series({number: mark.reason for (plan, number), mark in marks.items()
                      if plan == plan_id}, dtype=object)

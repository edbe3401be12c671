"""What changed between two stored lists, as the API and the ranked list page show it.

The full comparison (:func:`planning.changes.compare_lists`) needs both lists' artifacts
(about a second each to read at 80,000 licensees), so a process keeps the last few it
computed, per (earlier, later) pair: stored lists never change, so a kept comparison
stays right. The ranked list page needs only each shown licensee's rank on the previous
list, which the ``scores`` table gives in one small query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, and_, or_, select

from planning.changes import ListChanges, compare_lists
from scoring.lists import ListInfo, list_info, read_score_list, score_lists, scores
from serving.memo import KeptValues
from serving.schemas import DivisionChangePublic, LicenseeChangePublic

#: Comparisons a process keeps (each about 15 MB at 80,000 licensees).
KEPT_COMPARISONS = 4
CHANGE_STATUSES = ("listed", "new", "gone")


def previous_list_id(engine: Engine, list_id: int, as_of: dt.date) -> int | None:
    """The stored list before list ``list_id`` of ``as_of`` (by as-of date, then id)."""
    lists = score_lists
    statement = (
        select(lists.c.list_id)
        .where(or_(lists.c.as_of < as_of,
                   and_(lists.c.as_of == as_of, lists.c.list_id < list_id)))
        .order_by(lists.c.as_of.desc(), lists.c.list_id.desc()).limit(1)
    )
    with engine.connect() as connection:
        found = connection.execute(statement).scalar()
    return None if found is None else int(found)


def ranks_on(engine: Engine, list_id: int, license_numbers: Sequence[str]) -> dict[str, int]:
    """The rank of each of ``license_numbers`` on list ``list_id`` (absent: not on it)."""
    if not license_numbers:
        return {}
    statement = select(scores.c.license_number, scores.c.rank).where(
        scores.c.list_id == list_id, scores.c.license_number.in_(list(license_numbers)))
    with engine.connect() as connection:
        return {str(number): int(rank) for number, rank in connection.execute(statement)}


def previous_ranks(engine: Engine, list_id: int, as_of: dt.date,
                   license_numbers: Sequence[str]) -> tuple[ListInfo | None, dict[str, int]]:
    """The list before list ``list_id`` and the ranks ``license_numbers`` had on it."""
    before = previous_list_id(engine, list_id, as_of)
    if before is None:
        return None, {}
    return list_info(engine, before), ranks_on(engine, before, license_numbers)


@dataclass(frozen=True)
class Movement:
    """How a licensee on the served list moved since the previous list."""

    status: str  # "new" (not on the previous list), "up", "down" or "same"
    places: int  # places moved (0 for "new" and "same")

    @property
    def text(self) -> str:
        """The movement in words (what a screen reader says for the marker)."""
        if self.status == "new":
            return "new on this list"
        if self.status == "same":
            return "same rank as on the previous list"
        return f"{self.status} {self.places:,} place{'s' if self.places != 1 else ''}"


def movements(ranks_now: dict[str, int], ranks_before: dict[str, int]) -> dict[str, Movement]:
    """Each licensee's movement from ``ranks_before`` to ``ranks_now`` (by license)."""
    moved: dict[str, Movement] = {}
    for number, rank in ranks_now.items():
        before = ranks_before.get(number)
        if before is None:
            moved[number] = Movement("new", 0)
        elif before > rank:
            moved[number] = Movement("up", before - rank)
        elif before < rank:
            moved[number] = Movement("down", rank - before)
        else:
            moved[number] = Movement("same", 0)
    return moved


class ComparisonCache:
    """The last :data:`KEPT_COMPARISONS` comparisons, by (earlier, later) list id."""

    def __init__(self, entries: int = KEPT_COMPARISONS) -> None:
        self._kept: KeptValues[ListChanges] = KeptValues(entries)

    def get(self, engine: Engine, before_id: int, after_id: int) -> ListChanges:
        """The comparison of the two lists, computed (outside the lock) if not kept."""
        changes = self._kept.get((before_id, after_id), lambda: compare_lists(
            read_score_list(engine, before_id), read_score_list(engine, after_id),
            before_id, after_id))
        assert changes is not None  # a comparison is never None
        return changes


def _optional(value: object) -> object:
    return None if value is None or pd.isna(value) else value  # type: ignore[call-overload]


def select_changes(changes: ListChanges, field_division: str | None, status: str | None
                   ) -> pd.DataFrame:
    """The licensees' changes narrowed to a division and a status (either may be None)."""
    frame = changes.licensees
    if field_division is not None:
        frame = frame[frame["field_division"] == field_division]
    if status is not None:
        frame = frame[frame["status"] == status]
    return frame


def change_items(frame: pd.DataFrame) -> list[LicenseeChangePublic]:
    """Rows of :data:`planning.changes.CHANGE_COLUMNS` as response items."""
    return [
        LicenseeChangePublic.model_validate({name: _optional(value)
                                             for name, value in record.items()})
        for record in frame.to_dict(orient="records")
    ]


def division_items(changes: ListChanges, field_division: str | None
                   ) -> list[DivisionChangePublic]:
    """Who entered and left each division's top (one division's when given)."""
    return [
        DivisionChangePublic(field_division=d.field_division, top=d.top,
                             entered=list(d.entered), left=list(d.left))
        for d in changes.divisions
        if field_division is None or d.field_division == field_division
    ]

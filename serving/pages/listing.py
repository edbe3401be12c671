"""The list page's sorting and numbered pages, on top of the API's own filtering.

Filtering is :func:`serving.ranked.select_page`, exactly as the API filters; the page only
adds what the API leaves to its clients: an order other than rank, and page numbers a
reader can jump between (a cursor cannot go back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from serving.ranked import RankedFilters, select_page
from serving.state import ServingState

#: Sort keys a reader can choose, by URL value; "-" in front reverses.
SORT_KEYS = ("rank", "name", "city", "state", "license_type", "division")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class ListPage:
    """One numbered page of the filtered, sorted list."""

    positions: npt.NDArray[np.int64]
    total: int
    page: int
    pages: int
    page_size: int
    sort: str

    @property
    def first_row(self) -> int:
        """1-based number of the page's first row among the matches (0 when none)."""
        return 0 if self.total == 0 else (self.page - 1) * self.page_size + 1

    @property
    def last_row(self) -> int:
        return self.first_row + int(self.positions.size) - 1 if self.total else 0


def matching_positions(state: ServingState, filters: RankedFilters) -> npt.NDArray[np.int64]:
    """Positions (in rank order) of every licensee on the list that the filters admit."""
    return select_page(state, filters, limit=max(len(state.ranked), 1), after_rank=0).positions


def _sort_values(state: ServingState, key: str, positions: npt.NDArray[np.int64]) -> list[str]:
    field = {"name": "business_name", "city": "premise_city", "state": "premise_state",
             "license_type": "license_type", "division": "field_division"}[key]
    values = state.ranked.items.field(field)
    return [(values[p] or "").casefold() for p in positions]


def sort_positions(state: ServingState, positions: npt.NDArray[np.int64],
                   sort: str) -> npt.NDArray[np.int64]:
    """``positions`` in the order ``sort`` names; ties keep rank order."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "rank":
        return positions[::-1] if descending else positions
    values = _sort_values(state, key, positions)
    # Python's sort is stable in both directions: equal values keep their rank order.
    order = sorted(range(len(values)), key=values.__getitem__, reverse=descending)
    return positions[np.asarray(order, dtype=np.int64)] if order else positions


def list_page(state: ServingState, filters: RankedFilters, sort: str, page: int,
              page_size: int) -> ListPage:
    """Page ``page`` (1-based, clamped to the last) of the filtered list in ``sort`` order."""
    positions = sort_positions(state, matching_positions(state, filters), sort)
    total = int(positions.size)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(page, 1), pages)
    start = (page - 1) * page_size
    return ListPage(positions=positions[start:start + page_size], total=total, page=page,
                    pages=pages, page_size=page_size, sort=sort)


#: Rank-within-division arrays of the last few (list, division) pairs asked for.
_DIVISION_RANKS: dict[tuple[str, str], npt.NDArray[np.int64]] = {}
_DIVISION_RANKS_KEPT = 64


def division_ranks(state: ServingState, division: str,
                   positions: npt.NDArray[np.int64]) -> list[int]:
    """Each position's rank among the licensees of ``division`` on the list (1 = highest).

    The list is in rank order, so a licensee's rank in its division is how many of the
    division's licensees come at or before it; other filters (state, score) do not change
    it. Kept per list and division: a page then only looks its rows up.
    """
    key = (state.list_token, division)
    ranks = _DIVISION_RANKS.get(key)
    if ranks is None:
        member = np.asarray(state.ranked.field_divisions == division, dtype=bool)
        ranks = np.cumsum(member, dtype=np.int64)
        if len(_DIVISION_RANKS) >= _DIVISION_RANKS_KEPT:
            _DIVISION_RANKS.pop(next(iter(_DIVISION_RANKS)))
        _DIVISION_RANKS[key] = ranks
    return [int(ranks[p]) for p in positions]


def division_size(state: ServingState, division: str) -> int:
    """How many licensees of ``division`` the list ranks."""
    key = (state.list_token, division)
    if key not in _DIVISION_RANKS:
        division_ranks(state, division, np.zeros(0, dtype=np.int64))
    ranks = _DIVISION_RANKS[key]
    return int(ranks[-1]) if ranks.size else 0

"""Pages of the ranked list: filters, cursors, and the JSON and CSV bodies.

A cursor is ``<list token>-<rank of the last item>``: the token names the list it was
issued for, so a cursor outliving a promotion is refused (409) instead of silently mixing
two lists, and any client can read where a page ends.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from data.csv_cells import csv_writer
from serving.memo import RenderedPage
from serving.problems import ParameterError
from serving.state import RankedList, ServingState

CURSOR_PATTERN = r"^[0-9a-f]{8}-[0-9]{1,9}$"
_CURSOR = re.compile(CURSOR_PATTERN)
CSV_COLUMNS = (
    "license_number", "business_name", "premise_city", "premise_state", "field_division",
    "license_type", "score", "rank", "percentile", "reason_1", "reason_2", "reason_3",
    "reason_4", "model_version", "as_of",
)


class StaleCursor(Exception):
    """The cursor belongs to a list that is no longer served."""


@dataclass(frozen=True)
class RankedFilters:
    """What a caller narrowed the list to."""

    field_division: str | None = None
    state: str | None = None
    license_type: str | None = None
    min_score: float | None = None


@dataclass(frozen=True)
class Page:
    """Rows of one page (positions in the ranked list) and where the next one starts."""

    positions: npt.NDArray[np.int64]
    total: int
    next_cursor: str | None


def parse_cursor(cursor: str | None, state: ServingState) -> int:
    """The rank after which the page starts (0 without a cursor)."""
    if cursor is None:
        return 0
    if not _CURSOR.match(cursor):
        raise ParameterError("cursor", "not a cursor this API issued")
    token, _, rank = cursor.partition("-")
    if token != state.list_token:
        raise StaleCursor(cursor)
    return int(rank)


def _mask(ranked: RankedList, filters: RankedFilters) -> npt.NDArray[np.bool_] | None:
    mask: npt.NDArray[np.bool_] | None = None

    def narrow(condition: npt.NDArray[np.bool_]) -> None:
        nonlocal mask
        mask = condition if mask is None else mask & condition

    if filters.field_division is not None:
        narrow(ranked.field_divisions == filters.field_division)
    if filters.state is not None:
        narrow(ranked.premise_states == filters.state.upper())
    if filters.license_type is not None:
        narrow(ranked.license_types == filters.license_type)
    if filters.min_score is not None:
        narrow(ranked.scores >= filters.min_score)
    return mask


def select_page(state: ServingState, filters: RankedFilters, limit: int, after_rank: int) -> Page:
    """The positions of up to ``limit`` matching licensees ranked after ``after_rank``."""
    ranked = state.ranked
    # Ranks are 1..n in array order, so "after rank r" starts at position r.
    start = min(max(after_rank, 0), len(ranked))
    mask = _mask(ranked, filters)
    if mask is None:
        total = len(ranked)
        positions = np.arange(start, min(start + limit, total), dtype=np.int64)
        more = start + limit < total
    else:
        total = int(mask.sum())
        following = np.flatnonzero(mask[start:])
        positions = following[:limit].astype(np.int64) + start
        more = following.size > limit
    next_cursor = None
    if more and positions.size:
        next_cursor = f"{state.list_token}-{int(ranked.ranks[positions[-1]])}"
    return Page(positions=positions, total=total, next_cursor=next_cursor)


def page_json(state: ServingState, page: Page, limit: int) -> bytes:
    """The JSON body of a page (the RankedPagePublic schema), from pre-serialised items."""
    # Formatted by hand: json.dumps of this small dict was a measurable share of a page.
    head = (
        f'{{"model_version":{json.dumps(state.model_version)},'
        f'"as_of":"{state.as_of.isoformat()}",'
        f'"list_id":{state.list_id},'
        f'"total":{page.total},"limit":{limit},'
        f'"next_cursor":{"null" if page.next_cursor is None else json.dumps(page.next_cursor)},'
        '"items":['
    )
    return b"".join([head.encode(), *_items(state.ranked, page.positions), b"]}"])


def _items(ranked: RankedList, positions: npt.NDArray[np.int64]) -> list[memoryview | bytes]:
    """The JSON items at ``positions`` (ascending), comma-separated, as parts to join.

    Each run of consecutive positions is one view of the list's buffer, so an unfiltered
    page costs one copy (in the caller's join), whatever its length.
    """
    if positions.size == 0:
        return []
    buffer, offsets = memoryview(ranked.items_buffer), ranked.item_offsets
    first, last = int(positions[0]), int(positions[-1])
    if last - first + 1 == positions.size:  # one run: the unfiltered list's every page
        # The run ends with its last item's comma, which the page must not have.
        return [buffer[offsets[first]:offsets[last + 1] - 1]]
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = offsets[positions[np.concatenate(([0], breaks))]].tolist()
    ends = offsets[positions[np.concatenate((breaks - 1, [positions.size - 1]))] + 1].tolist()
    parts: list[memoryview | bytes] = []
    for start, end in zip(starts, ends, strict=True):
        parts += [buffer[start:end - 1], b","]
    return parts[:-1]


def page_csv(state: ServingState, page: Page) -> str:
    """The page as CSV, each row stamped with the model version and as-of date."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # neutralises formulas (data/csv_cells.py)
    writer.writerow(CSV_COLUMNS)
    as_of = state.as_of.isoformat()
    for position in page.positions:
        item = state.ranked.items[position]
        reasons = [*item.top_reasons[:4], "", "", "", ""][:4]
        writer.writerow([  # numbers as numbers: only text cells are neutralised
            item.license_number, item.business_name or "", item.premise_city or "",
            item.premise_state or "", item.field_division or "", item.license_type or "",
            item.score, item.rank, item.percentile, *reasons,
            state.model_version, as_of,
        ])
    return buffer.getvalue()


def render_page(state: ServingState, filters: RankedFilters, limit: int, cursor: str | None,
                as_csv: bool) -> RenderedPage:
    """The page of the list that a request asks for, as JSON or CSV, with its audit detail.

    Raises ParameterError (422) for a cursor this API did not issue and StaleCursor for
    one of another list.
    """
    page = select_page(state, filters, limit, parse_cursor(cursor, state))
    detail = {"filters": {k: v for k, v in vars(filters).items() if v is not None},
              "limit": limit, "cursor": cursor,
              "returned": int(page.positions.size), "list_id": state.list_id}
    headers = {"X-Model-Version": state.model_version, "X-As-Of": state.as_of.isoformat()}
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    if as_csv:
        filename = f"ranked-{state.as_of.isoformat()}-v{state.model_version}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return RenderedPage(page_csv(state, page).encode(), "text/csv", headers,
                            "ranked.export", detail)
    return RenderedPage(page_json(state, page, limit), "application/json", headers,
                        "ranked.read", detail)

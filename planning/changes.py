"""What changed between two scored lists: scores, ranks, reasons, and the top of each division.

The top of a division is its first ``N`` licensees on the list, ``N`` the capacity a plan
would give it by default (``planning.design.default_capacity``: 12% of the division's
listed licensees a year): who entered it and who left it is what changes an inspector's
work. Licensees on only one of the lists are ``new`` (entered the list) or ``gone`` (left
it: no longer active, or not scored).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planning.design import DEFAULT_PERIOD_DAYS, default_capacity
from scoring.score import ScoredList

#: The columns of :attr:`ListChanges.licensees`.
CHANGE_COLUMNS = (
    "license_number", "field_division", "status", "score_before", "score_after",
    "score_change", "rank_before", "rank_after", "rank_change", "division_rank_before",
    "division_rank_after", "entered_top", "left_top", "reasons_changed",
)


@dataclass(frozen=True)
class DivisionChange:
    """Who entered and who left a division's top between two lists."""

    field_division: str
    top: int
    entered: tuple[str, ...]
    left: tuple[str, ...]


@dataclass(frozen=True)
class ListChanges:
    """Every licensee's change between an earlier and a later list."""

    before_list_id: int
    after_list_id: int
    licensees: pd.DataFrame  # CHANGE_COLUMNS, in the later list's rank order, then gone ones
    divisions: tuple[DivisionChange, ...]


def division_ranks(rows: pd.DataFrame) -> pd.Series:
    """Each listed licensee's rank within its field division (1 = first), by license."""
    ranked = rows.sort_values("rank", kind="stable")
    division = ranked["field_division"].fillna("")
    within = ranked.groupby(division, sort=False).cumcount() + 1
    return pd.Series(within.to_numpy(), index=ranked["license_number"].astype(str))


def _tops(rows: pd.DataFrame) -> dict[str, set[str]]:
    ranks = division_ranks(rows)
    divisions = rows.set_index(rows["license_number"].astype(str))["field_division"]
    tops: dict[str, set[str]] = {}
    for division, members in divisions.dropna().groupby(divisions.dropna()):
        top = default_capacity(len(members), DEFAULT_PERIOD_DAYS)
        numbers = members.index
        tops[str(division)] = set(numbers[ranks.reindex(numbers).to_numpy() <= top])
    return tops


def compare_lists(before: ScoredList, after: ScoredList, before_id: int, after_id: int
                  ) -> ListChanges:
    """What changed from ``before`` to ``after`` (see the module docstring)."""
    old = before.rows.set_index(before.rows["license_number"].astype(str))
    new = after.rows.set_index(after.rows["license_number"].astype(str))
    numbers = list(new.index) + [n for n in old.index if n not in new.index]
    old_rank = division_ranks(before.rows)
    new_rank = division_ranks(after.rows)
    old_tops, new_tops = _tops(before.rows), _tops(after.rows)
    frame = pd.DataFrame({"license_number": numbers})
    in_old = frame["license_number"].isin(old.index).to_numpy()
    in_new = frame["license_number"].isin(new.index).to_numpy()
    frame["field_division"] = (new["field_division"].reindex(numbers)
                               .fillna(old["field_division"].reindex(numbers)).to_numpy())
    frame["status"] = np.where(in_old & in_new, "listed", np.where(in_new, "new", "gone"))
    frame["score_before"] = old["score"].reindex(numbers).to_numpy()
    frame["score_after"] = new["score"].reindex(numbers).to_numpy()
    frame["score_change"] = frame["score_after"] - frame["score_before"]
    frame["rank_before"] = old["rank"].reindex(numbers).astype("Int64").to_numpy()
    frame["rank_after"] = new["rank"].reindex(numbers).astype("Int64").to_numpy()
    # Positive: moved up the list (towards rank 1).
    frame["rank_change"] = frame["rank_before"] - frame["rank_after"]
    frame["division_rank_before"] = old_rank.reindex(numbers).astype("Int64").to_numpy()
    frame["division_rank_after"] = new_rank.reindex(numbers).astype("Int64").to_numpy()
    entered = {n for d, top in new_tops.items() for n in top - old_tops.get(d, set())}
    left = {n for d, top in old_tops.items() for n in top - new_tops.get(d, set())}
    frame["entered_top"] = frame["license_number"].isin(entered)
    frame["left_top"] = frame["license_number"].isin(left)
    old_reasons = old["top_reasons"].reindex(numbers)
    new_reasons = new["top_reasons"].reindex(numbers)
    frame["reasons_changed"] = [
        bool(a) and bool(b) and list(a) != list(b)
        for a, b in zip(old_reasons.where(old_reasons.notna(), None),
                        new_reasons.where(new_reasons.notna(), None), strict=True)]
    divisions = tuple(
        DivisionChange(
            field_division=division,
            top=len(new_tops.get(division, set())),
            entered=tuple(sorted(new_tops.get(division, set()) - old_tops.get(division, set()),
                                 key=lambda n: int(new_rank.get(n, 0)))),
            left=tuple(sorted(old_tops.get(division, set()) - new_tops.get(division, set()),
                              key=lambda n: int(old_rank.get(n, 0)))),
        )
        for division in sorted(set(new_tops) | set(old_tops))
    )
    return ListChanges(before_list_id=before_id, after_list_id=after_id,
                       licensees=frame[list(CHANGE_COLUMNS)], divisions=divisions)

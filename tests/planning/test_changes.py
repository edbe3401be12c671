"""What changed between two lists: moves, entries, exits and reasons."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from planning.changes import compare_lists, division_ranks
from scoring.score import PROFILE_COLUMNS, ScoredList


def _list(scores: dict[str, float], reasons: dict[str, list[str]] | None = None) -> ScoredList:
    numbers = sorted(scores, key=lambda n: (-scores[n], n))
    n = len(numbers)
    rows = pd.DataFrame({
        "license_number": numbers,
        "score": [scores[k] for k in numbers],
        "raw_score": [scores[k] for k in numbers],
        "rank": np.arange(1, n + 1),
        "percentile": 100.0 * (n - np.arange(1, n + 1)) / n,
        "top_reasons": [(reasons or {}).get(k, ["same"]) for k in numbers],
        **{name: pd.Series([None] * n, dtype=object) for name in PROFILE_COLUMNS},
    })
    rows["field_division"] = pd.Series(
        ["Dallas" if k.startswith("D") else "Miami" for k in numbers], dtype=object)
    empty = np.empty((n, 0))
    return ScoredList(model_version="1", as_of=dt.date(2024, 1, 1), catalogue_version="t",
                      base_value=0.0, features=(), rows=rows, feature_values=empty,
                      contributions=empty, peer_percentiles=empty)


def test_moves_entries_exits_and_reasons_are_reported() -> None:
    # Ten Dallas licensees: the default top is 12% of 10, so one per division.
    before = _list({**{f"D{i}": 0.5 - i / 100 for i in range(10)}, "M0": 0.2, "M1": 0.1})
    after_scores = {**{f"D{i}": 0.5 - i / 100 for i in range(1, 10)}, "D3": 0.9,
                    "M0": 0.2, "M2": 0.3}
    after = _list(after_scores, reasons={"D3": ["new reason"]})
    changes = compare_lists(before, after, 1, 2)
    frame = changes.licensees.set_index("license_number")
    assert frame.loc["D3", "rank_before"] == 4 and frame.loc["D3", "rank_after"] == 1
    assert frame.loc["D3", "rank_change"] == 3
    assert frame.loc["D3", "score_change"] == 0.9 - 0.47
    assert bool(frame.loc["D3", "reasons_changed"]) and not bool(frame.loc["D1", "reasons_changed"])
    assert frame.loc["M2", "status"] == "new" and pd.isna(frame.loc["M2", "rank_before"])
    assert frame.loc["D0", "status"] == "gone" and frame.loc["M1", "status"] == "gone"
    dallas, miami = changes.divisions
    assert (dallas.field_division, dallas.top, dallas.entered, dallas.left) == (
        "Dallas", 1, ("D3",), ("D0",))
    assert (miami.entered, miami.left) == (("M2",), ("M0",))
    assert bool(frame.loc["D3", "entered_top"]) and bool(frame.loc["D0", "left_top"])
    # Gone licensees come after everyone on the later list.
    assert changes.licensees["status"].tolist()[-2:] == ["gone", "gone"]


def test_division_ranks_count_within_each_division() -> None:
    listed = _list({"D1": 0.9, "M1": 0.8, "D2": 0.7, "M2": 0.6}).rows
    assert division_ranks(listed).to_dict() == {"D1": 1, "M1": 1, "D2": 2, "M2": 2}

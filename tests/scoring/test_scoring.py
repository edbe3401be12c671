"""Who gets a score: every active licensee, as the contract says."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.pipelines.tables import EventTables
from scoring.score import rankable_features


def test_every_active_licensee_is_scored_collectors_included() -> None:
    dealers = pd.DataFrame({
        "license_number": ["9-99-001-01-ZZ-00001", "9-99-001-03-ZZ-00002",
                           "9-99-001-01-ZZ-00003"],
        "license_type": ["01", "03", "01"],
        "business_name": ["A (synthetic)", "B (synthetic)", "C (synthetic)"],
        "premise_state": ["TX", "TX", "TX"],
        "license_issue_date": pd.to_datetime(["2010-01-01", "2010-01-01", "2024-06-01"]),
    })
    features = rankable_features(EventTables.from_mapping({"dealers": dealers}),
                                 dt.date(2024, 1, 1))
    # The collector is scored; the licensee not yet licensed on the date is not.
    assert features.index.tolist() == ["9-99-001-01-ZZ-00001", "9-99-001-03-ZZ-00002"]

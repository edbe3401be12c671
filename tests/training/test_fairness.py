"""The fairness audit flags a group the list over-selects."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from training.fairness import fairness_audit, wilson_interval


def test_wilson_interval_contains_the_proportion() -> None:
    low, high = wilson_interval(5, 20)
    assert low < 0.25 < high
    assert all(math.isnan(bound) for bound in wilson_interval(0, 0))


def test_audit_flags_a_group_over_represented_in_the_top() -> None:
    # 100 urban and 100 rural licensees; the list puts only rural ones on top.
    groups = pd.DataFrame({"urbanicity": ["urban"] * 100 + ["rural"] * 100})
    scores = [0.1] * 100 + [0.9] * 100
    y = [0] * 200
    audit = fairness_audit(groups, y, scores, top_fraction=0.1)
    rural = audit.set_index("group").loc["rural"]
    urban = audit.set_index("group").loc["urban"]
    assert rural["flagged"] == 20 and urban["flagged"] == 0
    assert rural["flagged_share"] == pytest.approx(0.2)
    # Both groups have 100 rows; the first in sorted order is the reference (rural).
    assert audit["reference_group"].iloc[0] == "rural"
    assert "flagged_share" in urban["flags"]


def test_audit_does_not_flag_groups_treated_alike() -> None:
    groups = pd.DataFrame({"license_type": ["01", "02"] * 100})
    scores = list(range(200))
    y = [1 if i % 4 < 2 else 0 for i in range(200)]
    audit = fairness_audit(groups, y, scores, top_fraction=0.2)
    assert (audit["flags"] == "").all()
    assert set(audit.columns) >= {
        "precision_ci_low", "false_positive_rate", "flagged_share_ratio", "precision_ratio",
    }


def test_small_groups_are_reported_but_not_flagged_and_unknown_is_never_the_reference() -> None:
    groups = pd.DataFrame({"license_type": ["unknown"] * 300 + ["01"] * 200 + ["09"] * 5})
    scores = [0.0] * 300 + [0.1] * 200 + [0.9] * 5
    audit = fairness_audit(groups, [0] * 505, scores, top_fraction=0.02).set_index("group")
    assert (audit["reference_group"] == "01").all()
    assert audit.loc["09", "flagged_share_ratio"] > 1.25  # far outside the band ...
    assert not audit.loc["09", "judged"] and audit.loc["09", "flags"] == ""  # ... but 5 rows

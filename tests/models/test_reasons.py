"""Top reasons are the largest positive contributions, in the catalogue's words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalogue import describe
from models.reasons import top_reasons


def test_reasons_are_positive_contributions_largest_first() -> None:
    contributions = pd.DataFrame({
        "traces_3y": [0.9, -0.2],
        "time_to_crime_under_1y_share_3y": [1.5, -0.1],
        "never_inspected": [-0.3, -0.4],
        "traces_per_1k_sales_3y": [0.2, 0.05],
    })
    values = pd.DataFrame({
        "traces_3y": [42.0, 0.0],
        "time_to_crime_under_1y_share_3y": [0.61, np.nan],
        "never_inspected": [0.0, 1.0],
        "traces_per_1k_sales_3y": [3.2, 0.0],
    })
    first, second = top_reasons(contributions, values, count=3)
    assert [reason.feature for reason in first] == [
        "time_to_crime_under_1y_share_3y", "traces_3y", "traces_per_1k_sales_3y",
    ]
    assert first[1].text == describe("traces_3y", 42.0)
    assert "42" in first[1].text
    assert first[0].family == "time_to_crime"
    # Only one feature raised the second licensee's score.
    assert [reason.feature for reason in second] == ["traces_per_1k_sales_3y"]

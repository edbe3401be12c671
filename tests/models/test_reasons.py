"""Top reasons are the largest positive contributions, in the catalogue's words."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalogue import describe
from models.reasons import top_reason_texts, top_reasons


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


_NAMES = ["traces_3y", "time_to_crime_under_1y_share_3y", "never_inspected",
          "traces_per_1k_sales_3y", "days_since_last_inspection"]


@settings(max_examples=60, deadline=None)
@given(
    contributions=st.lists(st.lists(st.sampled_from([-1.0, -0.0, 0.0, 0.2, 0.2, 0.7, 3.0]),
                                    min_size=5, max_size=5), min_size=0, max_size=30),
    values=st.lists(st.sampled_from([np.nan, -0.0, 0.0, 0.5, 1.0, 42.0, 1234.5]),
                    min_size=150, max_size=150),
    count=st.integers(1, 5),
)
def test_list_reason_texts_equal_the_per_row_reasons(
    contributions: list[list[float]], values: list[float], count: int
) -> None:
    matrix = np.asarray(contributions, dtype=float).reshape(-1, len(_NAMES))
    value_matrix = np.asarray(values[: matrix.size], dtype=float).reshape(matrix.shape)
    expected = [[reason.text for reason in row] for row in top_reasons(
        pd.DataFrame(matrix, columns=_NAMES), pd.DataFrame(value_matrix, columns=_NAMES),
        count)]
    assert top_reason_texts(matrix, value_matrix, _NAMES, count) == expected

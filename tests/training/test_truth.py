"""Evaluation against a generated world's truth."""

from __future__ import annotations

import numpy as np
import pytest

from training.truth import weighted_precision_at_fraction


def test_equal_weights_give_plain_precision() -> None:
    y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    scores = list(range(10, 0, -1))
    assert weighted_precision_at_fraction(y, scores, np.ones(10), 0.2) == pytest.approx(0.5)


def test_rows_selected_often_count_less() -> None:
    # The top row was chosen with certainty (weight 1), the next rarely (weight 9): the
    # weighted top 50% is dominated by the rarely chosen one.
    y = [1, 0]
    weights = [1.0, 9.0]
    assert weighted_precision_at_fraction(y, [2, 1], weights, 0.5) == pytest.approx(0.1)
    assert weighted_precision_at_fraction(y, [2, 1], weights, 0.05) == pytest.approx(1.0)

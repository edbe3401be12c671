"""Evaluation against a generated world's truth."""

from __future__ import annotations

import numpy as np
import pytest

from training.truth import gap_closed_table, mean_truth_at_fraction, weighted_precision_at_fraction


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


def test_mean_truth_takes_tied_rows_at_random_in_expectation() -> None:
    truth = np.array([0.9, 0.1, 0.5, 0.3])
    # Top 50% = 2 rows: the 0.9 one, then one of the two rows tied at score 1.
    scores = np.array([2.0, 1.0, 1.0, 0.0])
    assert mean_truth_at_fraction(scores, truth, 0.5) == pytest.approx((0.9 + 0.3) / 2)
    # A constant score is a random list: the mean of everyone.
    assert mean_truth_at_fraction(np.zeros(4), truth, 0.5) == pytest.approx(truth.mean())
    # Missing scores rank last.
    assert mean_truth_at_fraction(np.array([np.nan, 0, 1, np.nan]), truth, 0.25) == 0.5


def test_gap_closed_is_one_for_the_truth_and_zero_for_a_constant() -> None:
    rng = np.random.default_rng(0)
    truth = rng.beta(1, 10, size=1000)
    table = gap_closed_table({"truth": truth, "constant": np.ones(1000),
                              "noisy": truth + rng.normal(0, 0.05, 1000)}, truth)
    gap = table.set_index(["ranker", "fraction"])["gap_closed"]
    assert gap["truth"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert gap["constant"].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert 0 < gap[("noisy", 0.02)] < 1
    assert set(table["fraction"]) == {0.01, 0.02, 0.05}
    assert table["random"].tolist() == pytest.approx([truth.mean()] * len(table))


def test_truth_with_gaps_is_refused() -> None:
    with pytest.raises(ValueError, match="missing"):
        mean_truth_at_fraction(np.ones(3), np.array([0.1, np.nan, 0.2]), 0.5)

"""Ranking metrics on tiny hand-checked arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import (
    k_for_fraction,
    precision_at_k,
    ranking_report,
    recall_at_k,
    reliability_curve,
    top_k_mask,
)


def test_precision_and_recall_at_k_count_the_top_rows() -> None:
    y = [1, 0, 1, 0, 0, 1]
    scores = [0.9, 0.8, 0.7, 0.2, 0.1, 0.05]
    assert precision_at_k(y, scores, 2) == 0.5
    assert precision_at_k(y, scores, 3) == pytest.approx(2 / 3)
    assert recall_at_k(y, scores, 3) == pytest.approx(2 / 3)
    assert recall_at_k(y, scores, 6) == 1.0


def test_ties_keep_row_order_so_results_are_deterministic() -> None:
    mask = top_k_mask([0.5, 0.5, 0.5, 0.1], 2)
    assert mask.tolist() == [True, True, False, False]


def test_k_for_fraction_is_at_least_one_row() -> None:
    assert k_for_fraction(50, 0.01) == 1
    assert k_for_fraction(1000, 0.02) == 20
    assert k_for_fraction(0, 0.1) == 0
    with pytest.raises(ValueError, match="fraction"):
        k_for_fraction(10, 0)


def test_report_has_lift_over_random_and_auc() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(1000) < 0.05
    scores = y * 0.5 + rng.random(1000)
    report = ranking_report(y, scores, capacity_fraction=0.03,
                            probabilities=scores / scores.max())
    assert report["base_rate"] == pytest.approx(y.mean())
    assert report["lift_at_2pct"] == pytest.approx(report["precision_at_2pct"] / y.mean())
    assert report["roc_auc"] > 0.8
    assert 0 < report["pr_auc"] <= 1
    assert "precision_at_capacity" in report
    assert 0 <= report["brier"] <= 1


def test_random_scores_have_lift_near_one() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(200_000) < 0.05
    report = ranking_report(y, rng.random(200_000))
    assert report["lift_at_10pct"] == pytest.approx(1.0, abs=0.1)
    assert report["roc_auc"] == pytest.approx(0.5, abs=0.01)


def test_brier_needs_probabilities() -> None:
    report = ranking_report([0, 1, 0, 1], [3.0, 10.0, 1.0, 7.0])
    assert math.isnan(report["brier"])
    assert report["roc_auc"] == 1.0
    assert math.isnan(ranking_report([0, 1], [0.2, 0.8])["brier"])  # scores, not probabilities
    with_p = ranking_report([0, 1], [0.2, 0.8], probabilities=[0.2, 0.8])
    assert with_p["brier"] == pytest.approx(0.04)


def test_reliability_curve_bins_hold_every_row() -> None:
    p = np.linspace(0.01, 0.99, 100)
    y = (p > 0.5).astype(int)
    curve = reliability_curve(y, p, bins=5)
    assert sum(curve.count) == 100
    assert curve.observed_rate[0] == 0.0
    assert curve.observed_rate[-1] == 1.0
    assert curve.mean_predicted == sorted(curve.mean_predicted)

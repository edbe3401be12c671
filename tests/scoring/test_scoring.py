"""Who gets a score: every active licensee, as the contract says."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.pipelines.peers import peer_counts, peer_percentile, peer_percentiles
from features.pipelines.tables import EventTables
from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.reasons import Peers, top_reasons
from scoring.score import rankable_features, score_list

AS_OF = dt.date(2024, 1, 1)


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


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.sampled_from([np.nan, -0.0, 0.0, 1.0, 1.0, 2.5, 7.0, -3.0]),
                    min_size=0, max_size=60),
    groups=st.lists(st.sampled_from(["01", "02", "07", "unknown"]), min_size=60, max_size=60),
)
def test_list_peer_percentiles_equal_the_one_definition(
    values: list[float], groups: list[str]
) -> None:
    column = np.asarray(values, dtype=float)
    matrix = np.column_stack([column, column[::-1]]) if column.size else np.empty((0, 2))
    names = np.asarray(groups[: column.size], dtype=object)
    _, codes = np.unique(names.astype(str), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    expected = np.column_stack([peer_percentile(matrix[:, j], codes, matrix[:, j], codes)
                                for j in range(2)]) if column.size else np.empty((0, 2))
    assert np.array_equal(peer_percentiles(matrix, names), expected, equal_nan=True)


def _model_world(n: int = 400) -> tuple[pd.DataFrame, ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(7)
    numbers = [f"9-99-001-{'01' if i % 3 else '02'}-ZZ-{i:05d}" for i in range(n)]
    features = pd.DataFrame({
        "traces_3y": rng.poisson(2, n).astype(float),
        "never_inspected": rng.integers(0, 2, n).astype(float),
        "traces_per_1k_sales_3y": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2, 1, n)),
    }, index=pd.Index(numbers, name="license_number"))
    y = (rng.random(n) < 0.05 + 0.08 * features["traces_3y"].clip(0, 5)).astype(int)
    model = RiskModel(num_boost_round=25).fit(features, y)
    bundle = ModelBundle(model, PlattCalibrator.fit(model.predict_raw(features), y), [])
    dealers = pd.DataFrame({
        "license_number": numbers,
        "license_type": [number.split("-")[3] for number in numbers],
        "business_name": [None if i % 50 == 0 else f"Shop {i} (synthetic)" for i in range(n)],
        "premise_state": "TX",
    })
    return features, bundle, dealers


def test_scored_list_is_additive_ranked_and_explained_in_catalogue_words() -> None:
    features, bundle, dealers = _model_world()
    scored = score_list(features, bundle, dealers, model_version="3", as_of=AS_OF)
    rows = scored.rows
    raw = bundle.model.predict_raw(features.loc[rows["license_number"]])
    assert np.allclose(scored.base_value + scored.contributions.sum(axis=1), raw, atol=1e-6)
    # The stored raw score is the explanation's sum: LightGBM's margin to rounding.
    assert np.allclose(rows["raw_score"].to_numpy(),
                       scored.base_value + scored.contributions.sum(axis=1), rtol=0, atol=1e-12)
    assert np.allclose(rows["raw_score"].to_numpy(), raw, rtol=0, atol=1e-9)
    # Rank 1 has the highest raw score; ties go by license number.
    key = list(zip(-rows["raw_score"], rows["license_number"], strict=True))
    assert key == sorted(key)
    assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    peers = Peers.of(rows["license_type"].tolist(), rows["premise_state"].tolist())
    expected = [[reason.text for reason in row] for row in top_reasons(
        pd.DataFrame(scored.contributions, columns=list(scored.features)),
        pd.DataFrame(scored.feature_values, columns=list(scored.features)), 4, peers)]
    assert rows["top_reasons"].tolist() == expected
    # Missing profile text stays None; the columns not in the dealers table are None too.
    assert rows["business_name"].isna().sum() == 8
    assert all(value is None for value in rows["premise_city"])
    assert all(value is None or isinstance(value, str) for value in rows["business_name"])


def test_scoring_twice_gives_the_same_list() -> None:
    features, bundle, dealers = _model_world()
    first = score_list(features, bundle, dealers, model_version="3", as_of=AS_OF)
    again = score_list(features.sample(frac=1.0, random_state=3), bundle, dealers,
                       model_version="3", as_of=AS_OF)
    # In license order (as features are built) ties are ranked by a shorter path.
    ordered = score_list(features.sort_index(), bundle, dealers, model_version="3", as_of=AS_OF)
    assert not features.index.is_monotonic_increasing
    assert first.rows["raw_score"].duplicated().sum() > 10  # ties to break
    for other in (again, ordered):
        pd.testing.assert_frame_equal(first.rows, other.rows)
        assert np.array_equal(first.contributions, other.contributions)
        assert np.array_equal(first.peer_percentiles, other.peer_percentiles, equal_nan=True)


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.sampled_from([np.nan, -0.0, 0.0, 1.0, 2.5, 2.5, 7.0]),
                       min_size=1, max_size=40),
       blocks=st.lists(st.integers(0, 3), min_size=40, max_size=40))
def test_peer_counts_are_the_counts_a_person_would_make(values: list[float],
                                                        blocks: list[int]) -> None:
    own = np.asarray(values, dtype=float)
    codes = np.asarray(blocks[: own.size], dtype=np.int64)
    below, equal, peers = peer_counts(own, codes)
    for i, value in enumerate(values):
        group = [v for v, b in zip(values, codes, strict=True) if b == codes[i] and v == v]
        if value != value:  # unknown: no comparison
            assert (below[i], equal[i], peers[i]) == (0, 0, 0)
            continue
        assert below[i] == sum(v < value for v in group)
        assert equal[i] == sum(v == value for v in group)
        assert peers[i] == len(group)

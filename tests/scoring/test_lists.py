"""Stored scored lists: one artifact each, read back exactly, never replaced or reused."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, func, select, update

from data.store import open_store
from scoring.lists import (
    ArtifactMissing,
    from_parquet,
    latest_list,
    list_info,
    read_score_list,
    score_list_artifacts,
    score_lists,
    scores,
    store_score_list,
    to_parquet,
)
from scoring.score import PROFILE_COLUMNS, ScoredList

AS_OF = dt.date(2024, 1, 1)
NOW = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def _scored(version: str = "1", n: int = 5, seed: int = 0) -> ScoredList:
    rng = np.random.default_rng(seed)
    features = ("traces_3y", "years_licensed")
    values = rng.normal(size=(n, 2))
    values[1, 0] = np.nan  # an unknown value survives the round trip
    contributions = rng.normal(size=(n, 2))
    base = -3.0
    raw = base + contributions.sum(axis=1)
    order = np.argsort(-raw)
    numbers = [f"9-99-001-01-ZZ-{i:05d}" for i in range(n)]
    rows = pd.DataFrame({
        "license_number": [numbers[i] for i in order],
        "score": 1 / (1 + np.exp(-raw[order])),
        "raw_score": raw[order],
        "rank": np.arange(1, n + 1),
        "percentile": 100.0 * (n - np.arange(1, n + 1)) / n,
        "top_reasons": [[f"reason {i}", "second"] if i % 2 else [] for i in range(n)],
        **{name: pd.Series([None if i == 0 else f"{name} {i}" for i in range(n)], dtype=object)
           for name in PROFILE_COLUMNS},
    })
    return ScoredList(
        model_version=version, as_of=AS_OF, catalogue_version="test-1", base_value=base,
        features=features, rows=rows, feature_values=values[order],
        contributions=contributions[order], peer_percentiles=rng.uniform(0, 100, (n, 2)),
    )


def _store(url: str, scored: ScoredList) -> int:
    engine = open_store(url)
    try:
        return store_score_list(engine, scored, model_name="dealer-risk", calibration="test",
                                created_at=NOW)
    finally:
        engine.dispose()


def test_a_stored_list_reads_back_exactly(store_url: str) -> None:
    scored = _scored()
    list_id = _store(store_url, scored)
    engine = open_store(store_url)
    try:
        back = read_score_list(engine, list_id)
        info = list_info(engine, list_id)
        with engine.connect() as connection:
            narrow = connection.execute(select(func.count()).select_from(scores)
                                        .where(scores.c.list_id == list_id)).scalar_one()
    finally:
        engine.dispose()
    assert (back.model_version, back.as_of, back.catalogue_version, back.base_value,
            back.features) == ("1", AS_OF, "test-1", -3.0, scored.features)
    np.testing.assert_array_equal(back.feature_values, scored.feature_values)
    np.testing.assert_array_equal(back.contributions, scored.contributions)
    np.testing.assert_array_equal(back.peer_percentiles, scored.peer_percentiles)
    assert back.rows["top_reasons"].tolist() == scored.rows["top_reasons"].tolist()
    for column in ("license_number", "rank", "score", "raw_score", "percentile",
                   *PROFILE_COLUMNS):
        assert back.rows[column].tolist() == scored.rows[column].tolist(), column
    # A missing profile value stays None (what the list's items and pages show).
    assert back.rows["business_name"].tolist()[0] is None
    # Every listed licensee's explanation adds up from what was stored.
    np.testing.assert_allclose(back.base_value + back.contributions.sum(axis=1),
                               back.rows["raw_score"], atol=1e-12)
    assert info is not None and info.has_artifact and info.licensee_count == 5
    assert info.synthetic_licensees == 5  # every test license number carries "ZZ"
    assert narrow == 5


def test_scoring_again_makes_a_new_list_and_ids_are_never_reused(store_url: str) -> None:
    first = _store(store_url, _scored())
    second = _store(store_url, _scored(seed=1))  # same model version and date
    assert second > first
    engine = open_store(store_url)
    try:
        assert read_score_list(engine, first).rows["raw_score"].tolist() != read_score_list(
            engine, second).rows["raw_score"].tolist()
        # Even after the newest list is deleted, its id is not handed out again.
        with engine.begin() as connection:
            connection.execute(delete(scores).where(scores.c.list_id == second))
            connection.execute(delete(score_list_artifacts)
                               .where(score_list_artifacts.c.list_id == second))
            connection.execute(delete(score_lists).where(score_lists.c.list_id == second))
    finally:
        engine.dispose()
    third = _store(store_url, _scored(seed=2))
    assert third > second


def test_the_newest_servable_list_is_chosen_by_date_then_id(store_url: str) -> None:
    old = _store(store_url, _scored(version="1"))
    newer = _store(store_url, _scored(version="2"))
    engine = open_store(store_url)
    try:
        assert latest_list(engine).list_id == newer  # type: ignore[union-attr]
        assert latest_list(engine, model_version="1").list_id == old  # type: ignore[union-attr]
        assert latest_list(engine, model_version="3") is None
        # A list without an artifact (stored before artifacts existed) is not servable.
        with engine.begin() as connection:
            connection.execute(delete(score_list_artifacts)
                               .where(score_list_artifacts.c.list_id == newer))
        assert latest_list(engine).list_id == newer  # type: ignore[union-attr]
        assert latest_list(engine, servable=True).list_id == old  # type: ignore[union-attr]
        with pytest.raises(ArtifactMissing, match="run `dealer-risk score`"):
            read_score_list(engine, newer)
    finally:
        engine.dispose()


def test_an_artifact_that_does_not_match_its_hash_is_refused(sqlite_url: str) -> None:
    list_id = _store(sqlite_url, _scored())
    engine = open_store(sqlite_url)
    try:
        with engine.begin() as connection:
            connection.execute(update(score_list_artifacts)
                               .where(score_list_artifacts.c.list_id == list_id)
                               .values(sha256="0" * 64))
        with pytest.raises(ValueError, match="does not match its recorded hash"):
            read_score_list(engine, list_id)
    finally:
        engine.dispose()


def test_a_list_stored_with_its_lowering_reasons_still_reads() -> None:
    """Files written while ``score`` stored what speaks for every licensee carry a
    ``lowering_reasons`` column; the explanation now tells them from the contributions,
    and the old column is left unread."""
    scored = _scored(n=8, seed=3)
    table = pq.read_table(pa.BufferReader(to_parquet(scored, "dealer-risk")))
    assert "lowering_reasons" not in table.column_names
    old = io.BytesIO()
    pq.write_table(table.append_column(
        "lowering_reasons", pa.array([["for it"]] * 8, type=pa.list_(pa.string()))), old)
    back = from_parquet(old.getvalue())
    assert "lowering_reasons" not in back.rows.columns
    assert back.rows["top_reasons"].tolist() == scored.rows["top_reasons"].tolist()
    np.testing.assert_array_equal(back.contributions, scored.contributions)

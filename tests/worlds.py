"""The session's trained generated world, shared by every test folder (a pytest plugin).

Registered by the root conftest (``pytest_plugins``), so the monitoring, planning and
serving tests get one instance of each fixture: the world is generated, trained and
scored once per session. The helpers the fixtures use are in ``tests.monitoring.conftest``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from data.settings import get_settings
from data.store import open_store
from data.store.read import read_tables
from scoring.lists import latest_list, read_score_list
from scoring.score import ScoredList
from tests.homes import home_settings
from tests.monitoring.conftest import AS_OF, TrainedWorld, build_world, invoke, train_world


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorld:
    """A 4,000-licensee world (2014-2023), trained as of 2024-01-01 and promoted."""
    root = tmp_path_factory.mktemp("monitoring-world")
    world, truth = build_world(root, dealers=4_000, seed=4242, end=dt.date(2023, 12, 31))
    return train_world(root, world, truth)


@pytest.fixture(scope="session")
def scored_world(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[ScoredList, dict[str, pd.DataFrame]]]:
    """The session world scored as of AS_OF in a store of its own: its list and frames.

    Shared by every test that needs the real list of a trained generated world (the
    monitoring coverage test, the plan estimate's test), so the world is trained once.
    """
    root = tmp_path_factory.mktemp("coverage")
    with home_settings(trained_world.home, f"sqlite:///{root / 'store.db'}",
                       trained_world.tracking_uri):
        invoke("ingest", str(trained_world.world))
        invoke("score", "--as-of", AS_OF.isoformat(), "--out", str(root / "scores.csv"))
        engine = open_store(get_settings().database_url)
        try:
            listing = latest_list(engine, servable=True)
            assert listing is not None
            scored_list = read_score_list(engine, listing.list_id)
            frames = read_tables(engine, known_before=AS_OF,
                                 names=("dealers", "inspections"))
        finally:
            engine.dispose()
    yield scored_list, frames

"""Shared fixtures: stores on SQLite and on the real PostgreSQL server.

Every test that takes ``store_url`` runs twice, once against a SQLite file and once
against PostgreSQL at 127.0.0.1:5432 in a schema of its own, so concurrent runs (a
developer and CI on one machine) never see each other's rows. PostgreSQL is not optional:
a run that cannot reach it fails, unless ``DEALER_RISK_SKIP_POSTGRES=1`` says otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text

from tests.homes import home_settings

#: The session's trained generated world (``trained_world``, ``scored_world``), one
#: instance for every folder's tests.
pytest_plugins = ["tests.worlds"]

POSTGRES_ADMIN_URL = os.environ.get(
    "DEALER_RISK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
REAL_DATA_DIR = SHARED_DIR / "data" / "real"


def _skip_postgres() -> bool:
    return os.environ.get("DEALER_RISK_SKIP_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test database, used to create and drop per-test schemas."""
    if _skip_postgres():
        pytest.skip("DEALER_RISK_SKIP_POSTGRES=1")
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@contextmanager
def postgres_schema(admin: Engine, prefix: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards.

    ``prefix`` names who made it (``dr_test``, ``dr_mon`` ...); the pid and a random part
    keep concurrent runs apart.
    """
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = POSTGRES_ADMIN_URL.split("?")[0]
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            # Connections of the code under test may still be open; end them first.
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND query ILIKE :pattern"
                ),
                {"pattern": f"%{schema}%"},
            )
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with postgres_schema(postgres_admin, "dr_test") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def dealer_risk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private DEALER_RISK_HOME with the settings cache cleared around the test."""
    with home_settings(tmp_path / "home", patch=monkeypatch) as home:
        yield home


def make_planted_world(n_dealers: int = 1500, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A small world in contract form whose serious outcomes follow a planted signal.

    One licensee in ten diverts guns: more traces per sale, shorter time-to-crime, and a
    much higher chance that an inspection ends serious. Everything else is noise. Dates
    span 2014-2023, so training as of 2023 has several years of history.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    numbers = [f"9-99-{i % 1000:03d}-01-ZZ-{i:05d}" for i in range(n_dealers)]
    types = rng.choice(["01", "02", "07"], size=n_dealers, p=[0.7, 0.15, 0.15])
    diverter = rng.random(n_dealers) < 0.1
    sales = np.round(rng.lognormal(5, 1, n_dealers)).astype(int)
    dealers = pd.DataFrame({
        "license_number": numbers,
        "license_type": types,
        "business_name": [f"Test Arms {i} (synthetic)" for i in range(n_dealers)],
        "premise_city": "Testville",
        "premise_state": rng.choice(["TX", "AZ", "OH", "PA"], size=n_dealers),
        "license_issue_date": pd.Timestamp("2005-01-01"),
        "annual_firearm_sales": sales,
        "field_division": rng.choice(["Houston", "Phoenix", "Columbus"], size=n_dealers),
        "urbanicity": rng.choice(["urban", "suburban", "rural"], size=n_dealers),
    })
    start, end = pd.Timestamp("2014-01-01"), pd.Timestamp("2023-12-31")
    span_days = (end - start).days
    trace_counts = rng.poisson(sales / 1000 * 30 * (1 + 4 * diverter))
    owner = np.repeat(np.arange(n_dealers), trace_counts)
    purchase = start + pd.to_timedelta(rng.integers(0, span_days, owner.size), unit="D")
    ttc_mean = np.where(diverter[owner], 250, 1500)
    recovery = purchase + pd.to_timedelta(rng.exponential(ttc_mean).astype(int), unit="D")
    traces = pd.DataFrame({
        "trace_id": [f"T{i:07d}" for i in range(owner.size)],
        "license_number": np.asarray(numbers)[owner],
        "firearm_type": rng.choice(["pistol", "rifle", "revolver"], size=owner.size),
        "purchase_date": purchase,
        "recovery_date": recovery,
        "trace_date": recovery + pd.to_timedelta(rng.integers(1, 60, owner.size), unit="D"),
        "recovery_country": np.where(diverter[owner] & (rng.random(owner.size) < 0.2), "MX", "US"),
        "purchaser_is_possessor": rng.random(owner.size) < np.where(diverter[owner], 0.3, 0.7),
        "serial_obliterated": rng.random(owner.size) < 0.02,
    })
    traces = traces[traces["trace_date"] <= end].reset_index(drop=True)
    ms_counts = rng.poisson(3 * (1 + 2 * diverter))
    ms_owner = np.repeat(np.arange(n_dealers), ms_counts)
    multiple_sales = pd.DataFrame({
        "report_id": [f"M{i:07d}" for i in range(ms_owner.size)],
        "license_number": np.asarray(numbers)[ms_owner],
        "report_date": start + pd.to_timedelta(rng.integers(0, span_days, ms_owner.size), "D"),
        "form": "3310.4",
        "firearm_count": rng.integers(2, 6, ms_owner.size),
        "purchaser_key": [f"P{k}" for k in rng.integers(0, 5000, ms_owner.size)],
    })
    inspection_counts = rng.poisson(1.5, n_dealers)
    in_owner = np.repeat(np.arange(n_dealers), inspection_counts)
    serious = rng.random(in_owner.size) < np.where(diverter[in_owner], 0.45, 0.03)
    inspections = pd.DataFrame({
        "inspection_id": [f"I{i:07d}" for i in range(in_owner.size)],
        "license_number": np.asarray(numbers)[in_owner],
        "inspection_date": start + pd.to_timedelta(rng.integers(0, span_days, in_owner.size), "D"),
        "inspection_type": "compliance",
        "outcome": np.where(serious, "warning_conference",
                            rng.choice(["no_violations", "violations_cited"], in_owner.size)),
        "violation_count": np.where(serious, 4, 0),
        "missing_firearms": 0,
        "violation_codes": None,
    })
    theft_loss = pd.DataFrame({
        "report_id": ["L0000001"],
        "license_number": [numbers[0]],
        "report_date": [pd.Timestamp("2020-05-05")],
        "kind": ["theft"],
        "firearm_count": [3],
    })
    return {"dealers": dealers, "traces": traces, "multiple_sales": multiple_sales,
            "inspections": inspections, "theft_loss": theft_loss}


@pytest.fixture(scope="session")
def planted_world() -> dict[str, pd.DataFrame]:
    """A 1,500-licensee world with a planted signal (see :func:`make_planted_world`)."""
    return make_planted_world()

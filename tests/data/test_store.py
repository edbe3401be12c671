"""The store migrates itself on first use, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from data.store import open_store, table_counts
from data.store.engine import current_revision, head_revision


def test_first_use_creates_every_contract_table(store_url: str) -> None:
    engine = open_store(store_url)
    tables = set(inspect(engine).get_table_names())
    assert {"dealers", "traces", "multiple_sales", "inspections", "theft_loss"} <= tables
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_opening_twice_keeps_the_schema_and_rows(store_url: str) -> None:
    engine = open_store(store_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO dealers (license_number, license_type, business_name, premise_state) "
            "VALUES ('9-99-999-01-9Z-00001', '01', 'Synthetic Test Arms', 'TX')"
        )
    engine.dispose()
    again = open_store(store_url)
    assert current_revision(again) == head_revision()
    assert table_counts(again)["dealers"] == 1
    again.dispose()


def test_status_keys_are_the_contract_tables(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    assert list(table_counts(engine)) == [
        "dealers", "traces", "multiple_sales", "inspections", "theft_loss",
    ]


def test_migrations_match_the_table_definitions(store_url: str) -> None:
    """Alembic's autogenerate finds nothing to add: the declarations and migrations agree.

    The contract's tables are derived from ``data.contract``; the scored lists' tables
    are declared by ``scoring.lists`` and serving's by ``serving.tables``, all on the one
    metadata the migrations build.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import monitoring.results
    import planning.plans
    import scoring.lists
    import serving.tables
    from data.store.schema import metadata

    assert {"score_lists", "scores", "score_list_artifacts"} <= set(
        scoring.lists.metadata.tables)
    assert {"api_users", "api_sessions", "audit_log"} <= set(serving.tables.metadata.tables)
    assert {"plans", "plan_rows", "plan_marks"} <= set(planning.plans.metadata.tables)
    assert "monitor_results" in monitoring.results.metadata.tables

    engine = open_store(store_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []

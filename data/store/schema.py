"""SQLAlchemy table definitions of the store.

The contract's five tables are derived from their one declaration in ``data.contract``
(types, keys, widths, the licensee link, the known-date index); Alembic migrations under
``migrations/`` create them, and a test checks that the migrated store equals this
metadata.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeEngine

from data.contract import TABLES, Kind
from data.contract import Column as ContractColumn
from data.contract import Table as ContractTable

metadata = MetaData()

def _column_type(column: ContractColumn) -> TypeEngine[Any]:
    match column.kind:
        case Kind.DATE:
            return Date()
        case Kind.INTEGER:
            return Integer()
        case Kind.BOOLEAN:
            return Boolean()
        case Kind.TEXT:
            return String(column.width)


def _store_table(spec: ContractTable) -> Table:
    """The store's table of one contract table: its columns, key, licensee link and index."""
    columns = [
        Column(
            column.name,
            _column_type(column),
            *([ForeignKey("dealers.license_number")]
              if spec.references_dealers and column.name == "license_number" else []),
            primary_key=column.name == spec.id_column,
            nullable=not column.required,
        )
        for column in spec.columns
    ]
    indexes = []
    if spec.known_date is not None:
        # Per-licensee reads in known-date order (explanations, history, the pipelines).
        indexes.append(Index(f"ix_{spec.name}_license_number_{spec.known_date}",
                             "license_number", spec.known_date))
    return Table(spec.name, metadata, *columns, *indexes)


#: Store tables by contract table name, derived from ``data.contract`` (declared once).
CONTRACT_TABLES: dict[str, Table] = {spec.name: _store_table(spec) for spec in TABLES}
dealers = CONTRACT_TABLES["dealers"]
traces = CONTRACT_TABLES["traces"]
multiple_sales = CONTRACT_TABLES["multiple_sales"]
inspections = CONTRACT_TABLES["inspections"]
theft_loss = CONTRACT_TABLES["theft_loss"]

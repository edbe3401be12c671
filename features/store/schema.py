"""SQLAlchemy table definitions of the store.

The contract's five tables, typed as the contract says. Alembic migrations under
``migrations/`` create them; this module is the source they were written from and what
queries use.
"""

from __future__ import annotations

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

metadata = MetaData()

dealers = Table(
    "dealers",
    metadata,
    Column("license_number", String(32), primary_key=True),
    Column("license_type", String(2), nullable=False),
    Column("business_name", String(200), nullable=False),
    Column("premise_city", String(100)),
    Column("premise_state", String(2), nullable=False),
    Column("premise_zip", String(5)),
    Column("county_fips", String(5)),
    Column("license_issue_date", Date),
    Column("annual_firearm_sales", Integer),
    Column("field_division", String(100)),
    Column("urbanicity", String(8)),
)

_LICENSEE = "dealers.license_number"

traces = Table(
    "traces",
    metadata,
    Column("trace_id", String(64), primary_key=True),
    Column("license_number", String(32), ForeignKey(_LICENSEE), nullable=False),
    Column("firearm_type", String(16), nullable=False),
    Column("caliber", String(32)),
    Column("purchase_date", Date, nullable=False),
    Column("recovery_date", Date, nullable=False),
    Column("trace_date", Date, nullable=False),
    Column("recovery_country", String(2), nullable=False),
    Column("recovery_state", String(32)),
    Column("purchaser_is_possessor", Boolean),
    Column("serial_obliterated", Boolean),
    Index("ix_traces_license_number_trace_date", "license_number", "trace_date"),
)

multiple_sales = Table(
    "multiple_sales",
    metadata,
    Column("report_id", String(64), primary_key=True),
    Column("license_number", String(32), ForeignKey(_LICENSEE), nullable=False),
    Column("report_date", Date, nullable=False),
    Column("form", String(8), nullable=False),
    Column("firearm_count", Integer, nullable=False),
    Column("purchaser_key", String(64)),
    Index("ix_multiple_sales_license_number_report_date", "license_number", "report_date"),
)

inspections = Table(
    "inspections",
    metadata,
    Column("inspection_id", String(64), primary_key=True),
    Column("license_number", String(32), ForeignKey(_LICENSEE), nullable=False),
    Column("inspection_date", Date, nullable=False),
    Column("inspection_type", String(16), nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("violation_count", Integer, nullable=False),
    Column("missing_firearms", Integer),
    Column("violation_codes", String(2000)),
    Index("ix_inspections_license_number_inspection_date", "license_number", "inspection_date"),
)

theft_loss = Table(
    "theft_loss",
    metadata,
    Column("report_id", String(64), primary_key=True),
    Column("license_number", String(32), ForeignKey(_LICENSEE), nullable=False),
    Column("report_date", Date, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("firearm_count", Integer, nullable=False),
    Index("ix_theft_loss_license_number_report_date", "license_number", "report_date"),
)

#: Store tables by contract table name.
CONTRACT_TABLES: dict[str, Table] = {
    "dealers": dealers,
    "traces": traces,
    "multiple_sales": multiple_sales,
    "inspections": inspections,
    "theft_loss": theft_loss,
}

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
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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

# --- Serving state: scored lists, users, audit log (migration 0002) -------------------

score_lists = Table(
    "score_lists",
    metadata,
    Column("list_id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(100), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("licensee_count", Integer, nullable=False),
    Column("calibration", Text),
    UniqueConstraint("model_name", "model_version", "as_of", name="uq_score_lists_model_as_of"),
)

scores = Table(
    "scores",
    metadata,
    Column("list_id", Integer, ForeignKey("score_lists.list_id", ondelete="CASCADE"),
           primary_key=True),
    Column("license_number", String(32), primary_key=True),
    Column("score", Float, nullable=False),
    Column("raw_score", Float, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("percentile", Float, nullable=False),
    Column("top_reasons", Text, nullable=False),
    Index("ix_scores_list_id_rank", "list_id", "rank"),
    Index("ix_scores_license_number", "license_number"),
)

api_users = Table(
    "api_users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("division", String(100)),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("resource", String(300), nullable=False),
    Column("model_version", String(32)),
    Column("as_of", Date),
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
)

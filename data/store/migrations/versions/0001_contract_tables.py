"""The data contract's five tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LICENSEE = "dealers.license_number"


def upgrade() -> None:
    op.create_table(
        "dealers",
        sa.Column("license_number", sa.String(32), primary_key=True),
        sa.Column("license_type", sa.String(2), nullable=False),
        sa.Column("business_name", sa.String(200), nullable=False),
        sa.Column("premise_city", sa.String(100)),
        sa.Column("premise_state", sa.String(2), nullable=False),
        sa.Column("premise_zip", sa.String(5)),
        sa.Column("county_fips", sa.String(5)),
        sa.Column("license_issue_date", sa.Date),
        sa.Column("annual_firearm_sales", sa.Integer),
        sa.Column("field_division", sa.String(100)),
        sa.Column("urbanicity", sa.String(8)),
    )
    op.create_table(
        "traces",
        sa.Column("trace_id", sa.String(64), primary_key=True),
        sa.Column("license_number", sa.String(32), sa.ForeignKey(_LICENSEE), nullable=False),
        sa.Column("firearm_type", sa.String(16), nullable=False),
        sa.Column("caliber", sa.String(32)),
        sa.Column("purchase_date", sa.Date, nullable=False),
        sa.Column("recovery_date", sa.Date, nullable=False),
        sa.Column("trace_date", sa.Date, nullable=False),
        sa.Column("recovery_country", sa.String(2), nullable=False),
        sa.Column("recovery_state", sa.String(32)),
        sa.Column("purchaser_is_possessor", sa.Boolean),
        sa.Column("serial_obliterated", sa.Boolean),
    )
    op.create_index(
        "ix_traces_license_number_trace_date", "traces", ["license_number", "trace_date"]
    )
    op.create_table(
        "multiple_sales",
        sa.Column("report_id", sa.String(64), primary_key=True),
        sa.Column("license_number", sa.String(32), sa.ForeignKey(_LICENSEE), nullable=False),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("form", sa.String(8), nullable=False),
        sa.Column("firearm_count", sa.Integer, nullable=False),
        sa.Column("purchaser_key", sa.String(64)),
    )
    op.create_index(
        "ix_multiple_sales_license_number_report_date",
        "multiple_sales",
        ["license_number", "report_date"],
    )
    op.create_table(
        "inspections",
        sa.Column("inspection_id", sa.String(64), primary_key=True),
        sa.Column("license_number", sa.String(32), sa.ForeignKey(_LICENSEE), nullable=False),
        sa.Column("inspection_date", sa.Date, nullable=False),
        sa.Column("inspection_type", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("violation_count", sa.Integer, nullable=False),
        sa.Column("missing_firearms", sa.Integer),
        sa.Column("violation_codes", sa.String(2000)),
    )
    op.create_index(
        "ix_inspections_license_number_inspection_date",
        "inspections",
        ["license_number", "inspection_date"],
    )
    op.create_table(
        "theft_loss",
        sa.Column("report_id", sa.String(64), primary_key=True),
        sa.Column("license_number", sa.String(32), sa.ForeignKey(_LICENSEE), nullable=False),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("firearm_count", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_theft_loss_license_number_report_date", "theft_loss", ["license_number", "report_date"]
    )


def downgrade() -> None:
    for table in ("theft_loss", "inspections", "multiple_sales", "traces", "dealers"):
        op.drop_table(table)

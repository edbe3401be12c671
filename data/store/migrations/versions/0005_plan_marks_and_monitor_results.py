"""Inspectors' "not inspected" marks on plan rows, and the stored results of `monitor`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_marks",
        sa.Column("plan_id", sa.Integer, primary_key=True),
        sa.Column("license_number", sa.String(32), primary_key=True),
        sa.Column("field_division", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("marked_by", sa.String(100), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id", "license_number"],
                                ["plan_rows.plan_id", "plan_rows.license_number"],
                                ondelete="CASCADE"),
    )
    op.create_table(
        "monitor_results",
        sa.Column("result_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_monitor_results_model_version_as_of", "monitor_results",
                    ["model_version", "as_of"])


def downgrade() -> None:
    op.drop_index("ix_monitor_results_model_version_as_of", table_name="monitor_results")
    op.drop_table("monitor_results")
    op.drop_table("plan_marks")

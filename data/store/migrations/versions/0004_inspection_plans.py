"""Inspection plans and their rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("list_id", sa.Integer, sa.ForeignKey("score_lists.list_id"), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "plan_rows",
        sa.Column(
            "plan_id",
            sa.Integer,
            sa.ForeignKey("plans.plan_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("license_number", sa.String(32), primary_key=True),
        sa.Column("field_division", sa.String(100), nullable=False),
        sa.Column("selected_by", sa.String(16), nullable=False),
        sa.Column("selection_probability", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_rows")
    op.drop_table("plans")

"""Scored lists, API users and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_lists",
        sa.Column("list_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("licensee_count", sa.Integer, nullable=False),
        sa.Column("calibration", sa.Text),
        sa.UniqueConstraint(
            "model_name", "model_version", "as_of", name="uq_score_lists_model_as_of"
        ),
    )
    op.create_table(
        "scores",
        sa.Column(
            "list_id",
            sa.Integer,
            sa.ForeignKey("score_lists.list_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("license_number", sa.String(32), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("raw_score", sa.Float, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("percentile", sa.Float, nullable=False),
        sa.Column("top_reasons", sa.Text, nullable=False),
    )
    op.create_index("ix_scores_list_id_rank", "scores", ["list_id", "rank"])
    op.create_index("ix_scores_license_number", "scores", ["license_number"])
    op.create_table(
        "api_users",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("division", sa.String(100)),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("model_version", sa.String(32)),
        sa.Column("as_of", sa.Date),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("api_users")
    op.drop_table("scores")
    op.drop_table("score_lists")

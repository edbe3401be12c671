"""Server-side page sessions; token expiry and revocation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_users") as batch:
        batch.add_column(sa.Column("token_issued_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("token_expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True)))
    op.create_table(
        "api_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("api_users.user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_api_sessions_user_id", "api_sessions", ["user_id"])
    op.create_index("ix_api_sessions_expires_at", "api_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("api_sessions")
    with op.batch_alter_table("api_users") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("token_expires_at")
        batch.drop_column("token_issued_at")

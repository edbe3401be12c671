"""Scored lists as one artifact each, and list ids that are never reused.

A re-score of the same model version and date used to replace the stored list and, on
SQLite, give the new list the old id again. Lists are now never replaced: the unique
(model, version, as_of) constraint goes, SQLite's ids become AUTOINCREMENT (never
reused), and each list records its catalogue version, SHAP base value and how many of
its licensees are synthetic. ``score_list_artifacts`` holds each list's Parquet file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite rebuilds the table (env.py turns foreign keys off for that, so the rebuild
    # does not cascade into ``scores``); PostgreSQL alters it in place.
    with op.batch_alter_table(
        "score_lists", recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True} if sqlite else {},
    ) as batch:
        batch.drop_constraint("uq_score_lists_model_as_of", type_="unique")
        batch.add_column(sa.Column("catalogue_version", sa.String(32)))
        batch.add_column(sa.Column("base_value", sa.Float))
        batch.add_column(sa.Column("synthetic_licensees", sa.Integer))
    op.create_table(
        "score_list_artifacts",
        sa.Column(
            "list_id",
            sa.Integer,
            sa.ForeignKey("score_lists.list_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("byte_count", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("score_list_artifacts")
    with op.batch_alter_table("score_lists") as batch:
        batch.drop_column("synthetic_licensees")
        batch.drop_column("base_value")
        batch.drop_column("catalogue_version")
        batch.create_unique_constraint(
            "uq_score_lists_model_as_of", ["model_name", "model_version", "as_of"]
        )

"""Snapshot lineage (contract version, parents) and one row per ingestion.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("contract_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("parents", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("lineage", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "ingestions",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("snapshot_id", sa.String(64), nullable=False, index=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True, index=True),
        sa.Column("contract_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("quarantine_uri", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingestions")
    with op.batch_alter_table("snapshots") as batch:
        for column in ("lineage", "parents", "contract_version"):
            batch.drop_column(column)

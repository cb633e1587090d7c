"""Human oversight: a person's decision replacing the model's for one logged row, with
who and why (the newest per row stands; the audit log keeps every one).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("model_name", sa.String(255), primary_key=True),
        sa.Column("request_id", sa.String(255), primary_key=True),
        sa.Column("row", sa.Integer(), primary_key=True),
        sa.Column("decision", sa.Float(), nullable=False),  # a class, or a regressor's value
        sa.Column("model_decision", sa.Float(), nullable=True),  # what the model had answered
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("overrides")

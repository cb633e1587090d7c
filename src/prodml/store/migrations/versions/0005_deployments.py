"""Rollouts: each deployment's traffic policy, and every change of it with who, when and why.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("policy", sa.JSON(), nullable=False),
        # Bumped by every change: a writer that read revision n may only write n + 1, so two
        # analysers (or a person and an analyser) never both act on the same state.
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.String(255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),  # a person, or "analysis"
        sa.Column("action", sa.String(32), nullable=False),  # create, advance, promote, …
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),  # the policy from this change on
        sa.Column("figures", sa.JSON(), nullable=False),  # what a decision was made on
        sa.UniqueConstraint("deployment", "revision", name="uq_deployment_events_revision"),
    )


def downgrade() -> None:
    op.drop_table("deployment_events")
    op.drop_table("deployments")

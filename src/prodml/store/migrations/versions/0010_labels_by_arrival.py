"""Labels by arrival: an index on (model, received_at), so a rollout's analysis reads the
labels that came in since it began, and the controller counts new ones, without a scan
of every label the model ever had.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_labels_model_received", "labels", ["model_name", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_labels_model_received", table_name="labels")

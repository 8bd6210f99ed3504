"""outbox: when a message was first tried, so retries end after a window of time, not a count

Revision ID: 0010
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa
import orderbot.core.models


revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_attempt_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("first_attempt_at")

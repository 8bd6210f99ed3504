"""Orders: a partial index on the orders a channel freeze holds for review, so counting them at an unfreeze is
an index look-up instead of a walk over the channel's orders

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 20:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_held_channel",
            ["channel_code"],
            unique=False,
            sqlite_where=sa.text("review_hold IS 1"),
            postgresql_where=sa.text("review_hold IS true"),
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_held_channel")

"""live delay records (cause category, provider, last update), task reminders and task history

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-03 08:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import orderbot.core.models


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delays", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=24), server_default="other", nullable=False))
        batch_op.add_column(sa.Column("source", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("updated_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=True))

    op.create_table(
        "task_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_events_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_events")),
    )
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.create_index("ix_task_events_task_at", ["task_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.drop_index("ix_task_events_task_at")
    op.drop_table("task_events")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
    with op.batch_alter_table("delays", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("source")
        batch_op.drop_column("category")

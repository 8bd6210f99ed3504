"""WeCom AI bot: staff open_userid, the chats the bot may push to, answer feedback

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-03 08:40:00
"""

from alembic import op
import sqlalchemy as sa
import orderbot.core.models


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibot_chats",
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("chat_type", sa.String(length=8), nullable=False),
        sa.Column("first_seen", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_user", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_aibot_chats")),
    )
    op.create_table(
        "aibot_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("feedback_id", sa.String(length=256), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aibot_feedback")),
    )
    with op.batch_alter_table("aibot_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aibot_feedback_at"), ["at"], unique=False)

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wecom_open_userid", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_staff_wecom_open_userid"), ["wecom_open_userid"])


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_staff_wecom_open_userid"), type_="unique")
        batch_op.drop_column("wecom_open_userid")

    with op.batch_alter_table("aibot_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aibot_feedback_at"))

    op.drop_table("aibot_feedback")
    op.drop_table("aibot_chats")

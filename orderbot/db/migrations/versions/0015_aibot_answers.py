"""WeCom AI bot: the answers that carried a feedback id, so a rating is tied to its question and intent

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 18:00:00
"""

from alembic import op
import sqlalchemy as sa
import orderbot.core.models


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibot_answers",
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("at", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_aibot_answers")),
    )
    with op.batch_alter_table("aibot_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aibot_answers_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("aibot_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aibot_answers_at"))
    op.drop_table("aibot_answers")

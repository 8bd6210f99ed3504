"""pending confirmations: typed writes wait for their asker's 确认, ask-back choices for a pick

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-03 08:30:00
"""

from alembic import op
import sqlalchemy as sa
import orderbot.core.models


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_confirmations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("chat", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_confirmations")),
        sa.UniqueConstraint("token", name=op.f("uq_pending_confirmations_token")),
    )
    with op.batch_alter_table("pending_confirmations", schema=None) as batch_op:
        batch_op.create_index("ix_pending_confirmations_asker", ["staff_id", "chat", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_confirmations", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_confirmations_asker")
    op.drop_table("pending_confirmations")

"""master data columns on products, cause codes and compensation on carrier clauses, stock receipts

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 08:30:00
"""

from alembic import op
import sqlalchemy as sa
import orderbot.core.models


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_cost_cents", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reorder_point", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lead_time_days", sa.Integer(), nullable=True))

    with op.batch_alter_table("carrier_clauses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("causes", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("compensation", sa.Text(), nullable=True))

    op.create_table(
        "stock_receipts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=191), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.Column("po_no", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("expected_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("created_at", orderbot.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"], name=op.f("fk_stock_receipts_sku_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_receipts")),
        sa.UniqueConstraint("key", name=op.f("uq_stock_receipts_key")),
    )
    with op.batch_alter_table("stock_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_stock_receipts_state_sku", ["state", "sku", "expected_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stock_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_receipts_state_sku")
    op.drop_table("stock_receipts")
    with op.batch_alter_table("carrier_clauses", schema=None) as batch_op:
        batch_op.drop_column("compensation")
        batch_op.drop_column("causes")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("lead_time_days")
        batch_op.drop_column("reorder_point")
        batch_op.drop_column("unit_cost_cents")

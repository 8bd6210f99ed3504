"""indexes for report aggregates (delays by promised date, daily shipped/cancelled/returns, stock cover)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:30:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_orders_promised_date", "orders", ["promised_date"]),
    ("ix_orders_promised_override", "orders", ["promised_override"]),
    ("ix_orders_shipped_at", "orders", ["shipped_at"]),
    ("ix_orders_cancelled_at", "orders", ["cancelled_at"]),
    ("ix_orders_return_requested_at", "orders", ["return_requested_at"]),
    ("ix_orders_stage_since", "orders", ["stage_since"]),
    ("ix_stock_movements_sku_kind_at", "stock_movements", ["sku", "kind", "at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

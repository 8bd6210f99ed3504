"""index stock movements by kind and time (recent shipments of every SKU, for the stockout forecast), and orders
by status, stage and time at the stage (the pipeline's counts and stuck orders, covered by one index), replacing
the status-stage and the time-only indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 11:10:00
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_stock_movements_kind_at", "stock_movements", ["kind", "at"])
    op.drop_index("ix_orders_stage_since", table_name="orders")
    op.drop_index("ix_orders_status_stage", table_name="orders")
    op.create_index("ix_orders_status_stage_since", "orders", ["status", "stage", "stage_since"])


def downgrade() -> None:
    op.drop_index("ix_orders_status_stage_since", table_name="orders")
    op.create_index("ix_orders_status_stage", "orders", ["status", "stage"])
    op.create_index("ix_orders_stage_since", "orders", ["stage_since"])
    op.drop_index("ix_stock_movements_kind_at", table_name="stock_movements")

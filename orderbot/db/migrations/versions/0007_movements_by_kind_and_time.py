"""index stock movements by kind and time (recent shipments of every SKU, for the stockout forecast), and orders
by status, stage and time at the stage (the pipeline's counts and stuck orders, covered by one index), replacing
the status-stage and the time-only indexes; covering indexes for daily counts, cancel rates and the product mix

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 11:10:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_stock_movements_kind_at", "stock_movements", ["kind", "at", "sku", "qty"])
    op.drop_index("ix_orders_created_at", table_name="orders")
    op.create_index("ix_orders_created_status", "orders", ["created_at", "status"])
    op.drop_index("ix_order_lines_order_id", table_name="order_lines")
    op.create_index("ix_order_lines_order_sku_qty", "order_lines", ["order_id", "sku", "qty"])
    op.drop_index("ix_orders_stage_since", table_name="orders")
    op.drop_index("ix_orders_status_stage", table_name="orders")
    op.create_index("ix_orders_status_stage_since", "orders", ["status", "stage", "stage_since"])


def downgrade() -> None:
    op.drop_index("ix_order_lines_order_sku_qty", table_name="order_lines")
    op.create_index("ix_order_lines_order_id", "order_lines", ["order_id"])
    op.drop_index("ix_orders_created_status", table_name="orders")
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.drop_index("ix_orders_status_stage_since", table_name="orders")
    op.create_index("ix_orders_status_stage", "orders", ["status", "stage"])
    op.create_index("ix_orders_stage_since", "orders", ["stage_since"])
    op.drop_index("ix_stock_movements_kind_at", table_name="stock_movements")

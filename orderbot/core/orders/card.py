"""The order card: everything customer service needs about one order, found by any of its references.

One call, a handful of indexed queries, already filtered for the asker's role through `visibility.project`.
"""

from __future__ import annotations

import re
from datetime import datetime
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import VisibilityConfig
from orderbot.core.errors import OrderNotFound
from orderbot.core.models import (
    Communication,
    Customer,
    Order,
    OrderEvent,
    OrderLine,
    Package,
    Product,
    StockMovement,
    Task,
)
from orderbot.core.orders.customs import DOCS_TASK_TYPE
from orderbot.core.orders.promise import effective_promised
from orderbot.core.orders.schema import URGENCY_NAMES
from orderbot.core.orders.states import STAGE_NAMES, STATUS_NAMES, progress_line
from orderbot.core.orders.visibility import project

TRACKING_RE = re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$")
TIMELINE_LIMIT = 12
MESSAGES_LIMIT = 5


async def find_order_id(session: AsyncSession, ref: str) -> int:
    """Resolve an order number, channel order id or tracking number (order or package) to the order id."""
    order, _ = await _order_and_customer(session, ref)
    return order.id


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


# Built once: constructing a SELECT costs more than running an indexed one, so each call only binds values.
_BASE = select(Order, Customer).join(Customer, Customer.id == Order.customer_id)
_BY_ORDER_NO = _BASE.where(Order.order_no == bindparam("ref")).limit(1)
_BY_CHANNEL_ID = _BASE.where(Order.channel_order_id == bindparam("ref")).limit(1)
_BY_TRACKING = _BASE.where(Order.tracking_no == bindparam("ref")).limit(1)
_BY_PACKAGE = _BASE.where(
    Order.id == select(Package.order_id).where(Package.tracking_no == bindparam("ref")).limit(1).scalar_subquery()
).limit(1)
_LINES = (
    select(OrderLine.sku, OrderLine.qty, Product.name)
    .join(Product, Product.sku == OrderLine.sku)
    .where(OrderLine.order_id == bindparam("oid"))
    .order_by(OrderLine.id)
)
_EVENTS = (
    select(
        OrderEvent.at,
        OrderEvent.kind,
        OrderEvent.stage,
        OrderEvent.status,
        OrderEvent.source,
        OrderEvent.actor,
        OrderEvent.detail,
    )
    .where(OrderEvent.order_id == bindparam("oid"))
    .order_by(OrderEvent.at.desc(), OrderEvent.id.desc())
    .limit(TIMELINE_LIMIT)
)
_HELD = (
    select(StockMovement.sku, func.sum(StockMovement.d_reserved))
    .where(StockMovement.order_no == bindparam("order_no"))
    .group_by(StockMovement.sku)
)
_TASKS = (
    select(Task.type, Task.subject, Task.assignee, Task.created_at)
    .where(Task.order_id == bindparam("oid"), Task.state == "open")
    .order_by(Task.id)
)
_MESSAGES = (
    select(Communication.at, Communication.direction, Communication.medium, Communication.party, Communication.summary)
    .where(Communication.order_id == bindparam("oid"))
    .order_by(Communication.at.desc())
    .limit(MESSAGES_LIMIT)
)
_DOCS = (
    select(Task.state)
    .where(Task.order_id == bindparam("oid"), Task.type == DOCS_TASK_TYPE)
    .order_by(Task.id.desc())
    .limit(1)
)
DOCS_STATES = {"open": "待补", "done": "已补齐", "cancelled": "已撤销"}
_PACKAGES = (
    select(
        Package.package_no,
        Package.sku,
        Package.qty,
        Package.batch_no,
        Package.tracking_no,
        Package.scanned_at,
        Package.scanned_by,
    )
    .where(Package.order_id == bindparam("oid"))
    .order_by(Package.package_no)
)


async def _order_and_customer(session: AsyncSession, ref: str) -> tuple[Order, Customer]:
    """The order and its customer in one query per kind of reference, most likely kind first."""
    ref = ref.strip()
    up = ref.upper()
    lookups = [(_BY_ORDER_NO, up), (_BY_CHANNEL_ID, ref), (_BY_TRACKING, up), (_BY_PACKAGE, up)]
    if TRACKING_RE.match(up):
        lookups = lookups[2:] + lookups[:2]
    for stmt, value in lookups:
        row = (await session.execute(stmt, {"ref": value})).first()
        if row is not None:
            return row
    raise OrderNotFound(ref)


async def order_card(
    session: AsyncSession, ref: str, *, roles: Iterable[str], rules: VisibilityConfig, in_group: bool = False
) -> dict[str, Any]:
    order, customer = await _order_and_customer(session, ref)
    oid = {"oid": order.id}
    lines = (await session.execute(_LINES, oid)).all()
    events = (await session.execute(_EVENTS, oid)).all()
    held = (await session.execute(_HELD, {"order_no": order.order_no})).all()
    tasks = (await session.execute(_TASKS, oid)).all()
    messages = (await session.execute(_MESSAGES, oid)).all()
    packages = (await session.execute(_PACKAGES, oid)).all()
    docs = (await session.execute(_DOCS, oid)).scalar()

    stock_held = {sku: int(total) for sku, total in held if total}
    promised = effective_promised(order.promised_date, order.promised_override)
    view: dict[str, Any] = {
        "order_no": order.order_no,
        "customer_id": order.customer_id,
        "amount": f"{order.amount_cents / 100:.2f}",
        "origin": order.origin,
        "urgency": URGENCY_NAMES.get(order.urgency, order.urgency),
        "currency": order.currency,
        "customer_name": customer.name,
        "customer_province": customer.province,
        "customer_region": customer.region,
        "customer_email": customer.email,
        "customer_openid": customer.wechat_openid,
        "status": order.status,
        "status_name": (
            "卡关-人工介入" if order.customs_hold or order.customs_state == "stuck" else STATUS_NAMES[order.status]
        ),
        "stage": order.stage,
        "stage_name": STAGE_NAMES[order.stage],
        "progress": progress_line(order.stage),
        "channel": order.channel_code,
        "channel_order_id": order.channel_order_id,
        "dest_country": order.dest_country,
        "promised_date": promised.isoformat() if promised else None,
        "promised_overridden": order.promised_override is not None,
        "override": (
            {"by": order.override_by, "at": _iso(order.override_at), "reason": order.override_reason}
            if order.promised_override
            else None
        ),
        "created_at": _iso(order.created_at),
        "shipped_at": _iso(order.shipped_at),
        "delivered_at": _iso(order.delivered_at),
        "tracking_no": order.tracking_no,
        "tracking_status": order.tracking_status,
        "customs_state": order.customs_state,
        "expected_delivery": order.expected_delivery.isoformat() if order.expected_delivery else None,
        "eta_cause": order.eta_cause,
        "carrier": order.carrier_code,
        "customs_grade": order.customs_grade,
        "customs_hold": order.customs_hold,
        "customs_hold_reason": order.customs_hold_reason,
        "review_hold": order.review_hold,
        "notes": order.notes,
        "tax_exempt_no": order.tax_exempt_no,
        "invoice_status": order.invoice_status,
        "cancel_reason": order.cancel_reason,
        "sales_owner": order.sales_owner,
        "customs_docs": DOCS_STATES.get(docs) if docs else None,
        "customer_tags": list(customer.tags or []),
        "lines": [{"sku": s, "qty": q, "name": n} for s, q, n in lines],
        "timeline": [
            {
                "at": _iso(e.at),
                "kind": e.kind,
                "stage": e.stage,
                "status": e.status,
                "source": e.source,
                "actor": e.actor,
                "detail": e.detail,
            }
            for e in events
        ],
        "trace": [
            {"at": _iso(e.at), "detail": e.detail, "stage": e.stage}
            for e in events
            if e.kind in ("tracking", "customs")
        ],
        "stock_held": stock_held,
        "tasks": [{"type": t, "subject": s, "assignee": a, "created_at": _iso(c)} for t, s, a, c in tasks],
        "messages": [
            {"at": _iso(m.at), "direction": m.direction, "medium": m.medium, "party": m.party, "summary": m.summary}
            for m in messages
        ],
        "packages": [
            {
                "package_no": p.package_no,
                "sku": p.sku,
                "qty": p.qty,
                "batch_no": p.batch_no,
                "tracking_no": p.tracking_no,
                "scanned_at": _iso(p.scanned_at),
                "scanned_by": p.scanned_by,
            }
            for p in packages
        ],
    }
    return project(view, roles, rules, in_group=in_group)

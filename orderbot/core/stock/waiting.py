"""Orders waiting at 采购计划 (the purchase plan) for stock: when a SKU arrives, reserve it for them in order of
promise date and move each order whose every line is now covered on to 质检工单.

The allocation is planned in Python over rows read under lock (PostgreSQL: `FOR UPDATE` on the level row and the
waiting orders; SQLite: the single writer), then written with set-based statements: one guarded level update for
the whole amount (the ledger's invariant holds as for single moves), one movement row per order, one timeline
event per order. Strict promise order: the first order the stock cannot cover stops the allocation, so no later
order overtakes it; what is left stays available.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Order, OrderEvent, OrderLine, StockLevel, StockMovement
from orderbot.core.orders.service import plan_position
from orderbot.core.orders.states import Position
from orderbot.core.sqlutil import dialect_name
from orderbot.core.stock import ledger

WAITING_STAGE, NEXT_STAGE = "purchase", "qc"


@dataclass(frozen=True)
class Allocation:
    order_no: str
    sku: str
    qty: int
    released: bool  # every line covered: moved on from 采购计划


def _waiting(sku_filter: ColumnElement[bool]) -> Select[int]:
    return (
        select(Order.id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.status == "paid", Order.stage == WAITING_STAGE, Order.review_hold.is_(False), sku_filter)
    )


async def skus_with_waiting_orders(session: AsyncSession, skus: list[str]) -> set[str]:
    """Which of these SKUs some order at 采购计划 is waiting for."""
    found: set[str] = set()
    for i in range(0, len(skus), 500):
        chunk = skus[i : i + 500]
        rows = await session.execute(
            select(OrderLine.sku)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                OrderLine.sku.in_(chunk),
                Order.status == "paid",
                Order.stage == WAITING_STAGE,
                Order.review_hold.is_(False),
            )
            .distinct()
        )
        found.update(r[0] for r in rows)
    return found


async def count_waiting(session: AsyncSession, sku: str) -> int:
    """How many orders at 采购计划 wait for `sku` (what a receipt could release)."""
    return (
        await session.execute(select(func.count()).select_from(_waiting(OrderLine.sku == sku).subquery()))
    ).scalar_one()


async def allocate_to_waiting(
    session: AsyncSession, sku: str, *, now: datetime, actor: str | None, note: str
) -> list[Allocation]:
    """Reserve `sku`'s available stock for the orders waiting for it, earliest promise first."""
    lock = dialect_name(session) == "postgresql"
    level_q = select(StockLevel.on_hand, StockLevel.reserved).where(StockLevel.sku == sku)
    level = (await session.execute(level_q.with_for_update() if lock else level_q)).first()
    if level is None:
        return []
    available = level.on_hand - level.reserved
    if available <= 0:
        return []
    promise = func.coalesce(Order.promised_override, Order.promised_date)
    orders_q = (
        select(Order.id, Order.order_no)
        .where(Order.id.in_(_waiting(OrderLine.sku == sku)))
        .order_by(case((promise.is_(None), 1), else_=0), promise, Order.created_at, Order.id)
    )
    candidates = (await session.execute(orders_q.with_for_update() if lock else orders_q)).all()
    if not candidates:
        return []
    ids = select(Order.id).where(Order.id.in_(_waiting(OrderLine.sku == sku)))
    lines: dict[int, dict[str, int]] = {}
    for oid, line_sku, qty in await session.execute(
        select(OrderLine.order_id, OrderLine.sku, OrderLine.qty).where(OrderLine.order_id.in_(ids))
    ):
        per = lines.setdefault(oid, {})
        per[line_sku] = per.get(line_sku, 0) + qty
    held: dict[tuple[str | None, str], int] = {}
    for order_no, line_sku, total in await session.execute(
        select(StockMovement.order_no, StockMovement.sku, func.sum(StockMovement.d_reserved))
        .where(StockMovement.order_no.in_(select(Order.order_no).where(Order.id.in_(ids))))
        .group_by(StockMovement.order_no, StockMovement.sku)
    ):
        held[(order_no, line_sku)] = int(total or 0)

    plan: list[tuple[int, str, int, bool]] = []
    for oid, order_no in candidates:
        need = lines[oid].get(sku, 0) - held.get((order_no, sku), 0)
        if need <= 0:
            continue
        if need > available:
            break
        available -= need
        complete = all(qty <= held.get((order_no, s), 0) + (need if s == sku else 0) for s, qty in lines[oid].items())
        plan.append((oid, order_no, need, complete))
    if not plan:
        return []
    await ledger.reserve_many(
        session, sku, [(need, order_no) for _, order_no, need, _ in plan], at=now, actor=actor, note=note
    )
    await _write_timeline(session, sku, plan, now=now, actor=actor)
    return [Allocation(order_no, sku, need, complete) for _, order_no, need, complete in plan]


_ORDERS = Order.__table__


async def _write_timeline(
    session: AsyncSession, sku: str, plan: list[tuple[int, str, int, bool]], *, now: datetime, actor: str | None
) -> None:
    """One timeline event per served order; the complete ones move on, guarded by the stage they were at."""
    move = plan_position(
        Position("paid", WAITING_STAGE), Position("paid", NEXT_STAGE), "采购计划 → 质检工单"
    )  # the state machine allows it, or this raises
    assert move is not None  # purchase → qc is a real move, so there is always one
    released = [oid for oid, _, _, complete in plan if complete]
    for i in range(0, len(released), 500):  # IN lists stay far below both databases' parameter limits
        await session.execute(
            update(_ORDERS)
            .where(_ORDERS.c.id.in_(released[i : i + 500]), _ORDERS.c.stage == WAITING_STAGE)
            .values(stage=NEXT_STAGE, stage_since=now, updated_at=now)
        )
    await session.execute(
        insert(OrderEvent.__table__),
        [
            {
                "order_id": oid,
                "at": now,
                "kind": move.kind if complete else "stock",
                "stage": NEXT_STAGE if complete else WAITING_STAGE,
                "status": "paid",
                "source": "stock",
                "actor": actor,
                "detail": f"到货预留 {sku} ×{need}" + (f"，{move.detail}" if complete else "，仍缺其他商品"),
            }
            for oid, _, need, complete in plan
        ],
    )

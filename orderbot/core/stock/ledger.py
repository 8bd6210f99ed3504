"""Stock as a ledger of movements, with levels kept beside it by atomic SQL.

Each movement is one row (receipt, reservation, release, shipment, return, adjustment) and one guarded
`UPDATE stock_levels SET x = x + :d WHERE … AND <guard>` in the same transaction: no read-modify-write, so
concurrent writers on SQLite and PostgreSQL can neither lose a movement nor oversell. Invariant, checked by the
tests: for every SKU, on_hand = Σ d_on_hand and reserved = Σ d_reserved over its movements.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import DomainError, InsufficientStock, UnknownSku
from ..models import StockLevel, StockMovement

KINDS = ("receipt", "reservation", "release", "shipment", "return", "adjustment")


@dataclass(frozen=True)
class Levels:
    sku: str
    on_hand: int
    reserved: int
    in_transit: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


async def _move(session: AsyncSession, *, kind: str, sku: str, qty: int, d_on_hand: int, d_reserved: int,
                at: datetime, order_no: str | None, actor: str | None, note: str | None) -> None:
    if qty <= 0 and kind != "adjustment":
        raise DomainError(f"数量必须大于0：{qty}")
    lv = StockLevel.__table__.c
    guard = (lv.on_hand + d_on_hand >= lv.reserved + d_reserved) & (lv.reserved + d_reserved >= 0)
    result = await session.execute(
        update(StockLevel.__table__)
        .where(lv.sku == sku, guard)
        .values(on_hand=lv.on_hand + d_on_hand, reserved=lv.reserved + d_reserved)
    )
    if result.rowcount != 1:
        current = await levels(session, sku)
        if current is None:
            raise UnknownSku(sku)
        if kind in ("release", "shipment") and current.reserved + d_reserved < 0:
            raise DomainError(f"{sku} 的预留数量不足，无法{'释放' if kind == 'release' else '出库'} {qty}",
                              sku=sku, reserved=current.reserved)
        raise InsufficientStock(sku, qty, current.available)
    session.add(StockMovement(sku=sku, kind=kind, qty=qty, d_on_hand=d_on_hand, d_reserved=d_reserved,
                              order_no=order_no, actor=actor, note=note, at=at))


async def ensure_level(session: AsyncSession, sku: str) -> None:
    """Create the SKU's level row at zero if missing (idempotent on both databases)."""
    from ..sqlutil import insert_ignore

    await session.execute(insert_ignore(session, StockLevel.__table__, [
        {"sku": sku, "on_hand": 0, "reserved": 0, "in_transit": 0}], ["sku"]))


async def receive(session, sku, qty, *, at, actor=None, note=None, order_no=None):
    await _move(session, kind="receipt", sku=sku, qty=qty, d_on_hand=qty, d_reserved=0, at=at,
                order_no=order_no, actor=actor, note=note)


async def reserve(session, sku, qty, *, at, order_no, actor=None, note=None):
    await _move(session, kind="reservation", sku=sku, qty=qty, d_on_hand=0, d_reserved=qty, at=at,
                order_no=order_no, actor=actor, note=note)


async def release(session, sku, qty, *, at, order_no, actor=None, note=None):
    await _move(session, kind="release", sku=sku, qty=qty, d_on_hand=0, d_reserved=-qty, at=at,
                order_no=order_no, actor=actor, note=note)


async def ship(session, sku, qty, *, at, order_no, actor=None, note=None):
    """Reserved → shipped: the goods leave, so both on-hand and reserved fall."""
    await _move(session, kind="shipment", sku=sku, qty=qty, d_on_hand=-qty, d_reserved=-qty, at=at,
                order_no=order_no, actor=actor, note=note)


async def return_goods(session, sku, qty, *, at, order_no=None, actor=None, note=None):
    await _move(session, kind="return", sku=sku, qty=qty, d_on_hand=qty, d_reserved=0, at=at,
                order_no=order_no, actor=actor, note=note)


async def adjust(session, sku, delta, *, at, actor, note):
    """A stock-take correction (±); refused if it would leave less on hand than is reserved."""
    if delta == 0:
        raise DomainError("调整数量不能为0")
    await _move(session, kind="adjustment", sku=sku, qty=delta, d_on_hand=delta, d_reserved=0, at=at,
                order_no=None, actor=actor, note=note)


async def levels(session: AsyncSession, sku: str) -> Levels | None:
    row = (await session.execute(
        select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved, StockLevel.in_transit)
        .where(StockLevel.sku == sku))).first()
    return Levels(*row) if row else None


async def held_for_order(session: AsyncSession, order_no: str) -> dict[str, int]:
    """Stock currently reserved for one order, per SKU (reservations less releases and shipments)."""
    rows = await session.execute(
        select(StockMovement.sku, func.sum(StockMovement.d_reserved))
        .where(StockMovement.order_no == order_no)
        .group_by(StockMovement.sku))
    return {sku: int(total) for sku, total in rows if total}


async def ledger_totals(session: AsyncSession, sku: str) -> tuple[int, int]:
    """(Σ d_on_hand, Σ d_reserved) over all of a SKU's movements: what the level row must equal."""
    row = (await session.execute(
        select(func.coalesce(func.sum(StockMovement.d_on_hand), 0),
               func.coalesce(func.sum(StockMovement.d_reserved), 0))
        .where(StockMovement.sku == sku))).one()
    return int(row[0]), int(row[1])

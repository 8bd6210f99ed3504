"""Stock as a ledger of movements, with levels kept beside it by atomic SQL.

Each movement is one row (receipt, reservation, release, shipment, return, adjustment) and one guarded
`UPDATE stock_levels SET x = x + :d WHERE … AND <guard>` in the same transaction: no read-modify-write, so
concurrent writers on SQLite and PostgreSQL can neither lose a movement nor oversell. Invariant, checked by the
tests: for every SKU, on_hand = Σ d_on_hand and reserved = Σ d_reserved over its movements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.errors import DomainError, InsufficientStock, UnknownSku
from orderbot.core.models import StockLevel, StockMovement
from orderbot.core.sqlutil import affected_rows, dialect_name, insert_once_statements

# How one unit of each kind of movement moves a level: (on hand, reserved). An adjustment's qty carries its sign.
_SIGNS: dict[str, tuple[int, int]] = {
    "receipt": (1, 0),
    "reservation": (0, 1),
    "release": (0, -1),
    "shipment": (-1, -1),
    "return": (1, 0),
    "adjustment": (1, 0),
}
KINDS = tuple(_SIGNS)


@dataclass(frozen=True)
class Levels:
    sku: str
    on_hand: int
    reserved: int
    in_transit: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


_LEVELS = StockLevel.__table__.c
_D_ON_HAND = bindparam("d_on_hand", type_=BigInteger())
_D_RESERVED = bindparam("d_reserved", type_=BigInteger())
# Built once (building and compiling a statement costs more than running it); the guard is the whole invariant:
# after the movement, on_hand ≥ reserved ≥ 0, decided by the database on the row as it is, never as it was read.
_LEVEL_MOVE = (
    update(StockLevel.__table__)
    .where(
        _LEVELS.sku == bindparam("m_sku"),
        _LEVELS.on_hand + _D_ON_HAND >= _LEVELS.reserved + _D_RESERVED,
        _LEVELS.reserved + _D_RESERVED >= 0,
    )
    .values(on_hand=_LEVELS.on_hand + _D_ON_HAND, reserved=_LEVELS.reserved + _D_RESERVED)
)
_INSERT_MOVEMENT = insert(StockMovement.__table__)


def _movement(
    kind: str, sku: str, qty: int, at: datetime, order_no: str | None, actor: str | None, note: str | None
) -> dict[str, Any]:
    """One ledger row, its deltas from the kind's signs."""
    on_hand, reserved = _SIGNS[kind]
    return {
        "sku": sku,
        "kind": kind,
        "qty": qty,
        "d_on_hand": on_hand * qty,
        "d_reserved": reserved * qty,
        "order_no": order_no,
        "actor": actor,
        "note": note,
        "at": at,
    }


def _level_delta(kind: str, sku: str, qty: int) -> dict[str, Any]:
    """The parameters of the guarded level update for `qty` of one kind."""
    on_hand, reserved = _SIGNS[kind]
    return {"m_sku": sku, "d_on_hand": on_hand * qty, "d_reserved": reserved * qty}


def _params(
    kind: str, sku: str, qty: int, at: datetime, order_no: str | None, actor: str | None, note: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    if qty <= 0 and kind != "adjustment":
        raise DomainError(f"数量必须大于0：{qty}")
    return _level_delta(kind, sku, qty), _movement(kind, sku, qty, at, order_no, actor, note)


async def _move(
    session: AsyncSession,
    kind: str,
    sku: str,
    qty: int,
    *,
    at: datetime,
    order_no: str | None,
    actor: str | None,
    note: str | None,
) -> None:
    level, movement = _params(kind, sku, qty, at, order_no, actor, note)
    result = await session.execute(_LEVEL_MOVE, level)
    if affected_rows(result) != 1:
        current = await levels(session, sku)
        if current is None:
            raise UnknownSku(sku)
        if kind in ("release", "shipment") and current.reserved + level["d_reserved"] < 0:
            raise DomainError(
                f"{sku} 的预留数量不足，无法{'释放' if kind == 'release' else '出库'} {qty}",
                sku=sku,
                reserved=current.reserved,
            )
        raise InsufficientStock(sku, qty, current.available)
    session.add(StockMovement(**movement))


def ship_now(
    conn: Connection,
    sku: str,
    qty: int,
    *,
    at: datetime,
    order_no: str,
    actor: str | None = None,
    note: str | None = None,
) -> bool:
    """`ship` on a synchronous connection (inside `AsyncSession.run_sync`, the scan's path): False, with nothing
    written, when the guard refuses (not enough reserved), so the caller needs no savepoint to undo it."""
    level, movement = _params("shipment", sku, qty, at, order_no, actor, note)
    if conn.execute(_LEVEL_MOVE, level).rowcount != 1:
        return False
    conn.execute(_INSERT_MOVEMENT, movement)
    return True


async def ensure_level(session: AsyncSession, sku: str) -> None:
    """Create the SKU's level row at zero if missing (idempotent on both databases)."""
    from orderbot.core.sqlutil import insert_ignore

    await session.execute(
        insert_ignore(
            session, StockLevel.__table__, [{"sku": sku, "on_hand": 0, "reserved": 0, "in_transit": 0}], ["sku"]
        )
    )


async def receive(
    session: AsyncSession,
    sku: str,
    qty: int,
    *,
    at: datetime,
    actor: str | None = None,
    note: str | None = None,
    order_no: str | None = None,
) -> None:
    await _move(session, "receipt", sku, qty, at=at, order_no=order_no, actor=actor, note=note)


async def reserve(
    session: AsyncSession,
    sku: str,
    qty: int,
    *,
    at: datetime,
    order_no: str,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    await _move(session, "reservation", sku, qty, at=at, order_no=order_no, actor=actor, note=note)


async def release(
    session: AsyncSession,
    sku: str,
    qty: int,
    *,
    at: datetime,
    order_no: str,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    await _move(session, "release", sku, qty, at=at, order_no=order_no, actor=actor, note=note)


async def ship(
    session: AsyncSession,
    sku: str,
    qty: int,
    *,
    at: datetime,
    order_no: str,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    """Reserved → shipped: the goods leave, so both on-hand and reserved fall."""
    await _move(session, "shipment", sku, qty, at=at, order_no=order_no, actor=actor, note=note)


async def return_goods(
    session: AsyncSession,
    sku: str,
    qty: int,
    *,
    at: datetime,
    order_no: str | None = None,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    await _move(session, "return", sku, qty, at=at, order_no=order_no, actor=actor, note=note)


async def adjust(
    session: AsyncSession, sku: str, delta: int, *, at: datetime, actor: str | None, note: str | None
) -> None:
    """A stock-take correction (±); refused if it would leave less on hand than is reserved."""
    if delta == 0:
        raise DomainError("调整数量不能为0")
    await _move(session, "adjustment", sku, delta, at=at, order_no=None, actor=actor, note=note)


async def levels(session: AsyncSession, sku: str) -> Levels | None:
    row = (
        await session.execute(
            select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved, StockLevel.in_transit).where(
                StockLevel.sku == sku
            )
        )
    ).first()
    return Levels(*row) if row else None


async def held_for_order(session: AsyncSession, order_no: str) -> dict[str, int]:
    """Stock currently reserved for one order, per SKU (reservations less releases and shipments)."""
    rows = await session.execute(
        select(StockMovement.sku, func.sum(StockMovement.d_reserved))
        .where(StockMovement.order_no == order_no)
        .group_by(StockMovement.sku)
    )
    return {sku: int(total) for sku, total in rows if total}


async def ledger_totals(session: AsyncSession, sku: str) -> tuple[int, int]:
    """(Σ d_on_hand, Σ d_reserved) over all of a SKU's movements: what the level row must equal."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(StockMovement.d_on_hand), 0),
                func.coalesce(func.sum(StockMovement.d_reserved), 0),
            ).where(StockMovement.sku == sku)
        )
    ).one()
    return int(row[0]), int(row[1])


async def _move_many(
    session: AsyncSession,
    kind: str,
    sku: str,
    moves: list[tuple[int, str | None, str | None]],
    *,
    at: datetime,
    actor: str | None,
) -> None:
    """Several movements of one SKU: one guarded level update for their total and one row per movement, in the
    same transaction (the invariant holds exactly as for single moves)."""
    if not moves:
        return
    if any(qty <= 0 for qty, _, _ in moves):
        raise DomainError("数量必须大于0")
    total = sum(qty for qty, _, _ in moves)
    result = await session.execute(_LEVEL_MOVE, _level_delta(kind, sku, total))
    if affected_rows(result) != 1:
        current = await levels(session, sku)
        if current is None:
            raise UnknownSku(sku)
        raise InsufficientStock(sku, total, current.available)
    await session.execute(
        _INSERT_MOVEMENT, [_movement(kind, sku, qty, at, order_no, actor, note) for qty, order_no, note in moves]
    )


async def receive_many(
    session: AsyncSession, receipts: Sequence[tuple[str, int, str | None]], *, at: datetime, actor: str | None = None
) -> None:
    """Receipts of many SKUs, each (sku, qty, note) its own movement: one level update per SKU for its total
    (sent as one batch) and one insert for all movements. A receipt only adds stock, so its guard cannot refuse
    once the level rows exist; they are created first."""
    if not receipts:
        return
    if any(qty <= 0 for _, qty, _ in receipts):
        raise DomainError("数量必须大于0")
    totals: dict[str, int] = {}
    for sku, qty, _ in receipts:
        totals[sku] = totals.get(sku, 0) + qty
    await ensure_levels(session, list(totals))
    await session.execute(_LEVEL_MOVE, [_level_delta("receipt", sku, total) for sku, total in totals.items()])
    await session.execute(
        _INSERT_MOVEMENT, [_movement("receipt", sku, qty, at, None, actor, note) for sku, qty, note in receipts]
    )


_LEVEL_ONCE = insert_once_statements(StockLevel.__table__, ["sku"])


async def ensure_levels(session: AsyncSession, skus: list[str]) -> None:
    """`ensure_level` for many SKUs: the missing ones by one prebuilt statement (compiled once) sent as a batch."""
    have: set[str] = set()
    for i in range(0, len(skus), 500):
        have.update(
            (await session.execute(select(StockLevel.sku).where(StockLevel.sku.in_(skus[i : i + 500])))).scalars()
        )
    missing = [sku for sku in skus if sku not in have]
    if missing:
        await session.execute(
            _LEVEL_ONCE[dialect_name(session)],
            [{"sku": sku, "on_hand": 0, "reserved": 0, "in_transit": 0} for sku in missing],
        )


async def reserve_many(
    session: AsyncSession,
    sku: str,
    wants: list[tuple[int, str]],
    *,
    at: datetime,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    """Reservations of one SKU for several orders, each (qty, order_no) its own movement; all or nothing."""
    await _move_many(session, "reservation", sku, [(q, o, note) for q, o in wants], at=at, actor=actor)


_IN_TRANSIT = (
    update(StockLevel.__table__)
    .where(_LEVELS.sku == bindparam("m_sku"))
    .values(
        in_transit=case(
            (_LEVELS.in_transit + bindparam("d", type_=BigInteger()) < 0, 0),
            else_=_LEVELS.in_transit + bindparam("d", type_=BigInteger()),
        )
    )
)


async def shift_in_transit(session: AsyncSession, sku: str, delta: int) -> None:
    """Goods on their way (a receipt announced with a future arrival): + when announced, − when they arrive.
    Not a movement of stock on hand, so outside the ledger's sums; never below zero."""
    await session.execute(_IN_TRANSIT, {"m_sku": sku, "d": delta})

"""Stock in: receiving lines (file rows or a chat command) and stock counts, each kept in the ledger.

A receiving line is keyed by SKU + batch + PO no., so the same line booked twice (the file re-imported, the
chat command after the file) books once. A line whose arrival is in the future is announced ('due'): it counts
as in transit, and the stockout forecast counts it from its arrival time, until the same line is received.
Every arrival releases orders waiting for that SKU at 采购计划 (`waiting.allocate_to_waiting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.errors import DomainError, PermissionDenied, UnknownSku
from orderbot.core.models import AuditEntry, Product, StockLevel, StockReceipt
from sqlalchemy.dialects import postgresql, sqlite
from orderbot.core.sqlutil import dialect_name
from orderbot.core.stock import ledger
from orderbot.core.stock.waiting import Allocation, allocate_to_waiting, skus_with_waiting_orders

RECEIVE_ROLES = frozenset({"warehouse", "warehouse_lead", "admin"})
COUNT_ROLES = frozenset({"warehouse_lead", "admin"})


@dataclass(frozen=True)
class ReceiptLine:
    sku: str
    qty: int
    batch: str | None = None
    po_no: str | None = None
    expected_at: datetime | None = None  # a future arrival: announce, do not book

    @property
    def key(self) -> str | None:
        """The line's identity; a line without batch and PO no. has none (each one books)."""
        if not self.batch and not self.po_no:
            return None
        return f"{self.sku}|{self.batch or ''}|{self.po_no or ''}"[:191]

    @property
    def note(self) -> str:
        parts = [f"批次 {self.batch}" if self.batch else "", f"采购单 {self.po_no}" if self.po_no else ""]
        return "入库 " + " ".join(p for p in parts if p) if any(parts) else "入库"


@dataclass
class ReceiveResult:
    outcomes: list[str] = field(default_factory=list)  # per line: received, due, duplicate
    allocations: list[Allocation] = field(default_factory=list)

    @property
    def released(self) -> list[str]:
        """Order numbers moved on from 采购计划, in the order they were served."""
        return list(dict.fromkeys(a.order_no for a in self.allocations if a.released))


async def receive_lines(
    session: AsyncSession, lines: Sequence[ReceiptLine], *, now: datetime, actor: str | None, source: str
) -> ReceiveResult:
    """Book receiving lines: arrivals into the ledger, future ones as due; then serve the waiting orders.
    Raises `UnknownSku` for a SKU without master data (nothing is written: check before calling for files)."""
    skus = sorted({line.sku for line in lines})
    known = set((await session.execute(select(Product.sku).where(Product.sku.in_(skus)))).scalars())
    missing = [s for s in skus if s not in known]
    if missing:
        raise UnknownSku(missing[0])
    keys = [line.key for line in lines if line.key]
    lock = dialect_name(session) == "postgresql"
    due: dict[str, int] = {}
    for i in range(0, len(keys), 500):
        due_q = select(StockReceipt.key, StockReceipt.qty).where(
            StockReceipt.key.in_(keys[i : i + 500]), StockReceipt.state == "due"
        )
        due.update((await session.execute(due_q.with_for_update() if lock else due_q)).all())
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(lines):
        arriving = line.expected_at is None or line.expected_at <= now
        rows.append(
            {
                "key": line.key or f"{source}:{line.sku}:{now.isoformat()}:{n}",
                "sku": line.sku,
                "qty": line.qty,
                "batch": line.batch,
                "po_no": line.po_no,
                "state": "received" if arriving else "due",
                "expected_at": line.expected_at,
                "received_at": now if arriving else None,
                "source": source,
                "actor": actor,
                "created_at": now,
            }
        )
    new = await _insert_new(session, rows)
    result = ReceiveResult()
    arrivals: list[tuple[str, int, str]] = []
    for line, row in zip(lines, rows):
        arriving = row["state"] == "received"
        if row["key"] in new:
            new.discard(row["key"])  # a key repeated within the same batch books once
            if not arriving:
                await ledger.shift_in_transit(session, line.sku, line.qty)
                result.outcomes.append("due")
                continue
        elif arriving and line.key in due:  # the announced line arrives (perhaps short or over)
            await session.execute(
                StockReceipt.__table__.update()
                .where(StockReceipt.key == line.key, StockReceipt.state == "due")
                .values(state="received", received_at=now, qty=line.qty, actor=actor)
            )
            await ledger.shift_in_transit(session, line.sku, -due.pop(line.key))
        else:
            result.outcomes.append("duplicate")
            continue
        arrivals.append((line.sku, line.qty, line.note))
        result.outcomes.append("received")
    await ledger.receive_many(session, arrivals, at=now, actor=actor)
    arrived = sorted({sku for sku, _, _ in arrivals})
    waiting = await skus_with_waiting_orders(session, arrived)
    for sku in sorted(waiting):
        result.allocations += await allocate_to_waiting(session, sku, now=now, actor=actor, note="到货预留")
    return result


_INSERT_NEW = {
    name: dml.insert(StockReceipt.__table__)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(StockReceipt.__table__.c.key)
    for name, dml in (("sqlite", sqlite), ("postgresql", postgresql))
}


async def _insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert receiving rows whose key is new; returns the keys inserted. One prebuilt statement (compiled
    once), sent as SQLAlchemy's batched "insertmanyvalues" with RETURNING."""
    stmt = _INSERT_NEW[dialect_name(session)]
    return set((await session.execute(stmt, rows)).scalars()) if rows else set()


@dataclass(frozen=True)
class CountResult:
    sku: str
    before: int
    counted: int

    @property
    def delta(self) -> int:
        return self.counted - self.before


async def count_stock(
    session: AsyncSession,
    sku: str,
    counted: int,
    *,
    now: datetime,
    actor: str,
    roles: frozenset[str] | set[str],
    chat: str | None = None,
) -> CountResult:
    """A stock count (warehouse leads): the difference to the books becomes an adjustment, audited."""
    if not set(roles) & COUNT_ROLES:
        raise PermissionDenied("只有仓库组长可以录入盘点结果")
    if counted < 0:
        raise DomainError(f"盘点数量不能为负数：{counted}")
    stmt = select(StockLevel.on_hand).where(StockLevel.sku == sku)
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update()
    before = (await session.execute(stmt)).scalar()
    if before is None:
        if await session.get(Product, sku) is None:
            raise UnknownSku(sku)
        await ledger.ensure_level(session, sku)
        before = 0
    result = CountResult(sku, int(before), counted)
    if result.delta:
        note = f"盘点：账面 {before}，实盘 {counted}"
        level = await ledger.levels(session, sku)
        assert level is not None  # the level row was read above, or created
        if counted < level.reserved:
            raise DomainError(
                f"{sku} 实盘 {counted} 少于已为订单占用的 {level.reserved}，不能直接调整："
                "请先核对或释放占用该SKU的订单",
                sku=sku,
                reserved=level.reserved,
            )
        await ledger.adjust(session, sku, result.delta, at=now, actor=actor, note=note)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="stock.count",
                subject=sku,
                detail=f"{note}，调整 {result.delta:+d}",
                chat=chat,
            )
        )
    return result


def check_may_receive(roles: frozenset[str] | set[str]) -> None:
    if not set(roles) & RECEIVE_ROLES:
        raise PermissionDenied("只有仓库人员可以登记入库")

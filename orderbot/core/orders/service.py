"""Order use cases: ingest (one function behind every door), status and stage moves, the ETA override.

Each takes an open unit of work (`AsyncSession` inside a transaction) and a clock value; none commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, Update, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from orderbot.config import BusinessConfig
from orderbot.core.channels import channel_name, normalise_channel
from orderbot.core.errors import DomainError, InsufficientStock, InvalidOrder, OrderNotFound, PermissionDenied
from orderbot.core.models import Channel, Customer, Order, OrderEvent, OrderLine, Package, Product, Task
from orderbot.core.regions import normalise_province, region_of
from orderbot.core.sqlutil import affected_rows, dialect_name, insert_ignore, insert_once_statements, run_core
from orderbot.core.stock import ledger
from orderbot.core.orders import customs, promise
from orderbot.core.orders.schema import OrderIn
from orderbot.core.orders.states import OPEN_STATUSES, STAGE_NAMES, STATUS_NAMES, STATUS_STAGES, Position, next_position


class NewProduct(TypedDict, total=False):
    """What a shop that owns its catalogue tells about a SKU it sends and we do not know yet."""

    name: str
    category: str
    weight_g: int


@dataclass(frozen=True)
class IngestResult:
    order_no: str
    outcome: str  # created | updated | unchanged
    review_hold: bool = False
    changes: tuple[str, ...] = ()


def add_event(
    session: AsyncSession,
    order: Order,
    *,
    at: datetime,
    kind: str,
    source: str,
    actor: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        OrderEvent(
            order_id=order.id,
            at=at,
            kind=kind,
            stage=order.stage,
            status=order.status,
            source=source,
            actor=actor,
            detail=detail,
        )
    )


async def ingest_order(
    session: AsyncSession,
    data: OrderIn,
    *,
    source: str,
    config: BusinessConfig,
    now: datetime,
    actor: str | None = None,
    auto_products: Mapping[str, NewProduct] | None = None,
) -> IngestResult:
    """Create or update one order from its generic form. The same input twice changes nothing.

    `auto_products` (sku → name/weight) lets a shop that owns its catalogue create unknown SKUs; otherwise an
    unknown SKU is an `InvalidOrder`, since in spreadsheets it is nearly always a typo.
    """
    await _upsert_customer(session, data, now)
    channel = await _ensure_channel(session, data.channel) if data.channel else None
    existing = (
        await session.execute(select(Order).where(Order.order_no == data.order_no).with_for_update())
    ).scalar_one_or_none()
    if existing is not None:
        return await _update_order(session, existing, data, source=source, config=config, now=now, actor=actor)

    products = await _products_for(session, data, auto_products, config)
    created_at = data.created_at_or(now, config.timezone)
    grade = customs.worst_grade(config.customs.grade_for(p.category) for p in products.values())
    lo_stage, _ = STATUS_STAGES[data.status]
    order = Order(
        order_no=data.order_no,
        customer_id=data.customer.id,
        amount_cents=data.amount_cents,
        origin=data.origin,
        urgency=data.urgency,
        currency=data.currency,
        channel_code=channel.code if channel else None,
        channel_order_id=data.channel_order_id,
        dest_country=data.dest_country,
        status=data.status,
        stage=lo_stage,
        stage_since=now,
        review_hold=bool(channel and channel.frozen),
        customs_grade=grade,
        promised_date=promise.promised_date(created_at, data.origin, data.dest_country, config.eta, config.timezone),
        notes=data.notes,
        tax_exempt_no=data.tax_exempt_no,
        invoice_status=data.invoice_status,
        cancel_reason=data.cancel_reason,
        tracking_no=data.tracking_no,
        sales_owner=data.sales_owner,
        created_at=created_at,
        paid_at=created_at if data.status != "pending" else None,
        cancelled_at=now if data.status == "cancelled" else None,
        source_updated_at=data.updated_at_aware(config.timezone),
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    for line in _merged_lines(data):
        session.add(OrderLine(order_id=order.id, sku=line[0], qty=line[1]))
    detail = f"订单进入系统（{source}）"
    if order.review_hold:
        assert channel is not None  # a new order is held only when its channel is frozen
        detail += f"；渠道 {channel.code} 已冻结，订单待审核，暂不进入履约"
    add_event(session, order, at=now, kind="created", source=source, actor=actor, detail=detail)
    if data.status == "paid" and not order.review_hold:
        await _release_to_fulfilment(session, order, now=now, source=source, actor=actor)
    if data.status in OPEN_STATUSES and customs.needs_documents(grade):
        await open_task(
            session,
            key=f"{customs.DOCS_TASK_TYPE}:{order.order_no}",
            type=customs.DOCS_TASK_TYPE,
            subject=f"{customs.DOCS_TASK_SUBJECT}：{order.order_no}（海关合规等级{grade}）",
            order_id=order.id,
            now=now,
        )
    return IngestResult(order.order_no, "created", order.review_hold)


def _merged_lines(data: OrderIn) -> list[tuple[str, int]]:
    merged: dict[str, int] = {}
    for line in data.lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.qty
    return list(merged.items())


async def _products_for(
    session: AsyncSession, data: OrderIn, auto: Mapping[str, NewProduct] | None, config: BusinessConfig
) -> dict[str, Product]:
    skus = {line.sku for line in data.lines}
    if not skus:
        return {}
    found = {p.sku: p for p in (await session.execute(select(Product).where(Product.sku.in_(skus)))).scalars()}
    missing = sorted(skus - found.keys())
    if missing and auto is None:
        raise InvalidOrder([("lines", f"未知SKU：{', '.join(missing)}（请先在商品主数据中建档）")])
    for sku in missing:
        info = auto.get(sku, {}) if auto else {}
        product = Product(
            sku=sku,
            name=info.get("name") or sku,
            category=info.get("category") or "未分类",
            weight_g=int(info.get("weight_g") or 0),
        )
        product.customs_grade = config.customs.grade_for(product.category)
        session.add(product)
        found[sku] = product
    if missing:
        await session.flush()
        for sku in missing:
            await ledger.ensure_level(session, sku)
    return found


async def _upsert_customer(session: AsyncSession, data: OrderIn, now: datetime) -> None:
    c = data.customer
    province = normalise_province(c.province)
    customer = await session.get(Customer, c.id)
    if customer is None:
        session.add(
            Customer(
                id=c.id,
                name=c.name or c.id,
                province=province,
                region=region_of(province),
                wechat_openid=c.wechat_openid,
                email=c.email,
                sales_owner=data.sales_owner,
                tags=[],
                created_at=now,
            )
        )
        await session.flush()
        return
    for attr, value in (
        ("name", c.name),
        ("province", province),
        ("wechat_openid", c.wechat_openid),
        ("email", c.email),
    ):
        if value and getattr(customer, attr) != value:
            setattr(customer, attr, value)
    if province:
        customer.region = region_of(province)


async def _ensure_channel(session: AsyncSession, code: str) -> Channel:
    known = await session.get(Channel, code)  # nearly always there (and in the session's identity map)
    if known is not None:
        return known
    await session.execute(
        insert_ignore(
            session, Channel.__table__, [{"code": code, "name": channel_name(code), "frozen": False}], ["code"]
        )
    )
    channel = await session.get(Channel, code)
    assert channel is not None  # inserted just above if it was missing, in this transaction
    return channel


async def _release_to_fulfilment(
    session: AsyncSession, order: Order, *, now: datetime, source: str, actor: str | None
) -> None:
    """Reserve stock for every line and make one package per line; short lines go to the purchase plan."""
    lines = (
        (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)))
        .scalars()
        .all()
    )  # package k = line k, as entered
    short = []
    batch = f"B{order.created_at:%y%m%d}"
    for i, line in enumerate(lines, start=1):
        try:  # a refused reservation writes nothing (the guarded UPDATE matches no row): no savepoint needed
            await ledger.reserve(session, line.sku, line.qty, at=now, order_no=order.order_no, actor=actor)
        except InsufficientStock as exc:
            short.append(f"{line.sku}（缺 {line.qty - max(exc.data['available'], 0)}）")
        session.add(Package(order_id=order.id, package_no=i, sku=line.sku, qty=line.qty, batch_no=batch))
    target = "purchase" if short else "inventory"
    await _set_position(
        session,
        order,
        Position(order.status, target),
        now=now,
        source=source,
        actor=actor,
        detail=("库存不足，转采购计划：" + "、".join(short)) if short else "库存已预留",
    )


@dataclass(frozen=True)
class PositionChange:
    """One move the state machine allowed: the new position and the timeline event it writes."""

    old: Position
    new: Position
    kind: str  # status | stage
    detail: str


def plan_position(old: Position, pos: Position, detail: str | None = None) -> PositionChange | None:
    """Validate a move (raises IllegalTransition) and word its timeline event; None if nothing moves.
    Shared by the ORM use cases and the Core `Timeline`, so both write the same positions and texts."""
    new = next_position(old, status=pos.status, stage=pos.stage)
    if new == old:
        return None
    kind = "status" if new.status != old.status else "stage"
    text = detail or (
        f"{STATUS_NAMES[old.status]} → {STATUS_NAMES[new.status]}"
        if kind == "status"
        else f"{STAGE_NAMES[old.stage]} → {STAGE_NAMES[new.stage]}"
    )
    return PositionChange(old, new, kind, text)


def _status_detail(old: str, status: str, reason: str | None) -> str:
    return f"{STATUS_NAMES[old]} → {STATUS_NAMES[status]}" + (f"（{reason}）" if reason else "")


async def _set_position(
    session: AsyncSession,
    order: Order,
    pos: Position,
    *,
    now: datetime,
    source: str,
    actor: str | None,
    detail: str | None = None,
) -> None:
    change = plan_position(Position(order.status, order.stage), pos, detail)
    if change is None:
        return
    if change.new.stage != change.old.stage:
        order.stage_since = now
    order.status, order.stage, order.updated_at = change.new.status, change.new.stage, now
    add_event(session, order, at=now, kind=change.kind, source=source, actor=actor, detail=change.detail)


_UPDATABLE = (
    "amount_cents",
    "currency",
    "channel_order_id",
    "dest_country",
    "notes",
    "tax_exempt_no",
    "invoice_status",
    "tracking_no",
    "sales_owner",
)


async def _update_order(
    session: AsyncSession,
    order: Order,
    data: OrderIn,
    *,
    source: str,
    config: BusinessConfig,
    now: datetime,
    actor: str | None,
) -> IngestResult:
    incoming_at = data.updated_at_aware(config.timezone)
    if incoming_at and order.source_updated_at and incoming_at <= order.source_updated_at:
        return IngestResult(order.order_no, "unchanged", order.review_hold)  # stale or repeated delivery
    changes = []
    values = {
        "amount_cents": data.amount_cents,
        "currency": data.currency,
        "channel_order_id": data.channel_order_id,
        "dest_country": data.dest_country,
        "notes": data.notes,
        "tax_exempt_no": data.tax_exempt_no,
        "invoice_status": data.invoice_status,
        "tracking_no": data.tracking_no,
        "sales_owner": data.sales_owner,
    }
    for attr in _UPDATABLE:
        value = values[attr]
        if value is not None and getattr(order, attr) != value:
            setattr(order, attr, value)
            changes.append(attr)
    if incoming_at:
        order.source_updated_at = incoming_at
    if changes:
        order.updated_at = now
        add_event(
            session, order, at=now, kind="updated", source=source, actor=actor, detail="更新字段：" + "、".join(changes)
        )
    if data.status != order.status:
        await change_status(session, order, data.status, now=now, source=source, actor=actor, reason=data.cancel_reason)
        changes.append("status")
    return IngestResult(order.order_no, "updated" if changes else "unchanged", order.review_hold, tuple(changes))


async def change_status(
    session: AsyncSession,
    order: Order,
    status: str,
    *,
    now: datetime,
    source: str,
    actor: str | None = None,
    reason: str | None = None,
) -> None:
    """Move an order's status through the state machine, with the stock and timeline effects it implies."""
    old = order.status
    new = next_position(Position(old, order.stage), status=status)  # raises IllegalTransition
    if status == "cancelled":
        for sku, qty in (await ledger.held_for_order(session, order.order_no)).items():
            await ledger.release(
                session, sku, qty, at=now, order_no=order.order_no, actor=actor, note="订单取消，释放预留"
            )
        order.cancelled_at, order.cancel_reason = now, reason or order.cancel_reason
    elif status == "paid":
        order.paid_at = now
    elif status == "shipped":
        order.shipped_at = order.shipped_at or now
    elif status == "delivered":
        order.delivered_at = order.delivered_at or now
    elif status == "return_requested":
        order.return_requested_at = now
    elif status == "returned":
        order.return_received_at = now
    await _set_position(
        session, order, new, now=now, source=source, actor=actor, detail=_status_detail(old, status, reason)
    )
    if status == "paid" and not order.review_hold:
        await _release_to_fulfilment(session, order, now=now, source=source, actor=actor)


async def move_stage(
    session: AsyncSession,
    order: Order,
    stage: str,
    *,
    now: datetime,
    source: str,
    actor: str | None = None,
    detail: str | None = None,
) -> None:
    await _set_position(
        session, order, Position(order.status, stage), now=now, source=source, actor=actor, detail=detail
    )


# --- the same moves as Core statements, for hot paths (the scan) ------------------------------------------------

_ORDERS = Order.__table__
_INSERT_EVENTS = insert(OrderEvent.__table__)
_OPEN_TASK = insert_once_statements(Task.__table__, ["key"])
# change_status's timestamp per status; the first two keep an earlier value (`x = x or now`)
_STATUS_STAMPS = {
    "shipped": "shipped_at",
    "delivered": "delivered_at",
    "return_requested": "return_requested_at",
    "returned": "return_received_at",
}
_KEEP_FIRST = frozenset({"shipped_at", "delivered_at"})
_order_updates: dict[tuple[str, ...], Update] = {}


class StaleOrder(RuntimeError):
    """The order row was not where the plan started from: the caller must hold its row lock, so this is a bug,
    and the unit of work rolls back rather than write a timeline that did not happen."""


def _order_update(columns: tuple[str, ...]) -> Update:
    """`UPDATE orders SET <columns> WHERE id AND status AND stage are as planned`, built once per column set (a
    statement built once is compiled once; building and compiling one costs more than running it)."""
    stmt = _order_updates.get(columns)
    if stmt is None:
        c = _ORDERS.c
        values: dict[str, ColumnElement[Any]] = {}
        for name in columns:
            param = bindparam(f"v_{name}", type_=c[name].type)
            values[name] = func.coalesce(c[name], param) if name in _KEEP_FIRST else param
        stmt = _order_updates[columns] = (
            update(_ORDERS)
            .where(c.id == bindparam("o_id"), c.status == bindparam("o_status"), c.stage == bindparam("o_stage"))
            .values(values)
        )
    return stmt


class Timeline:
    """An order's moves and timeline events for a hot path, planned in Python, written with prebuilt Core.

    Every move is checked by the state machine as it is planned (`plan_position`, as `move_stage` and
    `change_status` do), so an illegal one raises before anything is written. `write` then issues one UPDATE of
    the order row, guarded by the position the plan started from, and one INSERT of the event rows: the same
    columns, events and texts as the ORM use cases, without loading the order. Only statuses whose effect is a
    timestamp are planned here; paid and cancelled move stock and go through `change_status`."""

    def __init__(self, order_id: int, status: str, stage: str, *, now: datetime, source: str, actor: str | None = None):
        self.order_id, self.now, self.source, self.actor = order_id, now, source, actor
        self.start = self.position = Position(status, stage)
        self.values: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []

    def _apply(self, change: PositionChange | None) -> None:
        if change is None:
            return
        if change.new.stage != change.old.stage:
            self.values["stage_since"] = self.now
        self.values.update(status=change.new.status, stage=change.new.stage, updated_at=self.now)
        self.position = change.new
        self.event(change.kind, change.detail)

    def move_stage(self, stage: str, detail: str | None = None) -> None:
        self._apply(plan_position(self.position, Position(self.position.status, stage), detail))

    def change_status(self, status: str, reason: str | None = None) -> None:
        old = self.position.status
        new = next_position(self.position, status=status)  # raises IllegalTransition
        stamp = _STATUS_STAMPS.get(status)
        if stamp is not None:
            self.values[stamp] = self.now
        elif status != old:
            raise ValueError(f"status {status} moves stock: use change_status")
        self._apply(plan_position(self.position, new, _status_detail(old, status, reason)))

    def event(self, kind: str, detail: str | None) -> None:
        """A timeline row at the current (planned) position, like `add_event`."""
        self.events.append(
            {
                "order_id": self.order_id,
                "at": self.now,
                "kind": kind,
                "stage": self.position.stage,
                "status": self.position.status,
                "source": self.source,
                "actor": self.actor,
                "detail": detail,
            }
        )

    def write(self, session: Session) -> None:
        """Write the plan in the session's transaction (synchronous: inside `AsyncSession.run_sync`)."""
        conn = session.connection()
        if self.values:
            params = {f"v_{k}": v for k, v in self.values.items()}
            params.update(o_id=self.order_id, o_status=self.start.status, o_stage=self.start.stage)
            if conn.execute(_order_update(tuple(sorted(self.values))), params).rowcount != 1:
                raise StaleOrder(f"order {self.order_id} is no longer at {self.start}")
            loaded = session.identity_map.get(identity_key(Order, self.order_id))
            if loaded is not None:  # an ORM copy loaded earlier in this unit of work must not go stale
                session.expire(loaded)
        if self.events:
            conn.execute(_INSERT_EVENTS, self.events)


async def override_promised_date(
    session: AsyncSession,
    order: Order,
    new_date: date,
    *,
    actor: str,
    roles: frozenset[str] | set[str],
    reason: str,
    now: datetime,
    source: str = "chat",
) -> None:
    """A sales supervisor's override of the promised delivery date; it wins over the formula and is recorded."""
    if not roles & promise.OVERRIDE_ROLES:
        raise PermissionDenied("只有销售主管可以修改预计交付日期")
    if not reason.strip():
        raise DomainError("请说明修改原因")
    old = promise.effective_promised(order.promised_date, order.promised_override)
    order.promised_override, order.override_by, order.override_at = new_date, actor, now
    order.override_reason, order.updated_at = reason, now
    add_event(
        session,
        order,
        at=now,
        kind="eta",
        source=source,
        actor=actor,
        detail=f"预计交付 {old} → {new_date}（{reason}）",
    )


async def open_task(
    session: AsyncSession,
    *,
    key: str | None,
    type: str,
    subject: str,
    now: datetime,
    order_id: int | None = None,
    assignee: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Open a work order once per key; returns False if one with that key already exists. One prebuilt
    statement (a scan whose customer cannot be reached opens one)."""
    row = {
        "key": key,
        "type": type,
        "subject": subject,
        "order_id": order_id,
        "assignee": assignee,
        "state": "open",
        "created_at": now,
        "data": data or {},
    }
    return (await run_core(session, _OPEN_TASK[dialect_name(session)], row)).rowcount == 1


async def complete_task(
    session: AsyncSession, key: str, *, now: datetime, actor: str | None, note: str | None = None
) -> bool:
    """Close an open work order by its key (the work is done); False if it was not open."""
    values: dict[str, Any] = {"state": "done", "closed_at": now}
    if actor:
        values["assignee"] = actor
    result = await session.execute(update(Task).where(Task.key == key, Task.state == "open").values(**values))
    return affected_rows(result) == 1


async def get_order(session: AsyncSession, order_no: str, *, for_update: bool = False) -> Order:
    stmt = select(Order).where(Order.order_no == order_no.upper())
    if for_update:
        stmt = stmt.with_for_update()
    order = (await session.execute(stmt)).scalar_one_or_none()
    if order is None:
        raise OrderNotFound(order_no)
    return order


async def channel_frozen(session: AsyncSession, code: str) -> bool:
    """Whether the channel `code` is frozen now (an unknown channel is not)."""
    channel = await session.get(Channel, normalise_channel(code))
    return channel is not None and channel.frozen


async def customer_name(session: AsyncSession, customer_id: str) -> str | None:
    """The customer's name, None when the customer is unknown."""
    customer = await session.get(Customer, customer_id)
    return customer.name if customer is not None else None


async def set_channel_frozen(
    session: AsyncSession, code: str, frozen: bool, *, actor: str, reason: str, now: datetime
) -> None:
    from orderbot.core.models import AuditEntry

    code = normalise_channel(code)
    channel = await _ensure_channel(session, code)
    await session.execute(
        update(Channel)
        .where(Channel.code == code)
        .values(
            frozen=frozen,
            frozen_reason=reason if frozen else None,
            frozen_by=actor if frozen else None,
            frozen_at=now if frozen else None,
        )
    )
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="channel.freeze" if frozen else "channel.unfreeze",
            subject=channel.code,
            detail=reason,
        )
    )


async def release_review_hold(
    session: AsyncSession, order: Order, *, actor: str, now: datetime, source: str = "chat"
) -> None:
    """A person approves an order held because its channel was frozen; a paid order enters fulfilment."""
    if not order.review_hold:
        raise DomainError(f"订单 {order.order_no} 没有处于待审核状态")
    order.review_hold, order.updated_at = False, now
    add_event(session, order, at=now, kind="review", source=source, actor=actor, detail="审核通过，放行履约")
    if order.status == "paid":
        await _release_to_fulfilment(session, order, now=now, source=source, actor=actor)


CUSTOMS_ROLES = frozenset({"customs", "admin"})


async def hold_customs(
    session: AsyncSession,
    order: Order,
    *,
    actor: str,
    roles: frozenset[str] | set[str],
    reason: str,
    now: datetime,
    source: str = "chat",
) -> None:
    """Mark the order 卡关-人工介入 (customs staff only); the timeline says who and why."""
    if not set(roles) & CUSTOMS_ROLES:
        raise PermissionDenied("只有关务人员可以把订单转人工清关")
    if order.customs_hold:
        raise DomainError(f"订单 {order.order_no} 已经是「卡关-人工介入」")
    if order.status in ("cancelled", "returned", "delivered"):
        raise DomainError(f"订单 {order.order_no} 已{STATUS_NAMES[order.status]}，不能转人工清关")
    order.customs_hold, order.customs_hold_reason, order.updated_at = True, reason, now
    add_event(session, order, at=now, kind="customs", source=source, actor=actor, detail=f"卡关-人工介入：{reason}")


async def release_customs(
    session: AsyncSession,
    order: Order,
    *,
    actor: str,
    roles: frozenset[str] | set[str],
    now: datetime,
    note: str = "",
    source: str = "chat",
) -> None:
    if not set(roles) & CUSTOMS_ROLES:
        raise PermissionDenied("只有关务人员可以解除卡关")
    if not order.customs_hold:
        raise DomainError(f"订单 {order.order_no} 没有处于卡关状态")
    order.customs_hold, order.customs_hold_reason, order.updated_at = False, None, now
    add_event(
        session,
        order,
        at=now,
        kind="customs",
        source=source,
        actor=actor,
        detail="解除卡关" + (f"：{note}" if note else ""),
    )

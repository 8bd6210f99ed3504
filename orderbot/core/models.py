"""The order record: SQLAlchemy 2 typed ORM tables shared by every role, rule and reply.

Times are stored as UTC; money as integer cents (exact on SQLite and PostgreSQL alike); stock as a ledger of
movements whose sums always equal the levels kept beside them.
"""

from __future__ import annotations

from datetime import date, datetime, UTC
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    # Every model here is mapped to a plain Table (none to a join or a select), so `Model.__table__` is typed as
    # one, for the Core statements (insert, update, ON CONFLICT) built on it.
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Channel(Base):
    __tablename__ = "channels"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    frozen_reason: Mapped[str | None] = mapped_column(Text)
    frozen_by: Mapped[str | None] = mapped_column(String(64))
    frozen_at: Mapped[datetime | None]


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    province: Mapped[str | None] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(8), index=True)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(128))
    sales_owner: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class Product(Base):
    __tablename__ = "products"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64))
    customs_grade: Mapped[str] = mapped_column(String(1), default="A")
    hazmat_class: Mapped[str | None] = mapped_column(String(16))  # e.g. UN3481
    packing_instruction: Mapped[str | None] = mapped_column(String(32))  # e.g. PI 967 Section II
    fragile: Mapped[bool] = mapped_column(Boolean, default=False)
    weight_g: Mapped[int] = mapped_column(Integer, default=0)
    # master data from `orderbot catalog import`: purchasing and the stockout forecast read these
    unit_cost_cents: Mapped[int | None] = mapped_column(BigInteger)
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    lead_time_days: Mapped[int | None] = mapped_column(Integer)


class StockLevel(Base):
    """Current stock per SKU; only ever changed by `core.stock.ledger` with atomic SQL."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("reserved <= on_hand", name="reserved_le_on_hand"),
    )
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    in_transit: Mapped[int] = mapped_column(BigInteger, default=0)


class StockMovement(Base):
    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_order_sku", "order_no", "sku"),
        Index("ix_stock_movements_sku_kind_at", "sku", "kind", "at"),
        Index("ix_stock_movements_kind_at", "kind", "at", "sku", "qty"),
    )  # covers recent shipments
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # receipt reservation release shipment return adjustment
    qty: Mapped[int] = mapped_column(BigInteger)
    d_on_hand: Mapped[int] = mapped_column(BigInteger)
    d_reserved: Mapped[int] = mapped_column(BigInteger)
    order_no: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class Carrier(Base):
    __tablename__ = "carriers"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    clauses: Mapped[list[CarrierClause]] = relationship(back_populates="carrier")


class CarrierClause(Base):
    __tablename__ = "carrier_clauses"
    __table_args__ = (UniqueConstraint("carrier_code", "clause_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_code: Mapped[str] = mapped_column(ForeignKey("carriers.code"))
    clause_no: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    causes: Mapped[list[str]] = mapped_column(default=list, server_default="[]")  # codes of core.causes.CAUSES
    compensation: Mapped[str | None] = mapped_column(Text)
    carrier: Mapped[Carrier] = relationship(back_populates="clauses")


class StockReceipt(Base):
    """One receiving line (file row or chat), keyed by sku + batch + PO no. so booking it twice books once.
    A line with a future arrival is 'due' (counted in transit) until it is received."""

    __tablename__ = "stock_receipts"
    __table_args__ = (Index("ix_stock_receipts_state_sku", "state", "sku", "expected_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(191), unique=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    qty: Mapped[int] = mapped_column(BigInteger)
    batch: Mapped[str | None] = mapped_column(String(32))
    po_no: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8))  # due received
    expected_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16))  # file chat
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_channel_order", "channel_code", "channel_order_id"),
        Index("ix_orders_channel_order_id", "channel_order_id"),
        Index("ix_orders_status_stage_since", "status", "stage", "stage_since"),
        Index("ix_orders_created_status", "created_at", "status"),  # covers daily counts and cancel rates
        Index("ix_orders_customer_created", "customer_id", "created_at"),
        Index("ix_orders_promised_date", "promised_date"),
        Index("ix_orders_promised_override", "promised_override"),
        Index("ix_orders_customs_state_in", "customs_state", "customs_in_at"),
        Index("ix_orders_shipped_at", "shipped_at"),
        Index("ix_orders_cancelled_at", "cancelled_at"),
        Index("ix_orders_return_requested_at", "return_requested_at"),
        # the few orders a channel freeze holds (an unfreeze counts them on the event loop: 90 ms at a million
        # orders through ix_orders_channel_order, a few microseconds through this)
        Index(
            "ix_orders_held_channel",
            "channel_code",
            sqlite_where=text("review_hold IS 1"),
            postgresql_where=text("review_hold IS true"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # the five first-screen fields
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    # progressively revealed fields
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    channel_code: Mapped[str | None] = mapped_column(ForeignKey("channels.code"))
    channel_order_id: Mapped[str | None] = mapped_column(String(64))
    dest_country: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    stage_since: Mapped[datetime]
    review_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    customs_grade: Mapped[str] = mapped_column(String(1), default="A")
    customs_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    customs_hold_reason: Mapped[str | None] = mapped_column(Text)
    promised_date: Mapped[date | None] = mapped_column(Date)
    promised_override: Mapped[date | None] = mapped_column(Date)
    override_by: Mapped[str | None] = mapped_column(String(64))
    override_at: Mapped[datetime | None]
    override_reason: Mapped[str | None] = mapped_column(Text)
    tracking_no: Mapped[str | None] = mapped_column(String(32), index=True)
    carrier_code: Mapped[str | None] = mapped_column(ForeignKey("carriers.code"))
    notes: Mapped[str | None] = mapped_column(Text)
    tax_exempt_no: Mapped[str | None] = mapped_column(String(64))
    invoice_status: Mapped[str | None] = mapped_column(String(8))  # 已开票 / 待退税
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    sales_owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)
    cancelled_at: Mapped[datetime | None]
    return_requested_at: Mapped[datetime | None]
    return_received_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # Carrier tracking (tracking webhooks): the latest status, clearance timer and the carrier's own ETA.
    tracking_status: Mapped[str | None] = mapped_column(String(40))  # e.g. InTransit_CustomsProcessing
    tracking_at: Mapped[datetime | None]
    customs_state: Mapped[str | None] = mapped_column(String(16))  # processing info_required released stuck
    customs_in_at: Mapped[datetime | None]
    expected_delivery: Mapped[date | None] = mapped_column(Date, index=True)
    eta_cause: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), index=True)
    qty: Mapped[int] = mapped_column(Integer)
    order: Mapped[Order] = relationship(back_populates="lines")
    # (order_id, sku, qty) covers the product mix of recent orders as well as an order's own lines
    __table_args__ = (Index("ix_order_lines_order_sku_qty", "order_id", "sku", "qty"),)


class Package(Base):
    """One physical parcel; its QR label names exactly this row."""

    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("order_id", "package_no"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    package_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    qty: Mapped[int] = mapped_column(Integer, default=1)
    batch_no: Mapped[str] = mapped_column(String(32))
    tracking_no: Mapped[str | None] = mapped_column(String(32), index=True)
    scanned_at: Mapped[datetime | None]
    scanned_by: Mapped[str | None] = mapped_column(String(64))
    station: Mapped[str | None] = mapped_column(String(32))


class OrderEvent(Base):
    """The append-only timeline of an order: who did what, when, from where."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_at", "order_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(24))  # created status stage tracking customs eta note ...
    stage: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(24))  # import webhook shopify scan carrier chat system seed
    actor: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class Delay(Base):
    __tablename__ = "delays"
    __table_args__ = (Index("ix_delays_recorded", "recorded_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # the cause's name in core.causes (海关查验 …), or 缺货
    lane: Mapped[str] = mapped_column(String(32))  # 深圳-洛杉矶
    cause: Mapped[str] = mapped_column(Text)
    carrier_code: Mapped[str | None] = mapped_column(ForeignKey("carriers.code"))
    clause_no: Mapped[str | None] = mapped_column(String(16))
    delay_days: Mapped[int] = mapped_column(Integer, default=0)
    recorded_at: Mapped[datetime]
    # The cause category (`core.causes`); live records also say which provider reported them and when last.
    category: Mapped[str] = mapped_column(String(24), default="other", server_default="other")
    source: Mapped[str | None] = mapped_column(String(24))  # aftership 17track generic (None: seed / import)
    updated_at: Mapped[datetime | None]


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(default=list)
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wecom_open_userid: Mapped[str | None] = mapped_column(String(64), unique=True)  # AI bots made by members
    dingtalk_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Task(Base):
    """A work order (报关资料待补, 异常扫码工单, 逆向物流稽查 …); `key` makes opening one idempotent."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_order_state", "order_id", "state"), Index("ix_tasks_type_state", "type", "state"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str | None] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    assignee: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open done cancelled
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reminded_at: Mapped[datetime | None]  # the one overdue reminder to its owner


class TaskEvent(Base):
    """A task's history: taken, handed over, done, reminded — who, when, what."""

    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_task_at", "task_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # take hand_over done reminded
    detail: Mapped[str | None] = mapped_column(Text)


class Communication(Base):
    __tablename__ = "communications"
    __table_args__ = (Index("ix_communications_order_at", "order_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    direction: Mapped[str] = mapped_column(String(3))  # in / out
    medium: Mapped[str] = mapped_column(String(16))  # wechat wecom email phone
    party: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text)


class InboundEvent(Base):
    """Every inbound event's dedupe key. Order events record it in the transaction of their effect; chat events
    are first stored here as the inbox (state 'new', with the event) and acknowledged, then processed once:
    the row turns 'done' in the transaction of the effect, so a crash in between leaves it to be resumed."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "key"), Index("ix_inbound_events_state", "state"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(191))
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(8), default="done", server_default="done")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_due", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(191), unique=True)
    channel: Mapped[str] = mapped_column(String(24))
    destination: Mapped[str] = mapped_column(String(191))
    kind: Mapped[str] = mapped_column(String(24))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(8), default="pending")  # pending sent dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]  # first failed try: retries end `retry window` after it


class AuditEntry(Base):
    """Who changed what outside an order's own timeline (channel freeze, config-driven actions, undo)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    chat: Mapped[str | None] = mapped_column(String(128))


class Media(Base):
    """Images and files served by signed, expiring links (charts in DingTalk markdown)."""

    __tablename__ = "media"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mime: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Silence(Base):
    """An alert rule muted from chat until a time; expires by itself."""

    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    ended_by: Mapped[str | None] = mapped_column(String(64))


class Scan(Base):
    """Every scan attempt, good or bad: the packer figures (accuracy, corrections) and the exception heatmap
    are read from here. `dedupe_key` is the platform event's key, so a retried callback is one scan."""

    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_staff_at", "staff_id", "at"), Index("ix_scans_station_at", "station", "at"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    staff_id: Mapped[str | None] = mapped_column(String(64))
    platform_user: Mapped[str | None] = mapped_column(String(64))
    station: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))  # ok repeat unreadable bad_check unknown_order ...
    order_no: Mapped[str | None] = mapped_column(String(32), index=True)
    package_no: Mapped[int | None] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(64))
    batch_no: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[bool] = mapped_column(Boolean, default=False)


class DutyOverride(Base):
    """A lead changed in chat for one day; wins over the roster in the business config."""

    __tablename__ = "duty_overrides"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


class Alert(Base):
    """One alert per rule and subject while it is active (`active_key` is NULL once resolved, so the unique
    index dedupes live alerts only). Lifecycle: pending → firing → acknowledged → resolved.
    `action` records what the rule did or suggests (kind + arguments) so a person can undo or apply it."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_rule_state", "rule", "state"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))  # channel code, customer id, order no, "*"
    active_key: Mapped[str | None] = mapped_column(String(191), unique=True)
    state: Mapped[str] = mapped_column(String(12))  # pending firing acknowledged resolved
    value: Mapped[float | None]
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    notify_count: Mapped[int] = mapped_column(Integer, default=0)
    acked_by: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolve_note: Mapped[str | None] = mapped_column(Text)
    action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    action_state: Mapped[str | None] = mapped_column(String(12))  # done suggested applied undone
    action_by: Mapped[str | None] = mapped_column(String(64))
    action_at: Mapped[datetime | None]


class RuleEvaluation(Base):
    """The execution log: every evaluation of every rule, with what it measured and what came of it."""

    __tablename__ = "rule_evaluations"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(index=True)
    trigger: Mapped[str] = mapped_column(String(24))  # schedule event cli
    value: Mapped[float | None]
    subjects: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16))  # quiet fired resolved silenced disabled error dry_run
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    duration_ms: Mapped[float] = mapped_column(default=0.0)


class JobLease(Base):
    """Which server runs the scheduler's jobs: one row per lease, renewed while its holder lives."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Breaker(Base):
    """A circuit breaker a person can see and close, e.g. the courier batch paused by a red weather alert."""

    __tablename__ = "breakers"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))  # closed open
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))


class CourierRun(Base):
    """Each run of the courier batch: what it handed over, refused, or why it did not run."""

    __tablename__ = "courier_runs"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(12))  # ran paused failsafe
    handed: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    weather: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PendingConfirmation(Base):
    """A write read from typed text, or a choice between readings, waiting for its asker's button or reply.

    `kind` is confirm (one reading, 确认/取消) or choose (the closest readings, one button each). The row is
    decided once: the first valid click moves `state` from pending to done or cancelled in one UPDATE."""

    __tablename__ = "pending_confirmations"
    __table_args__ = (Index("ix_pending_confirmations_asker", "staff_id", "chat", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # confirm choose
    staff_id: Mapped[str] = mapped_column(String(64))
    chat: Mapped[str] = mapped_column(String(128), default="")  # "" for a direct chat
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"readings": [{"name", "slots"}, …]}
    summary: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending done cancelled
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    choice: Mapped[int | None] = mapped_column(Integer)


class AibotChat(Base):
    """A WeCom AI-bot conversation someone has talked to the bot in: the bot may push there (long connection)."""

    __tablename__ = "aibot_chats"
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # group chatid, or the userid for 1:1
    chat_type: Mapped[str] = mapped_column(String(8))  # group single
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_user: Mapped[str | None] = mapped_column(String(64))


class AibotAnswer(Base):
    """An answer of the AI bot that carried a `feedback.id` (WeCom sends `feedback_event` only for those): the
    question and what it was read as, so a rating (`AibotFeedback.feedback_id`) says which answer it judged."""

    __tablename__ = "aibot_answers"
    feedback_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    question: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text)  # the answer's first lines, as the person saw them


class AibotFeedback(Base):
    """A rating of one of the AI bot's answers (feedback_event): 1 accurate, 2 inaccurate, 3 withdrawn."""

    __tablename__ = "aibot_feedback"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    feedback_id: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    reasons: Mapped[list[int]] = mapped_column(JSON, default=list)

"""A scan at the packing station: the only source of shipping truth.

One call checks the label and the order, and for a good scan does everything in the caller's transaction: the
package is scanned (time, packer, station), stock moves reserved → shipped, the order moves to packing and, with
its last package, to shipped; the customer's shipment notice is returned for the outbox. A repeat moves nothing.
A failure never blames the packer: it is recorded, a 异常扫码工单 opens for the lead on duty, and three failures
in a row at one station hand the lead the last three scans side by side.

The good scan and the repeat are one short run of prebuilt Core statements in one greenlet (`_scan_now`): a
joined select that locks the order and package rows, guarded UPDATEs instead of read-modify-write (stock by
`ledger.ship_now`, the package only if still unscanned, the order by `Timeline`, which plans its moves with the
same state machine and texts as `move_stage`/`change_status`), and the inserts. Everything that can refuse is
decided before the first write, so no savepoint is needed. Failures are rare and go through the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, bindparam, exists, false, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from orderbot.config import BusinessConfig
from orderbot.core.errors import DomainError
from orderbot.core.keys import fit_key
from orderbot.core.models import (
    Carrier,
    Communication,
    Customer,
    DutyOverride,
    Order,
    Package,
    Product,
    Scan,
    Staff,
    Task,
)
from orderbot.core.orders.service import StaleOrder, Timeline, open_task
from orderbot.core.orders.states import STAGE_INDEX
from orderbot.core.stock import ledger
from orderbot.core.warehouse.labels import Label, LabelCheckFailed, LabelUnreadable, parse_label, split_label
from orderbot.core.warehouse.shipment import CustomerNotice, communication_row, notice

FAILURE_REPLY = "已记录，值班组长会处理"
_TASK_KEY = Task.key.property.columns[0].type.length
STREAK = 3
CORRECTION_WINDOW = timedelta(minutes=30)
OUTCOME_NAMES = {
    "unreadable": "无法识别的标签",
    "bad_check": "校验码不符",
    "unknown_order": "订单不存在",
    "wrong_package": "包裹不属于该订单",
    "wrong_sku": "SKU与订单不符",
    "wrong_batch": "批次与包裹不符",
    "cancelled": "订单已取消",
    "customs_hold": "订单卡关中",
    "frozen": "渠道冻结待审核",
    "not_paid": "订单未付款",
    "not_reserved": "库存未预留",
    "unbound": "扫码账号未绑定员工",
}
FIELDS = ("订单号", "SKU", "批次", "包裹号", "校验码")


@dataclass(frozen=True)
class Notice:
    """A message for a staff member; the bot layer addresses and queues it."""

    staff_id: str
    title: str
    text: str
    digest_key: str | None = None


@dataclass(frozen=True)
class StreakScan:
    at: datetime
    raw: str
    outcome: str
    disagree: tuple[int, ...]  # 1 per FIELDS entry where the label disagrees with the database


@dataclass
class ScanResult:
    outcome: str
    message: str
    order_no: str | None = None
    warnings: tuple[str, ...] = ()
    shipped_order: bool = False
    notices: list[Notice] = field(default_factory=list)
    customer: CustomerNotice | None = None
    streak: tuple[StreakScan, ...] = ()
    station: str | None = None
    scan_id: int | None = None  # a failed scan's row: its exception also goes to the groups receiving it
    exception: tuple[str, str] | None = None  # (title, text) for the groups receiving "scan_exception"

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


async def lead_on_duty(session: AsyncSession, config: BusinessConfig, day: date) -> str | None:
    override = await session.get(DutyOverride, (day, "warehouse_lead"))
    if override is not None:
        return override.staff_id
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    return config.duty.warehouse_lead.get(weekday) or config.duty.fallback


async def set_lead_on_duty(session: AsyncSession, day: date, staff_id: str, *, by: str, now: datetime) -> None:
    row = await session.get(DutyOverride, (day, "warehouse_lead"))
    if row is None:
        session.add(DutyOverride(day=day, role="warehouse_lead", staff_id=staff_id, set_by=by, set_at=now))
    else:
        row.staff_id, row.set_by, row.set_at = staff_id, by, now


def _local(now: datetime, config: BusinessConfig) -> datetime:
    return now.astimezone(ZoneInfo(config.timezone))


async def _fail(
    session: AsyncSession, record: dict[str, Any], outcome: str, config: BusinessConfig, now: datetime, detail: str
) -> ScanResult:
    scan = Scan(**record, outcome=outcome, detail=detail)
    session.add(scan)
    await session.flush()
    lead = await lead_on_duty(session, config, _local(now, config).date())
    who = scan.staff_id or scan.platform_user or "?"
    subject = f"异常扫码：{OUTCOME_NAMES[outcome]}（{scan.station or '未知工位'}，{who}）"
    # Someone outside the staff directory gets one ticket per hour however often they scan (issue 13: 30 junk
    # scans by a stranger were 30 tickets for the lead); every scan is still recorded in the scans table.
    key = (
        f"scan_exception:{scan.id}"
        if outcome != "unbound"
        else fit_key(f"scan_stranger:{scan.platform_user or '?'}:{_local(now, config):%Y-%m-%dT%H}", _TASK_KEY)
    )
    opened = await open_task(
        session,
        key=key,
        type="scan_exception",
        subject=subject,
        assignee=lead,
        now=now,
        data={"scan_id": scan.id, "raw": scan.raw[:200], "outcome": outcome},
    )
    if outcome == "unbound" and not opened:  # folded into this hour's ticket for that sender: nobody is paged again
        return ScanResult(outcome, FAILURE_REPLY, scan.order_no, station=scan.station)
    result = ScanResult(
        outcome,
        FAILURE_REPLY,
        scan.order_no,
        station=scan.station,
        scan_id=scan.id,
        exception=("异常扫码工单", f"{subject}\n扫到的内容：{scan.raw[:120]}\n{detail}"),
    )
    if lead:
        result.notices.append(
            Notice(
                lead, "异常扫码工单", f"{subject}\n扫到的内容：{scan.raw[:120]}\n{detail}", digest_key="scan_exception"
            )
        )
        result.streak = await _streak(session, scan)
        if result.streak:
            result.notices.append(
                Notice(
                    lead,
                    "疑似批次标签打印偏移",
                    f"{scan.station or '该工位'}连续{STREAK}次扫码失败，疑似批次标签打印偏移，请检查这一批标签。",
                )
            )
    return result


async def _streak(session: AsyncSession, scan: Scan) -> tuple[StreakScan, ...]:
    """The last three scans at this station, if all failed and the run has just reached three."""
    if not scan.station:
        return ()
    recent = (
        (
            await session.execute(
                select(Scan)
                .where(Scan.station == scan.station)
                .order_by(Scan.at.desc(), Scan.id.desc())
                .limit(STREAK + 1)
            )
        )
        .scalars()
        .all()
    )
    failed = [s for s in recent[:STREAK] if s.outcome not in ("ok", "repeat")]
    if len(failed) < STREAK or (len(recent) > STREAK and recent[STREAK].outcome not in ("ok", "repeat")):
        return ()
    out = []
    for s in reversed(recent[:STREAK]):
        out.append(StreakScan(s.at, s.raw, s.outcome, await _disagreement(session, s)))
    return tuple(out)


async def _disagreement(session: AsyncSession, scan: Scan) -> tuple[int, ...]:
    parts = split_label(scan.raw)
    if parts is None:
        return (1, 1, 1, 1, 1)
    _, order_no, sku, batch, package_no, _ = parts
    order = (await session.execute(select(Order.id).where(Order.order_no == order_no.upper()))).scalar()
    package = None
    if order is not None:
        package = (
            await session.execute(
                select(Package).where(Package.order_id == order, Package.package_no == int(package_no))
            )
        ).scalar()
    return (
        int(order is None),
        int(package is None or package.sku != sku),
        int(package is None or package.batch_no != batch),
        int(package is None),
        int(scan.outcome == "bad_check"),
    )


class Hazards(Protocol):
    """What packing needs to know of a product: a `Product`, or any row with its `hazmat_class` and `fragile`."""

    @property
    def hazmat_class(self) -> str | None: ...
    @property
    def fragile(self) -> bool: ...


def hazard_warnings(product: Hazards, config: BusinessConfig, docs_missing: bool) -> tuple[str, ...]:
    """What the packer must do now, from a product (or any row with its `hazmat_class` and `fragile`)."""
    out = []
    if product.hazmat_class:
        h = config.hazmat.get(product.hazmat_class)
        if h is not None:
            out.append(f"{h.note}（{h.packing_instruction}，贴{h.mark}）")
        else:
            out.append(f"含危险品 {product.hazmat_class}，请按危险品要求包装")
    if product.fragile:
        out.append("易碎品：请加气泡膜并贴易碎标")
    if docs_missing:
        out.append("报关资料未齐：包裹可出库，交运前请关务补齐资料")
    return tuple(out)


# The fast path's statements, built and compiled once: the ORM's statement building, identity map and flush cost
# several times the SQL itself here.
_PK, _PR = Package.__table__.alias("pk"), Product.__table__.alias("pr")
_ORDER_PACKAGE = (
    select(
        Order.id,
        Order.order_no,
        Order.status,
        Order.stage,
        Order.customs_hold,
        Order.review_hold,
        Order.tracking_no,
        Order.carrier_code,
        Order.customer_id,
        Package.id.label("package_id"),
        Package.package_no,
        Package.sku,
        Package.qty,
        Package.batch_no,
        Package.scanned_at,
        Package.scanned_by,
        Product.hazmat_class,
        Product.fragile,
        Customer.name.label("customer_name"),
        Customer.wechat_openid,
        Customer.email,
        # fixed once an order has packages (all made in one transaction), so safe to read before the lock
        select(func.count()).select_from(_PK).where(_PK.c.order_id == Order.id).scalar_subquery().label("total"),
        exists().where(Task.order_id == Order.id, Task.type == "customs_docs", Task.state == "open").label("docs_open"),
        select(_PK.c.tracking_no)
        .where(_PK.c.order_id == Order.id, _PK.c.tracking_no.is_not(None))
        .limit(1)
        .scalar_subquery()
        .label("package_tracking"),
        select(_PR.c.name)
        .join(_PK, _PK.c.sku == _PR.c.sku)
        .where(_PK.c.order_id == Order.id)
        .limit(1)
        .scalar_subquery()
        .label("first_product"),
        select(Carrier.name).where(Carrier.code == Order.carrier_code).scalar_subquery().label("carrier_name"),
    )
    .join(Package, Package.order_id == Order.id)
    .join(Product, Product.sku == Package.sku)
    .join(Customer, Customer.id == Order.customer_id)
    .where(Order.order_no == bindparam("order_no"), Package.package_no == bindparam("package_no"))
    # PostgreSQL: scans of one order queue on its row (the last package ships the order exactly once), a
    # package scanned twice at once is seen scanned by the second; SQLite: writers are serialised anyway.
    .with_for_update(of=[Order.__table__, Package.__table__])
)
_SCANNED_BEFORE = select(func.count(Package.scanned_at)).where(Package.order_id == bindparam("order_id"))
_MARK_SCANNED = (
    update(Package.__table__)
    .where(Package.__table__.c.id == bindparam("package_id"), Package.__table__.c.scanned_at.is_(None))
    .values(
        scanned_at=bindparam("at", type_=Package.__table__.c.scanned_at.type),
        scanned_by=bindparam("by"),
        station=bindparam("at_station"),
    )
)
_STAFF_NAME = select(Staff.name).where(Staff.id == bindparam("staff_id"))
_INSERT_SCAN = insert(Scan.__table__)
_SC = Scan.__table__.alias("prev")
# A correction: a good scan right after this packer's own failed scan of the same order (within 30 minutes), so the
# packer fixed the parcel in place. One fix counts once, so only when the latest such scan was the failure. Decided
# in the INSERT itself: its subquery runs before the row exists, so the scan never sees itself.
_INSERT_GOOD_SCAN = insert(Scan.__table__).values(
    at=bindparam("at", type_=Scan.__table__.c.at.type),
    staff_id=bindparam("staff_id"),
    platform_user=bindparam("platform_user"),
    station=bindparam("station"),
    raw=bindparam("raw"),
    outcome="ok",
    order_no=bindparam("order_no"),
    package_no=bindparam("package_no"),
    sku=bindparam("sku"),
    batch_no=bindparam("batch_no"),
    correction=func.coalesce(
        select((_SC.c.outcome != "ok") & (_SC.c.outcome != "repeat"))
        # coalesce(): not the (staff, at) index, whose range is every scan of this packer in the last half hour
        # (thousands on a busy day) where the order's own scans are a handful
        .where(
            _SC.c.order_no == bindparam("order_no"),
            func.coalesce(_SC.c.staff_id, "") == bindparam("staff_id"),
            _SC.c.at >= bindparam("since", type_=Scan.__table__.c.at.type),
        )
        .order_by(_SC.c.at.desc(), _SC.c.id.desc())
        .limit(1)
        .scalar_subquery(),
        false(),
    ),
)
_INSERT_COMMUNICATION = insert(Communication.__table__)
_ORDER_NO = select(Order.order_no).where(Order.order_no == bindparam("order_no"))


async def scan_package(
    session: AsyncSession,
    *,
    raw: str,
    staff_id: str | None,
    platform_user: str | None,
    station: str | None,
    now: datetime,
    config: BusinessConfig,
    secret: str,
) -> ScanResult:
    record: dict[str, Any] = {
        "at": now,
        "staff_id": staff_id,
        "platform_user": platform_user,
        "station": station,
        "raw": raw[:500],
    }
    if staff_id is None:
        result = await _fail(session, record, "unbound", config, now, "扫码账号未绑定员工档案")
        result.message = "这个扫码账号还没有绑定员工，已通知值班组长，请绑定后再扫。"
        return result
    try:
        label = parse_label(raw, secret)
    except LabelUnreadable:
        return await _fail(session, record, "unreadable", config, now, "标签格式无法识别")
    except LabelCheckFailed:
        parts = split_label(raw) or []
        record["order_no"] = parts[1].upper() if len(parts) > 1 else None
        return await _fail(session, record, "bad_check", config, now, "校验码不符：标签可能损坏或被手工改写")
    record.update(order_no=label.order_no.upper(), package_no=label.package_no, sku=label.sku, batch_no=label.batch_no)
    outcome = await session.run_sync(_scan_now, record, label, now=now, config=config)
    if isinstance(outcome, ScanResult):
        return outcome
    if outcome is None:
        return await _not_found(session, record, label, now=now, config=config)
    failure, detail = outcome
    return await _fail(session, record, failure, config, now, detail)


def _scan_now(
    session: Session, record: dict[str, Any], label: Label, *, now: datetime, config: BusinessConfig
) -> ScanResult | tuple[str, str] | None:
    """The good scan and the repeat, synchronously in one greenlet (`run_sync`): a ScanResult; for a failure
    (outcome, detail) with nothing written; None when the order or the package does not exist."""
    conn = session.connection()
    row = conn.execute(_ORDER_PACKAGE, {"order_no": record["order_no"], "package_no": label.package_no}).first()
    if row is None:
        return None
    staff_id, station = record["staff_id"], record["station"]
    if row.scanned_at is not None:
        conn.execute(_INSERT_SCAN, {**record, "outcome": "repeat", "detail": None, "correction": False})
        who = conn.execute(_STAFF_NAME, {"staff_id": row.scanned_by}).scalar() if row.scanned_by else None
        when = _local(row.scanned_at, config)
        return ScanResult(
            "repeat",
            f"已于 {when:%H:%M} 由 {row.scanned_by if who is None else who} 扫描，无需重复出库",
            row.order_no,
            station=station,
        )
    if row.sku != label.sku:
        return "wrong_sku", f"标签SKU {label.sku}，订单包裹应为 {row.sku}"
    if row.batch_no != label.batch_no:
        return "wrong_batch", f"标签批次 {label.batch_no}，包裹批次应为 {row.batch_no}"
    for outcome, bad in (
        ("cancelled", row.status == "cancelled"),
        ("customs_hold", row.customs_hold),
        ("frozen", row.review_hold),
        ("not_paid", row.status != "paid"),
    ):
        if bad:
            return outcome, f"订单 {row.order_no}：{OUTCOME_NAMES[outcome]}"
    # Everything is decided before the first write: the state machine plans the moves (an illegal one raises
    # here), the other packages' scans are counted under the order's lock.
    total = row.total
    done = total if total == 1 else conn.execute(_SCANNED_BEFORE, {"order_id": row.id}).scalar_one() + 1
    timeline = Timeline(row.id, row.status, row.stage, now=now, source="scan", actor=staff_id)
    if STAGE_INDEX[row.stage] < STAGE_INDEX["packing"]:
        timeline.move_stage("packing", "开始扫码出库")
    timeline.event("scan", f"包裹 {row.package_no}/{total} 扫码出库（{station or '未知工位'}）")
    shipped = done == total
    if shipped:
        timeline.change_status("shipped", "最后一个包裹扫码出库")
    try:
        moved = ledger.ship_now(
            conn, row.sku, row.qty, at=now, order_no=row.order_no, actor=staff_id, note=f"扫码出库 包裹{row.package_no}"
        )
    except DomainError:  # a quantity the ledger refuses: refused like missing stock, as the ORM path did
        moved = False
    if not moved:
        return "not_reserved", f"{row.sku} 没有为订单预留库存"  # the guard wrote nothing
    if (
        conn.execute(
            _MARK_SCANNED, {"package_id": row.package_id, "at": now, "by": staff_id, "at_station": station}
        ).rowcount
        != 1
    ):
        raise StaleOrder(f"package {row.package_id} was scanned under our lock")
    conn.execute(_INSERT_GOOD_SCAN, {**record, "since": now - CORRECTION_WINDOW})
    timeline.write(session)
    loaded = session.identity_map.get(identity_key(Package, row.package_id))
    if loaded is not None:
        session.expire(loaded)
    result = ScanResult("ok", "", row.order_no, hazard_warnings(row, config, bool(row.docs_open)), station=station)
    head = f"✅ 出库成功 {row.order_no} 包裹 {row.package_no}/{total} · {row.sku}"
    if shipped:
        result.shipped_order = True
        result.customer = _notice_now(conn, row, now, config)
        head += (
            "\n整单已发出，已通知客户"
            if result.customer is not None
            else "\n整单已发出，生成运单号后（快递交接批次）通知客户"
        )
    result.message = "\n".join([head, *(f"⚠️ {w}" for w in result.warnings)])
    return result


def _notice_now(
    conn: Connection, row: Row[*tuple[Any, ...]], now: datetime, config: BusinessConfig
) -> CustomerNotice | None:
    """The customer's shipment notice from the scan's row, recorded as a communication; None while the order has
    no waybill (the courier batch sends it with the tracking number)."""
    tracking = row.tracking_no or row.package_tracking
    if not tracking:
        return None
    made = notice(
        customer_id=row.customer_id,
        openid=row.wechat_openid,
        email=row.email,
        order_no=row.order_no,
        tracking_no=tracking,
        carrier_name=row.carrier_name or row.carrier_code,
        product=row.first_product,
        shipped_at=now,
        zone=ZoneInfo(config.timezone),
        order_id=row.id,
    )
    conn.execute(_INSERT_COMMUNICATION, communication_row(row.id, row.customer_name, made.text, now))
    return made


async def _not_found(
    session: AsyncSession, record: dict[str, Any], label: Label, *, now: datetime, config: BusinessConfig
) -> ScanResult:
    """No order or package for the label (the joined select found nothing; products and customers are foreign
    keys, so it was one of these): which one, worded for the lead."""
    order_no = (await session.execute(_ORDER_NO, {"order_no": record["order_no"]})).scalar()
    if order_no is None:
        return await _fail(session, record, "unknown_order", config, now, f"系统里没有订单 {record['order_no']}")
    return await _fail(
        session, record, "wrong_package", config, now, f"订单 {order_no} 没有第 {label.package_no} 个包裹"
    )


class WaybillRefused(DomainError):
    pass


async def check_waybill(session: AsyncSession, order_no: str) -> Order:
    """The waybill gate: no waybill for an order with any unscanned package (the seed: 错发率直接归零)."""
    order = (await session.execute(select(Order).where(Order.order_no == order_no.upper()))).scalar()
    if order is None:
        from orderbot.core.errors import OrderNotFound

        raise OrderNotFound(order_no)
    packages = (
        await session.execute(
            select(Package.package_no, Package.scanned_at)
            .where(Package.order_id == order.id)
            .order_by(Package.package_no)
        )
    ).all()
    unscanned = [p for p, at in packages if at is None]
    if not packages or unscanned:
        names = "、".join(f"包裹 {p}/{len(packages)}" for p in unscanned) or "没有包裹"
        raise WaybillRefused(
            f"{order.order_no} 还有未扫码的包裹（{names}），不能生成面单", unscanned=unscanned, order_no=order.order_no
        )
    return order


async def packer_figures(
    session: AsyncSession, *, start: datetime, end: datetime, staff_id: str | None = None
) -> list[tuple[str, int, int, int]]:
    """Per packer: (staff id, good scans, failed scans, corrections) between start and end. Repeats count as
    neither: they move nothing and are not a mistake."""
    from sqlalchemy import case

    stmt = (
        select(
            Scan.staff_id,
            func.sum(case((Scan.outcome == "ok", 1), else_=0)),
            func.sum(case((Scan.outcome.not_in(("ok", "repeat")), 1), else_=0)),
            func.sum(case((Scan.correction.is_(True), 1), else_=0)),
        )
        .where(Scan.at >= start, Scan.at < end, Scan.staff_id.is_not(None))
        .group_by(Scan.staff_id)
    )
    if staff_id:
        stmt = stmt.where(Scan.staff_id == staff_id)
    return [(sid, int(ok or 0), int(bad or 0), int(fix or 0)) for sid, ok, bad, fix in await session.execute(stmt)]

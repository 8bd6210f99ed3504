"""A scan at the packing station: the only source of shipping truth.

One call checks the label and the order, and for a good scan does everything in the caller's transaction: the
package is scanned (time, packer, station), stock moves reserved → shipped, the order moves to packing and, with
its last package, to shipped; the customer's shipment notice is returned for the outbox. A repeat moves nothing.
A failure never blames the packer: it is recorded, a 异常扫码工单 opens for the lead on duty, and three failures
in a row at one station hand the lead the last three scans side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...config import BusinessConfig
from ..errors import DomainError
from ..models import Communication, Customer, DutyOverride, Order, Package, Product, Scan, Staff, Task
from ..orders.service import add_event, change_status, move_stage, open_task
from ..orders.states import STAGE_INDEX
from ..stock import ledger
from .labels import LabelCheckFailed, LabelUnreadable, parse_label, split_label

FAILURE_REPLY = "已记录，值班组长会处理"
STREAK = 3
CORRECTION_WINDOW = timedelta(minutes=30)
OUTCOME_NAMES = {
    "unreadable": "无法识别的标签", "bad_check": "校验码不符", "unknown_order": "订单不存在", "wrong_package": "包裹不属于该订单",
    "wrong_sku": "SKU与订单不符", "wrong_batch": "批次与包裹不符", "cancelled": "订单已取消", "customs_hold": "订单卡关中",
    "frozen": "渠道冻结待审核", "not_paid": "订单未付款", "not_reserved": "库存未预留", "unbound": "扫码账号未绑定员工",
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
class CustomerNotice:
    customer_id: str
    openid: str | None
    email: str | None
    order_no: str
    text: str
    fields: dict[str, str]


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


async def _fail(session: AsyncSession, scan: Scan, outcome: str, config: BusinessConfig, now: datetime,
                detail: str) -> ScanResult:
    scan.outcome, scan.detail = outcome, detail
    session.add(scan)
    await session.flush()
    lead = await lead_on_duty(session, config, _local(now, config).date())
    who = scan.staff_id or scan.platform_user or "?"
    subject = f"异常扫码：{OUTCOME_NAMES[outcome]}（{scan.station or '未知工位'}，{who}）"
    await open_task(session, key=f"scan_exception:{scan.id}", type="scan_exception", subject=subject,
                    assignee=lead, now=now, data={"scan_id": scan.id, "raw": scan.raw[:200], "outcome": outcome})
    result = ScanResult(outcome, FAILURE_REPLY, scan.order_no, station=scan.station)
    if lead:
        result.notices.append(Notice(lead, "异常扫码工单", f"{subject}\n扫到的内容：{scan.raw[:120]}\n{detail}",
                                     digest_key="scan_exception"))
        result.streak = await _streak(session, scan)
        if result.streak:
            result.notices.append(Notice(lead, "疑似批次标签打印偏移",
                                         f"{scan.station or '该工位'}连续{STREAK}次扫码失败，疑似批次标签打印偏移，请检查这一批标签。"))
    return result


async def _streak(session: AsyncSession, scan: Scan) -> tuple[StreakScan, ...]:
    """The last three scans at this station, if all failed and the run has just reached three."""
    if not scan.station:
        return ()
    recent = (await session.execute(select(Scan).where(Scan.station == scan.station)
                                    .order_by(Scan.at.desc(), Scan.id.desc()).limit(STREAK + 1))).scalars().all()
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
        package = (await session.execute(select(Package).where(Package.order_id == order,
                                                               Package.package_no == int(package_no)))).scalar()
    return (int(order is None), int(package is None or package.sku != sku), int(package is None or package.batch_no != batch),
            int(package is None), int(scan.outcome == "bad_check"))


def hazard_warnings(product: Product, config: BusinessConfig, docs_missing: bool) -> tuple[str, ...]:
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


async def scan_package(session: AsyncSession, *, raw: str, staff_id: str | None, platform_user: str | None,
                       station: str | None, now: datetime, config: BusinessConfig, secret: str) -> ScanResult:
    scan = Scan(at=now, staff_id=staff_id, platform_user=platform_user, station=station, raw=raw[:500],
                outcome="ok")
    if staff_id is None:
        result = await _fail(session, scan, "unbound", config, now, "扫码账号未绑定员工档案")
        result.message = "这个扫码账号还没有绑定员工，已通知值班组长，请绑定后再扫。"
        return result
    try:
        label = parse_label(raw, secret)
    except LabelUnreadable:
        return await _fail(session, scan, "unreadable", config, now, "标签格式无法识别")
    except LabelCheckFailed:
        parts = split_label(raw) or []
        scan.order_no = parts[1].upper() if len(parts) > 1 else None
        return await _fail(session, scan, "bad_check", config, now, "校验码不符：标签可能损坏或被手工改写")
    scan.order_no, scan.package_no, scan.sku, scan.batch_no = (label.order_no.upper(), label.package_no, label.sku,
                                                               label.batch_no)
    order = (await session.execute(select(Order).where(Order.order_no == scan.order_no).with_for_update())).scalar()
    if order is None:
        return await _fail(session, scan, "unknown_order", config, now, f"系统里没有订单 {scan.order_no}")
    package = (await session.execute(select(Package).where(Package.order_id == order.id,
                                                           Package.package_no == label.package_no)
                                     .with_for_update())).scalar()
    if package is None:
        return await _fail(session, scan, "wrong_package", config, now,
                           f"订单 {order.order_no} 没有第 {label.package_no} 个包裹")
    if package.scanned_at is not None:
        scan.outcome = "repeat"
        session.add(scan)
        who = await session.get(Staff, package.scanned_by) if package.scanned_by else None
        when = _local(package.scanned_at, config)
        return ScanResult("repeat", f"已于 {when:%H:%M} 由 {who.name if who else package.scanned_by} 扫描，无需重复出库",
                          order.order_no, station=station)
    if package.sku != label.sku:
        return await _fail(session, scan, "wrong_sku", config, now,
                           f"标签SKU {label.sku}，订单包裹应为 {package.sku}")
    if package.batch_no != label.batch_no:
        return await _fail(session, scan, "wrong_batch", config, now,
                           f"标签批次 {label.batch_no}，包裹批次应为 {package.batch_no}")
    for outcome, bad in (("cancelled", order.status == "cancelled"), ("customs_hold", order.customs_hold),
                         ("frozen", order.review_hold), ("not_paid", order.status != "paid")):
        if bad:
            return await _fail(session, scan, outcome, config, now, f"订单 {order.order_no}：{OUTCOME_NAMES[outcome]}")
    try:
        async with session.begin_nested():
            await ledger.ship(session, package.sku, package.qty, at=now, order_no=order.order_no, actor=staff_id,
                              note=f"扫码出库 包裹{package.package_no}")
    except DomainError:
        return await _fail(session, scan, "not_reserved", config, now, f"{package.sku} 没有为订单预留库存")
    return await _ship(session, scan, order, package, staff_id=staff_id, station=station, now=now, config=config)


async def _ship(session: AsyncSession, scan: Scan, order: Order, package: Package, *, staff_id: str,
                station: str | None, now: datetime, config: BusinessConfig) -> ScanResult:
    package.scanned_at, package.scanned_by, package.station = now, staff_id, station
    scan.correction = await _is_correction(session, staff_id, order.order_no, now)
    session.add(scan)
    total, done = (await session.execute(select(func.count(), func.count(Package.scanned_at))
                                         .where(Package.order_id == order.id))).one()
    if STAGE_INDEX[order.stage] < STAGE_INDEX["packing"]:
        await move_stage(session, order, "packing", now=now, source="scan", actor=staff_id, detail="开始扫码出库")
    add_event(session, order, at=now, kind="scan", source="scan", actor=staff_id,
              detail=f"包裹 {package.package_no}/{total} 扫码出库（{station or '未知工位'}）")
    product = await session.get(Product, package.sku)
    docs_open = (await session.execute(select(Task.id).where(Task.order_id == order.id, Task.type == "customs_docs",
                                                             Task.state == "open"))).first() is not None
    result = ScanResult("ok", "", order.order_no, hazard_warnings(product, config, docs_open), station=station)
    if done == total:
        await change_status(session, order, "shipped", now=now, source="scan", actor=staff_id, reason="最后一个包裹扫码出库")
        result.shipped_order = True
        result.customer = await _customer_notice(session, order, now, config)
    head = f"✅ 出库成功 {order.order_no} 包裹 {package.package_no}/{total} · {package.sku}"
    if result.shipped_order:
        head += "\n整单已发出，已通知客户"
    result.message = "\n".join([head, *(f"⚠️ {w}" for w in result.warnings)])
    return result


async def _is_correction(session: AsyncSession, staff_id: str, order_no: str, now: datetime) -> bool:
    """A good scan right after this packer's own failed scan of the same order (within 30 minutes): the packer
    fixed the parcel in place. One fix counts once, so only when the latest scan of that order was the failure."""
    last = (await session.execute(select(Scan.outcome).where(
        Scan.staff_id == staff_id, Scan.order_no == order_no, Scan.at >= now - CORRECTION_WINDOW)
        .order_by(Scan.at.desc(), Scan.id.desc()).limit(1))).scalar()
    return last is not None and last not in ("ok", "repeat")


async def _customer_notice(session: AsyncSession, order: Order, now: datetime,
                           config: BusinessConfig) -> CustomerNotice:
    customer = await session.get(Customer, order.customer_id)
    tracking = order.tracking_no or (await session.execute(
        select(Package.tracking_no).where(Package.order_id == order.id, Package.tracking_no.is_not(None))
        .limit(1))).scalar()
    text = f"已发出|单号:{tracking}" if tracking else f"已发出|订单:{order.order_no}"
    first = (await session.execute(select(Product.name).join(Package, Package.sku == Product.sku)
                                   .where(Package.order_id == order.id).limit(1))).scalar()
    session.add(Communication(order_id=order.id, at=now, direction="out", medium="wechat", party=customer.name,
                              summary=f"发货通知：{text}"))
    return CustomerNotice(customer.id, customer.wechat_openid, customer.email, order.order_no, text, {
        "order_no": order.order_no, "shipped_at": f"{_local(now, config):%Y-%m-%d %H:%M}", "product": first or "",
        "carrier": order.carrier_code or "", "tracking_no": tracking or ""})


class WaybillRefused(DomainError):
    pass


async def check_waybill(session: AsyncSession, order_no: str) -> Order:
    """The waybill gate: no waybill for an order with any unscanned package (the seed: 错发率直接归零)."""
    order = (await session.execute(select(Order).where(Order.order_no == order_no.upper()))).scalar()
    if order is None:
        from ..errors import OrderNotFound

        raise OrderNotFound(order_no)
    packages = (await session.execute(select(Package.package_no, Package.scanned_at)
                                      .where(Package.order_id == order.id).order_by(Package.package_no))).all()
    unscanned = [p for p, at in packages if at is None]
    if not packages or unscanned:
        names = "、".join(f"包裹 {p}/{len(packages)}" for p in unscanned) or "没有包裹"
        raise WaybillRefused(f"{order.order_no} 还有未扫码的包裹（{names}），不能生成面单", unscanned=unscanned,
                             order_no=order.order_no)
    return order


async def packer_figures(session: AsyncSession, *, start: datetime, end: datetime,
                         staff_id: str | None = None) -> list[tuple[str, int, int, int]]:
    """Per packer: (staff id, good scans, failed scans, corrections) between start and end. Repeats count as
    neither: they move nothing and are not a mistake."""
    from sqlalchemy import case

    stmt = (select(Scan.staff_id, func.sum(case((Scan.outcome == "ok", 1), else_=0)),
                   func.sum(case((Scan.outcome.not_in(("ok", "repeat")), 1), else_=0)),
                   func.sum(case((Scan.correction.is_(True), 1), else_=0)))
            .where(Scan.at >= start, Scan.at < end, Scan.staff_id.is_not(None)).group_by(Scan.staff_id))
    if staff_id:
        stmt = stmt.where(Scan.staff_id == staff_id)
    return [(sid, int(ok or 0), int(bad or 0), int(fix or 0)) for sid, ok, bad, fix in await session.execute(stmt)]

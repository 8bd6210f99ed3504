"""The courier batch (快递交接批次) with a weather circuit breaker and a human veto.

A scheduled run hands ready orders to the carrier, one origin warehouse at a time. Before it hands anything
it asks the weather source about the warehouse's coordinates:

- an active alert whose colour is in `courier.pause_colors` opens the warehouse's breaker (`courier:<name>`):
  nothing is handed, the logistics owners are told once (WeCom card with a 恢复发运 button, email, the groups
  receiving "weather"), and later runs stay paused without telling them again;
- a person's click (`action.courier_resume`) closes the breaker; the alerts open at that moment are remembered
  as overridden, so the same alert (or an update superseding it) does not trip the breaker again;
- a later run that finds the alert gone (ended, or cancelled by a `cancel` message) closes a weather breaker by
  itself and announces it. A breaker a person opened (`action.courier_hold`) only a person closes;
- when the weather source cannot be asked (no key, HTTP error, timeout, bad JSON, wrong key) the configured
  `fail_safe` applies ("pause" holds, "run" hands anyway) and is announced on every such run: never silent.

Ready orders: origin = the warehouse, status paid or shipped, stage packing or routing, no waybill yet
(`tracking_no` NULL), not cancelled, not held for review or customs. Each still passes the waybill gate
(`check_waybill`): an order with an unscanned package is refused and named, and the next run tries it again.
A handed order gets its waybill from the `Carrier` port, leaves packing for routing (a paid order becomes
shipped) and gets a timeline event.

Nothing here does HTTP or knows a chat platform: the weather source, the carrier and the notifier are ports.
The weather is asked before the unit of work opens, so no database lock waits on the network.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.errors import DomainError
from orderbot.core.models import Breaker, CourierRun, Order, Package
from orderbot.core.models import Carrier as CarrierRow
from orderbot.core.orders.service import add_event, change_status, move_stage, open_task
from orderbot.core.sqlutil import dialect_name, insert_ignore
from orderbot.core.warehouse.scanning import WaybillRefused, check_waybill
from orderbot.core.warehouse.shipment import CustomerNotice, notice_for_order

COLOR_NAMES = {
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "blue": "蓝色",
    "white": "白色",
    "green": "绿色",
    "black": "黑色",
}
READY_STATUSES = ("paid", "shipped")
READY_STAGES = ("packing", "routing")
AUTO = "courier_batch"  # the actor of what the batch does by itself

_SHANGHAI = ZoneInfo("Asia/Shanghai")


# ---------------------------------------------------------------------------------------------------------
# The weather port: values and the one error an adapter raises.
# ---------------------------------------------------------------------------------------------------------
class WeatherUnavailable(Exception):
    """The weather source could not be asked: no key, HTTP error, timeout, bad JSON. `status` is the HTTP status
    when there was one (401 = wrong key)."""

    def __init__(self, reason: str, *, status: int | None = None):
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class WeatherAlert:
    id: str
    message_type: str  # alert | update | cancel
    color: str  # lower-case colour code, e.g. "red"
    severity: str  # lower-case, e.g. "extreme"; shown, never enumerated
    title: str  # the headline (or the event name)
    event: str = ""
    supersedes: tuple[str, ...] = ()
    sender: str | None = None
    issued: str | None = None
    expires: str | None = None
    description: str = ""

    @property
    def color_name(self) -> str:
        return COLOR_NAMES.get(self.color, self.color or "未知颜色")


@dataclass(frozen=True)
class WeatherReport:
    alerts: tuple[WeatherAlert, ...] = ()
    attributions: tuple[str, ...] = ()  # must be shown wherever the alert text is shown

    def active(self) -> tuple[WeatherAlert, ...]:
        """Alerts still in force: `cancel` messages and every alert replaced or cancelled by another message
        (`supersedes`) are dropped."""
        replaced = {sid for a in self.alerts for sid in a.supersedes}
        return tuple(a for a in self.alerts if a.message_type != "cancel" and a.id not in replaced)


class WeatherSource(Protocol):
    async def alerts(self, lat: float, lon: float) -> WeatherReport: ...


# ---------------------------------------------------------------------------------------------------------
# The carrier port.
# ---------------------------------------------------------------------------------------------------------
class CarrierRefused(DomainError):
    """The carrier would not issue a waybill for this order (the order is retried on the next run)."""


class Carrier(Protocol):
    @property
    def code(self) -> str: ...  # a `carriers.code`; the row is created if missing
    @property
    def name(self) -> str: ...

    async def waybill(self, order: Order, packages: int) -> str:
        """A tracking number for the order; may raise `CarrierRefused`."""
        ...


@dataclass(frozen=True)
class LocalCarrier:
    """The demo's carrier: deterministic local numbers (`LC` + the order number's letters and digits + `CN`)."""

    code: str = "LOCAL"
    name: str = "本地演示快递"
    prefix: str = "LC"

    async def waybill(self, order: Order, packages: int) -> str:
        return f"{self.prefix}{re.sub(r'[^0-9A-Z]', '', order.order_no.upper())[-24:]}CN"


# ---------------------------------------------------------------------------------------------------------
# What the batch tells people, as values; the notifier port renders and queues them in the same transaction.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CourierNotice:
    kind: str  # paused failsafe resumed held
    warehouse: str
    title: str
    text: str
    fields: tuple[tuple[str, str], ...] = ()
    action: str | None = None  # "resume" or "hold": the button the card offers
    staff_ids: tuple[str, ...] = ()  # owners, reached by WeCom (or DingTalk / sandbox)
    emails: tuple[str, ...] = ()  # owners' addresses, reached by email
    dedupe_key: str | None = None


Notify = Callable[[AsyncSession, CourierNotice, datetime], Awaitable[None]]
# Queues the customer's shipment message (with the new tracking number) in the batch's transaction.
NotifyCustomer = Callable[[AsyncSession, CustomerNotice, datetime], Awaitable[None]]
NO_TRACKING_TASK = "no_tracking"


@dataclass(frozen=True)
class Refusal:
    order_no: str
    reason: str


@dataclass(frozen=True)
class WarehouseRun:
    """One warehouse's part of a batch: what happened and why."""

    warehouse: str
    outcome: str  # ran paused failsafe
    handed: tuple[tuple[str, str], ...] = ()  # (order_no, tracking_no)
    refused: tuple[Refusal, ...] = ()
    weather: str = ""  # one line: the alert, 无预警, or why the source could not be asked
    breaker: str = "closed"  # the breaker's state after the run
    notices: tuple[str, ...] = ()  # kinds announced by this run
    run_id: int | None = None
    waiting: int = 0  # ready orders not handed because the batch paused


def breaker_name(warehouse: str) -> str:
    return f"courier:{warehouse}"[:32]


def owners(config: BusinessConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The courier owners (`courier.owners`: roles or staff ids) as (staff ids, email addresses)."""
    wanted = set(config.courier.owners)
    people = [s for s in config.staff if s.id in wanted or wanted & set(s.roles)]
    return tuple(s.id for s in people), tuple(dict.fromkeys(s.email for s in people if s.email))


def attribution_line(attributions: Sequence[str]) -> str:
    return "数据来源：和风天气 QWeather" + (f"（{'；'.join(attributions)}）" if attributions else "")


def describe(alert: WeatherAlert) -> str:
    return f"{alert.color_name}预警：{alert.title}"


# ---------------------------------------------------------------------------------------------------------
# The entry point.
# ---------------------------------------------------------------------------------------------------------
class Database(Protocol):
    """The database's units of work (`db.engine.Database`), as the batch uses them."""

    def write(self) -> AbstractAsyncContextManager[AsyncSession]: ...


async def run_batch(
    db: Database,
    config: BusinessConfig,
    weather: WeatherSource | None,
    now: datetime,
    *,
    notify: Notify,
    trigger: str = "schedule",
    carrier: Carrier | None = None,
    customers: NotifyCustomer | None = None,
) -> list[WarehouseRun]:
    """Run the batch for every configured warehouse; one unit of work (and one `courier_runs` row) each.

    `weather` None means no API key is configured: every warehouse takes the fail-safe, announced."""
    if not config.courier.enabled:
        return []
    carrier = carrier or LocalCarrier()
    names = list(config.courier.warehouses)
    reports = await asyncio.gather(*(_ask(weather, config, name) for name in names))
    results = []
    for name, report in zip(names, reports):
        async with db.write() as session:
            results.append(
                await _run_warehouse(
                    session,
                    config,
                    name,
                    report,
                    now,
                    notify=notify,
                    trigger=trigger,
                    carrier=carrier,
                    customers=customers,
                )
            )
    return results


async def _ask(weather: WeatherSource | None, config: BusinessConfig, name: str) -> WeatherReport | WeatherUnavailable:
    if weather is None:
        return WeatherUnavailable("未配置和风天气 API Key（QWEATHER_API_KEY）")
    where = config.courier.warehouses[name]
    try:
        return await weather.alerts(where.lat, where.lon)
    except WeatherUnavailable as exc:
        return exc


@dataclass
class _Run:
    """One warehouse's run while it decides: what it found, what it will say, whether it hands orders."""

    name: str
    row: CourierRun
    breaker: Breaker
    ready: list[Order]
    owners: tuple[tuple[str, ...], tuple[str, ...]]
    now: datetime
    outcome: str = "ran"
    hand: bool = True
    detail: dict[str, Any] = field(default_factory=dict)
    notices: list[CourierNotice] = field(default_factory=list)

    def notice(
        self,
        kind: str,
        title: str,
        text: str,
        fields: Iterable[tuple[str, str]] = (),
        action: str | None = None,
    ) -> None:
        staff_ids, emails = self.owners
        self.notices.append(
            CourierNotice(
                kind, self.name, title, text, tuple(fields), action, staff_ids, emails, f"courier:{self.row.id}:{kind}"
            )
        )

    def pause(self, outcome: str = "paused") -> None:
        self.outcome, self.hand = outcome, False


async def _run_warehouse(
    session: AsyncSession,
    config: BusinessConfig,
    name: str,
    report: WeatherReport | WeatherUnavailable,
    now: datetime,
    *,
    notify: Notify,
    trigger: str,
    carrier: Carrier,
    customers: NotifyCustomer | None = None,
) -> WarehouseRun:
    breaker = await _breaker(session, name)
    row = CourierRun(at=now, outcome="ran", detail={})
    session.add(row)
    await session.flush()  # the run's id names its notices
    run = _Run(
        name,
        row,
        breaker,
        await _ready_orders(session, name, config.courier.max_orders),
        owners(config),
        now,
        detail={"warehouse": name, "trigger": trigger, "breaker_before": breaker.state},
    )
    if isinstance(report, WeatherUnavailable):
        _when_unavailable(run, report, config.courier.fail_safe)
    else:
        _when_answered(run, report, {c.lower() for c in config.courier.pause_colors})
    handed: list[tuple[str, str]] = []
    refused: list[Refusal] = []
    if run.hand:
        handed, refused = await _hand_over(
            session, run.ready, carrier, now, trigger=trigger, customers=customers, zone=ZoneInfo(config.timezone)
        )
        if isinstance(report, WeatherUnavailable):
            run.notice(
                "failsafe",
                f"{name}仓按预案照常发运：天气接口无法访问",
                f"无法询问和风天气（{report.reason}），按预案照常发运：交运 {len(handed)} 单"
                + (f"，{len(refused)} 单未通过面单检查" if refused else "")
                + "。如需暂停请点「暂停发运」。",
                [("仓库", name), ("处理", "按预案照常发运"), ("已交运", f"{len(handed)} 单"), ("原因", report.reason)],
                "hold",
            )
    waiting = 0 if run.hand else len(run.ready)
    row.outcome, row.handed, row.refused = run.outcome, len(handed), len(refused)
    row.detail = {
        **run.detail,
        "handed": [n for n, _ in handed],
        "refused": {r.order_no: r.reason for r in refused},
        "waiting": waiting,
        "breaker": breaker.state,
        "notified": [n.kind for n in run.notices],
    }
    for n in run.notices:
        await notify(session, n, now)
    return WarehouseRun(
        name,
        run.outcome,
        tuple(handed),
        tuple(refused),
        row.weather or "",
        breaker.state,
        tuple(n.kind for n in run.notices),
        row.id,
        waiting,
    )


def _when_unavailable(run: _Run, error: WeatherUnavailable, fail_safe: str) -> None:
    """The weather could not be asked: an open breaker stays open; otherwise the fail-safe. Always announced."""
    name, waiting = run.name, len(run.ready)
    run.row.weather = f"天气接口不可用：{error.reason}"
    run.detail.update(weather_error=error.reason, fail_safe=fail_safe)
    if run.breaker.state == "open":
        run.pause()
        run.notice(
            "failsafe",
            f"{name}仓发运仍暂停：天气接口无法访问",
            f"无法询问和风天气（{error.reason}）。{name}仓的熔断仍打开，本次批次继续暂停，{waiting} 单等待发运；"
            "无法确认预警是否已解除。",
            [("仓库", name), ("等待发运", f"{waiting} 单"), ("原因", error.reason)],
            "resume",
        )
    elif fail_safe == "pause":
        run.pause("failsafe")
        run.notice(
            "failsafe",
            f"{name}仓发运按预案暂停：天气接口无法访问",
            f"无法询问和风天气（{error.reason}），按预案暂停本次发运，{waiting} 单等待下次批次；"
            "下次批次会重新查询天气。",
            [("仓库", name), ("处理", "按预案暂停"), ("等待发运", f"{waiting} 单"), ("原因", error.reason)],
        )
    else:
        run.outcome = "failsafe"  # hands the orders; announced with the count once they are handed


def _when_answered(run: _Run, report: WeatherReport, colors: set[str]) -> None:
    """The weather answered: open, keep, or close the breaker."""
    name, breaker, waiting = run.name, run.breaker, len(run.ready)
    active = report.active()
    overridden = set(breaker.detail.get("overridden", []))
    for a in active:  # an update superseding an alert a person overrode is the same event: still overridden
        if overridden & set(a.supersedes):
            overridden.add(a.id)
    pausing = [a for a in active if a.color in colors and a.id not in overridden]
    run.row.weather = "；".join(describe(a) for a in active) or "无预警"
    run.detail.update(
        alerts=[
            {"id": a.id, "type": a.message_type, "color": a.color, "severity": a.severity, "title": a.title}
            for a in report.alerts
        ],
        attributions=list(report.attributions),
    )
    if breaker.state == "open" and breaker.reason == "weather" and not pausing:
        gone = "；".join(breaker.detail.get("titles", [])) or "天气预警"
        _close(breaker, run.now, by=AUTO, overridden=[])
        run.notice(
            "resumed",
            f"{name}仓恢复发运：预警已解除",
            f"{gone} 已解除（和风天气不再报告），熔断自动关闭，本次批次照常发运。\n"
            f"{attribution_line(report.attributions)}",
            [("仓库", name), ("处理", "自动恢复发运"), ("待发运", f"{waiting} 单")],
            "hold",
        )
    elif breaker.state == "open":  # still in force, or held by a person: paused, nobody told again
        run.pause()
        if breaker.reason == "weather":
            breaker.detail = {
                **breaker.detail,
                "alerts": [a.id for a in pausing],
                "titles": [describe(a) for a in pausing],
            }
    elif pausing:
        _open(
            breaker,
            run.now,
            reason="weather",
            alerts=pausing,
            attributions=report.attributions,
            overridden=sorted(overridden),
        )
        run.pause()
        worst = pausing[0]
        text = "\n".join(
            [
                *(f"{describe(a)}（{a.severity or '—'}，{a.sender or '气象部门'}）" for a in pausing),
                attribution_line(report.attributions),
                f"{name}仓发运已暂停，{waiting} 单等待。确认可以发运时请点「恢复发运」；预警解除后自动恢复。",
                *(a.description for a in pausing[:1] if a.description),
            ]
        )
        run.notice(
            "paused",
            f"{name}仓发运已暂停：{worst.color_name}天气预警",
            text,
            [
                ("仓库", name),
                ("预警", worst.title),
                ("颜色", worst.color_name),
                ("等待发运", f"{waiting} 单"),
                ("数据来源", "和风天气 QWeather"),
            ],
            "resume",
        )
    else:
        # overridden alerts are remembered while one of a pausing colour is still in force, then forgotten
        still = sorted(overridden) if any(a.color in colors for a in active) else []
        if still != breaker.detail.get("overridden", []):
            breaker.detail = {**breaker.detail, "overridden": still}
        if still:
            run.detail["override"] = f"预警仍在，{breaker.closed_by} 已人工放行"


async def _breaker(session: AsyncSession, warehouse: str) -> Breaker:
    """The warehouse's breaker row, created closed if missing, locked for this unit of work."""
    name = breaker_name(warehouse)
    await session.execute(
        insert_ignore(session, Breaker.__table__, [{"name": name, "state": "closed", "detail": {}}], ["name"])
    )
    return (await session.execute(select(Breaker).where(Breaker.name == name).with_for_update())).scalar_one()


def _open(
    breaker: Breaker,
    now: datetime,
    *,
    reason: str,
    alerts: Sequence[WeatherAlert] = (),
    attributions: Iterable[str] = (),
    overridden: Iterable[str] = (),
    by: str | None = None,
) -> None:
    breaker.state, breaker.reason, breaker.opened_at = "open", reason, now
    breaker.closed_at = breaker.closed_by = None
    breaker.detail = {
        "alerts": [a.id for a in alerts],
        "titles": [describe(a) for a in alerts],
        "attributions": list(attributions),
        "overridden": list(overridden),
        **({"opened_by": by} if by else {}),
    }


def _close(breaker: Breaker, now: datetime, *, by: str, overridden: list[str]) -> None:
    breaker.state, breaker.closed_at, breaker.closed_by = "closed", now, by
    breaker.detail = {**breaker.detail, "overridden": overridden}


async def _ready_orders(session: AsyncSession, warehouse: str, limit: int, *, lock: bool = True) -> list[Order]:
    stmt = (
        select(Order)
        .where(
            Order.origin == warehouse,
            Order.status.in_(READY_STATUSES),
            Order.stage.in_(READY_STAGES),
            Order.tracking_no.is_(None),
            Order.review_hold.is_(False),
            Order.customs_hold.is_(False),
        )
        .order_by(Order.stage_since, Order.id)
        .limit(limit)
    )
    if lock and dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # a second batch never hands the same order
    return list((await session.execute(stmt)).scalars())


async def _hand_over(
    session: AsyncSession,
    orders: list[Order],
    carrier: Carrier,
    now: datetime,
    *,
    trigger: str,
    customers: NotifyCustomer | None = None,
    zone: ZoneInfo = _SHANGHAI,
) -> tuple[list[tuple[str, str]], list[Refusal]]:
    if orders and await session.get(CarrierRow, carrier.code) is None:
        session.add(CarrierRow(code=carrier.code, name=carrier.name))
        await session.flush()
    handed, refused = [], []
    for order in orders:
        try:
            await check_waybill(session, order.order_no)
            count = len((await session.execute(select(Package.id).where(Package.order_id == order.id))).all())
            tracking = await carrier.waybill(order, count)
        except (WaybillRefused, CarrierRefused) as exc:
            refused.append(Refusal(order.order_no, exc.message))
            if order.status == "shipped":  # out of the warehouse and still no tracking number: logistics acts
                await open_task(
                    session,
                    key=f"{NO_TRACKING_TASK}:{order.order_no}",
                    type=NO_TRACKING_TASK,
                    subject=f"已出库但没有运单号：{order.order_no}（{exc.message}）",
                    now=now,
                    order_id=order.id,
                    data={"reason": exc.message},
                )
            continue
        order.tracking_no, order.carrier_code, order.updated_at = tracking, carrier.code, now
        packages = (
            await session.execute(select(Package).where(Package.order_id == order.id, Package.tracking_no.is_(None)))
        ).scalars()
        for package in packages:
            package.tracking_no = tracking
        if order.status == "paid":
            await change_status(
                session, order, "shipped", now=now, source="courier", actor=AUTO, reason="快递交接批次交运"
            )
        elif order.stage == "packing":
            await move_stage(session, order, "routing", now=now, source="courier", actor=AUTO)
        add_event(
            session,
            order,
            at=now,
            kind="waybill",
            source="courier",
            actor=AUTO,
            detail=f"交运{carrier.name}，运单号 {tracking}（快递交接批次，{trigger}）",
        )
        handed.append((order.order_no, tracking))
        # The customer's message waited for this number (the scan had none to give); `ship:<order no>` keeps it
        # to one message however the waybill arrives.
        if customers is not None:
            notice = await notice_for_order(session, order, now=now, zone=zone)
            if notice is not None:
                await customers(session, notice, now)
    return handed, refused


# ---------------------------------------------------------------------------------------------------------
# A person's veto: resume (close) or hold (open) a warehouse's batch.
# ---------------------------------------------------------------------------------------------------------
def known_warehouse(config: BusinessConfig, warehouse: str) -> str:
    if warehouse not in config.courier.warehouses:
        known = "、".join(config.courier.warehouses) or "（未配置）"
        raise DomainError(f"没有这个发货仓：{warehouse or '（空）'}。已配置的仓库：{known}", warehouse=warehouse)
    return warehouse


async def resume(
    session: AsyncSession, config: BusinessConfig, warehouse: str, *, actor: str, now: datetime
) -> Breaker:
    """Close the warehouse's breaker; the alerts open now count as overridden, so they do not trip it again."""
    known_warehouse(config, warehouse)
    breaker = await _breaker(session, warehouse)
    if breaker.state != "open":
        who = f"（{breaker.closed_by} 于 {breaker.closed_at:%m-%d %H:%M} UTC 已恢复）" if breaker.closed_at else ""
        raise DomainError(f"{warehouse}仓的发运没有暂停{who}", warehouse=warehouse)
    overridden = sorted({*breaker.detail.get("overridden", []), *breaker.detail.get("alerts", [])})
    _close(breaker, now, by=actor, overridden=overridden)
    return breaker


async def hold(session: AsyncSession, config: BusinessConfig, warehouse: str, *, actor: str, now: datetime) -> Breaker:
    """Open the warehouse's breaker by hand; only a person's resume closes it."""
    known_warehouse(config, warehouse)
    breaker = await _breaker(session, warehouse)
    if breaker.state == "open":
        raise DomainError(f"{warehouse}仓的发运已经暂停了", warehouse=warehouse)
    _open(breaker, now, reason="manual", overridden=breaker.detail.get("overridden", []), by=actor)
    return breaker


async def waiting_orders(session: AsyncSession, warehouse: str, limit: int) -> int:
    """How many ready orders wait at the warehouse (for a reply; nothing is locked)."""
    return len(await _ready_orders(session, warehouse, limit, lock=False))

"""The seed's alert rules, each measured by one SQL aggregate over the order record.

A rule's `measure` returns the headline value it watched (for the evaluation log) and one `Finding` per subject
that breaches now: a channel, a customer, an order, or "*" for a rule about the whole business. Everything a card
needs to explain the alert goes into the finding; the lifecycle (pending, firing, resolved) lives in `engine`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import RuleConfig
from orderbot.core.channels import channel_name
from orderbot.core.models import Customer, Order, OrderLine, Task
from orderbot.core.orders.customs import DOCS_TASK_TYPE
from orderbot.core.tracking import CUSTOMS_HOLD

REPEAT_TAG = "急单试探"


@dataclass(frozen=True)
class Finding:
    subject: str
    value: float
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measured:
    value: float | None
    findings: list[Finding]


@dataclass(frozen=True)
class RuleDef:
    name: str
    label: str
    measure: Callable[[AsyncSession, RuleConfig, datetime, ZoneInfo], Awaitable[Measured]]
    defaults: dict[str, Any]
    topics: frozenset[str]  # events that make the rule worth evaluating at once
    action: str | None  # what firing does: freeze_channel open_audit tag_customer mark_stuck None


def _local_day(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    return start, start + timedelta(days=1)


def _num(cfg: RuleConfig, name: str, default: float) -> float:
    value = getattr(cfg, name, None)
    return default if value is None else value


async def cancel_rate(session: AsyncSession, cfg: RuleConfig, now: datetime, tz: ZoneInfo) -> Measured:
    threshold, min_volume = _num(cfg, "threshold", 0.035), int(_num(cfg, "min_volume", 30))
    start, end = _local_day(now, tz)
    rows = (
        await session.execute(
            select(Order.channel_code, func.count(), func.sum(case((Order.status == "cancelled", 1), else_=0)))
            .where(Order.created_at >= start, Order.created_at < end, Order.channel_code.is_not(None))
            .group_by(Order.channel_code)
        )
    ).all()
    worst, findings = 0.0, []
    for code, total, cancelled in rows:
        cancelled = int(cancelled or 0)
        if total < min_volume:  # a small denominator never raises the alarm
            continue
        rate = cancelled / total
        worst = max(worst, rate)
        if rate > threshold:
            findings.append(
                Finding(
                    code,
                    rate,
                    f"{channel_name(code)} 今日取消率 {rate:.1%}（{cancelled}/{total} 单，阈值 {threshold:.1%}）",
                    (
                        ("渠道", channel_name(code)),
                        ("今日订单", f"{total}"),
                        ("已取消", f"{cancelled}"),
                        ("阈值", f"{threshold:.1%}，至少 {min_volume} 单"),
                    ),
                    {"channel": code, "orders": total, "cancelled": cancelled},
                )
            )
    return Measured(worst, findings)


async def returns_not_received(session: AsyncSession, cfg: RuleConfig, now: datetime, tz: ZoneInfo) -> Measured:
    threshold, hours = _num(cfg, "threshold", 8), _num(cfg, "window_hours", 48)
    cut = now - timedelta(hours=hours)
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(Order.return_requested_at)).where(
                Order.status == "return_requested", Order.return_received_at.is_(None), Order.return_requested_at <= cut
            )
        )
    ).one()
    if count <= threshold:
        return Measured(count, [])
    sample = (
        (
            await session.execute(
                select(Order.order_no)
                .where(
                    Order.status == "return_requested",
                    Order.return_received_at.is_(None),
                    Order.return_requested_at <= cut,
                )
                .order_by(Order.return_requested_at)
                .limit(5)
            )
        )
        .scalars()
        .all()
    )
    days = (now - oldest).total_seconds() / 86400 if oldest else 0
    return Measured(
        count,
        [
            Finding(
                "*",
                count,
                f"{count} 单退货超过 {hours:g} 小时仍未入库（阈值 {threshold:g} 单）",
                (("未入库退货", f"{count} 单"), ("最久", f"{days:.1f} 天"), ("例如", "、".join(sample))),
                {"count": count, "sample": list(sample)},
            )
        ],
    )


def burst_limit(
    baseline_orders: int,
    baseline_hours: float,
    window_hours: float,
    *,
    floor: int,
    probability: float,
    min_baseline_hours: float,
) -> tuple[float | None, int]:
    """(orders a customer usually places in one window, or None for a new customer; the most that is not a burst).

    A customer's own rhythm is their orders in the baseline period before the window, scaled to the window. A
    burst is a count their rhythm gives with less than `probability` (Poisson tail), and never a count at or
    under the floor. A customer with less history than `min_baseline_hours` is new: only the floor applies
    ("> 2 in 72 h"). For a wholesale customer with six orders in a usual 72 hours that is 15; for one who
    orders once a fortnight, 3.
    """
    if baseline_hours < min_baseline_hours:
        return None, floor
    usual = baseline_orders * window_hours / baseline_hours
    k, term = 0, math.exp(-usual)  # P(X = k)
    tail = 1.0 - term  # P(X > k)
    while tail >= probability:
        k += 1
        term *= usual / k
        tail -= term
    return usual, max(floor, k)


async def repeat_orders(session: AsyncSession, cfg: RuleConfig, now: datetime, tz: ZoneInfo) -> Measured:
    floor, hours = int(_num(cfg, "threshold", 2)), _num(cfg, "window_hours", 72)
    baseline_days, probability = _num(cfg, "baseline_days", 90), _num(cfg, "burst_probability", 0.001)
    min_baseline_hours = _num(cfg, "min_baseline_days", 14) * 24
    since = now - timedelta(hours=hours)
    urgent = func.sum(case((Order.urgency != "normal", 1), else_=0))
    rows = (
        await session.execute(  # candidates: over the floor in the window (few; the floor is the cheap cut)
            select(Order.customer_id, func.count(), urgent)
            .where(Order.created_at >= since, Order.created_at <= now, Order.status != "cancelled")
            .group_by(Order.customer_id)
            .having(func.count() > floor)
        )
    ).all()
    if not rows:
        return Measured(0, [])
    ids = [r[0] for r in rows]
    base_start = since - timedelta(days=baseline_days)
    baseline = {
        cid: (int(n), first)
        for cid, n, first in (
            await session.execute(
                select(Order.customer_id, func.count(), func.min(Order.created_at))
                .where(
                    Order.customer_id.in_(ids),
                    Order.created_at >= base_start,
                    Order.created_at < since,
                    Order.status != "cancelled",
                )
                .group_by(Order.customer_id)
            )
        ).all()
    }
    limits: dict[str, tuple[float | None, int]] = {}
    for cid in ids:
        n_base, first = baseline.get(cid, (0, None))
        if first is not None and first.tzinfo is None:  # SQLite hands back naive UTC
            first = first.replace(tzinfo=now.tzinfo)
        span = (since - first).total_seconds() / 3600 if first is not None else 0.0
        # the customer's history inside the baseline period, from their first order in it (a customer who began
        # ordering 20 days ago is measured over 20 days, not 90)
        limits[cid] = burst_limit(
            n_base, span, hours, floor=floor, probability=probability, min_baseline_hours=min_baseline_hours
        )
    rows = [r for r in rows if r[1] > limits[r[0]][1]]
    if not rows:
        return Measured(0, [])
    ids = [r[0] for r in rows]
    names = dict((await session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))).all())
    # Quantity change, inside the window (cheap at any size): the latest order's units against the customer's
    # other orders in the window.
    per_order = (
        await session.execute(
            select(Order.customer_id, Order.id, func.sum(OrderLine.qty))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.created_at >= since,
                Order.created_at <= now,
                Order.status != "cancelled",
                Order.customer_id.in_(ids),
            )
            .group_by(Order.id, Order.customer_id)
        )
    ).all()
    units: dict[str, list[tuple[int, int]]] = {}  # (order id, units): ids grow with arrival
    for cid, oid, qty in per_order:
        units.setdefault(cid, []).append((oid, int(qty or 0)))
    findings = []
    for cid, n, n_urgent in rows:
        n_urgent = int(n_urgent or 0)
        usual, limit = limits[cid]
        mine = sorted(units.get(cid, ()))
        ratio = None
        if len(mine) >= 2:
            earlier = [q for _, q in mine[:-1]]
            ratio = mine[-1][1] / (sum(earlier) / len(earlier)) if sum(earlier) else None
        rhythm = (
            f"新客户，没有 {min_baseline_hours / 24:g} 天以上的下单记录，按下限 {floor} 单判断"
            if usual is None
            else f"过去 {baseline_days:g} 天平均每 {hours:g} 小时 {usual:.1f} 单，超过 {limit} 单（按此节奏不到"
            f" {probability:.1%} 的可能）才算异常"
        )
        signals = [
            ("频次", n - limit, f"{hours:g} 小时内 {n} 单（超过 {limit} 单）"),
            ("加急", n_urgent, f"{n_urgent} 单加急" if n_urgent else "没有加急"),
            (
                "数量变化",
                1 if ratio is not None and (ratio >= 2 or ratio <= 0.5) else 0,
                f"最近一单件数是此前各单平均的 {ratio:.1f} 倍" if ratio is not None else "没有可比的订单",
            ),
        ]
        score = sum(p for _, p, _ in signals)
        explain = " + ".join(f"{name} {p}" for name, p, _ in signals)
        usual_text = "新客户" if usual is None else f"平时约 {usual:.1f} 单"
        findings.append(
            Finding(
                cid,
                score,
                f"{names.get(cid, cid)} {hours:g} 小时内下单 {n} 次（{usual_text}），疑似急单试探",
                (
                    ("客户", f"{names.get(cid, cid)}（{cid}）"),
                    ("平时节奏", rhythm),
                    ("评分", f"{score} = {explain}"),
                    *((name, why) for name, _, why in signals),
                ),
                {
                    "customer": cid,
                    "orders": n,
                    "urgent": n_urgent,
                    "ratio": ratio,
                    "usual": usual,
                    "limit": limit,
                    "signals": [{"name": s, "points": p, "why": w} for s, p, w in signals],
                },
            )
        )
    return Measured(max(f.value for f in findings), findings)


async def customs_stuck(session: AsyncSession, cfg: RuleConfig, now: datetime, tz: ZoneInfo) -> Measured:
    hours = _num(cfg, "window_hours", 48)
    cut = now - timedelta(hours=hours)
    # The state comes first so the (customs_state, customs_in_at) index serves it; orders in customs are few.
    # An order the rule's own action marked "stuck" stays a finding until it is released: the action must not
    # clear the condition it watches (that resolved a documents hold 43 ms after it fired).
    rows = (
        await session.execute(
            select(Order.order_no, Order.customs_state, Order.customs_in_at, Order.tracking_status, Order.dest_country)
            .where(
                Order.customs_state.in_(("processing", "stuck", "info_required")),
                or_(Order.customs_in_at <= cut, Order.customs_state.in_(("info_required", "stuck"))),
            )
            .order_by(Order.customs_in_at)
        )
    ).all()
    findings = []
    for order_no, state, since, tracking, dest in rows:
        waited = (now - since).total_seconds() / 3600 if since else 0.0
        # Title and facts stay the same from one evaluation to the next (a time, not "N hours ago"), so an alert
        # that is still stuck is not rewritten every few minutes; the value is the whole hours waited.
        documents = state == "info_required" or (state == "stuck" and tracking in CUSTOMS_HOLD)
        why = "海关要求补充资料" if documents else f"清关超过 {hours:g} 小时无进展"
        entered = since.astimezone(tz).strftime("%m-%d %H:%M") if since else "—"
        findings.append(
            Finding(
                order_no,
                float(int(waited)),
                f"{order_no} {why}",
                (("订单", order_no), ("目的国", dest or "—"), ("进入清关", entered), ("最新轨迹", tracking or "—")),
                {"order_no": order_no, "customs_state": state},
            )
        )
    return Measured(max((f.value for f in findings), default=0.0), findings)


async def customs_docs(session: AsyncSession, cfg: RuleConfig, now: datetime, tz: ZoneInfo) -> Measured:
    # grace_hours: the customs team's own turnaround; a task still open after it is worth a card (0 = at once)
    opened_before = now - timedelta(hours=_num(cfg, "grace_hours", 0))
    rows = (
        await session.execute(
            select(Order.order_no, Order.customs_grade, Task.created_at)
            .join(Order, Order.id == Task.order_id)
            .where(Task.type == DOCS_TASK_TYPE, Task.state == "open", Task.created_at <= opened_before)
            .order_by(Task.created_at)
        )
    ).all()
    findings = [
        Finding(
            order_no,
            1.0,
            f"{order_no} 报关资料待补（海关合规等级{grade}）",
            (("订单", order_no), ("合规等级", grade), ("开单时间", opened.astimezone(tz).strftime("%m-%d %H:%M"))),
            {"order_no": order_no, "grade": grade},
        )
        for order_no, grade, opened in rows
    ]
    return Measured(len(findings), findings)


async def eta_risk(session: AsyncSession, cfg: RuleConfig, now: datetime, tz: ZoneInfo) -> Measured:
    promised = func.coalesce(Order.promised_override, Order.promised_date)
    owner = func.coalesce(Order.sales_owner, Customer.sales_owner)
    rows = (
        await session.execute(
            select(Order.order_no, Order.expected_delivery, promised, Order.eta_cause, owner, Customer.name)
            .join(Customer, Customer.id == Order.customer_id)
            .where(
                Order.expected_delivery.is_not(None),
                Order.status.in_(("paid", "shipped")),
                Order.expected_delivery > promised,
            )
            .order_by(Order.expected_delivery)
        )
    ).all()
    findings = []
    for order_no, expected, prom, cause, sales, customer in rows:
        # `expected_delivery > promised` in the WHERE is never true when either is NULL
        assert expected is not None and prom is not None
        late = (expected - prom).days
        findings.append(
            Finding(
                order_no,
                late,
                f"{order_no}（{customer}）预计 {expected:%m-%d} 送达，晚于承诺的 {prom:%m-%d} {late} 天",
                (
                    ("订单", order_no),
                    ("客户", customer),
                    ("承诺交付", f"{prom:%Y-%m-%d}"),
                    ("预计送达", f"{expected:%Y-%m-%d}"),
                    ("原因", cause or "承运商未说明"),
                ),
                {"order_no": order_no, "owner": sales, "late_days": late, "cause": cause},
            )
        )
    return Measured(max((f.value for f in findings), default=0.0), findings)


RULES: dict[str, RuleDef] = {
    r.name: r
    for r in (
        RuleDef(
            "cancel_rate",
            "取消率",
            cancel_rate,
            {"threshold": 0.035, "min_volume": 30, "owners": ["channel_ops"]},
            frozenset({"orders"}),
            "freeze_channel",
        ),
        RuleDef(
            "returns_not_received",
            "退货未入库",
            returns_not_received,
            {"threshold": 8, "window_hours": 48, "owners": ["after_sales_supervisor"]},
            frozenset({"orders"}),
            "open_audit",
        ),
        RuleDef(
            "repeat_orders",
            "重复下单",
            repeat_orders,
            {
                "threshold": 2,
                "window_hours": 72,
                "baseline_days": 90,
                "burst_probability": 0.001,
                "min_baseline_days": 14,
                "owners": ["key_account", "sales_director"],
            },
            frozenset({"orders"}),
            "tag_customer",
        ),
        RuleDef(
            "customs_stuck",
            "卡关",
            customs_stuck,
            {"window_hours": 48, "owners": ["customs"]},
            frozenset({"tracking"}),
            "mark_stuck",
        ),
        RuleDef("customs_docs", "报关资料待补", customs_docs, {"owners": ["customs"]}, frozenset({"orders"}), None),
        RuleDef("eta_risk", "交付风险", eta_risk, {"owners": ["sales"]}, frozenset({"tracking", "orders"}), None),
    )
}

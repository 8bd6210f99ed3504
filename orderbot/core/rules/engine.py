"""Alert lifecycle, automatic actions and their undo, in the style of Alertmanager but with a veto.

One alert per rule and subject while active (deduped by `alerts.active_key`). A breach starts it `pending`; after
the rule's `for_minutes` (0 by default) it is `firing`, its action runs (mode `auto`) or waits for a click (mode
`suggest`), and it is announced; a person may acknowledge it (no more reminders); while it fires unacknowledged it
is re-announced every `repeat_minutes`; when the condition clears it is `resolved` with a short note. A silence
(`alert.mute`) keeps the lifecycle going but announces nothing. Every automatic action can be undone, and every
action and undo is audited. This module only changes the database and returns `Notice`s; the bot turns them into
cards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig, RuleConfig
from orderbot.core.errors import DomainError
from orderbot.core.models import Alert, AuditEntry, Channel, Customer, Order, RuleEvaluation, Staff, Task
from orderbot.core.orders.service import add_event, open_task, set_channel_frozen
from orderbot.core.rules import silences
from orderbot.core.keys import fit_key
from orderbot.core.rules.builtins import REPEAT_TAG, RULES, Finding, RuleDef

SYSTEM = "orderbot"
ACTION_NAMES = {
    "freeze_channel": "冻结渠道新订单",
    "open_audit": "开逆向物流稽查工单",
    "tag_customer": "标记客户「急单试探」",
    "mark_stuck": "订单转「卡关-人工介入」",
}
UNDO_NAMES = {
    "freeze_channel": "已解冻渠道",
    "open_audit": "已撤销稽查工单",
    "tag_customer": "已去掉「急单试探」标签",
    "mark_stuck": "订单已恢复正常清关跟踪",
}


@dataclass(frozen=True)
class Notice:
    """Something to announce: an alert fired, is still firing (reminder) or resolved."""

    kind: str  # firing repeat resolved
    alert_id: int
    rule: str
    label: str
    subject: str
    title: str
    facts: tuple[tuple[str, str], ...]
    action: dict[str, Any] | None
    action_state: str | None
    data: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass
class Outcome:
    rule: str
    value: float | None
    subjects: int
    outcome: str
    notices: list[Notice]
    fired: list[str]
    resolved: list[str]
    ms: float


def rule_config(config: BusinessConfig, name: str) -> RuleConfig:
    """The rule's config with the built-in defaults under it."""
    mine = config.rules.get(name)
    merged = dict(RULES[name].defaults)
    if mine is not None:
        merged.update(mine.model_dump(exclude_unset=True))
    return RuleConfig(**merged)


class _AlertHead(Protocol):
    """What a notice and a resolve note read of an alert: an `Alert`, or one of its live rows (`_LIVE_COLUMNS`)."""

    @property
    def id(self) -> int: ...
    @property
    def subject(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def action_state(self) -> str | None: ...


def _notice(
    kind: str,
    rule: RuleDef,
    alert: _AlertHead,
    note: str | None = None,
    *,
    detail: dict[str, Any] | None = None,
    action: dict[str, Any] | None = None,
) -> Notice:
    """`alert` is an Alert, or a live row with `detail` and `action` passed beside it."""
    if detail is None:
        assert isinstance(alert, Alert), "a live row comes with its detail and action"
        detail, action = alert.detail, alert.action
    facts = tuple(tuple(f) for f in detail.get("facts", ()))
    return Notice(
        kind,
        alert.id,
        rule.name,
        rule.label,
        alert.subject,
        alert.title,
        facts,
        action,
        alert.action_state,
        detail.get("data", {}),
        note,
    )


async def evaluate_rule(
    session: AsyncSession, rule: RuleDef, config: BusinessConfig, now: datetime, *, trigger: str
) -> Outcome:
    """Measure one rule and move its alerts along; the caller owns the transaction."""
    started = time.perf_counter()
    cfg = rule_config(config, rule.name)
    if not cfg.enabled:
        return _log(session, rule, now, trigger, None, 0, "disabled", [], [], [], started)
    measured = await rule.measure(session, cfg, now, ZoneInfo(config.timezone))
    muted = await silences.is_muted(session, rule.name, now)
    # Live alerts as plain rows: at scale (thousands of open reminders) building ORM objects for every one on every
    # evaluation costs more than the measurement. Only alerts that change state or are announced become objects.
    live = {
        r.subject: r
        for r in await session.execute(
            select(*_LIVE_COLUMNS).where(
                Alert.rule == rule.name, Alert.state.in_(("pending", "firing", "acknowledged"))
            )
        )
    }
    notices: list[Notice] = []
    fired: list[str] = []
    hold = timedelta(minutes=float(getattr(cfg, "for_minutes", 0) or 0))
    repeat = timedelta(minutes=cfg.repeat_minutes)
    changed: list[dict[str, Any]] = []
    wanted: dict[int, Finding] = {}  # alerts to load as objects: a transition or an announcement is due
    new: list[Alert] = []
    for f in measured.findings:
        row = live.pop(f.subject, None)
        detail = _detail(f)
        if row is None:
            alert = Alert(
                rule=rule.name,
                subject=f.subject,
                active_key=fit_key(f"{rule.name}:{f.subject}"),
                state="pending",
                value=f.value,
                title=f.title,
                detail=detail,
                started_at=now,
                notify_count=0,
            )
            session.add(alert)
            new.append(alert)
            continue
        if (row.value, row.title) != (f.value, f.title):  # the facts follow the title and value
            changed.append({"id": row.id, "value": f.value, "title": f.title, "detail": detail})
        due = (row.state == "pending" and now - row.started_at >= hold) or (
            row.state == "firing"
            and not muted
            and (row.last_notified_at is None or now - row.last_notified_at >= repeat)
        )
        if due:
            wanted[row.id] = f
    if changed:
        await session.execute(update(Alert), changed)
    if new:
        await session.flush()  # ids for the cards and task keys
    objects = list(new)
    ids = list(wanted)
    for i in range(0, len(ids), 500):
        objects += (await session.execute(select(Alert).where(Alert.id.in_(ids[i : i + 500])))).scalars().all()
    for alert in objects:
        if alert.state == "pending" and now - alert.started_at >= hold:
            alert.state, alert.fired_at = "firing", now
            fired.append(alert.subject)
            await _act(session, rule, cfg, alert, now)
        if alert.state == "firing" and not muted:
            if alert.last_notified_at is None or now - alert.last_notified_at >= repeat:
                notices.append(_notice("firing" if alert.notify_count == 0 else "repeat", rule, alert))
                alert.last_notified_at, alert.notify_count = now, alert.notify_count + 1
    resolved = []
    closing: list[dict[str, Any]] = []
    told = [row.id for row in live.values() if row.notify_count and not muted]
    details: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    for i in range(0, len(told), 500):  # the facts of the alerts whose resolution is announced
        for alert_id, detail, action in await session.execute(
            select(Alert.id, Alert.detail, Alert.action).where(Alert.id.in_(told[i : i + 500]))
        ):
            details[alert_id] = (detail, action)
    for row in live.values():
        note = _resolve_note(rule, row)
        closing.append(
            {"id": row.id, "state": "resolved", "resolved_at": now, "active_key": None, "resolve_note": note}
        )
        resolved.append(row.subject)
        if row.id in details:
            detail, action = details[row.id]
            notices.append(_notice("resolved", rule, row, note, detail=detail, action=action))
    if closing:
        await session.execute(update(Alert), closing)
    outcome = (
        "silenced"
        if muted and (fired or notices)
        else "fired"
        if fired
        else "resolved"
        if resolved
        else "firing"
        if measured.findings
        else "quiet"
    )
    return _log(
        session, rule, now, trigger, measured.value, len(measured.findings), outcome, notices, fired, resolved, started
    )


_LIVE_COLUMNS = (
    Alert.id,
    Alert.subject,
    Alert.state,
    Alert.value,
    Alert.title,
    Alert.started_at,
    Alert.last_notified_at,
    Alert.notify_count,
    Alert.action_state,
)


def _detail(f: Finding) -> dict[str, Any]:
    return {"facts": [list(x) for x in f.facts], "data": f.data}


def _resolve_note(rule: RuleDef, alert: _AlertHead) -> str:
    if rule.name == "cancel_rate":
        tail = "；渠道仍处于冻结，确认后请解冻" if alert.action_state == "done" else ""
        return f"取消率已回落到阈值以下{tail}"
    if rule.name == "customs_stuck":
        return "已放行或清关恢复进展"
    if rule.name == "customs_docs":
        return "报关资料已补齐"
    if rule.name == "eta_risk":
        return "预计送达已回到承诺日期内（或订单已送达）"
    if rule.name == "returns_not_received":
        return "超时未入库的退货已降到阈值以下"
    return "条件已解除"


def _log(
    session: AsyncSession,
    rule: RuleDef,
    now: datetime,
    trigger: str,
    value: float | None,
    subjects: int,
    outcome: str,
    notices: list[Notice],
    fired: list[str],
    resolved: list[str],
    started: float,
) -> Outcome:
    ms = (time.perf_counter() - started) * 1000
    session.add(
        RuleEvaluation(
            rule=rule.name,
            at=now,
            trigger=trigger,
            value=value,
            subjects=subjects,
            outcome=outcome,
            duration_ms=round(ms, 3),
            detail={"fired": fired[:50], "resolved": resolved[:50], "notices": len(notices)},
        )
    )
    return Outcome(rule.name, value, subjects, outcome, notices, fired, resolved, ms)


# --- actions -------------------------------------------------------------------------------------------------


async def _act(session: AsyncSession, rule: RuleDef, cfg: RuleConfig, alert: Alert, now: datetime) -> None:
    if rule.action is None:
        return
    if cfg.mode == "suggest":
        alert.action, alert.action_state = {"kind": rule.action, **_target(rule, alert)}, "suggested"
        return
    alert.action = await _do(session, rule.action, alert, now, actor=SYSTEM)
    alert.action_state, alert.action_by, alert.action_at = "done", SYSTEM, now


def _target(rule: RuleDef, alert: Alert) -> dict[str, Any]:
    return {"subject": alert.subject}


async def _do(session: AsyncSession, kind: str, alert: Alert, now: datetime, *, actor: str) -> dict[str, Any]:
    """Carry out an alert's action; returns what was done, so it can be undone exactly."""
    if kind == "freeze_channel":
        channel = await session.get(Channel, alert.subject)
        if channel is not None and channel.frozen:
            return {"kind": kind, "channel": alert.subject, "already": True}
        await set_channel_frozen(
            session, alert.subject, True, actor=actor, reason=f"告警自动冻结：{alert.title}", now=now
        )
        return {"kind": kind, "channel": alert.subject}
    if kind == "open_audit":
        lead = await _first_with_role(session, "logistics")
        key = f"returns_audit:{alert.id}"
        await open_task(
            session,
            key=key,
            type="returns_audit",
            subject=f"逆向物流稽查：{alert.title}",
            now=now,
            assignee=lead,
            data={"alert": alert.id},
        )
        _audit(session, now, actor, "rule.open_audit", key, alert.title)
        return {"kind": kind, "task_key": key, "assignee": lead}
    if kind == "tag_customer":
        customer = (
            await session.execute(select(Customer).where(Customer.id == alert.subject).with_for_update())
        ).scalar_one_or_none()
        if customer is None:
            return {"kind": kind, "customer": alert.subject, "missing": True}
        added = REPEAT_TAG not in (customer.tags or [])
        if added:
            customer.tags = [*(customer.tags or []), REPEAT_TAG]
        _audit(session, now, actor, "rule.tag_customer", alert.subject, REPEAT_TAG)
        return {"kind": kind, "customer": alert.subject, "added": added}
    if kind == "mark_stuck":
        order = (
            await session.execute(select(Order).where(Order.order_no == alert.subject).with_for_update())
        ).scalar_one_or_none()
        if order is None:
            return {"kind": kind, "order_no": alert.subject, "missing": True}
        previous = order.customs_state
        order.customs_state, order.updated_at = "stuck", now
        add_event(
            session, order, at=now, kind="customs", source="rules", actor=actor, detail=f"卡关-人工介入：{alert.title}"
        )
        key = f"customs_stuck:{order.order_no}:{alert.id}"
        await open_task(
            session,
            key=key,
            type="customs_stuck",
            subject=f"卡关-人工介入：{order.order_no}",
            now=now,
            order_id=order.id,
            data={"alert": alert.id},
        )
        return {"kind": kind, "order_no": order.order_no, "previous": previous, "task_key": key}
    raise DomainError(f"不认识的告警动作：{kind}")


async def _first_with_role(session: AsyncSession, role: str) -> str | None:
    for staff_id, roles in (
        await session.execute(select(Staff.id, Staff.roles).where(Staff.active.is_(True)).order_by(Staff.id))
    ).all():
        if role in (roles or []):
            return staff_id
    return None


def _audit(
    session: AsyncSession, now: datetime, actor: str, action: str, subject: object, detail: str | None = None
) -> None:
    session.add(AuditEntry(at=now, actor=actor, action=action, subject=str(subject)[:128], detail=detail))


async def load_alert(session: AsyncSession, alert_id: int) -> Alert:
    alert = (await session.execute(select(Alert).where(Alert.id == alert_id).with_for_update())).scalar_one_or_none()
    if alert is None:
        raise DomainError("这条告警不存在（可能已被清理）。")
    return alert


async def acknowledge(session: AsyncSession, alert: Alert, *, actor: str, now: datetime) -> bool:
    """Stop reminders for a firing alert; False when there was nothing to acknowledge."""
    if alert.state not in ("firing", "pending"):
        return False
    alert.state, alert.acked_by, alert.acked_at = "acknowledged", actor, now
    return True


async def undo(session: AsyncSession, alert: Alert, *, actor: str, now: datetime) -> str:
    """The veto: reverse what the rule did automatically (or a person applied)."""
    if alert.action_state != "done" or not alert.action:
        if alert.action_state == "undone":
            raise DomainError(f"这条告警的自动动作已由 {alert.action_by} 撤销过了。")
        raise DomainError("这条告警没有可撤销的自动动作。")
    action = alert.action
    kind = action["kind"]
    if kind == "freeze_channel" and not action.get("already"):
        channel = await session.get(Channel, action["channel"])
        if channel is not None and channel.frozen:
            await set_channel_frozen(session, action["channel"], False, actor=actor, reason="撤销告警自动冻结", now=now)
    elif kind == "open_audit":
        await session.execute(
            update(Task)
            .where(Task.key == action["task_key"], Task.state == "open")
            .values(state="cancelled", closed_at=now)
        )
    elif kind == "tag_customer" and action.get("added"):
        customer = (
            await session.execute(select(Customer).where(Customer.id == action["customer"]).with_for_update())
        ).scalar_one_or_none()
        if customer is not None:
            customer.tags = [t for t in (customer.tags or []) if t != REPEAT_TAG]
    elif kind == "mark_stuck" and not action.get("missing"):
        order = (
            await session.execute(select(Order).where(Order.order_no == action["order_no"]).with_for_update())
        ).scalar_one()
        if order.customs_state == "stuck":
            order.customs_state, order.updated_at = action.get("previous"), now
        add_event(session, order, at=now, kind="customs", source="chat", actor=actor, detail="撤销卡关-人工介入")
        await session.execute(
            update(Task)
            .where(Task.key == action["task_key"], Task.state == "open")
            .values(state="cancelled", closed_at=now)
        )
    alert.action_state, alert.action_by, alert.action_at = "undone", actor, now
    if alert.state in ("firing", "pending"):
        alert.state, alert.acked_by, alert.acked_at = "acknowledged", actor, now
    _audit(session, now, actor, f"undo.{kind}", alert.subject, alert.title)
    return UNDO_NAMES[kind]


async def apply_suggestion(session: AsyncSession, alert: Alert, *, actor: str, now: datetime) -> str:
    """A person accepts what a `suggest` rule proposed."""
    if alert.action_state != "suggested" or not alert.action:
        raise DomainError("这条告警没有待确认的建议动作。")
    rule = RULES[alert.rule]
    assert rule.action is not None  # only a rule with an action suggests one
    alert.action = await _do(session, alert.action["kind"], alert, now, actor=actor)
    alert.action_state, alert.action_by, alert.action_at = "done", actor, now
    _audit(session, now, actor, f"apply.{rule.action}", alert.subject, alert.title)
    return ACTION_NAMES[rule.action]


async def resolve_now(session: AsyncSession, alert: Alert, *, note: str, now: datetime) -> None:
    """A person settled it from the card (released, documents done): resolve without waiting for the rule."""
    if alert.state != "resolved":
        alert.state, alert.resolved_at, alert.active_key, alert.resolve_note = "resolved", now, None, note

"""The courier batch in chat: its announcements, and the buttons that give people the last word.

`run_courier_batch` is the scheduler's entry point: the core batch (`core.courier.run_batch`) with the outbox
notifier below. A notice goes, in the batch's own transaction, to the courier owners by WeCom (or DingTalk /
sandbox, per `Addresses.staff`) and by email, and to every group receiving the "weather" topic.

Buttons: `courier_resume:<warehouse>` (恢复发运) closes the warehouse's breaker, `courier_hold:<warehouse>`
(暂停发运) opens it by hand. Both are for logistics, management and admin, audited by the dispatcher, and
announced the same way.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core import courier, outbox
from orderbot.core.warehouse.shipment import CustomerNotice
from orderbot.messaging.addresses import Addresses
from orderbot.messaging.notify import notify_groups
from orderbot.messaging.reply import Button, Card, Reply
from orderbot.bot.handlers.base import Context, route

COURIER_ROLES = frozenset({"logistics", "management", "admin"})
TOPIC = "weather"
BUTTONS = {"resume": ("恢复发运", "courier_resume", 1), "hold": ("暂停发运", "courier_hold", 4)}


def notice_reply(notice: courier.CourierNotice, task_id: str | None = None) -> Reply:
    buttons = ()
    if notice.action in BUTTONS:
        text, action, style = BUTTONS[notice.action]
        buttons = (Button(text, f"{action}:{notice.warehouse}", style),)
    card = Card(notice.title, f"{notice.warehouse}仓 · 快递交接批次", notice.fields, buttons, task_id)
    return Reply(title=notice.title, text=notice.text, card=card, meta={"subject": notice.warehouse})


class OutboxNotifier:
    """Queues a courier notice to the owners (chat and email) and the "weather" groups, in the caller's session."""

    def __init__(self, config: BusinessConfig, addresses: Addresses | None = None):
        self.config, self.addresses = config, addresses or Addresses(set())

    async def __call__(self, session: AsyncSession, notice: courier.CourierNotice, now: datetime) -> None:
        key = notice.dedupe_key
        # WeCom task ids allow only [A-Za-z0-9_-@] (no Chinese warehouse names): a digest of the notice's key
        task_id = f"courier-{hashlib.sha1(key.encode()).hexdigest()[:20]}" if key else None
        reply = notice_reply(notice, task_id=task_id)
        payload = reply.to_dict()
        for staff_id in notice.staff_ids:
            channel, destination = await self.addresses.staff(session, staff_id)
            await outbox.enqueue(
                session,
                channel=channel,
                destination=destination,
                kind="reply",
                payload=payload,
                now=now,
                dedupe_key=f"{key}:{staff_id}" if key else None,
            )
        if "email" in self.addresses.channels:
            for address in notice.emails:
                await outbox.enqueue(
                    session,
                    channel="email",
                    destination=f"email:{address}",
                    kind="reply",
                    payload=payload,
                    now=now,
                    dedupe_key=f"{key}:email:{address}" if key else None,
                )
        await notify_groups(session, self.config, TOPIC, reply, now=now, dedupe_key=key)

    async def customer(self, session: AsyncSession, notice: CustomerNotice, now: datetime) -> None:
        """The customer's shipment message, once per order (the scan queues it under the same key); with no way
        to reach the customer, a task for customer service and a dead row saying why."""
        await self.addresses.notify_customer(session, notice, now=now)


async def run_courier_batch(
    db,
    config: BusinessConfig,
    weather,
    now: datetime,
    *,
    trigger: str = "schedule",
    addresses: Addresses | None = None,
    carrier: courier.Carrier | None = None,
) -> list[courier.WarehouseRun]:
    """Run the courier batch once (the scheduler's job). `weather` is the QWeather client, or None when
    `QWEATHER_API_KEY` is unset (every warehouse then takes its announced fail-safe). One result per warehouse."""
    notifier = OutboxNotifier(config, addresses)
    return await courier.run_batch(
        db, config, weather, now, notify=notifier, trigger=trigger, carrier=carrier, customers=notifier.customer
    )


async def _announce(ctx: Context, kind: str, warehouse: str, title: str, text: str, fields, action: str | None) -> None:
    staff_ids, emails = courier.owners(ctx.config)
    notice = courier.CourierNotice(
        kind,
        warehouse,
        title,
        text,
        tuple(fields),
        action,
        staff_ids,
        emails,
        f"courier:{kind}:{warehouse}:{ctx.now:%Y%m%d%H%M%S}:{ctx.asker.staff_id}",
    )
    await OutboxNotifier(ctx.config, ctx.addresses)(ctx.session, notice, ctx.now)


async def resume(warehouse: str, ctx: Context) -> Reply:
    breaker = await courier.resume(ctx.session, ctx.config, warehouse, actor=ctx.asker.staff_id, now=ctx.now)
    waiting = await courier.waiting_orders(ctx.session, warehouse, ctx.config.courier.max_orders)
    was = "；".join(breaker.detail.get("titles", [])) or ("人工暂停" if breaker.reason == "manual" else "暂停")
    local = ctx.now.astimezone(ctx.zone)
    text = (
        f"{ctx.asker.name}于 {local:%m-%d %H:%M} 恢复了{warehouse}仓的发运（原因：{was}）。"
        f"下次快递交接批次会交运，目前 {waiting} 单待交运；同一预警不会再次触发暂停。"
    )
    await _announce(
        ctx,
        "resumed",
        warehouse,
        f"{warehouse}仓已人工恢复发运",
        text,
        [("仓库", warehouse), ("操作人", ctx.asker.name), ("待交运", f"{waiting} 单")],
        "hold",
    )
    return Reply(
        text=f"已恢复{warehouse}仓的发运，下次批次交运 {waiting} 单待交运订单；已通知物流负责人和相关群。",
        meta={"subject": courier.breaker_name(warehouse), "audit": f"原因：{was}"},
    )


async def hold(warehouse: str, ctx: Context) -> Reply:
    await courier.hold(ctx.session, ctx.config, warehouse, actor=ctx.asker.staff_id, now=ctx.now)
    local = ctx.now.astimezone(ctx.zone)
    text = (
        f"{ctx.asker.name}于 {local:%m-%d %H:%M} 暂停了{warehouse}仓的发运。"
        "快递交接批次不再交运该仓订单，直到有人点「恢复发运」。"
    )
    await _announce(
        ctx,
        "held",
        warehouse,
        f"{warehouse}仓已人工暂停发运",
        text,
        [("仓库", warehouse), ("操作人", ctx.asker.name)],
        "resume",
    )
    return Reply(
        text=f"已暂停{warehouse}仓的发运，恢复前批次不会交运该仓订单；已通知物流负责人和相关群。",
        meta={"subject": courier.breaker_name(warehouse), "audit": "人工暂停"},
    )


ROUTES = [
    route(
        "action.courier_resume",
        resume,
        COURIER_ROLES,
        write=True,
        title="恢复发运",
        example="（发运暂停卡片上的「恢复发运」按钮）",
        who="物流或管理",
    ),
    route(
        "action.courier_hold",
        hold,
        COURIER_ROLES,
        write=True,
        title="暂停发运",
        example="（发运卡片上的「暂停发运」按钮）",
        who="物流或管理",
    ),
]

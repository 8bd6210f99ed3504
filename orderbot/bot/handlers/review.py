"""Held orders (a channel was frozen when they came in): the list, release one or all of a channel, cancel.

Who may decide is the cancel-rate rule's owners (checked in core); the buttons on the unfreeze reply and on
the list lead here too.
"""

from __future__ import annotations

from orderbot.core.channels import channel_name
from orderbot.core.errors import DomainError
from orderbot.core.orders.review import cancel_held, count_held, held_orders, may_review, release_held
from orderbot.messaging.reply import Button, Card, Reply, Table
from orderbot.bot.handlers.base import REPORTERS, Context, route

LISTED = 20
BUTTONS = 5  # per-order buttons on the list card (platform cards hold a handful)


def _released_text(released, channel: str | None = None) -> str:
    if not released:
        return f"{channel_name(channel) if channel else ''}没有待审核的订单。"
    moved = [r for r in released if r.stage != "purchase"]
    waiting = [r for r in released if r.stage == "purchase"]
    text = [f"已放行 {len(released)} 单待审核订单" + (f"（{channel_name(channel)}）" if channel else "") + "。"]
    if moved:
        text.append(
            "已预留库存进入履约："
            + "、".join(r.order_no for r in moved[:LISTED])
            + (" 等" if len(moved) > LISTED else "")
        )
    if waiting:
        text.append(
            "库存不足，转采购计划："
            + "、".join(r.order_no for r in waiting[:LISTED])
            + (" 等" if len(waiting) > LISTED else "")
        )
    return "\n".join(text)


async def release_review(intent, ctx: Context) -> Reply:
    s = intent.slots
    released = await release_held(
        ctx.session,
        ctx.config,
        order_no=s.get("order_ref"),
        channel=s.get("channel"),
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        now=ctx.now,
        chat=ctx.asker.chat_id,
    )
    subject = s.get("order_ref") or s.get("channel") or ""
    return Reply(
        text=_released_text(released, None if s.get("order_ref") else s.get("channel")),
        meta={"subject": subject, "audit": f"放行 {len(released)} 单"},
    )


async def preview_release(intent, ctx: Context) -> str:
    s = intent.slots
    if s.get("order_ref"):
        return f"将放行待审核订单 {s['order_ref']}：预留库存后进入履约，库存不足则转采购计划。"
    n = await count_held(ctx.session, s.get("channel"))
    where = channel_name(s["channel"]) if s.get("channel") else "所有渠道"
    if n == 0:
        raise DomainError(f"{where}没有待审核的订单。")
    return f"将放行{where}的 {n} 单待审核订单：逐单预留库存后进入履约，库存不足的转采购计划。"


async def release_all_action(channel: str, ctx: Context) -> Reply:
    released = await release_held(
        ctx.session,
        ctx.config,
        channel=channel,
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        now=ctx.now,
        chat=ctx.asker.chat_id,
    )
    return Reply(text=_released_text(released, channel), meta={"subject": channel, "audit": f"放行 {len(released)} 单"})


async def release_one_action(order_no: str, ctx: Context) -> Reply:
    released = await release_held(
        ctx.session,
        ctx.config,
        order_no=order_no,
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        now=ctx.now,
        chat=ctx.asker.chat_id,
    )
    return Reply(text=_released_text(released), meta={"subject": order_no})


async def cancel_action(order_no: str, ctx: Context) -> Reply:
    no = await cancel_held(
        ctx.session,
        ctx.config,
        order_no,
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        now=ctx.now,
        chat=ctx.asker.chat_id,
    )
    return Reply(text=f"已取消待审核订单 {no}（审核未通过），预留已释放。", meta={"subject": no})


async def held_list(channel: str | None, ctx: Context) -> Reply:
    """The held orders (of one channel, or all), oldest first, with release / cancel buttons for deciders."""
    channel = channel or None
    total = await count_held(ctx.session, channel)
    where = channel_name(channel) if channel else "所有渠道"
    if not total:
        return Reply(text=f"{where}没有待审核的订单。")
    rows = await held_orders(ctx.session, channel, limit=LISTED)
    table = Table(
        ("订单号", "渠道", "客户", "金额", "进入时间"),
        tuple(
            (
                h.order_no,
                channel_name(h.channel or ""),
                h.customer,
                f"{h.amount_cents / 100:,.2f} {h.currency}",
                h.created_at.astimezone(ctx.zone).strftime("%m-%d %H:%M"),
            )
            for h in rows
        ),
    )
    card = None
    if may_review(ctx.config, ctx.asker.staff_id, ctx.asker.roles):
        buttons = []
        for h in rows[: BUTTONS // 2]:
            buttons += [
                Button(f"放行 {h.order_no}", f"release_one:{h.order_no}", 1),
                Button(f"取消 {h.order_no}", f"cancel_held:{h.order_no}", 4),
            ]
        if channel:
            buttons.append(Button(f"放行全部 {total} 单", f"release_held:{channel}", 1))
        card = Card(
            f"{where}待审核订单 {total} 单",
            "渠道冻结期间进入的订单，放行后预留库存进入履约。",
            buttons=tuple(buttons),
            task_id=f"held-{channel or 'all'}-{ctx.now:%Y%m%d%H%M%S}",
        )
    more = f"（先列最早的 {LISTED} 单）" if total > LISTED else ""
    return Reply(title=f"待审核订单（{where}）", text=f"共 {total} 单{more}：", table=table, card=card, markdown=True)


def unfreeze_buttons(channel: str, total: int, ctx: Context) -> Card:
    """The card under an unfreeze reply: release all the channel's held orders, or look at them one by one."""
    return Card(
        f"{channel_name(channel)} 冻结期间有 {total} 单待审核",
        "逐单查看后放行或取消，或一次放行全部。",
        buttons=(
            Button(f"放行全部 {total} 单", f"release_held:{channel}", 1),
            Button("逐单查看", f"held_list:{channel}", 2),
        ),
        task_id=f"unfreeze-{channel}-{ctx.now:%Y%m%d%H%M%S}",
    )


ROUTES = [
    route(
        "order.release_review",
        release_review,
        None,
        write=True,
        title="放行待审核订单",
        example="审核通过 SO202602010001 / 放行Temu待审核订单",
        preview=preview_release,
    ),
    route("review.list", held_list, REPORTERS, title="看待审核订单", example="待审核订单 / Temu待审核订单"),
    route("action.held_list", held_list, REPORTERS, title="逐单查看待审核订单", example="（解冻回复上的按钮）"),
    route(
        "action.release_held",
        release_all_action,
        None,
        write=True,
        title="放行全部待审核订单",
        example="（解冻回复上的按钮）",
    ),
    route(
        "action.release_one",
        release_one_action,
        None,
        write=True,
        title="放行待审核订单",
        example="（待审核列表上的按钮）",
    ),
    route(
        "action.cancel_held", cancel_action, None, write=True, title="取消待审核订单", example="（待审核列表上的按钮）"
    ),
]

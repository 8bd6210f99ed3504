"""Order intents: the order card, the supervisor's ETA override, customs hold and release."""

from __future__ import annotations

from datetime import date

from orderbot.core.errors import DomainError
from orderbot.core.orders.card import order_card
from orderbot.core.orders.states import STAGE_NAMES, STATUS_NAMES
from orderbot.core.orders.service import customer_name, get_order, hold_customs, override_promised_date, release_customs
from orderbot.messaging.notify import notify_groups
from orderbot.messaging.reply import Reply
from orderbot.messaging.markup import outside
from orderbot.bot.handlers.base import Context, cn_date, route


def card_text(card: dict) -> str:
    lines = [f"**{card.get('status_name', '')}** · {card.get('stage_name', '')}"]
    if "progress" in card:
        lines.append(card["progress"])
    who = card.get("customer_name") or card["customer_id"]
    first = f"客户 {who} · 金额 {card['amount']} {card.get('currency', '')}".rstrip()
    lines.append(first + f" · 发货地 {card['origin']} · {card['urgency']}")
    if card.get("promised_date"):
        promised = f"预计交付 {card['promised_date']}"
        if card.get("promised_overridden") and card.get("override"):
            promised += f"（{card['override']['by']} 改期：{card['override']['reason']}）"
        lines.append(promised)
    if card.get("tracking_no"):
        lines.append(f"运单号 {card['tracking_no']}")
    if card.get("expected_delivery") and card["expected_delivery"] != card.get("promised_date"):
        late = card.get("promised_date") and card["expected_delivery"] > card["promised_date"]
        cause = f"（{card['eta_cause']}）" if card.get("eta_cause") else ""
        lines.append(f"{'⚠️ ' if late else ''}承运商预计送达 {card['expected_delivery']}{cause}")
    if card.get("customs_hold"):
        lines.append(f"⚠️ 卡关-人工介入：{card.get('customs_hold_reason') or ''}")
    elif card.get("customs_state") in ("stuck", "info_required"):
        lines.append(
            "⚠️ 卡关-人工介入：清关超时或海关要求补充资料" if card["customs_state"] == "stuck" else "⚠️ 海关要求补充资料"
        )
    if card.get("review_hold"):
        lines.append("⚠️ 渠道冻结，订单待审核")
    if card.get("trace"):
        lines.append(
            "物流轨迹：" + "；".join(f"{t['at'][5:16].replace('T', ' ')} {t['detail']}" for t in card["trace"][:3])
        )
    if card.get("stock_held"):
        lines.append("占用库存：" + "、".join(f"{k}×{v}" for k, v in card["stock_held"].items()))
    if card.get("tasks"):
        lines.append("待办：" + "；".join(t["subject"] for t in card["tasks"][:3]))
    if card.get("messages"):
        lines.append("最近沟通：" + "；".join(f"{m['summary']}" for m in card["messages"][:2]))
    if card.get("notes"):
        lines.append(f"客户备注：{card['notes']}")
    lines += _role_lines(card)
    # Only the first line carries the bot's own markup; every other line is made of values from outside
    # (customer, notes, carrier messages, tasks, imports), escaped by each channel's renderer.
    return "\n".join([lines[0], *(outside(line) for line in lines[1:])])


def _role_lines(card: dict) -> list[str]:
    """The fields only some roles see (visibility decides which keys the card has): finance's tax-exemption
    number and invoice status, customs' grade and documents, the customer's tags."""
    out = []
    finance = [
        f"免税编号 {card['tax_exempt_no']}" if card.get("tax_exempt_no") else "",
        f"开票状态 {card['invoice_status']}" if "invoice_status" in card else "",
    ]
    if "invoice_status" in card and not card.get("invoice_status"):
        finance[1] = "开票状态 未开票"
    if any(finance):
        out.append("财务：" + " · ".join(f for f in finance if f))
    customs = [
        f"海关合规等级 {card['customs_grade']}" if card.get("customs_grade") and "customs_docs" in card else "",
        f"报关资料 {card['customs_docs'] or '无需补充'}" if "customs_docs" in card else "",
    ]
    if any(customs):
        out.append("关务：" + " · ".join(c for c in customs if c))
    elif card.get("customs_grade"):
        out.append(f"海关合规等级 {card['customs_grade']}")
    if card.get("customer_tags"):
        out.append("客户标签：" + "、".join(card["customer_tags"]))
    return out


async def lookup(intent, ctx: Context) -> Reply:
    card = await order_card(
        ctx.session,
        intent.slots["order_ref"],
        roles=ctx.asker.roles,
        rules=ctx.config.visibility,
        in_group=ctx.in_group,
    )
    return Reply(
        title=f"订单 {card['order_no']}", text=card_text(card), markdown=True, meta={"order_no": card["order_no"]}
    )


async def set_eta(intent, ctx: Context) -> Reply:
    order = await get_order(ctx.session, intent.slots["order_ref"], for_update=True)
    old = order.promised_override or order.promised_date
    new = date.fromisoformat(intent.slots["eta"])
    await override_promised_date(
        ctx.session,
        order,
        new,
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        reason=f"{ctx.asker.name}在聊天中修改",
        now=ctx.now,
    )
    return Reply(
        text=f"已将 {order.order_no} 的预计交付从 {cn_date(old)} 改为 {cn_date(new)}，已记录修改人和时间。",
        meta={"subject": order.order_no, "audit": f"{old} → {new}"},
    )


async def hold(intent, ctx: Context) -> Reply:
    order = await get_order(ctx.session, intent.slots["order_ref"], for_update=True)
    await hold_customs(
        ctx.session,
        order,
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        reason=f"{ctx.asker.name}手动转人工清关",
        now=ctx.now,
    )
    await notify_groups(
        ctx.session,
        ctx.config,
        "customs_stuck",
        Reply(title="卡关-人工介入", text=f"{order.order_no} 已由 {ctx.asker.name} 转人工清关，请关务跟进。"),
        now=ctx.now,
    )
    return Reply(text=f"{order.order_no} 已标记为「卡关-人工介入」，已通知关务群。", meta={"subject": order.order_no})


async def release(intent, ctx: Context) -> Reply:
    order = await get_order(ctx.session, intent.slots["order_ref"], for_update=True)
    await release_customs(ctx.session, order, actor=ctx.asker.staff_id, roles=ctx.asker.roles, now=ctx.now)
    return Reply(text=f"{order.order_no} 已解除卡关，恢复正常履约。", meta={"subject": order.order_no})


async def _who(ctx: Context, order) -> str:
    name = await customer_name(ctx.session, order.customer_id)
    return (
        f"{order.order_no}（{name or order.customer_id}，"
        f"{STATUS_NAMES.get(order.status, order.status)} · {STAGE_NAMES.get(order.stage, order.stage)}）"
    )


async def preview_eta(intent, ctx: Context) -> str:
    order = await get_order(ctx.session, intent.slots["order_ref"])
    old = order.promised_override or order.promised_date
    new = date.fromisoformat(intent.slots["eta"])
    if old == new:
        raise DomainError(f"{order.order_no} 的预计交付已经是 {cn_date(new)}，不用改。")
    return f"将把 {await _who(ctx, order)} 的预计交付从 {cn_date(old)} 改为 {cn_date(new)}，并记录修改人。"


async def preview_hold(intent, ctx: Context) -> str:
    order = await get_order(ctx.session, intent.slots["order_ref"])
    if order.customs_hold:
        raise DomainError(f"订单 {order.order_no} 已经是「卡关-人工介入」，不用重复操作。")
    return f"将把 {await _who(ctx, order)} 标记为「卡关-人工介入」，并通知关务群。"


async def preview_release(intent, ctx: Context) -> str:
    order = await get_order(ctx.session, intent.slots["order_ref"])
    if not order.customs_hold:
        raise DomainError(f"订单 {order.order_no} 没有处于人工卡关，不用解除。")
    return f"将解除 {await _who(ctx, order)} 的人工卡关，恢复正常履约。"


ROUTES = [
    route("order.lookup", lookup, None, title="查订单", example="查单 SO202602010001 / YT123456789CN到哪了"),
    route(
        "order.set_eta",
        set_eta,
        {"sales_supervisor"},
        write=True,
        title="修改预计交付日期",
        example="SO202602010001 预计交付改为3月5日",
        who="销售主管",
        preview=preview_eta,
    ),
    route(
        "order.hold_customs",
        hold,
        {"customs"},
        write=True,
        title="把订单转人工清关",
        example="SO202602010001 卡关",
        who="关务",
        preview=preview_hold,
    ),
    route(
        "order.release_customs",
        release,
        {"customs"},
        write=True,
        title="解除卡关",
        example="SO202602010001 解除卡关",
        who="关务",
        preview=preview_release,
    ),
]

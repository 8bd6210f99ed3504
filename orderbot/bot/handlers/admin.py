"""Operations intents: freezing a sales channel (with an undo button) and muting alert rules."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from orderbot.core.channels import channel_name
from orderbot.core.errors import DomainError
from orderbot.core.orders.lists import held_for_review
from orderbot.core.orders.service import channel_frozen, set_channel_frozen
from orderbot.core.rules import silences
from orderbot.messaging.reply import Button, Card, Reply
from orderbot.bot.handlers.base import ALERT_OWNERS, Context, route
from orderbot.bot.handlers.review import unfreeze_buttons
from orderbot.core.orders.review import count_held


async def freeze(intent, ctx: Context) -> Reply:
    code = intent.slots["channel"]
    await set_channel_frozen(
        ctx.session, code, True, actor=ctx.asker.staff_id, reason=f"{ctx.asker.name}在聊天中冻结", now=ctx.now
    )
    name = channel_name(code)
    card = Card(
        f"已冻结 {name} 渠道",
        "新订单照常接收，但先进入待审核，不会进入履约。",
        buttons=(Button("撤销冻结", f"unfreeze:{code}", 4),),
        task_id=f"freeze-{code}-{ctx.now:%Y%m%d%H%M%S}",
    )
    return Reply(text=f"已冻结 {name} 渠道的新订单（进入待审核）。", card=card, meta={"subject": code})


async def unfreeze(intent_or_code, ctx: Context) -> Reply:
    code = intent_or_code if isinstance(intent_or_code, str) else intent_or_code.slots["channel"]
    if not await channel_frozen(ctx.session, code):
        return Reply(text=f"{channel_name(code)} 渠道没有被冻结。")
    await set_channel_frozen(ctx.session, code, False, actor=ctx.asker.staff_id, reason="解冻", now=ctx.now)
    held = await count_held(ctx.session, code)
    text = f"已解冻 {channel_name(code)} 渠道，新订单恢复正常接入。"
    if held:
        text += f"冻结期间进入待审核的订单 {held} 单：可一次放行全部，或逐单查看后放行或取消。"
    return Reply(text=text, card=unfreeze_buttons(code, held, ctx) if held else None, meta={"subject": code})


async def mute(intent, ctx: Context) -> Reply:
    rule, minutes = intent.slots["rule"], intent.slots["minutes"]
    ends = await silences.mute(
        ctx.session, rule, minutes, actor=ctx.asker.staff_id, now=ctx.now, chat=ctx.asker.chat_id
    )
    local = ends.astimezone(ZoneInfo(ctx.config.timezone))
    return Reply(
        text=f"已静默「{silences.RULES[rule]}」告警 {minutes} 分钟，到 {local:%m-%d %H:%M} 自动恢复。",
        meta={"subject": rule, "audit": f"{minutes} 分钟"},
    )


async def unmute(intent, ctx: Context) -> Reply:
    rule = intent.slots["rule"]
    if await silences.unmute(ctx.session, rule, actor=ctx.asker.staff_id, now=ctx.now, chat=ctx.asker.chat_id):
        return Reply(text=f"已恢复「{silences.RULES[rule]}」告警。", meta={"subject": rule})
    return Reply(text=f"「{silences.RULES[rule]}」告警目前没有被静默。")


async def preview_freeze(intent, ctx: Context) -> str:
    code = intent.slots["channel"]
    if await channel_frozen(ctx.session, code):
        raise DomainError(f"{channel_name(code)} 渠道已经是冻结状态，不用重复冻结。")
    return (
        f"将冻结 {channel_name(code)} 渠道：从现在起这个渠道的新订单先进入待审核，不进入履约；"
        "已在履约中的订单不受影响。"
    )


async def preview_unfreeze(intent, ctx: Context) -> str:
    code = intent.slots["channel"]
    if not await channel_frozen(ctx.session, code):
        raise DomainError(f"{channel_name(code)} 渠道没有被冻结，不用解冻。")
    held = await held_for_review(ctx.session, code)
    return (
        f"将解冻 {channel_name(code)} 渠道，新订单恢复正常接入；冻结期间进入待审核的 {held} 单"
        "不会自动放行，仍需逐单审核。"
    )


async def preview_mute(intent, ctx: Context) -> str:
    rule, minutes = intent.slots["rule"], intent.slots["minutes"]
    ends = (ctx.now + timedelta(minutes=minutes)).astimezone(ZoneInfo(ctx.config.timezone))
    return (
        f"将静默「{silences.RULES.get(rule, rule)}」告警 {minutes} 分钟，到 {ends:%m-%d %H:%M} 自动恢复；期间不再推送。"
    )


async def preview_unmute(intent, ctx: Context) -> str:
    rule = intent.slots["rule"]
    if not await silences.is_muted(ctx.session, rule, ctx.now):
        raise DomainError(f"「{silences.RULES.get(rule, rule)}」告警目前没有被静默。")
    return f"将恢复「{silences.RULES.get(rule, rule)}」告警，条件满足时立即推送。"


ROUTES = [
    route(
        "channel.freeze",
        freeze,
        {"channel_ops"},
        write=True,
        title="冻结渠道新订单",
        example="冻结TikTok渠道",
        who="渠道运营",
        preview=preview_freeze,
    ),
    route(
        "channel.unfreeze",
        unfreeze,
        {"channel_ops"},
        write=True,
        title="解冻渠道",
        example="解冻速卖通",
        who="渠道运营",
        preview=preview_unfreeze,
    ),
    route(
        "action.unfreeze",
        unfreeze,
        {"channel_ops"},
        write=True,
        title="撤销冻结",
        example="（冻结卡片上的按钮）",
        who="渠道运营",
    ),
    route(
        "alert.mute",
        mute,
        ALERT_OWNERS,
        write=True,
        title="静默告警",
        example="静默取消率告警2小时",
        preview=preview_mute,
    ),
    route(
        "alert.unmute",
        unmute,
        ALERT_OWNERS,
        write=True,
        title="恢复告警",
        example="恢复取消率告警",
        preview=preview_unmute,
    ),
]

"""Stock in from chat: a receipt (warehouse roles) and a stock count (warehouse leads)."""

from __future__ import annotations

from orderbot.core.errors import DomainError
from orderbot.core.stock import ledger
from orderbot.core.stock.receiving import ReceiptLine, check_may_receive, count_stock, receive_lines
from orderbot.core.stock.waiting import count_waiting
from orderbot.messaging.reply import Reply
from orderbot.bot.handlers.base import Context, route

SHOWN = 10  # released orders named in the reply; the rest are counted


async def receive(intent, ctx: Context) -> Reply:
    s = intent.slots
    check_may_receive(ctx.asker.roles)
    line = ReceiptLine(s["sku"], int(s["qty"]), s.get("batch"), None)
    result = await receive_lines(ctx.session, [line], now=ctx.now, actor=ctx.asker.staff_id, source="chat")
    batch = f"（批次 {line.batch}）" if line.batch else ""
    if result.outcomes == ["duplicate"]:
        return Reply(
            text=f"{line.sku} 批次 {line.batch} 已经入过库，这次没有重复记账。",
            meta={"subject": line.sku, "audit": "重复入库，未记账"},
        )
    level = await ledger.levels(ctx.session, line.sku)
    text = [f"已入库 {line.sku} ×{line.qty:,}{batch}。在库 {level.on_hand:,}，可用 {level.available:,}。"]
    released = result.released
    if released:
        names = "、".join(released[:SHOWN]) + (f" 等 {len(released)} 单" if len(released) > SHOWN else "")
        text.append(f"已为等待到货的订单预留库存并放行 {len(released)} 单（按承诺交期先后）：{names}")
    partial = [a for a in result.allocations if not a.released]
    if partial:
        text.append(f"另有 {len(partial)} 单已预留本SKU，仍在等其他商品到货。")
    if not result.allocations:
        text.append("没有订单在等这个SKU。")
    return Reply(
        text="\n".join(text),
        meta={"subject": line.sku, "audit": f"+{line.qty} {line.batch or ''} 放行 {len(released)} 单"},
    )


async def count(intent, ctx: Context) -> Reply:
    s = intent.slots
    result = await count_stock(
        ctx.session,
        s["sku"],
        int(s["qty"]),
        now=ctx.now,
        actor=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        chat=ctx.asker.chat_id,
    )
    if result.delta == 0:
        return Reply(text=f"{result.sku} 实盘 {result.counted:,}，与账面一致，无需调整。", meta={"subject": result.sku})
    return Reply(
        text=f"{result.sku} 账面 {result.before:,}，实盘 {result.counted:,}，已按差额 {result.delta:+,} 调整库存"
        f"（{ctx.asker.name}）。",
        meta={"subject": result.sku, "audit": f"{result.delta:+d}"},
    )


async def preview_receive(intent, ctx: Context) -> str:
    s = intent.slots
    check_may_receive(ctx.asker.roles)
    level = await ledger.levels(ctx.session, s["sku"])
    on_hand = level.on_hand if level else 0
    waiting = await count_waiting(ctx.session, s["sku"])
    batch = f"（批次 {s['batch']}）" if s.get("batch") else "（未写批次）"
    then = (
        f"等待这个SKU到货的 {waiting} 单会按承诺交期先后预留库存并放行，能放行几单视数量而定。"
        if waiting
        else "目前没有订单在等这个SKU。"
    )
    return f"将入库 {s['sku']} ×{int(s['qty']):,}{batch}：在库 {on_hand:,} → {on_hand + int(s['qty']):,}。{then}"


async def preview_count(intent, ctx: Context) -> str:
    s = intent.slots
    level = await ledger.levels(ctx.session, s["sku"])
    before, counted = (level.on_hand if level else 0), int(s["qty"])
    if counted == before:
        raise DomainError(f"{s['sku']} 实盘 {counted:,} 与账面一致，无需调整。")
    return (
        f"将按盘点把 {s['sku']} 的账面库存 {before:,} 调整为 {counted:,}（差额 {counted - before:+,}），记入库存流水。"
    )


ROUTES = [
    route(
        "stock.receive",
        receive,
        {"warehouse", "warehouse_lead"},
        write=True,
        title="登记入库",
        example="入库 PB-20K-BLK 500 批次B2612",
        who="仓库",
        preview=preview_receive,
    ),
    route(
        "stock.count",
        count,
        {"warehouse_lead"},
        write=True,
        title="录入盘点结果",
        example="盘点 PB-20K-BLK 实际 480",
        who="仓库组长",
        preview=preview_count,
    ),
]

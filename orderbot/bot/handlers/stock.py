"""Stock intents: a SKU's stock with days of cover, the stockout forecast, and packers' scan figures."""

from __future__ import annotations

from datetime import date

from orderbot.core.staff import find_staff, staff_names
from orderbot.core.warehouse.scanning import packer_figures
from orderbot.core.reports.common import day_bounds
from orderbot.core.reports.inventory import sku_stock, stockout_forecast
from orderbot.bot.performance_sheet import MIME, performance_xlsx
from orderbot.messaging.reply import Attachment, Button, Card, Reply, Table
from orderbot.core import outbox
from orderbot.core.stock.purchasing import open_purchase_task
from orderbot.core.warehouse.performance import month_of, monthly_figures
from orderbot.bot.handlers.base import STOCK_READERS, WAREHOUSE, Context, cn_date, route


async def inventory(intent, ctx: Context) -> Reply:
    s = await sku_stock(ctx.session, intent.slots["sku"], now=ctx.now)
    cover = f"{s.days_of_cover:.1f} 天" if s.days_of_cover is not None else "近14天没有出库，无法估算"
    text = (
        f"在库 {s.on_hand:,} · 已占用 {s.reserved:,} · **可用 {s.available:,}** · 在途 {s.in_transit:,}\n"
        f"近14天日均出库 {s.daily_demand:,.1f}，可用库存可撑 {cover}"
    )
    return Reply(title=f"{s.sku} {s.name}", text=text, markdown=True)


def _when(hours: float) -> str:
    if hours <= 0:
        return "已断货（等待到货的订单已超过可用库存）"
    if hours < 1:
        return "不到1小时后断货"
    return f"约 {hours:.0f} 小时后断货"


PURCHASE_BUTTONS = 5  # a platform card holds a handful of buttons


async def forecast(intent, ctx: Context) -> Reply:
    slots = intent.slots
    rows = await stockout_forecast(
        ctx.session, now=ctx.now, extra_orders=slots["extra_orders"], hours=slots["hours"], limit=slots["limit"]
    )
    extra = (
        f"如果再来 {slots['extra_orders']:,} 单（按近7天商品结构，24小时内陆续到来），" if slots["extra_orders"] else ""
    )
    head = f"{extra}{slots['hours']} 小时内"
    if not rows:
        return Reply(title="断货预测", text=head + "不会有SKU断货（已计入在途和预计到货）。")
    table = Table(
        ("SKU", "可用", "预计需求", "期间到货", "何时断货", "建议紧急采购"),
        tuple(
            (
                f"{r.sku} {r.name}",
                f"{r.available:,}",
                f"{r.expected_demand:,.0f}",
                f"{r.incoming:,}",
                _when(r.hours_to_stockout),
                f"{r.buy:,}",
            )
            for r in rows
        ),
    )
    card = Card(
        "开采购任务",
        "按建议数量给采购开任务（每个SKU每天一条）。",
        buttons=tuple(
            Button(f"采购 {r.sku} ×{r.buy:,}", f"purchase:{r.sku}*{r.buy}", 1) for r in rows[:PURCHASE_BUTTONS]
        ),
        task_id=f"stockout-{ctx.now:%Y%m%d%H%M%S}",
    )
    return Reply(title="断货预测", text=head + f"会断货的 {len(rows)} 个SKU：", table=table, card=card, markdown=True)


async def purchase(arg: str, ctx: Context) -> Reply:
    """The forecast card's button: a purchase task for the SKU with the suggested quantity."""
    sku, _, qty = arg.partition("*")
    if not qty.isdigit():
        return Reply(text="这个采购按钮的数量无效，请重新做一次断货预测。")
    task = await open_purchase_task(ctx.session, ctx.config, sku, int(qty), now=ctx.now, actor=ctx.asker.staff_id)
    if not task.created:
        return Reply(text=f"{sku} 今天已经开过采购任务，没有重复创建。", meta={"subject": sku})
    who = task.assignee
    if who is None:
        return Reply(
            text=f"已创建采购任务：{sku} ×{task.qty}。业务配置里没有采购人员（[purchasing] staff 或 purchasing "
            "角色），任务暂时没人负责。",
            meta={"subject": sku, "audit": f"×{task.qty}"},
        )
    names = {s.id: s.name for s in ctx.config.staff}
    channel, destination = await ctx.addresses.staff(ctx.session, who)
    notice = Reply(title="采购任务", text=f"{ctx.asker.name} 根据断货预测给你开了采购任务：{sku} ×{task.qty:,}。")
    await outbox.enqueue(
        ctx.session,
        channel=channel,
        destination=destination,
        kind="reply",
        payload=notice.to_dict(),
        now=ctx.now,
        dedupe_key=f"purchase:{sku}:{ctx.now:%Y%m%d}",
    )
    return Reply(
        text=f"已给 {names.get(who, who)} 开采购任务：{sku} ×{task.qty:,}。",
        meta={"subject": sku, "audit": f"×{task.qty} → {who}"},
    )


INDUSTRY_ACCURACY = 0.87  # the seed's industry benchmark
CORRECTIONS_TARGET = 5  # the seed: proactive corrections a packer makes a day


async def scan_stats(intent, ctx: Context) -> Reply:
    s = intent.slots
    d_from, d_to = date.fromisoformat(s["date_from"]), date.fromisoformat(s["date_to"])
    start, end = day_bounds(d_from, d_to)
    who = s.get("staff") or "me"
    staff_id = None
    if who == "me":
        staff_id = ctx.asker.staff_id
    elif who != "team":
        person = await find_staff(ctx.session, who)
        staff_id = person.id if person is not None else None
        if staff_id is None:
            return Reply(
                text=f"员工名录里没有「{who}」，我不会拿你自己的数字代替。你想看谁的扫码统计？"
                "可以说「我今天的扫码准确率」「仓库本周扫码统计」，或用名录里的姓名再问一次。"
            )
    rows = await packer_figures(ctx.session, start=start, end=end, staff_id=staff_id)
    names = await staff_names(ctx.session)
    span = cn_date(d_from) if d_from == d_to else f"{cn_date(d_from)}–{cn_date(d_to)}"
    title = f"扫码统计（{span}）"
    if not rows:
        return Reply(title=title, text="这段时间没有扫码记录。")
    days = (d_to - d_from).days + 1
    lines = []
    for sid, ok, bad, fixes in sorted(rows, key=lambda r: -r[1]):
        accuracy = ok / (ok + bad) if ok + bad else 1.0
        mark = "高于" if accuracy >= INDUSTRY_ACCURACY else "低于"
        lines.append(
            (
                names.get(sid, sid),
                f"{ok + bad:,}",
                f"{bad:,}",
                f"{accuracy * 100:.1f}%（{mark}行业87%）",
                f"{fixes}（目标≥{CORRECTIONS_TARGET * days}）",
            )
        )
    table = Table(("打包员", "扫码", "失败", "准确率", "主动纠错"), tuple(lines))
    files = ()
    if d_from.day == 1 and (d_to - d_from).days >= 27:  # a month: the performance sheet comes with it
        first, last = month_of(d_from)
        packers = await monthly_figures(ctx.session, first, min(last, d_to), ctx.zone)
        if staff_id is not None:
            packers = [p for p in packers if p.staff_id == staff_id]
        files = (Attachment(f"直连绩效考核表_{first:%Y-%m}.xlsx", performance_xlsx(first, packers), MIME),)
    return Reply(title=title, table=table, markdown=True, files=files)


ROUTES = [  # all three aggregate movements, order lines or scans over days: heavy, off the event loop
    route("inventory.query", inventory, STOCK_READERS, title="查库存", example="PB-20K-BLK 库存", heavy=True),
    route(
        "inventory.stockout_forecast",
        forecast,
        STOCK_READERS,
        title="预测断货",
        example="如果明天突然涌入5000单，哪3个SKU会在48小时内断货",
        heavy=True,
    ),
    route(
        "action.purchase",
        purchase,
        STOCK_READERS | {"purchasing"},
        write=True,
        title="开采购任务",
        example="（断货预测上的按钮）",
    ),
    route(
        "scan.stats",
        scan_stats,
        WAREHOUSE,
        title="看扫码统计",
        example="我今天的扫码准确率 / 仓库本周扫码统计",
        heavy=True,
    ),
]

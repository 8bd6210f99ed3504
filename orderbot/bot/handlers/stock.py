"""Stock intents: a SKU's stock with days of cover, the stockout forecast, and packers' scan figures."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from ...core.models import Package, Staff
from ...core.reports.common import day_bounds
from ...core.reports.inventory import sku_stock, stockout_forecast
from ..reply import Reply, Table
from .base import STOCK_READERS, WAREHOUSE, Context, cn_date, route


async def inventory(intent, ctx: Context) -> Reply:
    s = await sku_stock(ctx.session, intent.slots["sku"], now=ctx.now)
    cover = f"{s.days_of_cover:.1f} 天" if s.days_of_cover is not None else "近14天没有出库，无法估算"
    text = (f"在库 {s.on_hand:,} · 已占用 {s.reserved:,} · **可用 {s.available:,}** · 在途 {s.in_transit:,}\n"
            f"近14天日均出库 {s.daily_demand:,.1f}，可用库存可撑 {cover}")
    return Reply(title=f"{s.sku} {s.name}", text=text, markdown=True)


async def forecast(intent, ctx: Context) -> Reply:
    slots = intent.slots
    rows = await stockout_forecast(ctx.session, now=ctx.now, extra_orders=slots["extra_orders"],
                                   hours=slots["hours"], limit=slots["limit"])
    head = f"如果再来 {slots['extra_orders']:,} 单（按近7天商品结构），{slots['hours']} 小时内"
    if not rows:
        return Reply(title="断货预测", text=head + "不会有SKU断货。")
    table = Table(("SKU", "可用", "预计需求", "约几小时断货", "建议紧急采购"), tuple(
        (f"{r.sku} {r.name}", f"{r.available:,}", f"{r.expected_demand:,.0f}", f"{r.hours_to_stockout:.0f}",
         f"{r.buy:,}") for r in rows))
    return Reply(title="断货预测", text=head + f"会断货的 {len(rows)} 个SKU：", table=table, markdown=True)


async def scan_stats(intent, ctx: Context) -> Reply:
    s = intent.slots
    d_from, d_to = date.fromisoformat(s["date_from"]), date.fromisoformat(s["date_to"])
    start, end = day_bounds(d_from, d_to)
    who = s.get("staff") or "me"
    stmt = (select(Package.scanned_by, func.count()).where(Package.scanned_at >= start, Package.scanned_at < end)
            .group_by(Package.scanned_by).order_by(func.count().desc()))
    if who == "me":
        stmt = stmt.where(Package.scanned_by == ctx.asker.staff_id)
    elif who != "team":
        staff = (await ctx.session.execute(select(Staff.id).where((Staff.name == who) | (Staff.id == who)))).scalar()
        stmt = stmt.where(Package.scanned_by == (staff or who))
    rows = (await ctx.session.execute(stmt)).all()
    names = dict((await ctx.session.execute(select(Staff.id, Staff.name))).all())
    span = cn_date(d_from) if d_from == d_to else f"{cn_date(d_from)}–{cn_date(d_to)}"
    if not rows:
        return Reply(title=f"扫码统计（{span}）", text="这段时间没有扫码出库记录。")
    table = Table(("打包员", "出库包裹"), tuple((names.get(sid, sid or "?"), f"{n:,}") for sid, n in rows))
    return Reply(title=f"扫码统计（{span}）", table=table, markdown=True,
                 text="准确率和纠错次数随扫码工作台（异常扫码记录）一起提供。")


ROUTES = [
    route("inventory.query", inventory, STOCK_READERS, title="查库存", example="PB-20K-BLK 库存"),
    route("inventory.stockout_forecast", forecast, STOCK_READERS, title="预测断货",
          example="如果明天突然涌入5000单，哪3个SKU会在48小时内断货"),
    route("scan.stats", scan_stats, WAREHOUSE, title="看扫码统计", example="我今天的扫码准确率 / 仓库本周扫码统计"),
]
